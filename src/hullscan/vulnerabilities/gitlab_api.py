"""GitLab-compatible REST under /api/v4: what GitLab's clients (python-gitlab, scripts written for GitLab's
Vulnerabilities and Vulnerability Exports APIs) call, answered from the vulnerability and auth services.

Shapes follow GitLab's REST docs: lists are JSON arrays paginated by page number with `X-Total`,
`X-Total-Pages`, `X-Page`, `X-Per-Page`, `X-Next-Page`, `X-Prev-Page` and `Link`; state changes answer 201 with
the vulnerability, or 304 when it already is in that state; exports are created, polled and downloaded as CSV.
Hidden and missing projects and vulnerabilities answer the same 404. The list takes the filters GitLab's
vulnerability APIs define (`state`, `severity`, `report_type`, `scanner`, `have_issues`; arrays repeated,
as `name[]` or comma-separated); a value GitLab does not define is a 400. Exports (of a project, or of every
project of a group the caller may read) are kept in the storage driver's `vulnerability_exports` area, so
every node of an instance serves them, on the filesystem or in S3.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import time
from collections.abc import Collection, Iterator
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal, authorize, current_principal
from hullscan.auth.http import audit
from hullscan.auth.principal import is_allowed
from hullscan.db.models import Project
from hullscan.db.models.auth import Group
from hullscan.db.models.vulnerabilities import Vulnerability
from hullscan.ingestion import dependencies
from hullscan.severities import SEVERITIES
from hullscan.registry.driver import StorageDriver
from hullscan.vulnerabilities import service
from hullscan.vulnerabilities.fingerprints import REPORT_TYPE_NAMES, REPORT_TYPES
from hullscan.http_deps import IdPath, authorized_project, get_session

router = APIRouter(tags=["gitlab-compatible"])

MAX_PAGE = 10**9  # far beyond any real list; keeps the offset inside the database's integer range
EXPORT_RETENTION = 7 * 24 * 3600  # GitLab deletes an export after 7 days


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def project_json(p: Project) -> dict[str, Any]:
    """The fields of GitLab's project entity that hullscan has."""
    name = p.path.rsplit("/", 1)[-1]
    namespace = p.path.rsplit("/", 1)[0] if "/" in p.path else ""
    return {"id": p.id, "name": name, "path": name, "path_with_namespace": p.path,
            "name_with_namespace": p.path.replace("/", " / "), "full_path": p.path, "visibility": p.visibility,
            "namespace": {"full_path": namespace, "path": namespace.rsplit("/", 1)[-1], "kind": "group"},
            "created_at": _iso(p.created_at)}


def vulnerability_json(v: Vulnerability, project: Project, entered_at: datetime | None) -> dict[str, Any]:
    """GitLab's vulnerability entity (severity and state lower-case, report type by name); `entered_at` is when
    it entered its current state (`service.entered_current_state`), GitLab's `<state>_at`."""
    return {
        "id": v.id, "title": v.title, "description": v.description, "state": v.state, "severity": v.severity,
        "confidence": "unknown", "report_type": REPORT_TYPE_NAMES.get(v.report_type, str(v.report_type)),
        "project": {"id": project.id, "name": project.path.rsplit("/", 1)[-1], "full_path": project.path,
                    "full_name": project.path.replace("/", " / ")},
        "dismissal_reason": v.dismissal_reason, "solution": v.solution, "identifiers": v.identifiers,
        "links": v.links, "location": v.location, "uuid": v.uuid,
        "created_at": _iso(v.detected_at), "updated_at": _iso(v.last_seen_at),
        **{f"{state}_at": _iso(entered_at) if v.state == state else None
           for state in ("confirmed", "dismissed", "resolved")},
    }


def vulnerabilities_json(session: Session, rows: list[Vulnerability], project: Project) -> list[dict[str, Any]]:
    """`vulnerability_json` of each, with their state times read in one query (not one per vulnerability)."""
    entered = service.entered_current_state(session, rows)
    return [vulnerability_json(v, project, entered.get(v.id)) for v in rows]


def _project(session: Session, principal: Principal, project: str, action: Action) -> Project:
    found = authorized_project(session, principal, project, action)
    return found


# The values GitLab defines for the list's filters. Report types GitLab has that hullscan never records
# (and `info`, a severity no feed gives) are valid and match nothing.
GITLAB_REPORT_TYPES = ("sast", "dast", "dependency_scanning", "container_scanning", "secret_detection",
                       "coverage_fuzzing", "api_fuzzing", "cluster_image_scanning", "generic")
GITLAB_SEVERITIES = ("info", *SEVERITIES)
SCANNER = "hullscan"  # every vulnerability here comes from one scanner (the GitLab report's scanner id)
MAX_FILTER_VALUES = 50


def _array(request: Request, name: str, allowed: Collection[str]) -> list[str] | None:
    """A GitLab array parameter: repeated (`state=a&state=b`), as `state[]=`, or comma-separated; None when
    absent. A value outside `allowed` is the caller's error (400), not a filter that silently matches all."""
    raw = request.query_params.getlist(name) + request.query_params.getlist(f"{name}[]")
    if not raw:
        return None
    values = [v.strip() for item in raw for v in item.split(",") if v.strip()]
    if len(values) > MAX_FILTER_VALUES:
        raise HTTPException(status_code=400, detail=f"{name}: at most {MAX_FILTER_VALUES} values")
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        shown = ", ".join(repr(v[:40]) for v in unknown[:5]) or "an empty value"
        raise HTTPException(status_code=400, detail=f"{name} does not have a valid value: {shown} "
                                                    f"(one of {', '.join(allowed)})")
    return list(dict.fromkeys(values))


def _list_filter(request: Request, project: Project, scanner: list[str] | None,
                 have_issues: bool | None) -> service.VulnerabilityFilter | None:
    """The filter the query asks for, or None when it can match nothing (another scanner, a report type hullscan
    never records); `have_issues` asks for vulnerabilities with (or without) an issue link."""
    states = _array(request, "state", service.STATES)
    severities = _array(request, "severity", GITLAB_SEVERITIES)
    report_types = _array(request, "report_type", tuple(dict.fromkeys([*GITLAB_REPORT_TYPES, *REPORT_TYPES])))
    scanners = [v for item in scanner or [] for v in item.split(",") if v.strip()]
    if scanner is not None and SCANNER not in scanners:
        return None  # its one scanner is hullscan
    if report_types is not None:
        report_types = [r for r in report_types if r in REPORT_TYPES]
        if not report_types:
            return None
    if severities is not None:
        severities = [s for s in severities if s in SEVERITIES]
        if not severities:
            return None
    return service.VulnerabilityFilter(project_id=project.id, states=states, severities=severities,
                                       report_types=report_types, has_issue=have_issues)


@router.get("/projects/{project:path}/vulnerabilities")
def list_vulnerabilities(
    request: Request, response: Response, project: str,
    page: int = Query(default=1, ge=1, le=MAX_PAGE), per_page: int = Query(default=20, ge=1, le=100),
    state: list[str] | None = Query(default=None, max_length=200, description=(
        f"{', '.join(service.STATES)}; repeated, as state[] or comma-separated")),
    severity: list[str] | None = Query(default=None, max_length=200, description=", ".join(GITLAB_SEVERITIES)),
    report_type: list[str] | None = Query(default=None, max_length=500, description=(
        "GitLab's report types, or container_scanning_for_registry")),
    scanner: list[str] | None = Query(default=None, max_length=255, description="scanner external id (hullscan)"),
    have_issues: bool | None = Query(default=None, description="Only those linked to an issue (true) or not (false)"),
    principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
) -> list[dict[str, Any]]:
    """A project's vulnerabilities, newest first, paginated by page number as GitLab's lists are."""
    found = _project(session, principal, project, Action.READ_VULNERABILITIES)
    flt = _list_filter(request, found, scanner, have_issues)
    total = service.count_vulnerabilities(session, flt) if flt is not None else 0
    rows = service.page_vulnerabilities(session, flt, page=page, per_page=per_page) if flt is not None else []
    response.headers.update(_pagination_headers(request, total, page, per_page))
    return vulnerabilities_json(session, rows, found)


@router.get("/projects/{project:path}/dependencies", tags=["dependencies"])
def list_dependencies(
    request: Request, response: Response, project: str,
    package_manager: str | None = Query(default=None, max_length=200,
                                        description="Comma-separated, e.g. `pip,npm` (OS packages: deb, apk, rpm)"),
    page: int = Query(default=1, ge=1, le=MAX_PAGE), per_page: int = Query(default=20, ge=1, le=100),
    principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
) -> list[dict[str, Any]]:
    """GitLab's Dependencies API: the packages of the project's scanned images, each with its open
    vulnerabilities and licences (Developer and up, as in GitLab)."""
    found = _project(session, principal, project, Action.READ_VULNERABILITIES)
    managers = [m.strip() for m in package_manager.split(",") if m.strip()] if package_manager else None
    query = dependencies.DependencyQuery(project_id=found.id, types=None if managers is None else
                                         dependencies.types_of_package_managers(session, found.id, managers))
    rows, total = dependencies.list_dependencies(session, query, page=page, per_page=per_page)
    found_vulns = service.package_vulnerabilities(session, found.id, [(d.name, d.version) for d in rows])
    base = str(request.base_url).rstrip("/")
    project_path = "/".join(quote(part, safe="") for part in found.path.split("/"))
    response.headers.update(_pagination_headers(request, total, page, per_page))
    return [{"name": d.name, "version": d.version, "package_manager": dependencies.package_manager(d.type),
             "dependency_file_path": d.path or "", "licenses": [{"name": lic, "url": None} for lic in d.licenses],
             "vulnerabilities": [{"name": v.title, "severity": v.severity, "id": v.id,
                                  "url": f"{base}/projects/{project_path}/-/security/vulnerabilities/{v.id}"}
                                 for v in found_vulns[(d.name, d.version)]]}
            for d in rows]


def _pagination_headers(request: Request, total: int, page: int, per_page: int) -> dict[str, str]:
    pages = max(1, -(-total // per_page))
    next_page = page + 1 if page < pages else None
    prev_page = page - 1 if 1 < page <= pages + 1 else None

    def link(n: int, rel: str) -> str:
        return f'<{request.url.include_query_params(page=n, per_page=per_page)}>; rel="{rel}"'

    links = [link(n, rel) for n, rel in ((prev_page, "prev"), (next_page, "next")) if n is not None]
    links += [link(1, "first"), link(pages, "last")]
    return {"X-Total": str(total), "X-Total-Pages": str(pages), "X-Page": str(page), "X-Per-Page": str(per_page),
            "X-Next-Page": str(next_page or ""), "X-Prev-Page": str(prev_page or ""), "Link": ", ".join(links)}


@router.get("/projects/{project:path}")
def get_project(project: str, principal: Principal = Depends(current_principal),
                session: Session = Depends(get_session)) -> dict[str, Any]:
    """A project by numeric id or URL-encoded full path: its members (guests and up), and on a public project
    any signed-in user, as GitLab shows it (its vulnerabilities stay with those who read the Security Dashboard)."""
    return project_json(_project(session, principal, project, Action.VIEW_PROJECT))


def _vulnerability(session: Session, principal: Principal, vulnerability_id: int,
                   action: Action) -> tuple[Vulnerability, Project]:
    v = session.get(Vulnerability, vulnerability_id)
    if v is None:
        raise HTTPException(status_code=404, detail=f"vulnerability {vulnerability_id} not found")
    project = session.get(Project, v.project_id)
    assert project is not None  # a vulnerability's project is a foreign key
    authorize(principal, action, project.path, public=project.visibility == "public")
    return v, project


@router.get("/vulnerabilities/{vulnerability_id}")
def get_vulnerability(vulnerability_id: IdPath, principal: Principal = Depends(current_principal),
                      session: Session = Depends(get_session)) -> dict[str, Any]:
    v, project = _vulnerability(session, principal, vulnerability_id, Action.READ_VULNERABILITIES)
    return vulnerabilities_json(session, [v], project)[0]


class Dismissal(BaseModel):
    comment: str | None = Field(default=None, max_length=50_000)
    dismissal_reason: Literal["acceptable_risk", "false_positive", "mitigating_control", "used_in_tests",
                              "not_applicable"] | None = None


# GitLab's actions and the state each leads to ("revert" goes back to detected).
ACTIONS = {"confirm": "confirmed", "resolve": "resolved", "dismiss": "dismissed", "revert": "detected"}


def _change(request: Request, session: Session, principal: Principal, vulnerability_id: int, to_state: str,
            dismissal: Dismissal | None = None) -> Response:
    v, project = _vulnerability(session, principal, vulnerability_id, Action.TRIAGE_VULNERABILITIES)
    if v.state == to_state:
        return Response(status_code=304)  # GitLab: already in that state, nothing done
    dismissal = dismissal or Dismissal()
    try:
        service.change_state(session, [v.id], to_state, author=principal.name, comment=dismissal.comment,
                             dismissal_reason=dismissal.dismissal_reason if to_state == "dismissed" else None)
    except service.VulnerabilityError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    audit(request, session, "vulnerability_state_changed", project.path, ids=[v.id], state=to_state,
          dismissal_reason=dismissal.dismissal_reason, api="v4")
    return JSONResponse(vulnerabilities_json(session, [v], project)[0], status_code=201)


_STATE_RESPONSES: dict[int | str, dict[str, Any]] = {304: {"description": "Already in that state"}}


@router.post("/vulnerabilities/{vulnerability_id}/confirm", status_code=201, responses=_STATE_RESPONSES)
def confirm(vulnerability_id: IdPath, request: Request, principal: Principal = Depends(current_principal),
            session: Session = Depends(get_session)) -> Response:
    return _change(request, session, principal, vulnerability_id, "confirmed")


@router.post("/vulnerabilities/{vulnerability_id}/resolve", status_code=201, responses=_STATE_RESPONSES)
def resolve(vulnerability_id: IdPath, request: Request, principal: Principal = Depends(current_principal),
            session: Session = Depends(get_session)) -> Response:
    return _change(request, session, principal, vulnerability_id, "resolved")


@router.post("/vulnerabilities/{vulnerability_id}/revert", status_code=201, responses=_STATE_RESPONSES)
def revert(vulnerability_id: IdPath, request: Request, principal: Principal = Depends(current_principal),
           session: Session = Depends(get_session)) -> Response:
    return _change(request, session, principal, vulnerability_id, "detected")


@router.post("/vulnerabilities/{vulnerability_id}/dismiss", status_code=201, responses=_STATE_RESPONSES)
def dismiss(vulnerability_id: IdPath, request: Request, body: Dismissal | None = Body(default=None),
            principal: Principal = Depends(current_principal), session: Session = Depends(get_session)) -> Response:
    return _change(request, session, principal, vulnerability_id, "dismissed", body)


# --- exports: written at creation into the storage driver, so "created" is at once "finished" ---

CSV_HEADER = ("Group Name", "Project Name", "Tool", "Scanner Name", "Status", "Vulnerability", "Details",
              "Additional Info", "Severity", "CVE", "CWE", "Other Identifiers", "Detected At", "Location",
              "Activity", "Comments", "Full Path", "CVSS Vectors", "Dismissal Reason")
EXPORT_AREA = "vulnerability_exports"  # <data_dir>/vulnerability_exports, or <prefix>vulnerability_exports/ in S3


def _csv_safe(value: str) -> str:
    """Neutralise spreadsheet formulas in untrusted strings (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _exports(request: Request) -> StorageDriver:
    from hullscan.registry.storage import driver_for

    return driver_for(request.app.state.settings, EXPORT_AREA)


def _csv_rows(session: Session, project: Project) -> Iterator[list[str]]:
    group, _, name = project.path.rpartition("/")
    flt = service.VulnerabilityFilter(project_id=project.id)
    for batch in service.iter_vulnerability_batches(session, flt):
        comments = service.comments_of(session, [v.id for v in batch])
        for v in batch:
            cves = [i for i in v.identifiers if i.upper().startswith("CVE-")]
            cwes = [i for i in v.identifiers if i.upper().startswith("CWE-")]
            others = [i for i in v.identifiers if i not in cves and i not in cwes]
            row = [group, name, REPORT_TYPE_NAMES.get(v.report_type, str(v.report_type)), "hullscan",
                   v.state, v.title, v.description or "", v.solution or "", v.severity, "; ".join(cves),
                   "; ".join(cwes), "; ".join(others), v.detected_at.isoformat(),
                   json.dumps(v.location, sort_keys=True), "true" if not v.no_longer_detected else "false",
                   "; ".join(comments.get(v.id, [])), f"{project.path}/{v.image}", v.cvss_vector or "",
                   v.dismissal_reason or ""]
            yield [_csv_safe(str(c)) for c in row]


def _write_csv(session: Session, projects: list[Project], driver: StorageDriver, key: str) -> None:
    """The CSV of these projects' vulnerabilities at `key`, written in bounded pieces."""
    writer = driver.writer(key, append=False)
    try:
        buf = io.StringIO()
        out = csv.writer(buf)
        out.writerow(CSV_HEADER)
        for project in projects:
            for n, row in enumerate(_csv_rows(session, project), 1):
                out.writerow(row)
                if n % 500 == 0:
                    writer.write_many([buf.getvalue().encode()])
                    buf.seek(0)
                    buf.truncate()
        writer.write_many([buf.getvalue().encode()])
        writer.commit()
    except BaseException:
        writer.cancel()
        raise


def _export_json(request: Request, meta: dict[str, Any]) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/") + f"/api/v4/security/vulnerability_exports/{meta['id']}"
    return {**{k: meta[k] for k in ("id", "created_at", "project_id", "format", "status", "started_at",
                                    "finished_at")},
            "group_id": meta.get("group_id"), "_links": {"self": base, "download": base + "/download"}}


def _prune(driver: StorageDriver) -> None:
    cutoff = time.time() - EXPORT_RETENTION
    for key, info in list(driver.walk("")):
        if info.mtime < cutoff:
            driver.delete(key)


def _create_export(request: Request, session: Session, principal: Principal, projects: list[Project],
                   owner: dict[str, Any]) -> dict[str, Any]:
    """Write the CSV, then its metadata (the export exists once both are stored)."""
    driver = _exports(request)
    _prune(driver)
    export_id = secrets.randbelow(2**31 - 2) + 1
    started = datetime.now(timezone.utc).isoformat()
    _write_csv(session, projects, driver, f"{export_id}.csv")
    meta = {"id": export_id, "created_at": started, "project_id": None, "group_id": None, "format": "csv",
            "status": "finished", "started_at": started, "finished_at": datetime.now(timezone.utc).isoformat(),
            "author": principal.name, "project_paths": [p.path for p in projects], **owner}
    driver.put_content(f"{export_id}.json", json.dumps(meta).encode())
    return meta


@router.post("/security/projects/{project:path}/vulnerability_exports", status_code=201)
def create_export(request: Request, project: str, principal: Principal = Depends(current_principal),
                  session: Session = Depends(get_session)) -> dict[str, Any]:
    """Export a project's vulnerabilities as CSV (the only format GitLab offers on this endpoint)."""
    found = _project(session, principal, project, Action.READ_VULNERABILITIES)
    meta = _create_export(request, session, principal, [found],
                          {"project_id": found.id, "project_path": found.path})
    audit(request, session, "vulnerability_export_created", found.path, export_id=meta["id"])
    return _export_json(request, meta)


def _group_projects(session: Session, principal: Principal, group: str) -> tuple[int | None, str, list[Project]]:
    """(group id, group path, the projects below it the caller may read vulnerabilities of). A group with
    none of those is answered 404, as a group that does not exist is."""
    from sqlalchemy import select

    row = None
    if group.isdigit() and len(group) < 10:
        row = session.get(Group, int(group))
    elif len(group) <= 255:
        row = session.scalars(select(Group).where(Group.path == group.strip("/"))).one_or_none()
    path = row.path if row is not None else group.strip("/")
    below = [] if not path or group.isdigit() and row is None else list(session.scalars(
        select(Project).where(Project.path.startswith(path + "/", autoescape=True)).order_by(Project.path)))
    readable = [p for p in below if is_allowed(principal, Action.READ_VULNERABILITIES, p.path)]
    if not readable:
        if principal.is_anonymous:
            authorize(principal, Action.READ_VULNERABILITIES, None)  # 401: who is asking?
        raise HTTPException(status_code=404, detail=f"group {group[:255]!r} not found")
    return (row.id if row is not None else None), path, readable


@router.post("/security/groups/{group:path}/vulnerability_exports", status_code=201)
def create_group_export(request: Request, group: str, principal: Principal = Depends(current_principal),
                        session: Session = Depends(get_session)) -> dict[str, Any]:
    """Export the vulnerabilities of every project below a group (by id or URL-encoded path, subgroups
    included) that the caller may read, as one CSV."""
    group_id, path, projects = _group_projects(session, principal, group)
    meta = _create_export(request, session, principal, projects, {"group_id": group_id, "group_path": path})
    audit(request, session, "vulnerability_export_created", projects[0].path, export_id=meta["id"], group=path)
    return _export_json(request, meta)


def _export_meta(request: Request, export_id: int, principal: Principal) -> tuple[dict[str, Any], StorageDriver]:
    """The export, if it exists and is the caller's and the caller may still read every project in it;
    else 404."""
    driver = _exports(request)
    try:
        meta = json.loads(driver.get_content(f"{export_id}.json"))
    except (FileNotFoundError, ValueError):
        meta = None
    paths = (meta.get("project_paths") or [meta.get("project_path")]) if isinstance(meta, dict) else []
    if meta is None or meta.get("author") != principal.name or \
            not all(is_allowed(principal, Action.READ_VULNERABILITIES, p) for p in paths):
        if principal.is_anonymous:
            authorize(principal, Action.READ_VULNERABILITIES, None)  # 401: who is asking?
        raise HTTPException(status_code=404, detail=f"vulnerability export {export_id} not found")
    return meta, driver


@router.get("/security/vulnerability_exports/{export_id}")
def get_export(request: Request, export_id: IdPath,
               principal: Principal = Depends(current_principal)) -> dict[str, Any]:
    meta, _ = _export_meta(request, export_id, principal)
    return _export_json(request, meta)


@router.get("/security/vulnerability_exports/{export_id}/download",
            responses={200: {"content": {"text/csv": {}}}})
def download_export(request: Request, export_id: IdPath,
                    principal: Principal = Depends(current_principal)) -> Response:
    meta, driver = _export_meta(request, export_id, principal)
    try:
        stream = driver.reader(f"{export_id}.csv")
    except FileNotFoundError:
        raise HTTPException(status_code=404, detail=f"vulnerability export {export_id} not found") from None

    def chunks() -> Iterator[bytes]:
        with stream:
            while chunk := stream.read(1 << 16):
                yield chunk

    owner = meta.get("project_path") or meta.get("group_path") or "export"
    name = f"{owner.replace('/', '-')}_vulnerabilities_{meta['created_at'][:16]}.csv"
    return StreamingResponse(chunks(), media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})
