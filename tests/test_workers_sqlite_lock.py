"""On the embedded SQLite default no request holds the write lock while it streams: a job page's live log and
status poll, an SBOM download and a runner's heartbeat overlap without waiting (before: 30 s, then 500
`database is locked`)."""

from __future__ import annotations

import hashlib
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from hullscan.auth import projects
from hullscan.db import Database, upgrade
from hullscan.db.base import utcnow
from hullscan.db.models.pipelines import Job, JobArtifact
from hullscan.events import service as events
from hullscan.pipelines import service as pipelines
from hullscan.pipelines.api import artifact_store
from hullscan.scanner import write_cyclonedx
from hullscan.scanner.inventory import ImageInfo, Inventory, OperatingSystem, Package
from hullscan.settings import Settings
from tests.pipelines.helpers import add_event
from tests.support.auth import ADMIN_CREDS
from tests.support.server import HullscanServer

LOG_LINE = "x" * 2047 + "\n"


def _prepare(data_dir: Path) -> tuple[int, int, str]:
    """A running job with a 4 MB log (the job page polls it) and a finished job with an SBOM to download."""
    settings = Settings(data_dir=data_dir)
    upgrade(settings)
    db = Database(settings)
    sbom = write_cyclonedx(Inventory(ImageInfo(name="127.0.0.1/group/app/web", tag="t1"),
                                     OperatingSystem("debian", "12.15"), [Package("zlib1g", "1:1.2.13", "deb")]))
    sha = hashlib.sha256(sbom.encode()).hexdigest()
    path = artifact_store(settings).path(sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sbom)
    with db.session() as s:
        project = projects.create_project(s, "group/app", cs4r_enabled=True)
        projects.update_project_settings(s, project, tag_patterns=["*"])
        add_event(s, "group/app/web", "t0")
        add_event(s, "group/app/web", "t1")
        events.process_pending_events(s, settings, now=utcnow())
        runner, _ = pipelines.register_runner(s, "r", now=utcnow())
        running = pipelines.claim_job(s, runner, now=utcnow(), lease_seconds=3600)
        done = pipelines.claim_job(s, runner, now=utcnow(), lease_seconds=3600)
        job = s.get(Job, running.job_id)
        size = 0
        while size + len(LOG_LINE) < pipelines.MAX_LOG_BYTES:
            size = pipelines.append_log(s, job, size, LOG_LINE)
        s.add(JobArtifact(job_id=done.job_id, name="gl-sbom-report.cdx.json", file_type="cyclonedx", sha256=sha,
                          size=len(sbom)))
        s.flush()
        pipelines.finish_job(s, s.get(Job, done.job_id), "success", now=utcnow())
    db.dispose()
    return running.job_id, done.job_id, running.token


def _stalled_log_reader(server: HullscanServer, job_id: int) -> socket.socket:
    """A browser tab whose live-log request stalls: it reads a little, then nothing (tiny receive window)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    import base64

    auth = base64.b64encode(ADMIN_CREDS.encode()).decode()
    sock.sendall(f"GET /api/v1/projects/group%2Fapp/jobs/{job_id}/trace HTTP/1.1\r\nHost: {server.host}\r\n"
                 f"Authorization: Basic {auth}\r\n\r\n".encode())
    assert b"200 OK" in sock.recv(1024)
    return sock


def test_sbom_download_job_poll_and_heartbeat_while_a_log_stream_stalls(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    running, done, job_token = _prepare(data_dir)
    server = HullscanServer(data_dir, env={"HULLSCAN_RUNNER_POOL_SIZE": "0"}).start()
    try:
        sock = _stalled_log_reader(server, running)
        time.sleep(1.0)  # the server has filled the socket and waits to send more, mid-stream
        client = server.client(timeout=20)

        def timed(name: str, call) -> tuple[str, int, float]:  # type: ignore[no-untyped-def]
            started = time.monotonic()
            status = call().status_code
            return name, status, time.monotonic() - started

        calls = {
            "sbom download": lambda: client.get(f"/projects/group/app/-/images/sbom?job={done}"),
            "job status poll": lambda: client.get(f"/api/v1/projects/group%2Fapp/jobs/{running}"),
            "runner heartbeat": lambda: httpx.put(f"{server.url}/api/v1/jobs/{running}", json={"state": "running"},
                                                  headers={"JOB-TOKEN": job_token}, timeout=20),
            "job page": lambda: client.get(f"/projects/group/app/-/jobs/{running}"),
        }
        with ThreadPoolExecutor(len(calls)) as pool:
            results = list(pool.map(lambda item: timed(*item), calls.items()))
        for name, status, seconds in results:
            assert status == 200 and seconds < 5, (name, status, seconds)
        # The stalled stream is intact: reading on delivers the whole log.
        sock.settimeout(20)
        received = 0
        while chunk := sock.recv(1 << 16):
            received += len(chunk)
            if received >= pipelines.MAX_LOG_BYTES - len(LOG_LINE):
                break
        assert received >= pipelines.MAX_LOG_BYTES - len(LOG_LINE)
        sock.close()
    finally:
        server.stop()
