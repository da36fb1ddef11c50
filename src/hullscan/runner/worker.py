"""The runner process: N slots that long-poll for jobs, run each scan in a child process while heart-beating and
streaming the log, upload the SBOM and report the result. Stateless: it can run on any machine.

On SIGTERM it stops claiming, lets running jobs finish for `grace` seconds, then releases what is left.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

from hullscan.runner.client import JobGone, RunnerAPI, RunnerAPIError
from hullscan.runner.scan import PRELOAD, ScanSpec, run_scan

log = logging.getLogger("hullscan.runner")
POLL_WAIT_SECONDS = 30.0
SBOM_NAME = "gl-sbom-report.cdx.json"
CANCEL_CHECK_SECONDS = 1.0  # how soon a cancelled job's scan is killed (at most one heartbeat later)
TRANSIENT_RETRY_SECONDS = 120.0  # how long a pull is tried again while the registry is unavailable


class JobLog:
    """Buffers log lines and appends them to the server at the right offset: a re-leased job's log continues
    where the server's ends (`log_offset` of the claim), after the earlier attempts' lines."""

    def __init__(self, api: RunnerAPI, job: dict[str, Any]) -> None:
        self.api, self.job = api, job
        self.offset = int(job.get("log_offset") or 0)
        self.buffer: list[str] = []
        self.enabled = True

    def write(self, line: str) -> None:
        self.buffer.append(f"{time.strftime('%H:%M:%S')} {line}\n")

    def flush(self) -> None:
        if not self.buffer or not self.enabled:
            return
        text, self.buffer = "".join(self.buffer), []
        for _ in range(2):  # a second try at the server's size when the offsets disagree
            try:
                size = self.api.append_log(self.job, self.offset, text)
                if size < self.offset + len(text.encode()):
                    self.enabled = False  # the server truncated the log
                self.offset = size
                return
            except RunnerAPIError as exc:
                if exc.status == 416 and isinstance(exc.body, dict) and isinstance(exc.body.get("size"), int):
                    self.offset = exc.body["size"]
                    continue
                if isinstance(exc, JobGone):
                    raise
                log.warning("log append failed", extra={"fields": {"job_id": self.job["id"], "error": str(exc)}})
                return


class JobExecution:
    def __init__(self, api: RunnerAPI, job: dict[str, Any], ctx: Any, cache_dir: Path | None,
                 release: threading.Event) -> None:
        self.api, self.job, self.ctx, self.cache_dir, self.release = api, job, ctx, cache_dir, release
        self.log = JobLog(api, job)

    def run(self) -> str:
        """Run the job to its end; returns the outcome (success, failed, released, gone). However it ends, the
        scan's process tree is gone when this returns: a cancelled job never keeps scanning beside the next."""
        job = self.job
        lease = float(job.get("lease_seconds") or 30)
        # the heartbeat is also how a cancel is noticed (the server answers 409/401): often, so it stops at once
        beat_every = min(CANCEL_CHECK_SECONDS, max(0.5, lease / 3))
        timeout = float(job.get("timeout") or 3600)
        self.log.write(f"hullscan runner: job {job['id']} attempt {job.get('attempt')} "
                       f"scanning {job['image']} ({job.get('digest') or 'by tag'})")
        child = None
        from hullscan.scanner.cache import scratch_dir

        # under the runner's cache dir, as the scan's own scratch: a killed runner's is swept by the next scan
        with scratch_dir(self.cache_dir, prefix="job-") as tmp:
            sbom, summary_path = Path(tmp) / SBOM_NAME, Path(tmp) / "summary.json"
            try:
                spec = ScanSpec.from_job(job, self.cache_dir)
                self.log.write(f"pulling {spec.pull_ref} from {job['registry']['url']}")
                self.log.flush()
                started = time.monotonic()
                retry_until, delay = started + TRANSIENT_RETRY_SECONDS, 1.0
                while True:  # again while the registry is unavailable (a server restart, a database outage)
                    summary_path.unlink(missing_ok=True)
                    child = self.ctx.Process(target=run_scan, args=(spec, str(sbom), str(summary_path)), daemon=True)
                    child.start()
                    next_beat = time.monotonic() + beat_every
                    while child.is_alive():
                        child.join(0.1)
                        if self.release.is_set():
                            return self._released(child)
                        if time.monotonic() - started > timeout:
                            self._kill(child)
                            return self._fail(f"job_execution_timeout: no result after {timeout:.0f} s")
                        if time.monotonic() >= next_beat:
                            self.api.update(job, "running")
                            self.log.flush()
                            next_beat = time.monotonic() + beat_every
                    child.join()
                    self._kill(child)  # the scan is done: anything it left running goes too
                    summary = _read_summary(summary_path, child.exitcode)
                    if summary.get("ok") or not summary.get("transient") or time.monotonic() + delay > retry_until:
                        break
                    self.log.write(f"registry unavailable ({summary.get('error')}); pulling again in {delay:.0f} s")
                    self.log.flush()
                    wait_until = time.monotonic() + delay
                    while time.monotonic() < wait_until:  # heart-beating: the job stays ours meanwhile
                        if self.release.wait(min(beat_every, max(0.0, wait_until - time.monotonic()))):
                            return self._released(None)
                        self.api.update(job, "running")
                    delay = min(delay * 2, 10.0)
                if not summary.get("ok"):
                    log.warning("scan failed", extra={"fields": {"job_id": job["id"],
                                                                 "traceback": summary.get("traceback")}})
                    return self._fail(f"scan failed: {summary.get('error')}")
                self.log.write(f"found {summary['packages']} packages; operating system: {summary.get('os')}")
                for warning in summary.get("warnings") or []:
                    self.log.write(f"warning: {warning}")
                partial = [str(r)[:500] for r in summary.get("partial") or []][:20]
                if partial:
                    self.log.write(f"partial scan: {len(partial)} problem(s) left part of the image unanalysed")
                for reason in summary.get("skipped") or []:
                    self.log.write(f"platform skipped: {reason}")
                try:
                    for one in summary.get("sboms") or [{"name": SBOM_NAME}]:  # one per platform of an index
                        path = sbom.with_name(Path(one["name"]).name)
                        platform = f" for {one['platform']} ({one['digest']})" if one.get("platform") else ""
                        self.log.write(f"uploading {path.name}{platform} ({path.stat().st_size} bytes)")
                        self.log.flush()
                        self.api.upload_artifact(job, path.name, path)
                except RunnerAPIError as exc:
                    if isinstance(exc, JobGone) or exc.status is None:
                        raise
                    return self._fail(f"SBOM upload refused: {exc}")
                # the log closes with the job: its last line goes before the final report
                self.log.write("job succeeded" if not partial else
                               "job finished with a partial scan (the project's setting decides whether it fails)")
                self.log.flush()
                answer = self.api.update(job, "success", partial_reasons=partial or None)
                return "failed" if answer.get("status") == "failed" else "success"
            except JobGone as exc:
                log.info("job is no longer ours", extra={"fields": {"job_id": job["id"], "reason": str(exc)}})
                return "gone"
            except RunnerAPIError as exc:
                log.warning("server unreachable during job", extra={"fields": {"job_id": job["id"], "error": str(exc)}})
                return "gone"  # the lease expires and the server re-queues it
            finally:
                if child is not None:
                    self._kill(child)

    def _released(self, child: Any) -> str:
        """The runner is stopping: kill the scan and give the job back."""
        if child is not None:
            self._kill(child)
        self.log.write("runner stopping: job released")
        self.log.flush()
        self.api.release(self.job)
        return "released"

    def _kill(self, child: Any) -> None:
        """SIGKILL the scan's whole process group (the child leads its own session), then reap it and remove
        the scratch files it cannot remove itself."""
        if child.pid is not None:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if child.is_alive():
                child.kill()
            child.join(5)
        if self.cache_dir is not None:
            from hullscan.scanner.cache import SCRATCH, sweep_scratch

            sweep_scratch(Path(self.cache_dir) / SCRATCH)

    def _fail(self, reason: str) -> str:
        self.log.write(reason)
        self.log.flush()
        self.api.update(self.job, "failed", reason[:500])
        return "failed"


def _read_summary(path: Path, exitcode: int | None) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {"ok": False, "error": f"scanner process died (exit code {exitcode})"}


class Runner:
    def __init__(self, url: str, token: str, *, concurrency: int = 1, name: str = "runner",
                 cache_dir: Path | None = None, grace: float = 10.0) -> None:
        self.stopping = threading.Event()  # claim nothing more
        self.release = threading.Event()  # give back what is still running
        self.api = RunnerAPI(url, token, stop=self.stopping)
        self.concurrency = max(1, concurrency)
        self.name = re.sub(r"[^\w.-]", "_", name)[:100]
        self.cache_dir = cache_dir
        self.grace = grace
        self.busy = 0
        self._lock = threading.Lock()
        # Scans fork from a server that preloaded the scanner (started at the first job, so idle runners
        # cost nothing): fast to start, killable, and isolated from this process's threads.
        self.ctx = multiprocessing.get_context("forkserver")
        self.ctx.set_forkserver_preload(PRELOAD)

    def _slot(self, index: int) -> None:
        backoff = 0.5
        while not self.stopping.is_set():
            try:
                job = self.api.request_job(POLL_WAIT_SECONDS)
                backoff = 0.5
            except RunnerAPIError as exc:
                if exc.status == 401:
                    log.error("the server refused this runner's token; stopping")
                    self.stopping.set()
                    return
                log.warning("cannot reach the server", extra={"fields": {"error": str(exc)}})
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if job is None:
                continue
            if self.stopping.is_set():
                self.api.release(job)
                return
            with self._lock:
                self.busy += 1
            try:
                outcome = JobExecution(self.api, job, self.ctx, self.cache_dir, self.release).run()
                log.info("job finished", extra={"fields": {"job_id": job["id"], "outcome": outcome, "slot": index}})
            except Exception:  # noqa: BLE001 - one bad job must not stop the runner
                log.exception("job crashed the runner slot", extra={"fields": {"job_id": job["id"]}})
            finally:
                with self._lock:
                    self.busy -= 1

    def run(self) -> None:
        """Serve jobs until SIGTERM/SIGINT, then finish or release in-flight jobs."""
        if self.cache_dir is not None:  # the job dirs a killed runner left behind (no live lock holds them)
            from hullscan.scanner.cache import SCRATCH, sweep_scratch

            swept = sweep_scratch(Path(self.cache_dir) / SCRATCH)
            if swept:
                log.info("removed scratch directories of earlier runs", extra={"fields": {"count": swept}})
        self.api.ensure_runner_token(self.name)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        slots = [threading.Thread(target=self._slot, args=(i,), name=f"slot-{i}", daemon=True)
                 for i in range(self.concurrency)]
        for slot in slots:
            slot.start()
        log.info("runner started", extra={"fields": {"url": self.api.base, "concurrency": self.concurrency}})
        while not self.stopping.wait(0.5):
            if not any(s.is_alive() for s in slots):
                break
        deadline = time.monotonic() + self.grace
        while self.busy and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.busy:
            self.release.set()
            end = time.monotonic() + 10
            while self.busy and time.monotonic() < end:
                time.sleep(0.1)
        self.api.close()
        log.info("runner stopped")
