"""REST API routes of this part (mounted under /api/v1) and the scheduled advisory sync in `serve`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query
from sqlalchemy.orm import Session

from hullscan.advisories import service
from hullscan.auth import Action, Principal, authorize, current_principal
from hullscan.web.deps import get_session

router = APIRouter(tags=["advisories"])
log = logging.getLogger("hullscan.advisories")


@router.get("/advisories/status")
def advisories_status(
    principal: Principal = Depends(current_principal), session: Session = Depends(get_session)
) -> dict:
    """Per-source sync state (records, skipped by reason, last error) and store totals."""
    authorize(principal, Action.READ_ADVISORIES)
    return service.status(session)


@router.get("/advisories")
def advisories_search(
    package: str = Query(..., min_length=1, max_length=255),
    ecosystem: str | None = Query(None, max_length=64),
    limit: int = Query(200, ge=1, le=1000),
    principal: Principal = Depends(current_principal),
    session: Session = Depends(get_session),
) -> dict:
    """Advisories affecting a package, with the matching affected entries."""
    authorize(principal, Action.READ_ADVISORIES)
    store = service.SqlAdvisoryStore(session)
    entries = store.search(package, ecosystem, limit=limit)
    advisories = store.advisories(sorted({e.advisory_id for e in entries}))
    items = []
    for adv_id, adv in sorted(advisories.items()):
        doc = service.advisory_document(adv)
        doc["affected"] = [service.affected_document(e) for e in entries if e.advisory_id == adv_id]
        items.append(doc)
    return {"package": package, "ecosystem": ecosystem, "count": len(items), "advisories": items}


@router.get("/advisories/{advisory_id}")
def advisory_show(
    advisory_id: str, principal: Principal = Depends(current_principal), session: Session = Depends(get_session)
) -> dict:
    """One advisory with every linked identifier, enrichment and its affected packages."""
    authorize(principal, Action.READ_ADVISORIES)
    if len(advisory_id) > 128:
        raise HTTPException(status_code=404, detail="advisory not found")
    store = service.SqlAdvisoryStore(session)
    found = store.advisories([advisory_id]).get(advisory_id)
    if found is None:
        raise HTTPException(status_code=404, detail=f"advisory {advisory_id} not found")
    return service.advisory_document(found, store.affected_of(advisory_id))


async def _scheduler(app: FastAPI, interval: int, initial_delay: int, cancel: threading.Event) -> None:
    """Sync every `interval` seconds; the blocking work runs in a thread so requests keep being served."""
    await asyncio.sleep(initial_delay)
    while True:
        try:
            results = await asyncio.to_thread(service.sync, app.state.db, app.state.settings, None, None, cancel)
            log.info("scheduled advisory sync finished", extra={"fields": {
                "sources": len(results), "failed": [r.source for r in results if not r.ok]}})
        except Exception:  # keep the scheduler alive whatever one run does
            log.exception("scheduled advisory sync crashed")
        await asyncio.sleep(interval)


async def start(app: FastAPI) -> None:
    """Start the scheduled sync (every `advisories_sync_interval` seconds; 0 disables it)."""
    settings = app.state.settings
    interval = int(settings.advisories_sync_interval)
    app.state.advisories_scheduler = None
    app.state.advisories_cancel = threading.Event()
    if interval > 0:
        app.state.advisories_scheduler = asyncio.create_task(
            _scheduler(app, interval, max(0, int(settings.advisories_sync_initial_delay)), app.state.advisories_cancel)
        )


async def stop(app: FastAPI) -> None:
    """Stop the scheduler; a sync in flight finishes its transaction in its thread or rolls back."""
    cancel = getattr(app.state, "advisories_cancel", None)
    if cancel is not None:
        cancel.set()
    task = getattr(app.state, "advisories_scheduler", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
