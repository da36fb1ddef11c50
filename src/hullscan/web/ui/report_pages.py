"""The Vulnerability Report (tabs, filters, sorting, pagination, bulk triage, CSV) and the vulnerability page."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal
from hullscan.auth.http import audit
from hullscan.db.models import Project
from hullscan.db.models.vulnerabilities import Vulnerability
from hullscan.pipelines import service as pipelines
from hullscan.vulnerabilities import service as vulns
from hullscan.vulnerabilities.api import (
    csv_stream,  # the API's streamed, formula-safe CSV
)
from hullscan.web.deps import CountQuery, IdPath
from hullscan.web.ui import queries
from hullscan.web.ui.deps import project_for, ui_principal, ui_session
from hullscan.web.ui.render import HTMLErrorRoute, project_url, render

router = APIRouter(route_class=HTMLErrorRoute, include_in_schema=False)

CONTAINER_REGISTRY = "CONTAINER_REGISTRY"
DEVELOPMENT = "DEVELOPMENT"
REGISTRY_TYPES = ["container_scanning_for_registry"]
DEVELOPMENT_TYPES = ["sast", "dependency_scanning", "container_scanning", "dast", "secret_detection",
                     "coverage_fuzzing", "api_fuzzing", "generic"]
ACTIVITIES = {"still_detected": "Still detected", "no_longer_detected": "No longer detected",
              "detected_by_advisory_update": "Detected by an advisory update"}
SORTS = {"severity_desc": "Severity ↓", "severity_asc": "Severity ↑", "detected_desc": "Detected ↓",
         "detected_asc": "Detected ↑"}
PER_PAGE = 20


def _tri(value: str | None) -> bool | None:
    return {"true": True, "false": False}.get((value or "").lower())


@dataclass
class ReportQuery:
    """The report's query string, kept as the user gave it so links and the export repeat it exactly."""

    tab: str | None
    severity: list[str]
    state: list[str]
    image: str | None
    identifier: str | None
    package: str | None
    has_fix: str | None
    kev: str | None
    activity: str | None
    sort: str
    cursor: str | None

    @property
    def registry(self) -> bool:
        """The registry tab is the default: it is where hullscan's findings are (development only on request)."""
        return self.tab != DEVELOPMENT

    @property
    def report_types(self) -> list[str]:
        return REGISTRY_TYPES if self.registry else DEVELOPMENT_TYPES

    def states(self) -> list[str] | None:
        if self.state == ["all"]:
            return None
        return self.state or list(queries.OPEN_STATES)

    def build(self, project: Project) -> vulns.VulnerabilityFilter:
        if self.activity and self.activity not in ACTIVITIES:
            raise vulns.VulnerabilityError(f"unknown activity {self.activity!r}")
        bad = [s for s in self.severity if s not in queries.SEVERITIES]
        if bad:
            raise vulns.VulnerabilityError(f"unknown severity {bad[0]!r}")
        return vulns.VulnerabilityFilter(
            project_id=project.id, report_types=self.report_types, severities=self.severity or None,
            states=self.states(), image=self.image or None, identifier=self.identifier or None,
            package=self.package or None, has_fix=_tri(self.has_fix), known_exploited=_tri(self.kev),
            activity=self.activity or None)

    def params(self, **override: object) -> list[tuple[str, str]]:
        values: dict[str, object] = dict(tab=self.tab, severity=self.severity, state=self.state, image=self.image,
                                         identifier=self.identifier, package=self.package, has_fix=self.has_fix,
                                         kev=self.kev, activity=self.activity, sort=self.sort, cursor=self.cursor)
        values.update(override)
        out: list[tuple[str, str]] = []
        for key, value in values.items():
            for v in value if isinstance(value, list) else [value]:
                if v not in (None, ""):
                    out.append((key, str(v)))
        return out

    def query_string(self, **override: object) -> str:
        return urlencode(self.params(**override))


def report_query(
    tab: str | None = Query(default=None, max_length=32),
    severity: list[str] = Query(default=[]),
    state: list[str] = Query(default=[]),
    image: str | None = Query(default=None, max_length=600),
    identifier: str | None = Query(default=None, max_length=200),
    package: str | None = Query(default=None, max_length=600),
    has_fix: str | None = Query(default=None, max_length=5),
    kev: str | None = Query(default=None, max_length=5),
    activity: str | None = Query(default=None, max_length=40),
    sort: str = Query(default="severity_desc", max_length=20),
    cursor: str | None = Query(default=None, max_length=500),
) -> ReportQuery:
    if sort not in SORTS:
        raise HTTPException(status_code=400, detail=f"unknown sort {sort!r}")
    return ReportQuery(tab, severity[:10], state[:10], image, identifier, package, has_fix, kev, activity, sort,
                       cursor)


def has_development_findings(session: Session, project: Project) -> bool:
    """Whether the Development tab has anything to show (without it, the registry tab is the only tab)."""
    flt = vulns.VulnerabilityFilter(project_id=project.id, report_types=DEVELOPMENT_TYPES)
    return sum(vulns.severity_counts(session, flt).values()) > 0


@router.get("/projects/{project:path}/-/security/vulnerability_report")
def report_page(request: Request, project: str, q: ReportQuery = Depends(report_query),
                updated: CountQuery | None = None, principal: Principal = Depends(ui_principal),
                session: Session = Depends(ui_session)) -> Response:
    found = project_for(session, principal, project, Action.READ_VULNERABILITIES)
    return _report(request, session, found, q, updated=updated)


def _report(request: Request, session: Session, found: Project, q: ReportQuery, *, status_code: int = 200,
            **context: object) -> Response:
    ctx = dict(project=found, q=q, activities=ACTIVITIES, sorts=SORTS, states=vulns.STATES,
               reasons=vulns.DISMISSAL_REASONS, updated=None, bulk_errors=None, bulk_form=None,
               development_tab=not q.registry or has_development_findings(session, found))
    ctx.update(context)
    if q.registry and not (found.container_scanning_for_registry_enabled
                           and request.app.state.settings.feature_container_scanning_for_registry):
        return render(request, "report.html", status_code=status_code, disabled=True, **ctx)
    flt = q.build(found)
    rows, next_cursor = vulns.query_vulnerabilities(session, flt, sort=q.sort, cursor=q.cursor, limit=PER_PAGE)
    counts, images = queries.report_facets(session, flt)
    partial = pipelines.partial_latest_scans(
        session, found.id, {(v.image_name.split("/", 1)[-1], v.image_tag or "") for v in rows})
    return render(request, "report.html", status_code=status_code, disabled=False, rows=rows,
                  next_cursor=next_cursor, counts=counts, total=sum(counts.values()), images=images,
                  partial_scans=partial, **ctx)


def _query_of(url: str) -> ReportQuery:
    """The report query a (checked) return_to address names, so a refused bulk change shows the same page."""
    values = parse_qs(urlsplit(url).query)

    def one(key: str) -> str | None:
        return values.get(key, [None])[0]

    sort = one("sort") or "severity_desc"
    return ReportQuery(one("tab"), values.get("severity", [])[:10], values.get("state", [])[:10], one("image"),
                       one("identifier"), one("package"), one("has_fix"), one("kev"), one("activity"),
                       sort if sort in SORTS else "severity_desc", one("cursor"))


@router.get("/projects/{project:path}/-/security/vulnerability_report/export.csv")
def export_csv(request: Request, project: str, q: ReportQuery = Depends(report_query),
               principal: Principal = Depends(ui_principal)) -> Response:
    """The current filter as CSV, streamed by the vulnerabilities API's writer (its own short session)."""
    with request.app.state.db.session() as session:
        found = project_for(session, principal, project, Action.READ_VULNERABILITIES)
        flt = q.build(found)
        flt.conditions()  # reject a bad filter before the stream starts
        name = found.path.replace("/", "-")
    tab = "container-registry" if q.registry else "development"
    return StreamingResponse(csv_stream(request, flt), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="vulnerabilities-{name}-{tab}.csv"'})


def _safe_return(project: Project, value: str | None) -> str:
    """Only redirect back into this project's report (never to another site)."""
    base = project_url(project.path, "security", "vulnerability_report")
    if not value:
        return base
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path != base:
        return base
    return value


def _with_param(url: str, key: str, value: object) -> str:
    parts = urlsplit(url)
    kept = [p for p in parts.query.split("&") if p and not p.startswith(f"{key}=")]
    kept.append(urlencode({key: value}))
    return f"{parts.path}?{'&'.join(kept)}"


@router.post("/projects/{project:path}/-/security/vulnerability_report/bulk")
def bulk_triage(request: Request, project: str, ids: list[int] = Form(default=[]), state: str = Form(...),
                dismissal_reason: str | None = Form(default=None), comment: str | None = Form(default=None),
                return_to: str | None = Form(default=None), principal: Principal = Depends(ui_principal),
                session: Session = Depends(ui_session)) -> Response:
    """Change the status of the selected rows (dismiss needs a reason)."""
    found = project_for(session, principal, project, Action.TRIAGE_VULNERABILITIES)
    back = _safe_return(found, return_to)
    reason = dismissal_reason or None if state == "dismissed" else None
    errors = {}
    if not ids:
        errors["ids"] = "Select at least one vulnerability in the list first."
    elif len(ids) > 1000:
        errors["ids"] = "At most 1000 vulnerabilities can be changed at once."
    if state not in vulns.STATES:
        errors["state"] = "Choose a status from the list."
    elif state == "dismissed" and reason is None:
        errors["dismissal_reason"] = "Choose a reason to dismiss (for example False positive)."
    if errors:
        return _report(request, session, found, _query_of(back), status_code=400, bulk_errors=errors,
                       bulk_form={"ids": ids, "state": state, "dismissal_reason": dismissal_reason or "",
                                  "comment": comment or ""})
    rows = vulns.change_state(session, ids, state, author=principal.name, comment=(comment or "").strip() or None,
                              dismissal_reason=reason, project_id=found.id)
    audit(request, session, "vulnerability_state_changed", found.path, ids=[r.id for r in rows], state=state,
          dismissal_reason=reason)
    return RedirectResponse(_with_param(back, "updated", len(rows)), status_code=303)


def _vulnerability(session: Session, project: Project, vulnerability_id: int) -> Vulnerability:
    v = session.get(Vulnerability, vulnerability_id)
    if v is None or v.project_id != project.id:
        raise HTTPException(status_code=404, detail=f"There is no vulnerability {vulnerability_id} in this project.")
    return v


@router.get("/projects/{project:path}/-/security/vulnerabilities/{vulnerability_id}")
def vulnerability_page(request: Request, project: str, vulnerability_id: IdPath,
                       principal: Principal = Depends(ui_principal),
                       session: Session = Depends(ui_session)) -> Response:
    found = project_for(session, principal, project, Action.READ_VULNERABILITIES)
    return _vulnerability_page(request, session, found, _vulnerability(session, found, vulnerability_id))


def _vulnerability_page(request: Request, session: Session, found: Project, v: Vulnerability, *,
                        status_code: int = 200, **context: object) -> Response:
    ctx: dict[str, object] = {"errors": None, "form": None, **context}
    return render(request, "vulnerability.html", status_code=status_code, project=found, v=v,
                  history=vulns.history(session, v.id), sightings=vulns.sightings(session, v.id),
                  states=vulns.STATES, reasons=vulns.DISMISSAL_REASONS,
                  report_type=(CONTAINER_REGISTRY if v.report_type == 8 else DEVELOPMENT), **ctx)


@router.post("/projects/{project:path}/-/security/vulnerabilities/{vulnerability_id}/state")
def vulnerability_state(request: Request, project: str, vulnerability_id: IdPath, state: str = Form(...),
                        dismissal_reason: str | None = Form(default=None), comment: str | None = Form(default=None),
                        principal: Principal = Depends(ui_principal),
                        session: Session = Depends(ui_session)) -> Response:
    """Change state, or (same state with a comment) add a comment; both land in the history."""
    found = project_for(session, principal, project, Action.TRIAGE_VULNERABILITIES)
    v = _vulnerability(session, found, vulnerability_id)
    reason = dismissal_reason or None if state == "dismissed" else None
    if state == "dismissed" and reason is None and v.state == "dismissed":
        reason = v.dismissal_reason  # a comment on a dismissed vulnerability keeps its reason
    errors = {}
    if state not in vulns.STATES:
        errors["state"] = "Choose a status from the list."
    elif state == "dismissed" and reason is None:
        errors["dismissal_reason"] = "Choose a reason to dismiss this vulnerability (for example False positive)."
    if errors:
        return _vulnerability_page(request, session, found, v, status_code=400, errors=errors,
                                   form={"state": state, "dismissal_reason": dismissal_reason or "",
                                         "comment": comment or ""})
    vulns.change_state(session, [v.id], state, author=principal.name, comment=(comment or "").strip() or None,
                       dismissal_reason=reason, project_id=found.id)
    audit(request, session, "vulnerability_state_changed", found.path, ids=[v.id], state=state,
          dismissal_reason=reason)
    return RedirectResponse(project_url(found.path, "security", "vulnerabilities", str(v.id)), status_code=303)

