"""Forms of a finding's issue link (set by hand or from the project's issue-tracker template) and the project
setting that holds that template; errors are shown in place on the page the form was on."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal
from hullscan.auth.http import audit
from hullscan.db.models import Project
from hullscan.db.models.vulnerabilities import Vulnerability
from hullscan.vulnerabilities import service as vulns
from hullscan.http_deps import IdPath
from hullscan.web.ui.deps import project_for, ui_principal, ui_session
from hullscan.web.ui.render import HTMLErrorRoute, project_url
from hullscan.web.ui.report_pages import _vulnerability, _vulnerability_page
from hullscan.web.ui.settings_pages import settings_page_for

router = APIRouter(route_class=HTMLErrorRoute, include_in_schema=False)


def _page(request: Request, session: Session, project: Project, v: Vulnerability, **context: Any) -> Response:
    return _vulnerability_page(request, session, project, v, status_code=400, **context)


def _finding(session: Session, principal: Principal, project: str, vulnerability_id: int) -> tuple[Project, Vulnerability]:
    found = project_for(session, principal, project, Action.TRIAGE_VULNERABILITIES)
    return found, _vulnerability(session, found, vulnerability_id)


def _back(project: Project, v: Vulnerability, anchor: str) -> RedirectResponse:
    return RedirectResponse(project_url(project.path, "security", "vulnerabilities", str(v.id)) + anchor,
                            status_code=303)


@router.post("/projects/{project:path}/-/security/vulnerabilities/{vulnerability_id}/issue_link")
def set_issue_link(request: Request, project: str, vulnerability_id: IdPath,
                   url: str = Form(default="", max_length=4096), title: str = Form(default="", max_length=1000),
                   from_template: str | None = Form(default=None, max_length=8),
                   principal: Principal = Depends(ui_principal), session: Session = Depends(ui_session)) -> Response:
    """Link the finding to an issue: a URL and title by hand, or the project's template filled in."""
    found, v = _finding(session, principal, project, vulnerability_id)
    try:
        if from_template:
            template = vulns.issue_tracker_template(session, found.id)
            if template is None:
                raise vulns.VulnerabilityError("this project has no issue-tracker template (see its settings)")
            url, title = vulns.fill_issue_template(template, v), vulns.issue_title(v)
        link = vulns.set_issue_link(session, v, url, title, author=principal.name)
    except vulns.VulnerabilityError as exc:
        session.rollback()
        return _page(request, session, found, v, issue_errors={"url": f"The issue link was not saved: {exc}."},
                     issue_form={"url": url, "title": title})
    audit(request, session, "vulnerability_issue_linked", found.path, id=v.id, url=link.url)
    return _back(found, v, "#issue-link")


@router.post("/projects/{project:path}/-/security/vulnerabilities/{vulnerability_id}/issue_link/delete")
def remove_issue_link(request: Request, project: str, vulnerability_id: IdPath,
                      principal: Principal = Depends(ui_principal),
                      session: Session = Depends(ui_session)) -> Response:
    found, v = _finding(session, principal, project, vulnerability_id)
    if vulns.remove_issue_link(session, v):
        audit(request, session, "vulnerability_issue_unlinked", found.path, id=v.id)
    return _back(found, v, "#issue-link")


@router.post("/projects/{project:path}/-/settings/issue_tracker")
def set_issue_tracker(request: Request, project: str, url_template: str = Form(default="", max_length=4096),
                      principal: Principal = Depends(ui_principal), session: Session = Depends(ui_session)) -> Response:
    """The project's new-issue URL template (empty removes it)."""
    found = project_for(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    try:
        saved = vulns.set_issue_tracker_template(session, found.id, url_template)
    except vulns.VulnerabilityError as exc:
        session.rollback()
        return settings_page_for(request, session, found, status_code=400,
                                 tracker_errors={"url_template": f"The template was not saved: {exc}."},
                                 tracker_form={"url_template": url_template})
    audit(request, session, "issue_tracker_changed", found.path, url_template=saved)
    return RedirectResponse(project_url(found.path, "settings", saved=1) + "#issue-tracker", status_code=303)
