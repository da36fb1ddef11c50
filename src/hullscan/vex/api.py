"""`POST /api/v1/projects/{project}/vex` imports a VEX document into the project's triage; `GET` exports it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal, authorize, current_principal
from hullscan.auth.http import audit
from hullscan.matching.vex import VexError, parse_vex
from hullscan.vex import service
from hullscan.http_deps import get_session, project_or_404

router = APIRouter(tags=["vex"])


async def read_capped(request: Request, max_bytes: int) -> bytes:
    """The body, refused with 413 as soon as it passes `max_bytes` (never held whole when too large)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise HTTPException(status_code=413, detail=f"a VEX document may be at most {max_bytes} bytes")
    return bytes(body)


@router.post("/projects/{project:path}/vex", openapi_extra={"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "description": "An OpenVEX or CycloneDX VEX document."}}}}})
async def import_vex(project: str, request: Request,
                     source: str | None = Query(default=None, max_length=200,
                                                description="Names the document when it has no @id."),
                     principal: Principal = Depends(current_principal)) -> dict[str, Any]:
    """Apply an OpenVEX or CycloneDX VEX document to the project's findings (developer and up). `not_affected`
    dismisses (not applicable, with the justification), `fixed` resolves, `affected`/`under_investigation`
    confirm. A statement that is not understood refuses the whole document (400); nothing is half-applied."""
    settings = request.app.state.settings
    db = request.app.state.db

    def check() -> None:  # authorized before the body is read
        with db.session() as session:
            authorize(principal, Action.TRIAGE_VULNERABILITIES, project_or_404(session, project).path)

    await run_in_threadpool(check)
    data = await read_capped(request, settings.vex_max_bytes)

    def apply() -> dict[str, Any]:
        try:
            doc = parse_vex(data, "the VEX document", settings.vex_max_bytes)
        except VexError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        with db.session() as session:
            found = project_or_404(session, project)
            label = source or f"upload by {principal.name}"
            try:
                result = service.import_vex(session, found.id, doc, source=label, actor=principal.name,
                                            max_statements=settings.vex_max_statements)
            except service.VexImportError as exc:
                raise HTTPException(status_code=400, detail=str(exc)) from None
            audit(request, session, "vex_imported", found.path, document=result.author, format=doc.format,
                  statements=result.statements, matched=result.matched, changed=result.changed)
            return result.as_dict()  # the session commits as the block ends, before the response

    return await run_in_threadpool(apply)


@router.get("/projects/{project:path}/vex")
def export_vex(project: str, principal: Principal = Depends(current_principal),
               session: Session = Depends(get_session)) -> dict[str, Any]:
    """The project's triage decisions as an OpenVEX document (whoever may read its vulnerability report)."""
    found = project_or_404(session, project)
    authorize(principal, Action.READ_VULNERABILITIES, found.path)
    return service.export_openvex(session, found.id, found.path)
