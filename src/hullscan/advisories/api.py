"""REST API routes of this part (mounted under /api/v1); the scheduled sync is in `hullscan.workers`."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy.orm import Session

from hullscan.advisories import service
from hullscan.auth import Action, Principal, authorize, current_principal
from hullscan.http_deps import get_session

router = APIRouter(tags=["advisories"])
log = logging.getLogger("hullscan.advisories")


@router.get("/advisories/status")
def advisories_status(
    principal: Principal = Depends(current_principal), session: Session = Depends(get_session)
) -> dict:
    """Per-source sync state (records, skipped by reason, last error), store totals and, per ecosystem and
    distro release, what is loaded and how old it is (what `hullscan advisories status` prints)."""
    authorize(principal, Action.READ_ADVISORIES)
    return service.status(session, per_ecosystem=True)


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
