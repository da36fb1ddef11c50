"""The background loops of `serve`, each with its name, interval, what it claims and its switch.

A loop is either *per row* (any number of nodes run it; each row is claimed with `FOR UPDATE SKIP LOCKED` on
PostgreSQL, or inside SQLite's single writer) or *elected* (only the node holding the loop's advisory lock runs
it; see `leader.py`). A tick is synchronous (it runs on a worker thread) and returns True when more work is
waiting, so the loop runs again at once instead of sleeping."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hullscan.db import Database
from hullscan.settings import Settings

log = logging.getLogger("hullscan.workers")
EVENT_BATCH = 500


@dataclass
class WorkerContext:
    """What every tick may use; built once per process by `serve`."""

    db: Database
    settings: Settings
    node: str
    queue: Any = None  # pipelines.signal.QueueSignal when the process serves runners
    cancel: threading.Event = field(default_factory=threading.Event)
    metrics: Any = None  # workers.metrics.Metrics
    artifact_path: Callable[[str], Any] | None = None  # sha256 -> stored SBOM file (the artifact store's)
    sbom_publisher: Any = None  # ingestion.referrers.publisher, made on the first ingestion

    def wake_runners(self) -> None:
        """Jobs became claimable: wake long-polling runners now (thread-safe)."""
        if self.queue is not None:
            self.queue.wake_from_thread()


@dataclass(frozen=True)
class Loop:
    name: str
    claims: str
    elected: bool
    interval: Callable[[Settings], float]
    tick: Callable[[WorkerContext], bool]
    initial_delay: Callable[[Settings], float] = lambda s: 0.0
    wake_on_job_finished: bool = False

    def enabled(self, settings: Settings) -> bool:
        """Off when its interval is 0 or its name is in `workers_disabled`."""
        return self.interval(settings) > 0 and self.name not in settings.workers_disabled


# --- ticks ---------------------------------------------------------------------------------------------------

def registry_events(ctx: WorkerContext) -> bool:
    """Apply the scan policy to new registry events (→ pipelines or recorded drops)."""
    from hullscan.events import service

    with ctx.db.session() as session:
        result = service.process_pending_events(session, ctx.settings, limit=EVENT_BATCH)
    if result.jobs:
        ctx.wake_runners()
    return result.processed == EVENT_BATCH


def job_queue(ctx: WorkerContext) -> bool:
    """Promote delayed jobs and re-queue (or fail) jobs whose runner stopped heart-beating."""
    from hullscan.db.base import utcnow
    from hullscan.pipelines import service

    with ctx.db.session() as session:
        now = utcnow()
        changed = service.promote_due(session, now) + len(service.expire_leases(session, now=now))
    if changed:
        ctx.wake_runners()
    return False


def _sbom_publisher(ctx: WorkerContext) -> Any:
    """The referrer publisher of this node's registry storage (made once per context)."""
    from hullscan.ingestion.referrers import publisher

    if ctx.sbom_publisher is None:
        ctx.sbom_publisher = publisher(ctx.settings)
    return ctx.sbom_publisher


def sbom_ingestion(ctx: WorkerContext) -> bool:
    """Ingest the SBOM of one successful job per transaction (SQLite's write lock is short that way)."""
    from hullscan.db.base import utcnow
    from hullscan.pipelines import service

    if ctx.artifact_path is None:
        return False
    started = time.monotonic()
    with ctx.db.session() as session:
        done = service.ingest_due_artifacts(session, ctx.artifact_path, now=utcnow(), limit=1,
                                            publish=_sbom_publisher(ctx))
    if done and ctx.metrics is not None:
        ctx.metrics.ingestion_seconds.observe(time.monotonic() - started)
    return bool(done)


def webhook_delivery(ctx: WorkerContext) -> bool:
    """Send due webhook deliveries this node claimed (claimed-by + lease, so two nodes never send one twice)."""
    from hullscan.vulnerabilities import notifications

    return notifications.deliver_due(ctx.db, ctx.settings, node=ctx.node) >= notifications.DELIVERY_BATCH


def continuous_scan(ctx: WorkerContext) -> bool:
    """Re-match stored SBOMs against every pending advisory changeset; queue notifications for new findings."""
    from hullscan.ingestion.service import RematchResult, rematch_advisory_changes
    from hullscan.vulnerabilities import notifications

    total = RematchResult()
    while not ctx.cancel.is_set():
        with ctx.db.session() as session:
            result = rematch_advisory_changes(session)
        if not result.changesets:
            break
        total.changesets += result.changesets
        total.sources += result.sources
        total.new_vulnerability_ids += result.new_vulnerability_ids
        total.no_longer_detected_ids += result.no_longer_detected_ids
        if result.new_vulnerability_ids:
            with ctx.db.session() as session:
                notifications.notify_new_vulnerabilities(session, result.new_vulnerability_ids,
                                                         reason="advisory_update")
    if total.changesets:
        log.info("continuous scanning", extra={"fields": {
            "changesets": total.changesets, "images": total.sources,
            "new": len(total.new_vulnerability_ids), "no_longer_detected": len(total.no_longer_detected_ids)}})
    return False


def advisory_sync(ctx: WorkerContext) -> bool:
    """Fetch every configured advisory source (a source in progress at shutdown completes or rolls back)."""
    from hullscan.advisories import service

    results = service.sync(ctx.db, ctx.settings, None, None, ctx.cancel)
    log.info("scheduled advisory sync finished", extra={"fields": {
        "sources": len(results), "failed": [r.source for r in results if not r.ok]}})
    return False


def reconcile(ctx: WorkerContext) -> bool:
    """List external registries and record every qualifying, never-scanned tag as a push."""
    from hullscan.events.reconcile import reconcile_all

    outcome = reconcile_all(ctx.db, ctx.settings)
    if outcome:
        log.info("reconciled external registries", extra={"fields": {"outcome": outcome}})
    return False


LOOPS: tuple[Loop, ...] = (
    Loop("registry-events", "per row: container_registry_events (SKIP LOCKED), projects locked FOR UPDATE",
         elected=False, interval=lambda s: s.event_poll_seconds, tick=registry_events),
    Loop("job-queue", "per row: jobs past their lease or coalescing delay (SKIP LOCKED)",
         elected=False, interval=lambda s: max(0.2, min(1.0, s.job_lease_seconds / 4)), tick=job_queue),
    Loop("sbom-ingestion", "per row: job_artifacts not yet ingested (SKIP LOCKED)",
         elected=False, interval=lambda s: 1.0, tick=sbom_ingestion, wake_on_job_finished=True),
    Loop("webhook-delivery", "per row: webhook_deliveries due (SKIP LOCKED, claimed_by + lease)",
         elected=False, interval=lambda s: s.webhook_delivery_interval, tick=webhook_delivery),
    Loop("continuous-scan", "elected: advisory changesets (one node re-matches)",
         elected=True, interval=lambda s: s.continuous_scan_interval, tick=continuous_scan),
    Loop("advisory-sync", "elected: advisory sources (one node fetches)",
         elected=True, interval=lambda s: float(s.advisories_sync_interval), tick=advisory_sync,
         initial_delay=lambda s: float(max(0, s.advisories_sync_initial_delay))),
    Loop("reconcile", "elected: external registries' catalogs (one node lists them)",
         elected=True, interval=lambda s: s.reconcile_interval_seconds if s.external_registries else 0.0,
         tick=reconcile),
)


def by_name(name: str) -> Loop:
    return next(loop for loop in LOOPS if loop.name == name)


def backoff(interval: float, failures: int, ceiling: float = 60.0) -> float:
    """Seconds to wait after `failures` failed ticks in a row: doubling from the interval (at least 1 s)."""
    return min(ceiling, max(interval, 1.0) * 2 ** min(failures - 1, 16))


async def run(loop: Loop, ctx: WorkerContext, leadership: Any = None) -> None:
    """Run `loop` until cancelled: tick, then sleep its interval (at once again when more work waits); after an
    error back off exponentially and log the traceback once per outage, not once per tick."""
    settings = ctx.settings
    interval = loop.interval(settings)
    await asyncio.sleep(loop.initial_delay(settings))
    failures = 0
    while True:
        more = False
        try:
            if leadership is None or await asyncio.to_thread(leadership.acquire):
                more = await asyncio.to_thread(loop.tick, ctx)
            if failures:
                log.info("background loop recovered", extra={"fields": {"loop": loop.name, "failures": failures}})
            failures = 0
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            if ctx.metrics is not None:
                ctx.metrics.loop_errors.labels(loop.name).inc()
            delay = backoff(interval, failures)
            if failures == 1:
                log.exception("background loop failed", extra={"fields": {"loop": loop.name, "retry_in": delay}})
            else:
                log.warning("background loop still failing", extra={"fields": {
                    "loop": loop.name, "failures": failures, "retry_in": delay,
                    "error": f"{exc.__class__.__name__}: {str(exc)[:200]}"}})
            await asyncio.sleep(delay)
            continue
        if more:
            await asyncio.sleep(0)
            continue
        if loop.wake_on_job_finished and ctx.queue is not None:
            await ctx.queue.wait_finished(interval)
        else:
            await asyncio.sleep(interval)
