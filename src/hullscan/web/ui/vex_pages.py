"""The VEX form of the project settings page (paste a document: import), the VEX page (the stored documents,
withdrawn with a confirmed button) and the OpenVEX export download."""

from __future__ import annotations

import json

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
from hullscan.web.ui.render import HTMLErrorRoute, project_url, render
from hullscan.web.ui.settings_pages import settings_page_for

router = APIRouter(route_class=HTMLErrorRoute, include_in_schema=False)
MAX_FORM_DOCUMENT = 1_000_000  # the UI's form limit; larger documents go through the API or the CLI


@router.post("/projects/{project:path}/-/settings/vex")
def import_vex_form(request: Request, project: str, document: str = Form(default="", max_length=MAX_FORM_DOCUMENT),
                    principal: Principal = Depends(ui_principal), session: Session = Depends(ui_session)) -> Response:
    """Import the pasted OpenVEX / CycloneDX VEX document; the page shows what changed, or why nothing did."""
    found = project_for(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    try:
        doc = parse_vex(document.encode("utf-8"), "the document", request.app.state.settings.vex_max_bytes)
        result = vex.import_vex(session, found.id, doc, source=f"upload by {principal.name}", actor=principal.name,
                                max_statements=request.app.state.settings.vex_max_statements)
    except (VexError, vex.VexImportError) as exc:
        session.rollback()
        return settings_page_for(request, session, found, status_code=400, vex_error=str(exc))
    audit(request, session, "vex_imported", found.path, document=result.author, format=doc.format,
          statements=result.statements, matched=result.matched, changed=result.changed)
    return settings_page_for(request, session, found, vex_result=result)


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
    return render(request, "vex.html", project=found, documents=vex.stored_documents(session, found.id),
                  withdrawn=withdrawn)


@router.post("/projects/{project:path}/-/vex/documents/{document_id}/withdraw")
def withdraw_document(request: Request, project: str, document_id: IdPath, principal: Principal = Depends(ui_principal),
                      session: Session = Depends(ui_session)) -> Response:
    """Withdraw a document's stored statements (audited); the findings it changed keep their states."""
    found = project_for(session, principal, project, Action.TRIAGE_VULNERABILITIES)
    withdrawn = withdraw_or_404(request, session, found, document_id)
    return RedirectResponse(project_url(found.path, "vex", withdrawn=withdrawn.id), status_code=303)
