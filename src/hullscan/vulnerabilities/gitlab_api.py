"""GitLab-compatible REST under /api/v4: what GitLab's clients (python-gitlab, scripts written for GitLab's
Vulnerabilities and Vulnerability Exports APIs) call, answered from the vulnerability and auth services.

Shapes follow GitLab's REST docs: lists are JSON arrays paginated by page number with `X-Total`,
`X-Total-Pages`, `X-Page`, `X-Per-Page`, `X-Next-Page`, `X-Prev-Page` and `Link`; state changes answer 201 with
the vulnerability, or 304 when it already is in that state; exports are created, polled and downloaded as CSV.
Hidden and missing projects and vulnerabilities answer the same 404.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal, authorize, current_principal
from hullscan.auth.http import audit
from hullscan.auth.principal import is_allowed
from hullscan.db.models import Project
from hullscan.db.models.vulnerabilities import Vulnerability
from hullscan.vulnerabilities import service
from hullscan.vulnerabilities.fingerprints import REPORT_TYPE_NAMES
from hullscan.web.deps import IdPath, get_session, project_or_404

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


def _state_times(session: Session, v: Vulnerability) -> dict[str, str | None]:
    """`confirmed_at`, `dismissed_at`, `resolved_at` of the current state, from its history."""
    times: dict[str, str | None] = {"confirmed_at": None, "dismissed_at": None, "resolved_at": None}
    for t in service.history(session, v.id):
        key = f"{t.to_state}_at"
        if key in times:
            times[key] = _iso(t.created_at)
    return {k: (val if k == f"{v.state}_at" else None) for k, val in times.items()}


def vulnerability_json(session: Session, v: Vulnerability, project: Project) -> dict[str, Any]:
    """GitLab's vulnerability entity (severity and state lower-case, report type by name)."""
    return {
        "id": v.id, "title": v.title, "description": v.description, "state": v.state, "severity": v.severity,
        "confidence": "unknown", "report_type": REPORT_TYPE_NAMES.get(v.report_type, str(v.report_type)),
        "project": {"id": project.id, "name": project.path.rsplit("/", 1)[-1], "full_path": project.path,
                    "full_name": project.path.replace("/", " / ")},
        "dismissal_reason": v.dismissal_reason, "solution": v.solution, "identifiers": v.identifiers,
        "links": v.links, "location": v.location, "uuid": v.uuid,
        "created_at": _iso(v.detected_at), "updated_at": _iso(v.last_seen_at),
        **_state_times(session, v),
    }


def _project(session: Session, principal: Principal, project: str, action: Action) -> Project:
    found = project_or_404(session, project)
    authorize(principal, action, found.path)
    return found


@router.get("/projects/{project:path}/vulnerabilities")
def list_vulnerabilities(
    request: Request, response: Response, project: str,
    page: int = Query(default=1, ge=1, le=MAX_PAGE), per_page: int = Query(default=20, ge=1, le=100),
    principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
) -> list[dict[str, Any]]:
    """A project's vulnerabilities, newest first, paginated by page number as GitLab's lists are."""
    found = _project(session, principal, project, Action.READ_VULNERABILITIES)
    flt = service.VulnerabilityFilter(project_id=found.id)
    total = service.count_vulnerabilities(session, flt)
    rows = service.page_vulnerabilities(session, flt, page=page, per_page=per_page)
    response.headers.update(_pagination_headers(request, total, page, per_page))
    return [vulnerability_json(session, v, found) for v in rows]


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
    """A project by numeric id or URL-encoded full path."""
    return project_json(_project(session, principal, project, Action.READ_PROJECT))


def _vulnerability(session: Session, principal: Principal, vulnerability_id: int,
                   action: Action) -> tuple[Vulnerability, Project]:
    v = session.get(Vulnerability, vulnerability_id)
    if v is None:
        raise HTTPException(status_code=404, detail=f"vulnerability {vulnerability_id} not found")
    project = session.get(Project, v.project_id)
    assert project is not None  # a vulnerability's project is a foreign key
    authorize(principal, action, project.path)
    return v, project


@router.get("/vulnerabilities/{vulnerability_id}")
def get_vulnerability(vulnerability_id: IdPath, principal: Principal = Depends(current_principal),
                      session: Session = Depends(get_session)) -> dict[str, Any]:
    v, project = _vulnerability(session, principal, vulnerability_id, Action.READ_VULNERABILITIES)
    return vulnerability_json(session, v, project)


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
    return JSONResponse(vulnerability_json(session, v, project), status_code=201)


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


# --- exports: written at creation into data_dir, so "created" is at once "finished" ---

CSV_HEADER = ("Group Name", "Project Name", "Tool", "Scanner Name", "Status", "Vulnerability", "Details",
              "Additional Info", "Severity", "CVE", "CWE", "Other Identifiers", "Detected At", "Location",
              "Activity", "Comments", "Full Path", "CVSS Vectors", "Dismissal Reason")


def _csv_safe(value: str) -> str:
    """Neutralise spreadsheet formulas in untrusted strings (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _export_dir(request: Request) -> Path:
    path: Path = request.app.state.settings.resolved_data_dir / "vulnerability_exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_csv(session: Session, project: Project, target: Path) -> None:
    group, _, name = project.path.rpartition("/")
    tmp = target.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_HEADER)
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
                writer.writerow([_csv_safe(str(c)) for c in row])
    os.replace(tmp, target)


def _export_json(request: Request, meta: dict[str, Any]) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/") + f"/api/v4/security/vulnerability_exports/{meta['id']}"
    return {**{k: meta[k] for k in ("id", "created_at", "project_id", "format", "status", "started_at",
                                    "finished_at")},
            "group_id": None, "_links": {"self": base, "download": base + "/download"}}


def _prune(directory: Path) -> None:
    cutoff = time.time() - EXPORT_RETENTION
    for f in directory.iterdir():
        try:
            if f.stat().st_mtime < cutoff:
                f.unlink()
        except FileNotFoundError:
            pass


@router.post("/security/projects/{project:path}/vulnerability_exports", status_code=201)
def create_export(request: Request, project: str, principal: Principal = Depends(current_principal),
                  session: Session = Depends(get_session)) -> dict[str, Any]:
    """Export a project's vulnerabilities as CSV (the only format GitLab offers on this endpoint)."""
    found = _project(session, principal, project, Action.READ_VULNERABILITIES)
    directory = _export_dir(request)
    _prune(directory)
    export_id = secrets.randbelow(2**31 - 2) + 1
    started = datetime.now(timezone.utc).isoformat()
    _write_csv(session, found, directory / f"{export_id}.csv")
    meta = {"id": export_id, "created_at": started, "project_id": found.id, "project_path": found.path,
            "format": "csv", "status": "finished", "started_at": started,
            "finished_at": datetime.now(timezone.utc).isoformat(), "author": principal.name}
    (directory / f"{export_id}.json").write_text(json.dumps(meta))
    audit(request, session, "vulnerability_export_created", found.path, export_id=export_id)
    return _export_json(request, meta)


def _export_meta(request: Request, export_id: int, principal: Principal) -> tuple[dict[str, Any], Path]:
    """The export, if it exists and is the caller's and the caller may still read its project; else 404."""
    directory = _export_dir(request)
    try:
        meta = json.loads((directory / f"{export_id}.json").read_text())
    except (FileNotFoundError, ValueError):
        meta = None
    if meta is None or meta.get("author") != principal.name or \
            not is_allowed(principal, Action.READ_VULNERABILITIES, meta.get("project_path")):
        if principal.is_anonymous:
            authorize(principal, Action.READ_VULNERABILITIES, None)  # 401: who is asking?
        raise HTTPException(status_code=404, detail=f"vulnerability export {export_id} not found")
    return meta, directory / f"{export_id}.csv"


@router.get("/security/vulnerability_exports/{export_id}")
def get_export(request: Request, export_id: IdPath,
               principal: Principal = Depends(current_principal)) -> dict[str, Any]:
    meta, _ = _export_meta(request, export_id, principal)
    return _export_json(request, meta)


@router.get("/security/vulnerability_exports/{export_id}/download",
            responses={200: {"content": {"text/csv": {}}}})
def download_export(request: Request, export_id: IdPath,
                    principal: Principal = Depends(current_principal)) -> Response:
    meta, path = _export_meta(request, export_id, principal)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise HTTPException(status_code=404, detail=f"vulnerability export {export_id} not found") from None
    name = f"{meta['project_path'].replace('/', '-')}_vulnerabilities_{meta['created_at'][:16]}.csv"
    return Response(data, media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})

