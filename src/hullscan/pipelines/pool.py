"""The local runner pool `serve` starts: `hullscan runner` processes talking to this server over HTTP, the
same code path as remote runners. A runner that dies is restarted; on stop they finish or release their jobs."""

from __future__ import annotations

import ctypes
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import select

from hullscan.auth.keys import create_once
from hullscan.db import Database
from hullscan.db.base import utcnow
from hullscan.db.models.pipelines import Job
from hullscan.pipelines import service
from hullscan.settings import Settings

log = logging.getLogger("hullscan.pipelines.pool")
STOP_GRACE_SECONDS = 8.0


def registration_token(settings: Settings) -> str:
    """The runner registration token: from settings (every node must share it), else generated once into the
    data dir (mode 0600)."""
    if settings.runner_registration_token:
        return settings.runner_registration_token
    path = settings.resolved_data_dir / "runner-registration-token"
    if not path.exists():
        create_once(path, ("hsreg_" + secrets.token_urlsafe(32)).encode())
    return path.read_text().strip()


def _die_with_parent() -> None:  # runs in the child before exec: SIGTERM it when its spawning thread dies
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def server_url(settings: Settings) -> str:
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


class LocalRunnerPool:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        size = settings.runner_pool_size
        self.size = (os.cpu_count() or 1) if size is None else max(0, size)
        self.procs: list[subprocess.Popen[bytes] | None] = []
        self.tokens: list[str] = []
        self.runner_ids: list[int] = []
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def _spawn(self, index: int) -> subprocess.Popen[bytes]:
        env = dict(os.environ, HULLSCAN_RUNNER_TOKEN=self.tokens[index])
        cmd = [sys.executable, "-m", "hullscan", "runner", "--url", server_url(self.settings), "--concurrency", "1",
               "--name", f"local-{index}", "--grace", str(STOP_GRACE_SECONDS / 2),
               "--cache-dir", str(self.settings.resolved_data_dir / "runner-cache")]
        return subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent, cwd=str(Path.cwd()))

    def start(self) -> None:
        if self.size == 0:
            return
        with self.db.session() as session:
            for i in range(self.size):
                runner, token = service.register_runner(session, f"local-{i}", is_local=True, now=utcnow())
                self.runner_ids.append(runner.id)
                self.tokens.append(token)
        self.procs = [None] * self.size
        self._watcher = threading.Thread(target=self._watch, name="runner-pool", daemon=True)
        self._watcher.start()
        log.info("local runner pool started", extra={"fields": {"runners": self.size}})

    def _watch(self) -> None:
        """Start the runners, and restart those that exit while the server runs (crash, OOM kill).

        Runners are spawned from this thread only: PR_SET_PDEATHSIG fires when the spawning *thread* ends, and
        this one lives exactly as long as the pool."""
        while not self._stopping.is_set():
            for i, proc in enumerate(self.procs):
                if self._stopping.is_set():
                    break
                if proc is None or proc.poll() is not None:
                    if proc is not None:
                        log.warning("local runner exited; restarting",
                                    extra={"fields": {"runner": i, "code": proc.returncode}})
                    try:
                        self.procs[i] = self._spawn(i)
                    except OSError:
                        log.exception("cannot start a local runner")
            self._stopping.wait(1.0)

    def stop(self) -> None:
        self._stopping.set()
        live = [p for p in self.procs if p is not None and p.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for proc in live:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.runner_ids:
            with self.db.session() as session:
                now = utcnow()
                held = session.scalars(select(Job).where(Job.runner_id.in_(self.runner_ids),
                                                         Job.status == service.RUNNING).with_for_update(key_share=True)).all()
                for job in held:
                    service.release_job(session, job, now=now)
