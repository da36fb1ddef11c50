"""`POST /api/v1/projects/{project}/vex` imports a VEX document into the project's triage; `GET` exports it;
`GET .../vex/statements` lists the stored statements and `DELETE .../vex/documents/{id}` withdraws a document's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal, authorize, current_principal
from hullscan.auth.http import audit
from hullscan.db.models import Project
from hullscan.matching.vex import VexError, parse_vex
from hullscan.vex import service
from hullscan.http_deps import IdPath, IdQuery, authorized_project, get_session, project_or_404

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


@router.get("/projects/{project:path}/vex/statements")
def list_statements(project: str, vulnerability: str | None = Query(default=None, min_length=1, max_length=255),
                    document_id: IdQuery | None = None, page: int = Query(default=1, ge=1, le=1_000_000),
                    per_page: int = Query(default=20, ge=1, le=100),
                    principal: Principal = Depends(current_principal),
                    session: Session = Depends(get_session)) -> dict[str, Any]:
    """The project's stored VEX statements, one row per vulnerability name, oldest first, paged (`total` counts
    all that match), optionally of one vulnerability name and one document (`document_id` from `documents`);
    with the stored documents and their counts (reporter and up: what a document says, not which findings)."""
    found = authorized_project(session, principal, project, Action.READ_PROJECT)
    listed = service.stored_statements(session, found.id, vulnerability=vulnerability, document_id=document_id,
                                       page=page, per_page=per_page)
    return {"statements": listed.rows, "total": listed.total, "page": page, "per_page": per_page,
            "documents": [d.as_dict() for d in service.stored_documents(session, found.id)]}


@router.delete("/projects/{project:path}/vex/documents/{document_id}")
def withdraw_document(project: str, document_id: IdPath, request: Request,
                      principal: Principal = Depends(current_principal),
                      session: Session = Depends(get_session)) -> dict[str, Any]:
    """Withdraw an imported document's stored statements (developer and up): they stop applying to findings
    recorded later. Findings they already changed keep their states. 404 when the project has no such document."""
    found = authorized_project(session, principal, project, Action.TRIAGE_VULNERABILITIES)
    withdrawn = withdraw_or_404(request, session, found, document_id)
    return {"withdrawn": withdrawn.as_dict(), "note": service.WITHDRAWN_NOTE}


def withdraw_or_404(request: Request, session: Session, found: Project, document_id: int) -> service.StoredDocument:
    """Withdraw the document (the caller has authorized) and audit it; 404 when the project has no such document
    (the API and the VEX page answer alike)."""
    withdrawn = service.withdraw_document(session, found.id, document_id)
    if withdrawn is None:
        raise HTTPException(status_code=404, detail=f"There is no stored VEX document {document_id} in this project.")
    audit(request, session, "vex_withdrawn", found.path, document=withdrawn.document, document_id=withdrawn.id,
          statements=withdrawn.statements)
    return withdrawn
