"""The project's VEX page: the stored documents (reporters and up), the import form and the withdraw buttons
(whoever may triage: importing VEX is bulk triage), and the OpenVEX export download."""

from __future__ import annotations

import json

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal
from hullscan.auth.http import audit
from hullscan.matching.vex import VexError, parse_vex
from hullscan.vex import service as vex
from hullscan.vex.api import withdraw_or_404
from hullscan.web.ui.deps import project_for, ui_principal, ui_session
from hullscan.http_deps import IdPath, IdQuery
from hullscan.db.models import Project
from hullscan.web.ui.render import HTMLErrorRoute, project_url, render

router = APIRouter(route_class=HTMLErrorRoute, include_in_schema=False)
MAX_FORM_DOCUMENT = 1_000_000  # the UI's form limit; larger documents go through the API or the CLI


@router.post("/projects/{project:path}/-/vex/import")
def import_vex_form(request: Request, project: str, document: str = Form(default="", max_length=MAX_FORM_DOCUMENT),
                    principal: Principal = Depends(ui_principal), session: Session = Depends(ui_session)) -> Response:
    """Import the pasted OpenVEX / CycloneDX VEX document; the page shows what changed, or why nothing did.
    It needs what triage needs (the API's and the CLI's import too): it changes findings' states as dismissing does."""
    found = project_for(session, principal, project, Action.TRIAGE_VULNERABILITIES)
    try:
        doc = parse_vex(document.encode("utf-8"), "the document", request.app.state.settings.vex_max_bytes)
        result = vex.import_vex(session, found.id, doc, source=f"upload by {principal.name}", actor=principal.name,
                                max_statements=request.app.state.settings.vex_max_statements)
    except (VexError, vex.VexImportError) as exc:
        session.rollback()
        return _vex_page(request, session, found, status_code=400, vex_error=str(exc))
    audit(request, session, "vex_imported", found.path, document=result.author, format=doc.format,
          statements=result.statements, matched=result.matched, changed=result.changed)
    return _vex_page(request, session, found, vex_result=result)


@router.get("/projects/{project:path}/-/security/vex.json")
def export_vex_download(project: str, principal: Principal = Depends(ui_principal),
                        session: Session = Depends(ui_session)) -> Response:
    """The project's triage decisions as an OpenVEX file."""
    found = project_for(session, principal, project, Action.READ_VULNERABILITIES)
    body = json.dumps(vex.export_openvex(session, found.id, found.path), indent=2)
    return Response(body, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="vex-{found.id}.openvex.json"'})


@router.get("/projects/{project:path}/-/vex")
def vex_page(request: Request, project: str, withdrawn: IdQuery | None = None,
             principal: Principal = Depends(ui_principal), session: Session = Depends(ui_session)) -> Response:
    """The project's stored VEX documents with their counts (reporters and up); developers and up withdraw."""
    found = project_for(session, principal, project, Action.READ_PROJECT)
    return _vex_page(request, session, found, withdrawn=withdrawn)


def _vex_page(request: Request, session: Session, project: Project, *, status_code: int = 200,
              **context: Any) -> Response:
    """The VEX page of `project` (the caller has authorized), with what a form just did (shown once)."""
    context = {"withdrawn": None, "vex_result": None, "vex_error": None, **context}
    return render(request, "vex.html", status_code=status_code, project=project,
                  documents=vex.stored_documents(session, project.id), max_document=MAX_FORM_DOCUMENT, **context)


@router.post("/projects/{project:path}/-/vex/documents/{document_id}/withdraw")
def withdraw_document(request: Request, project: str, document_id: IdPath, principal: Principal = Depends(ui_principal),
                      session: Session = Depends(ui_session)) -> Response:
    """Withdraw a document's stored statements (audited); the findings it changed keep their states."""
    found = project_for(session, principal, project, Action.TRIAGE_VULNERABILITIES)
    withdrawn = withdraw_or_404(request, session, found, document_id)
    return RedirectResponse(project_url(found.path, "vex", withdrawn=withdrawn.id), status_code=303)
