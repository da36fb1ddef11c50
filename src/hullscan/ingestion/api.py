"""Ingestion's background work in `serve`: continuous scanning of stored images as advisories change."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, FastAPI

from hullscan.ingestion.service import RematchResult, rematch_advisory_changes

log = logging.getLogger(__name__)
router = APIRouter()


def rematch_pending(app: FastAPI) -> RematchResult:
    """Consume every pending advisory changeset (in batches), then deliver notifications for what changed."""
    from hullscan.vulnerabilities import notifications

    total = RematchResult()
    while True:
        with app.state.db.session() as session:
            result = rematch_advisory_changes(session)
        if not result.changesets:
            break
        total.changesets += result.changesets
        total.sources += result.sources
        total.new_vulnerability_ids += result.new_vulnerability_ids
        total.no_longer_detected_ids += result.no_longer_detected_ids
        if result.new_vulnerability_ids:
            with app.state.db.session() as session:
                notifications.notify_new_vulnerabilities(session, result.new_vulnerability_ids,
                                                         reason="advisory_update")
    if total.changesets:
        log.info("continuous scanning", extra={"fields": {
            "changesets": total.changesets, "images": total.sources,
            "new": len(total.new_vulnerability_ids), "no_longer_detected": len(total.no_longer_detected_ids)}})
    return total


async def _loop(app: FastAPI, interval: float) -> None:
    while True:
        try:
            await asyncio.to_thread(rematch_pending, app)
            await asyncio.to_thread(_deliver, app)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - keep the loop alive; the next round retries
            log.exception("continuous scanning round failed")
        await asyncio.sleep(interval)


def _deliver(app: FastAPI) -> None:
    from hullscan.vulnerabilities import notifications

    notifications.deliver_due(app.state.db, app.state.settings)


async def start(app: FastAPI) -> None:
    from hullscan.ingestion.validation import warm_up

    # Compile the SBOM schema off the event loop now rather than inside the first runner's upload.
    app.state.sbom_schema_warm_up = asyncio.get_running_loop().run_in_executor(None, warm_up)
    interval = app.state.settings.continuous_scan_interval
    if interval > 0:
        app.state.continuous_scan_task = asyncio.create_task(_loop(app, interval))


async def stop(app: FastAPI) -> None:
    task = getattr(app.state, "continuous_scan_task", None)
    if task is not None:
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001
            pass
