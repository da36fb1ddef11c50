"""Projects list (severity counts per project) and project overview (trend chart, last scans)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal, authorize, is_allowed
from hullscan.auth.projects import list_projects
from hullscan.auth.service import visible_project_paths
from hullscan.pipelines import service as pipelines
from hullscan.vulnerabilities import service as vulns
from hullscan.web.ui.chart import trend_chart
from hullscan.web.ui.deps import project_for, ui_principal, ui_session
from hullscan.web.ui.render import HTMLErrorRoute, render
from hullscan.web.ui.report_pages import REGISTRY_TYPES

router = APIRouter(route_class=HTMLErrorRoute, include_in_schema=False)


@router.get("/")
def home(principal: Principal = Depends(ui_principal)) -> Response:
    return RedirectResponse("/projects", status_code=303)


@router.get("/projects")
def projects_page(request: Request, principal: Principal = Depends(ui_principal),
                  session: Session = Depends(ui_session)) -> Response:
    authorize(principal, Action.USE_API)
    visible = visible_project_paths(session, principal)
    projects = [p for p in list_projects(session) if visible is None or p.path in visible]
    # counts only where the viewer may read vulnerabilities (a reporter sees the project, not its findings)
    readable = {p.id for p in projects if is_allowed(principal, Action.READ_VULNERABILITIES, p.path)}
    counts = vulns.open_counts_by_project(session, sorted(readable))
    return render(request, "projects.html", projects=projects, counts=counts, readable=readable)


@router.get("/projects/{project:path}/-/overview")
def overview_page(request: Request, project: str, principal: Principal = Depends(ui_principal),
                  session: Session = Depends(ui_session)) -> Response:
    found = project_for(session, principal, project, Action.READ_VULNERABILITIES)
    flt = vulns.VulnerabilityFilter(project_id=found.id, report_types=REGISTRY_TYPES,
                                    states=list(vulns.OPEN_STATES))
    counts = vulns.severity_counts(session, flt)
    chart = trend_chart(vulns.severity_trend(session, flt))
    recent = pipelines.list_pipelines(session, found.id, limit=10)
    jobs = pipelines.jobs_of(session, [p.id for p in recent])
    top_risks, _ = vulns.query_vulnerabilities(session, vulns.VulnerabilityFilter(
        project_id=found.id, report_types=REGISTRY_TYPES, states=list(vulns.OPEN_STATES),
        activity="still_detected"), sort="risk", limit=5)
    return render(request, "overview.html", project=found, counts=counts, chart=chart, pipelines=recent,
                  jobs=jobs, top_risks=top_risks)


@router.get("/projects/{rest:path}")
@router.get("/admin/{rest:path}")
def unknown_page(rest: str, principal: Principal = Depends(ui_principal)) -> Response:
    """Any other address under the UI's prefixes: a clear 404 page rather than a JSON body (after sign-in)."""
    authorize(principal, Action.USE_API)
    raise HTTPException(status_code=404, detail="There is no such page.")
