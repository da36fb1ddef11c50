"""Background work (`hullscan.workers`): every loop listed and switchable, backoff on errors, elected loops on
one node, webhook deliveries claimed so two nodes never send one twice, one scan per push whatever reports it,
503 during a database outage, and /metrics."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hullscan.auth import projects
from hullscan.db import Database
from hullscan.db.models.pipelines import DroppedPush, Pipeline
from hullscan.db.models.vulnerabilities import WebhookDelivery
from hullscan.events import service as events
from hullscan.events import types as reasons
from hullscan.settings import Settings
from hullscan.vulnerabilities import notifications
from hullscan.workers import LOOPS, WorkerContext, Workers
from hullscan.workers.leader import Leadership
from hullscan.workers.loops import Loop, backoff, run
from tests.pipelines.helpers import add_event, digest_n
from tests.support.net import free_port
from tests.vulnerabilities.test_notifications import Receiver

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_every_loop_is_named_claims_something_and_is_switchable(tmp_path) -> None:
    names = [loop.name for loop in LOOPS]
    assert len(names) == len(set(names)) == 7
    for loop in LOOPS:
        assert loop.claims.startswith("elected:" if loop.elected else "per row:")
    base = Settings(data_dir=tmp_path, external_registries=[{"host": "r", "url": "http://r"}])
    assert {loop.name for loop in LOOPS if loop.enabled(base)} == set(names)
    # Continuous scanning off no longer silences notifications: webhook delivery is its own loop.
    off = base.model_copy(update={"continuous_scan_interval": 0, "workers_disabled": ["reconcile"]})
    on = {loop.name for loop in LOOPS if loop.enabled(off)}
    assert "webhook-delivery" in on and "continuous-scan" not in on and "reconcile" not in on


def test_workers_start_only_enabled_loops(migrated_settings) -> None:
    settings = migrated_settings.model_copy(update={
        "workers_disabled": ["advisory-sync", "continuous-scan", "sbom-ingestion"], "advisories_sync_interval": 3600})
    db = Database(settings)

    async def main() -> list[str]:
        workers = Workers(WorkerContext(db=db, settings=settings, node="test"))
        started = workers.start()
        await asyncio.sleep(0.3)
        await workers.stop()
        return started

    assert asyncio.run(main()) == ["job-queue", "registry-events", "webhook-delivery"]
    db.dispose()


def test_a_failing_loop_backs_off_and_logs_one_traceback(tmp_path, caplog) -> None:
    assert [backoff(0.2, n) for n in (1, 2, 3, 4, 10)] == [1.0, 2.0, 4.0, 8.0, 60.0]
    ticks: list[float] = []

    def broken(ctx: WorkerContext) -> bool:
        ticks.append(time.monotonic())
        raise RuntimeError("database unavailable")

    loop = Loop("broken", "per row: nothing", elected=False, interval=lambda s: 0.05, tick=broken)
    ctx = WorkerContext(db=None, settings=Settings(data_dir=tmp_path), node="test")  # type: ignore[arg-type]

    async def main() -> None:
        task = asyncio.create_task(run(loop, ctx))
        await asyncio.sleep(3.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.INFO, logger="hullscan.workers"):
        asyncio.run(main())
    # Without backoff a 0.05 s loop would have ticked ~70 times; with it: at 0, 1, 3 s.
    assert len(ticks) == 3, ticks
    assert 0.9 < ticks[1] - ticks[0] < 1.5 and 1.9 < ticks[2] - ticks[1] < 2.5
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1 and sum("still failing" in r.getMessage() for r in caplog.records) == 2


def test_elected_loop_runs_on_one_node(settings) -> None:
    a, b = Database(settings), Database(settings)
    first, second = Leadership(a, "continuous-scan"), Leadership(b, "continuous-scan")
    other = Leadership(b, "advisory-sync")
    try:
        assert first.acquire() and first.acquire()
        if settings.sqlalchemy_url.startswith("sqlite"):
            assert second.acquire()  # SQLite: one process owns the database, it is the node
            return
        assert not second.acquire() and not second.held
        assert other.acquire()  # each loop has its own election
        first.release()  # a node that stops (or loses its connection) hands over on the next tick
        assert second.acquire()
        assert not first.acquire()
    finally:
        for leader in (first, second, other):
            leader.release()
        a.dispose()
        b.dispose()


def test_two_nodes_never_send_one_delivery_twice(migrated_settings) -> None:
    receiver = Receiver()
    db = Database(migrated_settings)
    try:
        with db.session() as s:
            pid = projects.create_project(s, "group/notify").id
            notifications.create_webhook(s, pid, receiver.url, events=["scan_failed"])
            for i in range(40):
                notifications.notify_scan_failed(s, pid, {"image": f"img:{i}", "reason": "boom"})
        sent: list[int] = []
        barrier = threading.Barrier(2)

        def node(name: str) -> None:
            barrier.wait()
            while (n := notifications.deliver_due(db, migrated_settings, node=name, limit=5)):
                sent.append(n)

        threads = [threading.Thread(target=node, args=(f"node-{i}",)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        ids = [int(h["X-Hullscan-Delivery"]) for h, _ in receiver.received]
        assert len(ids) == len(set(ids)) == 40 and sum(sent) == 40
        with db.session() as s:
            rows = list(s.scalars(select(WebhookDelivery)))
            assert {(d.status, d.attempts, d.claimed_by) for d in rows} == {("delivered", 1, None)}
    finally:
        receiver.close()
        db.dispose()


def test_a_claimed_delivery_is_left_alone_until_its_lease_ends(migrated_settings) -> None:
    receiver = Receiver()
    db = Database(migrated_settings)
    try:
        with db.session() as s:
            pid = projects.create_project(s, "group/notify").id
            notifications.create_webhook(s, pid, receiver.url, events=["scan_failed"])
            notifications.notify_scan_failed(s, pid, {"image": "img", "reason": "boom"})
        # node-a claims and dies before sending: nobody sends it during the lease, node-b after it.
        assert len(notifications.claim_due(db, "node-a", lease_seconds=0.5)) == 1
        assert notifications.deliver_due(db, migrated_settings, node="node-b") == 0
        time.sleep(0.6)
        assert notifications.deliver_due(db, migrated_settings, node="node-b") == 1
        assert len(receiver.received) == 1
    finally:
        receiver.close()
        db.dispose()


def test_a_push_is_one_scan_whatever_reports_it(migrated_settings) -> None:
    """Reconciliation records the push first; the registry's late webhook (another id) and a redelivery of it
    come after the scan finished: still one pipeline, the others dropped as duplicates with the reason."""
    db = Database(migrated_settings)
    digest = digest_n(7)
    with db.session() as s:
        project = projects.create_project(s, "group/app", cs4r_enabled=True)
        add_event(s, "group/app/web", "latest", digest=digest, event_id="reconcile:abc", origin="reconcile")
        assert len(events.process_pending_events(s, migrated_settings, now=T0).jobs) == 1
        s.execute(Pipeline.__table__.update().values(status="success"))
        from hullscan.db.models.pipelines import Job
        s.execute(Job.__table__.update().values(status="success", finished_at=T0))
    with db.session() as s:
        add_event(s, "group/app/web", "latest", digest=digest, event_id="registry-event-1", origin="webhook")
        add_event(s, "group/app/web", "latest", digest=digest, event_id="registry-event-1-redelivery",
                  origin="webhook")
        later = T0 + timedelta(minutes=20)
        assert events.process_pending_events(s, migrated_settings, now=later).jobs == []
        # A new digest on the same tag is a new push; the same digest after the window is scanned again.
        add_event(s, "group/app/web", "latest", digest=digest_n(8))
        assert len(events.process_pending_events(s, migrated_settings, now=later).jobs) == 1
        add_event(s, "group/app/web", "latest", digest=digest)
        day_later = T0 + timedelta(seconds=migrated_settings.push_dedup_window_seconds + 1)
        assert len(events.process_pending_events(s, migrated_settings, now=day_later).jobs) == 1
        drops = list(s.scalars(select(DroppedPush).where(DroppedPush.project_id == project.id)))
        assert [d.reason for d in drops] == [reasons.DUPLICATE, reasons.DUPLICATE]
        assert all("already scanned by pipeline" in (d.detail or "") for d in drops)
    db.dispose()


def test_database_outage_is_503_with_retry_after(tmp_path) -> None:
    """PostgreSQL unreachable (nothing listens on its port): API, registry and UI answer 503 + Retry-After."""
    from hullscan.web.app import create_app

    url = f"postgresql+psycopg://hullscan@127.0.0.1:{free_port()}/hullscan?connect_timeout=2"
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=url, role="api", runner_pool_size=0))
    client = TestClient(app, raise_server_exceptions=False)  # no lifespan: its start-up needs the database too
    answers = {
        "api": client.get("/api/v1/projects", auth=("admin", "pw")),
        "registry token": client.get("/jwt/auth?service=hullscan-registry&scope=repository:a/b:pull",
                                     auth=("admin", "pw")),
        "runner heartbeat": client.put("/api/v1/jobs/1", json={"state": "running"}, headers={"JOB-TOKEN": "hsjt_x"}),
        "runner long poll": client.post("/api/v1/jobs/request?wait=0", headers={"RUNNER-TOKEN": "hsrt_x"}),
    }
    for name, r in answers.items():
        assert (r.status_code, r.headers.get("Retry-After")) == (503, "5"), (name, r.status_code, r.text[:300])
    assert client.get("/-/ready").status_code == 503
    client.cookies.set("hullscan_session", "x" * 43)
    page = client.get("/projects", follow_redirects=False)
    assert (page.status_code, page.headers.get("Retry-After")) == (503, "5") and "retry shortly" in page.text


def test_metrics(migrated_settings) -> None:
    from hullscan.web.app import create_app

    settings = migrated_settings.model_copy(update={"role": "api", "runner_pool_size": 0})
    db = Database(settings)
    with db.session() as s:
        projects.create_project(s, "group/app", cs4r_enabled=True)
        add_event(s, "group/app/web", "latest")
        add_event(s, "group/app/web", None)
        events.process_pending_events(s, settings, now=T0)
        add_event(s, "group/app/web", "v2")
    db.dispose()
    app = create_app(settings)
    with TestClient(app) as client:
        r = client.get("/metrics")
        assert getattr(app.state, "workers", None) is None  # an `api` node runs no background loop
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    for line in ('hullscan_queue_depth{queue="jobs_pending"} 1.0', 'hullscan_queue_depth{queue="registry_events"} 1.0',
                 'hullscan_dropped_pushes_total{reason="untagged"} 1.0', 'hullscan_scans_total{outcome="success"} 0.0',
                 "hullscan_registry_bytes 0.0", "hullscan_registry_blobs 0.0",
                 "hullscan_scan_duration_seconds", "hullscan_ingestion_duration_seconds"):
        assert line in text, line


def test_a_runner_keeps_its_job_through_a_short_outage() -> None:
    """The server answers 503 (database down) for 3 s: the heartbeat retries with backoff within the lease
    instead of giving the job up (before: given up after 10 s whatever the lease)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from hullscan.runner.client import RunnerAPI, RunnerAPIError

    up_at = time.monotonic() + 3.0
    calls: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            status = 503 if time.monotonic() < up_at else 200
            calls.append(status)
            body = b'{"id": 1, "status": "running"}' if status == 200 else b'{"error": "service_unavailable"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if status == 503:
                self.send_header("Retry-After", "5")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    api = RunnerAPI(f"http://127.0.0.1:{httpd.server_address[1]}", "hsrt_x")
    try:
        job = {"id": 1, "token": "hsjt_x", "lease_seconds": 30}
        assert api.update(job, "running")["status"] == "running"
        assert calls[0] == 503 and calls[-1] == 200 and len(calls) < 12  # backed off, not hammered
        up_at = time.monotonic() + 120.0  # a long outage: retried past 10 s, given up within the 30 s lease
        started = time.monotonic()
        with pytest.raises(RunnerAPIError):
            api.update(job, "running")
        assert 15 < time.monotonic() - started < 30
    finally:
        api.close()
        httpd.shutdown()
