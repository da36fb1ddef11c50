"""The Vulnerability Report of a project, a group and the instance ("Security centre"): one report with a scope
(tabs, filters, sorting, numbered pages, bulk triage, CSV), the group overview, and the vulnerability page."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from hullscan.auth import Action, Forbidden, Principal, authorize, is_allowed
from hullscan.auth.http import audit
from hullscan.auth.principal import can_see
from hullscan.auth.projects import list_projects
from hullscan.db.models import Project
from hullscan.db.models.vulnerabilities import Vulnerability
from hullscan.pipelines import service as pipelines
from hullscan.severities import SEVERITIES
from hullscan.vulnerabilities import service as vulns
from hullscan.vulnerabilities.api import (
    csv_stream,  # the API's streamed, formula-safe CSV
)
from hullscan.http_deps import CountQuery, IdPath
from hullscan.web.ui.chart import trend_chart
from hullscan.web.ui.deps import project_for, ui_principal, ui_session
from hullscan.web.ui.findings import finding_context
from hullscan.web.ui.render import HTMLErrorRoute, group_url, project_url, render

router = APIRouter(route_class=HTMLErrorRoute, include_in_schema=False)

CONTAINER_REGISTRY = "CONTAINER_REGISTRY"
DEVELOPMENT = "DEVELOPMENT"
REGISTRY_TYPES = ["container_scanning_for_registry"]
DEVELOPMENT_TYPES = ["sast", "dependency_scanning", "container_scanning", "dast", "secret_detection",
                     "coverage_fuzzing", "api_fuzzing", "generic"]
ACTIVITIES = {"still_detected": "Still detected", "no_longer_detected": "No longer detected",
              "detected_by_advisory_update": "Detected by an advisory update"}
SORT_KEYS = {"severity": "Severity", "detected": "Detected", "package": "Package", "identifier": "Identifier",
             "image": "Image", "status": "Status", "risk": "Risk (KEV, EPSS, CVSS)"}
SORTS = {f"{key}_{direction}": f"{label} {arrow}" for key, label in SORT_KEYS.items()
         for direction, arrow in (("desc", "↓"), ("asc", "↑"))}
PAGE_SIZES = vulns.REPORT_PAGE_SIZES
MAX_PAGE = 100_000


def _tri(value: str | None) -> bool | None:
    return {"true": True, "false": False}.get((value or "").lower())


@dataclass
class ReportScope:
    """Whose vulnerabilities a report lists: one project, a group (every project below a namespace path, as
    GitLab's groups) or the instance; in each case only the projects the viewer may read."""

    kind: str  # "project" | "group" | "instance"
    name: str  # the project's or group's path ("" for the instance)
    base: str  # the report's address
    projects: dict[int, Project]  # the readable projects of the scope, by id
    all_projects: bool = False  # an administrator's instance report: no project condition at all
    project: Project | None = None  # the project of a project report (its navigation)
    triage_ids: list[int] = field(default_factory=list)  # projects whose rows the viewer may triage

    def scope_filter(self) -> dict[str, object]:
        if self.kind == "project":
            return {"project_id": next(iter(self.projects))}
        return {"project_ids": None if self.all_projects else sorted(self.projects)}

    @property
    def label(self) -> str:
        return {"project": "Vulnerability report", "group": "Group vulnerability report",
                "instance": "Security centre"}[self.kind]


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
    page: int = 1
    per_page: int = PAGE_SIZES[0]

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
        return self.state or list(vulns.OPEN_STATES)

    def build(self, scope: ReportScope) -> vulns.VulnerabilityFilter:
        if self.activity and self.activity not in ACTIVITIES:
            raise vulns.VulnerabilityError(f"unknown activity {self.activity!r}")
        bad = [s for s in self.severity if s not in SEVERITIES]
        if bad:
            raise vulns.VulnerabilityError(f"unknown severity {bad[0]!r}")
        return vulns.VulnerabilityFilter(
            **scope.scope_filter(), report_types=self.report_types,  # type: ignore[arg-type]
            severities=self.severity or None, states=self.states(), image=self.image or None,
            identifier=(self.identifier or "").strip() or None, package_prefix=self.package or None,
            has_fix=_tri(self.has_fix), known_exploited=_tri(self.kev), activity=self.activity or None)

    def params(self, **override: object) -> list[tuple[str, str]]:
        values: dict[str, object] = dict(tab=self.tab, severity=self.severity, state=self.state, image=self.image,
                                         identifier=self.identifier, package=self.package, has_fix=self.has_fix,
                                         kev=self.kev, activity=self.activity, sort=self.sort,
                                         per_page=None if self.per_page == PAGE_SIZES[0] else self.per_page,
                                         page=None if self.page == 1 else self.page)
        values.update(override)
        out: list[tuple[str, str]] = []
        for key, value in values.items():
            for v in value if isinstance(value, list) else [value]:
                if v not in (None, ""):
                    out.append((key, str(v)))
        return out

    def query_string(self, **override: object) -> str:
        return urlencode(self.params(**override))

    def sort_link(self, key: str) -> str:
        """The query of a column header's link: that column, descending first, the other way when it is on."""
        direction = "asc" if self.sort == f"{key}_desc" else "desc"
        return self.query_string(sort=f"{key}_{direction}", page=None)

    def aria_sort(self, key: str) -> str | None:
        if self.sort.rpartition("_")[0] != key:
            return None
        return "descending" if self.sort.endswith("_desc") else "ascending"


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
    page: int = Query(default=1, ge=1, le=MAX_PAGE),
    per_page: int = Query(default=PAGE_SIZES[0]),
) -> ReportQuery:
    if sort not in SORTS:
        raise HTTPException(status_code=400, detail=f"unknown sort {sort!r}")
    if per_page not in PAGE_SIZES:
        raise HTTPException(status_code=400, detail=f"page size must be one of {', '.join(map(str, PAGE_SIZES))}")
    return ReportQuery(tab, severity[:10], state[:10], image, identifier, package, has_fix, kev, activity, sort,
                       page, per_page)


def page_numbers(current: int, last: int, around: int = 2) -> list[int | None]:
    """The page links to show: first, last, and `around` either side of the current one (None: a gap)."""
    shown = sorted({1, last, *range(max(1, current - around), min(last, current + around) + 1)})
    out: list[int | None] = []
    for n in shown:
        if out and n - (out[-1] or 0) > 1:
            out.append(None)
        out.append(n)
    return out


# --- scopes ------------------------------------------------------------------------------------------------------

def project_scope(session: Session, principal: Principal, path: str, action: Action) -> ReportScope:
    found = project_for(session, principal, path, action)
    return ReportScope("project", found.path, project_url(found.path, "security", "vulnerability_report"),
                       {found.id: found}, project=found,
                       triage_ids=[found.id] if is_allowed(principal, Action.TRIAGE_VULNERABILITIES, found.path)
                       else [])


def _readable_scope(principal: Principal, kind: str, name: str, base: str, candidates: list[Project],
                    *, all_projects: bool = False) -> ReportScope:
    readable = {p.id: p for p in candidates if is_allowed(principal, Action.READ_VULNERABILITIES, p.path)}
    triage = sorted(p.id for p in readable.values() if is_allowed(principal, Action.TRIAGE_VULNERABILITIES, p.path))
    return ReportScope(kind, name, base, readable, all_projects=all_projects, triage_ids=triage)


def group_scope(session: Session, principal: Principal, group: str) -> ReportScope:
    """Every project below `group/` the viewer may read. A group with no project the viewer can see answers
    404, exactly as a missing one; one whose projects she sees but may not read answers 403."""
    path = group.strip("/")
    under = [p for p in list_projects(session) if p.path.startswith(path + "/")] if 0 < len(path) <= 255 else []
    seen = [p for p in under if can_see(principal, p.path)]
    if not seen:
        raise HTTPException(status_code=404, detail=f"There is no group {path!r}.")
    scope = _readable_scope(principal, "group", path, group_url(path, "security", "vulnerabilities"), seen)
    if not scope.projects:
        raise Forbidden(principal, Action.READ_VULNERABILITIES, path)
    return scope


def instance_scope(session: Session, principal: Principal) -> ReportScope:
    """The Security centre: every project whose vulnerabilities the viewer may read (all, for administrators)."""
    authorize(principal, Action.USE_API)  # any signed-in user with an API scope: she sees what she may read
    candidates = [p for p in list_projects(session) if can_see(principal, p.path)]
    return _readable_scope(principal, "instance", "", "/-/security/vulnerabilities", candidates,
                           all_projects=principal.is_admin)


# --- the report ----------------------------------------------------------------------------------------------------

def _has_development_findings(session: Session, scope: ReportScope) -> bool:
    """Whether the Development tab has anything to show (without it, the registry tab is the only tab)."""
    flt = vulns.VulnerabilityFilter(**scope.scope_filter(), report_types=DEVELOPMENT_TYPES)  # type: ignore[arg-type]
    return sum(vulns.severity_counts(session, flt).values()) > 0


def _partial_scans(session: Session, rows: list[Vulnerability]) -> dict[tuple[int, str, str], object]:
    """(project, repository, tag) of the shown rows whose latest scan was partial."""
    wanted: dict[int, set[tuple[str, str]]] = {}
    for v in rows:
        wanted.setdefault(v.project_id, set()).add((v.image_name.split("/", 1)[-1], v.image_tag or ""))
    out: dict[tuple[int, str, str], object] = {}
    for pid, images in wanted.items():
        for (repo, tag), job in pipelines.partial_latest_scans(session, pid, images).items():
            out[(pid, repo, tag)] = job
    return out


def _report(request: Request, session: Session, scope: ReportScope, q: ReportQuery, *, status_code: int = 200,
            **context: object) -> Response:
    ctx: dict[str, object] = dict(scope=scope, project=scope.project, report_url=scope.base, q=q, activities=ACTIVITIES,
               sorts=SORTS, sort_keys=SORT_KEYS, page_sizes=PAGE_SIZES, states=vulns.STATES,
               reasons=vulns.DISMISSAL_REASONS, updated=None, bulk_errors=None, bulk_form=None,
               development_tab=not q.registry or _has_development_findings(session, scope))
    ctx.update(context)
    enabled = request.app.state.settings.feature_container_scanning_for_registry and (
        scope.project is None or scope.project.container_scanning_for_registry_enabled)
    if q.registry and not enabled:
        return render(request, "report.html", status_code=status_code, disabled=True, **ctx)
    flt = q.build(scope)
    counts, images = vulns.report_facets(session, flt)
    total = sum(counts.values())
    last_page = max(1, -(-total // q.per_page))
    rows = vulns.report_page(session, flt, sort=q.sort, page=min(q.page, last_page), per_page=q.per_page)
    return render(request, "report.html", status_code=status_code, disabled=False, rows=rows, counts=counts,
                  total=total, images=images, partial_scans=_partial_scans(session, rows),
                  page=min(q.page, last_page), last_page=last_page,
                  pages=page_numbers(min(q.page, last_page), last_page), **ctx)


@router.get("/projects/{project:path}/-/security/vulnerability_report")
def report_page(request: Request, project: str, q: ReportQuery = Depends(report_query),
                updated: CountQuery | None = None, principal: Principal = Depends(ui_principal),
                session: Session = Depends(ui_session)) -> Response:
    scope = project_scope(session, principal, project, Action.READ_VULNERABILITIES)
    return _report(request, session, scope, q, updated=updated)


@router.get("/groups/{group:path}/-/security/vulnerabilities")
def group_report_page(request: Request, group: str, q: ReportQuery = Depends(report_query),
                      updated: CountQuery | None = None, principal: Principal = Depends(ui_principal),
                      session: Session = Depends(ui_session)) -> Response:
    return _report(request, session, group_scope(session, principal, group), q, updated=updated)


@router.get("/-/security/vulnerabilities")
def instance_report_page(request: Request, q: ReportQuery = Depends(report_query),
                         updated: CountQuery | None = None, principal: Principal = Depends(ui_principal),
                         session: Session = Depends(ui_session)) -> Response:
    return _report(request, session, instance_scope(session, principal), q, updated=updated)


def _query_of(url: str) -> ReportQuery:
    """The report query a (checked) return_to address names, so a refused bulk change shows the same page."""
    values = parse_qs(urlsplit(url).query)

    def one(key: str) -> str | None:
        return values.get(key, [None])[0]

    def number(key: str, default: int, allowed: range | tuple[int, ...]) -> int:
        raw = one(key) or ""
        return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 7 and int(raw) in allowed else default

    sort = one("sort") or "severity_desc"
    return ReportQuery(one("tab"), values.get("severity", [])[:10], values.get("state", [])[:10], one("image"),
                       one("identifier"), one("package"), one("has_fix"), one("kev"), one("activity"),
                       sort if sort in SORTS else "severity_desc", number("page", 1, range(1, MAX_PAGE + 1)),
                       number("per_page", PAGE_SIZES[0], PAGE_SIZES))


def _export(request: Request, scope_of: object, q: ReportQuery) -> Response:
    """The current filter as CSV, streamed by the vulnerabilities API's writer (its own short session)."""
    with request.app.state.db.session() as session:
        scope = scope_of(session)  # type: ignore[operator]
        flt = q.build(scope)
        flt.conditions()  # reject a bad filter before the stream starts
    name = (scope.name or "instance").replace("/", "-")
    tab = "container-registry" if q.registry else "development"
    return StreamingResponse(csv_stream(request, flt), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="vulnerabilities-{name}-{tab}.csv"'})


@router.get("/projects/{project:path}/-/security/vulnerability_report/export.csv")
def export_csv(request: Request, project: str, q: ReportQuery = Depends(report_query),
               principal: Principal = Depends(ui_principal)) -> Response:
    return _export(request, lambda s: project_scope(s, principal, project, Action.READ_VULNERABILITIES), q)


@router.get("/groups/{group:path}/-/security/vulnerabilities/export.csv")
def group_export_csv(request: Request, group: str, q: ReportQuery = Depends(report_query),
                     principal: Principal = Depends(ui_principal)) -> Response:
    return _export(request, lambda s: group_scope(s, principal, group), q)


@router.get("/-/security/vulnerabilities/export.csv")
def instance_export_csv(request: Request, q: ReportQuery = Depends(report_query),
                        principal: Principal = Depends(ui_principal)) -> Response:
    return _export(request, lambda s: instance_scope(s, principal), q)


def _safe_return(scope: ReportScope, value: str | None) -> str:
    """Only redirect back into this report (never to another site)."""
    if not value:
        return scope.base
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path != scope.base:
        return scope.base
    return value


def _with_param(url: str, key: str, value: object) -> str:
    parts = urlsplit(url)
    kept = [p for p in parts.query.split("&") if p and not p.startswith(f"{key}=")]
    kept.append(urlencode({key: value}))
    return f"{parts.path}?{'&'.join(kept)}"


def _bulk(request: Request, session: Session, principal: Principal, scope: ReportScope, ids: list[int], state: str,
          dismissal_reason: str | None, comment: str | None, return_to: str | None) -> Response:
    """Change the status of the selected rows (dismiss needs a reason); only rows of projects the viewer may
    triage: any other id answers 404 (as a missing one) and nothing changes."""
    if not scope.triage_ids:
        raise Forbidden(principal, Action.TRIAGE_VULNERABILITIES, scope.name or None)
    back = _safe_return(scope, return_to)
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
        return _report(request, session, scope, _query_of(back), status_code=400, bulk_errors=errors,
                       bulk_form={"ids": ids, "state": state, "dismissal_reason": dismissal_reason or "",
                                  "comment": comment or ""})
    try:
        rows = vulns.change_state(session, ids, state, author=principal.name, comment=(comment or "").strip() or None,
                                  dismissal_reason=reason, project_ids=scope.triage_ids)
    except vulns.VulnerabilityError:  # refused before anything was written; the page never offers such a row
        raise HTTPException(status_code=404, detail="There is no such vulnerability that you may change in this "
                                                    "report.") from None
    by_project: dict[int, list[int]] = {}
    for r in rows:
        by_project.setdefault(r.project_id, []).append(r.id)
    for pid, changed in by_project.items():
        audit(request, session, "vulnerability_state_changed", scope.projects[pid].path, ids=changed, state=state,
              dismissal_reason=reason)
    return RedirectResponse(_with_param(back, "updated", len(rows)), status_code=303)


BulkIds = Form(default=[])


@router.post("/projects/{project:path}/-/security/vulnerability_report/bulk")
def bulk_triage(request: Request, project: str, ids: list[int] = BulkIds, state: str = Form(...),
                dismissal_reason: str | None = Form(default=None), comment: str | None = Form(default=None),
                return_to: str | None = Form(default=None), principal: Principal = Depends(ui_principal),
                session: Session = Depends(ui_session)) -> Response:
    scope = project_scope(session, principal, project, Action.TRIAGE_VULNERABILITIES)
    return _bulk(request, session, principal, scope, ids, state, dismissal_reason, comment, return_to)


@router.post("/groups/{group:path}/-/security/vulnerabilities/bulk")
def group_bulk_triage(request: Request, group: str, ids: list[int] = BulkIds, state: str = Form(...),
                      dismissal_reason: str | None = Form(default=None), comment: str | None = Form(default=None),
                      return_to: str | None = Form(default=None), principal: Principal = Depends(ui_principal),
                      session: Session = Depends(ui_session)) -> Response:
    scope = group_scope(session, principal, group)
    return _bulk(request, session, principal, scope, ids, state, dismissal_reason, comment, return_to)


@router.post("/-/security/vulnerabilities/bulk")
def instance_bulk_triage(request: Request, ids: list[int] = BulkIds, state: str = Form(...),
                         dismissal_reason: str | None = Form(default=None), comment: str | None = Form(default=None),
                         return_to: str | None = Form(default=None), principal: Principal = Depends(ui_principal),
                         session: Session = Depends(ui_session)) -> Response:
    scope = instance_scope(session, principal)
    return _bulk(request, session, principal, scope, ids, state, dismissal_reason, comment, return_to)


# --- the group overview --------------------------------------------------------------------------------------------

@router.get("/groups/{group:path}")  # registered second (decorators apply bottom-up): it matches any path
@router.get("/groups/{group:path}/-/security/dashboard")
def group_overview(request: Request, group: str, principal: Principal = Depends(ui_principal),
                   session: Session = Depends(ui_session)) -> Response:
    """Per-project open counts, the group's trend and its oldest unresolved criticals."""
    scope = group_scope(session, principal, group)
    flt = vulns.VulnerabilityFilter(**scope.scope_filter(), report_types=REGISTRY_TYPES,  # type: ignore[arg-type]
                                    states=list(vulns.OPEN_STATES))
    per_project = vulns.open_counts_by_project(session, sorted(scope.projects))
    counts = vulns.severity_counts(session, flt)
    oldest = vulns.report_page(session, replace(flt, severities=["critical"]), sort="detected_asc",
                               per_page=10)
    return render(request, "group.html", scope=scope, counts=counts, per_project=per_project,
                  chart=trend_chart(vulns.severity_trend(session, flt)), oldest=oldest,
                  projects=sorted(scope.projects.values(), key=lambda p: p.path))


def _vulnerability(session: Session, project: Project, vulnerability_id: int) -> Vulnerability:
    v = vulns.project_vulnerability(session, project.id, vulnerability_id)
    if v is None:
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
    ctx: dict[str, object] = {"errors": None, "form": None, **finding_context(request, session, found, v), **context}
    return render(request, "vulnerability.html", status_code=status_code, project=found, v=v,
                  sightings=vulns.sightings(session, v.id),
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

