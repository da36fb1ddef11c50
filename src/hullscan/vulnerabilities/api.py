"""REST API of the vulnerability report: list, counts, detail with history, triage, CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal, authorize, current_principal
from hullscan.auth.http import audit
from hullscan.db.models import Project
from hullscan.db.models.vulnerabilities import Vulnerability
from hullscan.vulnerabilities import notifications, service
from hullscan.severities import Severity
from hullscan.vulnerabilities.fingerprints import REPORT_TYPE_NAMES, REPORT_TYPES, split_platform
from hullscan.http_deps import (
    JSON_ID_MAX,
    DateTimeQuery,
    IdPath,
    authorized_project,
    get_session,
    project_or_404,
)

router = APIRouter(tags=["vulnerabilities"])


def vulnerability_json(v: Vulnerability, project_path: str | None = None) -> dict[str, Any]:
    return {
        "id": v.id, "uuid": v.uuid, "project_id": v.project_id, "project": project_path,
        "report_type": REPORT_TYPE_NAMES.get(v.report_type, str(v.report_type)), "state": v.state,
        "dismissal_reason": v.dismissal_reason, "severity": v.severity, "title": v.title,
        "description": v.description, "solution": v.solution, "identifier": v.primary_identifier,
        "identifiers": v.identifiers, "links": v.links, "location": v.location, "image": v.image,
        "image_digest": v.image_digest, "platform": split_platform(v.image_name)[1],
        "operating_system": v.operating_system, "package": v.package_name, "version": v.package_version, "package_type": v.package_type, "layer_digest": v.layer_digest,
        "fixed_versions": v.fixed_versions, "fix_state": v.fix_state, "has_fix": v.has_fix,
        "cvss_score": v.cvss_score, "cvss_vector": v.cvss_vector, "severity_source": v.severity_source,
        "known_exploited": v.known_exploited,
        "epss_score": v.epss_score, "activity": v.activity, "detected_at": v.detected_at.isoformat(),
        "last_seen_at": v.last_seen_at.isoformat(), "no_longer_detected": v.no_longer_detected,
        "no_longer_detected_at": v.no_longer_detected_at.isoformat() if v.no_longer_detected_at else None,
        "resolved_at": v.resolved_at.isoformat() if v.resolved_at else None,
    }


def _filter(project: Project | None, report_type: Sequence[str] | None, severity: Sequence[str] | None,
            state: Sequence[str] | None, image: str | None, identifier: str | None, package: str | None,
            has_fix: bool | None, kev: bool | None, activity: str | None, detected_after: datetime | None,
            detected_before: datetime | None) -> service.VulnerabilityFilter:
    return service.VulnerabilityFilter(
        project_id=project.id if project else None, report_types=report_type, severities=severity, states=state,
        image=image, identifier=identifier, package=package, has_fix=has_fix, known_exploited=kev,
        activity=activity, detected_after=detected_after, detected_before=detected_before)


# The values the filters know, in the schema: a request the schema allows is one the service accepts.
if TYPE_CHECKING:  # mypy reads literals only as written; FastAPI checks these values at runtime
    ReportTypeName = str
else:
    ReportTypeName = Literal[tuple(REPORT_TYPES)]


class FilterParams:
    """Query parameters shared by list, counts and export."""

    def __init__(
        self,
        report_type: list[ReportTypeName] | None = Query(default=None, description="e.g. container_scanning_for_registry"),
        severity: list[Severity] | None = Query(default=None),
        state: list[service.State] | None = Query(default=None),
        image: str | None = Query(default=None, description="image name, or name:tag"),
        identifier: str | None = Query(default=None),
        package: str | None = Query(default=None),
        has_fix: bool | None = Query(default=None),
        kev: bool | None = Query(default=None, description="known exploited (CISA KEV)"),
        activity: Literal["still_detected", "no_longer_detected", "detected_by_advisory_update"] | None = Query(
            default=None),
        detected_after: DateTimeQuery | None = None,
        detected_before: DateTimeQuery | None = None,
    ) -> None:
        self.args = (report_type, severity, state, image, identifier, package, has_fix, kev, activity,
                     detected_after, detected_before)

    def build(self, project: Project | None) -> service.VulnerabilityFilter:
        return _filter(project, *self.args)


def _bad_request(exc: Exception) -> HTTPException:
    return HTTPException(status_code=400, detail=str(exc))


@router.get("/projects/{project:path}/vulnerabilities")
def list_vulnerabilities(
    project: str, params: FilterParams = Depends(),
    sort: Literal["severity_desc", "severity_asc", "detected_desc", "detected_asc", "risk"] = "severity_desc",
    cursor: str | None = None, per_page: int = Query(default=20, ge=1, le=100),
    principal: Principal = Depends(current_principal), session: Session = Depends(get_session),
) -> dict[str, Any]:
    """A project's vulnerabilities (project by numeric id or URL-encoded full path), cursor-paginated."""
    found = authorized_project(session, principal, project, Action.READ_VULNERABILITIES)
    try:
        rows, next_cursor = service.query_vulnerabilities(session, params.build(found), sort=sort, cursor=cursor,
                                                          limit=per_page)
    except service.VulnerabilityError as exc:
        raise _bad_request(exc) from None
    return {"vulnerabilities": [vulnerability_json(v, found.path) for v in rows], "next_cursor": next_cursor}


@router.get("/projects/{project:path}/vulnerability_counts")
def vulnerability_counts(project: str, params: FilterParams = Depends(),
                         principal: Principal = Depends(current_principal),
                         session: Session = Depends(get_session)) -> dict[str, int]:
    found = authorized_project(session, principal, project, Action.READ_VULNERABILITIES)
    try:
        return service.severity_counts(session, params.build(found))
    except service.VulnerabilityError as exc:
        raise _bad_request(exc) from None


def csv_stream(request: Request, flt: service.VulnerabilityFilter) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(service.CSV_COLUMNS)
    with request.app.state.db.session() as session:
        for n, row in enumerate(service.iter_export_rows(session, flt), 1):
            writer.writerow([_csv_safe(c) for c in row])
            if n % 200 == 0:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
    yield buf.getvalue()


def _csv_safe(value: object) -> object:
    """Neutralise spreadsheet formulas in untrusted strings (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@router.get("/projects/{project:path}/vulnerabilities/export.csv", responses={200: {"content": {"text/csv": {}}}})
def export_project_csv(request: Request, project: str, params: FilterParams = Depends(),
                       principal: Principal = Depends(current_principal)) -> StreamingResponse:
    # No request-long session: the stream opens its own, so nothing holds the database while the client reads.
    with request.app.state.db.session() as session:
        found = project_or_404(session, project)
    authorize(principal, Action.READ_VULNERABILITIES, found.path)
    return _csv_response(request, params.build(found), f"vulnerabilities-{found.id}.csv")


@router.get("/vulnerabilities/export.csv", responses={200: {"content": {"text/csv": {}}}})
def export_instance_csv(request: Request, params: FilterParams = Depends(),
                        principal: Principal = Depends(current_principal)) -> StreamingResponse:
    """Every project's vulnerabilities (instance administrators)."""
    authorize(principal, Action.ADMIN_INSTANCE)
    return _csv_response(request, params.build(None), "vulnerabilities.csv")


def _csv_response(request: Request, flt: service.VulnerabilityFilter, filename: str) -> StreamingResponse:
    """The filter is checked before the stream starts, so a bad one is a 400 and not a cut-off download."""
    try:
        flt.conditions()
    except service.VulnerabilityError as exc:
        raise _bad_request(exc) from None
    return StreamingResponse(csv_stream(request, flt), media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _vulnerability_or_404(session: Session, vulnerability_id: int) -> tuple[Vulnerability, Project]:
    v = session.get(Vulnerability, vulnerability_id)
    if v is None:
        raise HTTPException(status_code=404, detail=f"vulnerability {vulnerability_id} not found")
    return v, session.get_one(Project, v.project_id)  # a vulnerability row always has its project (foreign key)


@router.get("/vulnerabilities/{vulnerability_id}")
def get_vulnerability(vulnerability_id: IdPath, principal: Principal = Depends(current_principal),
                      session: Session = Depends(get_session)) -> dict[str, Any]:
    v, project = _vulnerability_or_404(session, vulnerability_id)
    authorize(principal, Action.READ_VULNERABILITIES, project.path)
    body = vulnerability_json(v, project.path)
    body["history"] = [{"kind": t.kind, "from": t.from_state, "to": t.to_state, "dismissal_reason": t.dismissal_reason,
                        "comment": t.comment, "author": t.author, "at": t.created_at.isoformat()}
                       for t in service.history(session, v.id)]
    body["seen_in"] = [{"tag": s.image_tag, "digest": s.image_digest or None, "first_seen": s.first_seen_at.isoformat(),
                        "last_seen": s.last_seen_at.isoformat(), "current": s.active}
                       for s in service.sightings(session, v.id)]
    body["issue_link"] = _issue_link_json(service.issue_link(session, v.id))
    return body


def _issue_link_json(link: Any) -> dict[str, Any] | None:
    return None if link is None else {"url": link.url, "title": link.title, "author": link.author,
                                      "created_at": link.created_at.isoformat()}


class IssueLinkIn(BaseModel):
    url: str = Field(max_length=2048, description="The issue's http(s) address.")
    title: str | None = Field(default=None, max_length=255, description="Defaults to the URL.")


@router.put("/vulnerabilities/{vulnerability_id}/issue_link")
def put_issue_link(vulnerability_id: IdPath, body: IssueLinkIn, request: Request,
                   principal: Principal = Depends(current_principal),
                   session: Session = Depends(get_session)) -> dict[str, Any] | None:
    """Link the vulnerability to the issue that follows it in the team's tracker (developer and up)."""
    v, project = _vulnerability_or_404(session, vulnerability_id)
    authorize(principal, Action.TRIAGE_VULNERABILITIES, project.path)
    try:
        link = service.set_issue_link(session, v, body.url, body.title, author=principal.name)
    except service.VulnerabilityError as exc:
        raise _bad_request(exc) from None
    audit(request, session, "vulnerability_issue_linked", project.path, id=v.id, url=link.url)
    return _issue_link_json(link)


@router.delete("/vulnerabilities/{vulnerability_id}/issue_link", status_code=204)
def delete_issue_link(vulnerability_id: IdPath, request: Request, principal: Principal = Depends(current_principal),
                      session: Session = Depends(get_session)) -> Response:
    v, project = _vulnerability_or_404(session, vulnerability_id)
    authorize(principal, Action.TRIAGE_VULNERABILITIES, project.path)
    if service.remove_issue_link(session, v):  # idempotent: no link left either way
        audit(request, session, "vulnerability_issue_unlinked", project.path, id=v.id)
    return Response(status_code=204)


class IssueTrackerIn(BaseModel):
    url_template: str | None = Field(default=None, max_length=2048, description=(
        "New-issue URL with {title}, {identifier}, {package}, {version}, {image}, {severity}, {id}; "
        "null or empty removes it."))


@router.get("/projects/{project:path}/issue_tracker")
def get_issue_tracker(project: str, principal: Principal = Depends(current_principal),
                      session: Session = Depends(get_session)) -> dict[str, Any]:
    """The project's issue-tracker template (what "Link an issue in the project's tracker" fills in)."""
    found = authorized_project(session, principal, project, Action.READ_VULNERABILITIES)
    return {"url_template": service.issue_tracker_template(session, found.id)}


@router.put("/projects/{project:path}/issue_tracker")
def put_issue_tracker(project: str, body: IssueTrackerIn, request: Request,
                      principal: Principal = Depends(current_principal),
                      session: Session = Depends(get_session)) -> dict[str, Any]:
    """Set or remove the project's issue-tracker template (maintainers)."""
    found = authorized_project(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    try:
        saved = service.set_issue_tracker_template(session, found.id, body.url_template)
    except service.VulnerabilityError as exc:
        raise _bad_request(exc) from None
    audit(request, session, "issue_tracker_changed", found.path, url_template=saved)
    return {"url_template": saved}


class CommentIn(BaseModel):
    comment: str = Field(min_length=1, max_length=service.MAX_COMMENT, description="Markdown.")


@router.post("/vulnerabilities/{vulnerability_id}/comments", status_code=201)
def add_comment(vulnerability_id: IdPath, body: CommentIn, principal: Principal = Depends(current_principal),
                session: Session = Depends(get_session)) -> dict[str, Any]:
    """A comment alone (the status stays): a history entry of kind "comment"."""
    v, project = _vulnerability_or_404(session, vulnerability_id)
    authorize(principal, Action.TRIAGE_VULNERABILITIES, project.path)
    try:
        entry = service.add_comment(session, v, body.comment, author=principal.name)
    except service.VulnerabilityError as exc:
        raise _bad_request(exc) from None
    return {"kind": entry.kind, "comment": entry.comment, "author": entry.author, "at": entry.created_at.isoformat()}


class StateChange(BaseModel):
    state: service.State
    dismissal_reason: Literal["acceptable_risk", "false_positive", "mitigating_control", "used_in_tests",
                              "not_applicable"] | None = None
    comment: str | None = Field(default=None, max_length=50_000)


class BulkStateChange(StateChange):
    ids: list[Annotated[int, Field(ge=1, le=JSON_ID_MAX)]] = Field(min_length=1, max_length=1000)


@router.post("/vulnerabilities/{vulnerability_id}/state")
def change_state(vulnerability_id: IdPath, body: StateChange, request: Request, principal: Principal = Depends(current_principal),
                 session: Session = Depends(get_session)) -> dict[str, Any]:
    v, project = _vulnerability_or_404(session, vulnerability_id)
    authorize(principal, Action.TRIAGE_VULNERABILITIES, project.path)
    try:
        service.change_state(session, [v.id], body.state, author=principal.name, comment=body.comment,
                             dismissal_reason=body.dismissal_reason)
    except service.VulnerabilityError as exc:
        raise _bad_request(exc) from None
    audit(request, session, "vulnerability_state_changed", project.path, ids=[v.id], state=body.state,
          dismissal_reason=body.dismissal_reason)
    return vulnerability_json(v, project.path)


@router.post("/projects/{project:path}/vulnerabilities/bulk_state")
def bulk_change_state(project: str, body: BulkStateChange, request: Request, principal: Principal = Depends(current_principal),
                      session: Session = Depends(get_session)) -> dict[str, Any]:
    found = authorized_project(session, principal, project, Action.TRIAGE_VULNERABILITIES)
    try:
        rows = service.change_state(session, body.ids, body.state, author=principal.name, comment=body.comment,
                                    dismissal_reason=body.dismissal_reason, project_id=found.id)
    except service.VulnerabilityError as exc:
        raise _bad_request(exc) from None
    audit(request, session, "vulnerability_state_changed", found.path, ids=[r.id for r in rows][:1000],
          state=body.state, dismissal_reason=body.dismissal_reason)
    return {"updated": len(rows)}


class WebhookIn(BaseModel):
    url: str = Field(max_length=2000)
    events: list[Literal["new_vulnerability", "scan_failed"]] = ["new_vulnerability", "scan_failed"]
    min_severity: Severity = "high"
    secret: str | None = Field(default=None, min_length=16, max_length=255)


def _webhook_json(hook: Any, with_secret: bool = False) -> dict[str, Any]:
    body = {"id": hook.id, "url": hook.url, "events": hook.events, "min_severity": hook.min_severity,
            "enabled": hook.enabled, "created_at": hook.created_at.isoformat()}
    if with_secret:
        body["secret"] = hook.secret  # shown once, at creation
    return body


@router.post("/projects/{project:path}/webhooks", status_code=201, tags=["notifications"])
def create_webhook(project: str, body: WebhookIn, request: Request, principal: Principal = Depends(current_principal),
                   session: Session = Depends(get_session)) -> dict[str, Any]:
    found = authorized_project(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    try:
        hook = notifications.create_webhook(session, found.id, body.url, events=list(body.events),
                                            min_severity=body.min_severity, secret=body.secret)
    except notifications.WebhookDefinitionError as exc:
        raise _bad_request(exc) from None
    audit(request, session, "webhook_created", found.path, webhook_id=hook.id, url=hook.url)
    return _webhook_json(hook, with_secret=True)


@router.get("/projects/{project:path}/webhooks", tags=["notifications"])
def list_webhooks(project: str, principal: Principal = Depends(current_principal),
                  session: Session = Depends(get_session)) -> list[dict[str, Any]]:
    found = authorized_project(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    return [_webhook_json(h) for h in notifications.webhooks_of(session, found.id)]


@router.get("/projects/{project:path}/webhooks/{webhook_id}/deliveries", tags=["notifications"])
def list_deliveries(project: str, webhook_id: IdPath, principal: Principal = Depends(current_principal),
                    session: Session = Depends(get_session)) -> list[dict[str, Any]]:
    """The delivery log: every attempt's outcome, for debugging a receiver."""
    found = authorized_project(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    if not any(h.id == webhook_id for h in notifications.webhooks_of(session, found.id)):
        raise HTTPException(status_code=404, detail=f"webhook {webhook_id} not found")
    return [{"id": d.id, "event": d.event, "status": d.status, "attempts": d.attempts,
             "last_status_code": d.last_status_code, "last_error": d.last_error,
             "created_at": d.created_at.isoformat(),
             "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None, "payload": d.payload}
            for d in notifications.deliveries(session, webhook_id)]


@router.delete("/projects/{project:path}/webhooks/{webhook_id}", status_code=204, tags=["notifications"])
def delete_webhook(project: str, webhook_id: IdPath, request: Request, principal: Principal = Depends(current_principal),
                   session: Session = Depends(get_session)) -> None:
    found = authorized_project(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    if not notifications.delete_webhook(session, found.id, webhook_id):
        raise HTTPException(status_code=404, detail=f"webhook {webhook_id} not found")
    audit(request, session, "webhook_deleted", found.path, webhook_id=webhook_id)


@router.get("/projects/{project:path}/images/{digest}/remediation")
def image_remediation(project: str, digest: str = Path(max_length=160, pattern=r"^[a-z0-9]+:[a-f0-9]{32,128}$"),
                      principal: Principal = Depends(current_principal),
                      session: Session = Depends(get_session)) -> dict[str, Any]:
    """Hints for one image: package upgrades that fix its findings, its base image, and rebuilding on the base's
    tag when that now points at a newer scanned digest with fewer findings (docs/remediation.md)."""
    from hullscan.vulnerabilities import remediation

    found = project_or_404(session, project)
    authorize(principal, Action.READ_VULNERABILITIES, found.path)
    result = remediation.remediation(session, found.id, digest, remediation.readable_by(session, principal))
    if result is None:
        raise HTTPException(status_code=404, detail=f"image {digest} not found in project {found.path}")
    return result.as_dict()
