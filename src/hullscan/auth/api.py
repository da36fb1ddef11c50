"""Auth HTTP API: the registry token endpoint (`/jwt/auth`), the signed-in user and their tokens, projects,
members, deploy tokens, users and the audit log; and the bootstrap of the first admin when `serve` starts."""

from __future__ import annotations

import logging
from datetime import datetime
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from hullscan.auth import service
from hullscan.auth.credentials import PasswordPolicyError
from hullscan.auth.http import client_ip, current_principal, token_issuer
from hullscan.auth.principal import REGISTRY_ACTIONS, Action, Kind, Principal, Role, authorize, is_allowed
from hullscan.auth.projects import default_project_path, find_project_for_repository, list_projects
from hullscan.auth.registry_tokens import parse_scopes
from hullscan.db.models import Project
from hullscan.db.models.auth import DeployToken, PersonalAccessToken
from hullscan.http_deps import IdPath, IdQuery, authorized_project, get_session

log = logging.getLogger("hullscan.auth")
router = APIRouter()  # mounted under /api/v1
token_router = APIRouter()  # mounted at the root: /jwt/auth
VERBS = {verb: action for action, verb in REGISTRY_ACTIONS.items()}


def _bad_request(exc: Exception) -> HTTPException:
    return HTTPException(status_code=400, detail=str(exc))


# --- registry tokens ---------------------------------------------------------------------------------------------

def _granted(session: Session, principal: Principal, repository: str, wanted: tuple[str, ...],
             auto_create: bool) -> list[str]:
    project = find_project_for_repository(session, repository)
    if project is not None:
        path, public = project.path, project.visibility == "public"
    elif auto_create:
        try:
            path, public = default_project_path(repository), False  # a push creates it: judged on its namespace
        except ValueError:
            return []
    else:
        return []
    verbs = {"pull", "push", "delete"} if "*" in wanted else set(wanted)
    return sorted(verb for verb in verbs & set(VERBS)
                  if is_allowed(principal, VERBS[verb], path, public=public, repository=repository))


@token_router.get("/jwt/auth", tags=["auth"], summary="Docker registry token")
def registry_token(request: Request, service_name: str | None = Query(default=None, alias="service"),
                   scope: list[str] = Query(default=[]),
                   principal: Principal = Depends(current_principal)) -> JSONResponse:
    """Exchange credentials (Basic: password, personal access, deploy or job token; none: anonymous) for a
    short-lived registry token granting the allowed subset of the requested scopes."""
    settings = request.app.state.settings
    if service_name is not None and service_name != settings.registry_token_service:
        return JSONResponse({"errors": [{"code": "UNSUPPORTED", "message": f"unknown service {service_name[:100]!r}",
                                         "detail": None}]}, status_code=400)
    try:
        requested = parse_scopes(scope)
    except ValueError as exc:
        return JSONResponse({"errors": [{"code": "UNSUPPORTED", "message": str(exc), "detail": None}]},
                            status_code=400)
    access: list[dict[str, Any]] = []
    with request.app.state.db.read_session() as session:
        for item in requested:
            if item.type == "registry":
                allowed = ["*"] if item.name == "catalog" and "*" in item.actions and \
                    is_allowed(principal, Action.REGISTRY_CATALOG) else []
            else:
                allowed = _granted(session, principal, item.name, item.actions, settings.registry_auto_create_projects)
            access.append({"type": item.type, "name": item.name, "actions": allowed})
    credential = principal.credential or "anonymous"
    token, expires_in, issued_at = token_issuer(request.app).issue(principal.name, credential, access)
    return JSONResponse({"token": token, "access_token": token, "expires_in": expires_in,
                         "issued_at": datetime.fromtimestamp(issued_at).astimezone().isoformat()},
                        headers={"Cache-Control": "no-store"})


# --- the signed-in user ------------------------------------------------------------------------------------------

def _signed_in_user(session: Session, principal: Principal) -> Any:
    if principal.kind is not Kind.USER or principal.user_id is None:
        raise HTTPException(status_code=403, detail="only users have a profile and personal access tokens")
    from hullscan.db.models.auth import User

    return session.get(User, principal.user_id)


def token_json(row: PersonalAccessToken | DeployToken, token: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id, "name": row.name, "scopes": list(row.scopes), "created_at": row.created_at.isoformat(),
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "revoked": row.revoked_at is not None,
    }
    if isinstance(row, DeployToken):
        out["username"] = row.username
    if token is not None:
        out["token"] = token
    return out


@router.get("/user", tags=["auth"])
def whoami(principal: Principal = Depends(current_principal)) -> dict[str, Any]:
    authorize(principal, Action.USE_API)
    return {"username": principal.name, "kind": principal.kind.value, "is_admin": principal.is_admin,
            "scopes": sorted(s.value for s in principal.scopes) if principal.scopes is not None else None,
            "memberships": [{"path": m.path, "role": m.role.name.lower(), "group": m.is_group}
                            for m in principal.memberships]}


class TokenIn(BaseModel):
    name: str = Field(max_length=255)
    scopes: list[str] = Field(max_length=8)
    expires_at: datetime | None = None


@router.get("/user/personal_access_tokens", tags=["auth"])
def my_tokens(principal: Principal = Depends(current_principal),
              session: Session = Depends(get_session)) -> list[dict[str, Any]]:
    authorize(principal, Action.MANAGE_OWN_TOKENS)
    return [token_json(t) for t in service.list_personal_access_tokens(session, _signed_in_user(session, principal))]


@router.post("/user/personal_access_tokens", tags=["auth"], status_code=201)
def create_my_token(body: TokenIn, request: Request, principal: Principal = Depends(current_principal),
                    session: Session = Depends(get_session)) -> dict[str, Any]:
    """The token is in this answer only; hullscan keeps its digest."""
    authorize(principal, Action.MANAGE_OWN_TOKENS)
    try:
        row, token = service.create_personal_access_token(session, _signed_in_user(session, principal), body.name,
                                                          body.scopes, body.expires_at)
    except service.AuthError as exc:
        raise _bad_request(exc) from None
    service.audit(session, principal, "personal_access_token_created", f"pat:{row.id}", client_ip=client_ip(request),
                  details={"name": row.name, "scopes": row.scopes})
    return token_json(row, token)


@router.delete("/user/personal_access_tokens/{token_id}", tags=["auth"], status_code=204)
def revoke_my_token(token_id: IdPath, request: Request, principal: Principal = Depends(current_principal),
                    session: Session = Depends(get_session)) -> None:
    authorize(principal, Action.MANAGE_OWN_TOKENS)
    user = _signed_in_user(session, principal)
    _revoke(request, session, principal, lambda: service.revoke_personal_access_token(session, user, token_id),
            "personal_access_token_revoked", f"pat:{token_id}")


def _revoke(request: Request, session: Session, principal: Principal, revoke: Callable[[], object], action: str,
            target: str) -> None:
    """A token that is not there or not the caller's answers 404; a revocation is audited."""
    try:
        revoke()
    except service.AuthError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    service.audit(session, principal, action, target, client_ip=client_ip(request))


class PasswordChangeIn(BaseModel):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


@router.put("/user/password", tags=["auth"], status_code=204)
def change_my_password(body: PasswordChangeIn, request: Request,
                       principal: Principal = Depends(current_principal)) -> None:
    """Change your own password (the current one is required, as at sign-in); your other sign-ins end."""
    authorize(principal, Action.MANAGE_OWN_TOKENS)
    if principal.kind is not Kind.USER:
        raise HTTPException(status_code=403, detail="only users have a password")
    try:
        service.change_password(request.app.state.db, request.app.state.settings, principal.name,
                                body.current_password, body.new_password, client_ip(request))
    except PasswordPolicyError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    except service.InvalidCredentials:
        raise HTTPException(status_code=400, detail="the current password is wrong") from None


# --- projects, members and deploy tokens -------------------------------------------------------------------------

def project_json(project: Project) -> dict[str, Any]:
    return {"id": project.id, "path": project.path, "visibility": project.visibility,
            "created_at": project.created_at.isoformat(),
            "container_scanning_for_registry_enabled": project.container_scanning_for_registry_enabled}


@router.get("/projects", tags=["projects"])
def projects(principal: Principal = Depends(current_principal),
             session: Session = Depends(get_session)) -> list[dict[str, Any]]:
    """The projects the caller is a member of (every project for admins)."""
    authorize(principal, Action.USE_API)
    visible = service.visible_project_paths(session, principal)
    return [project_json(p) for p in list_projects(session) if visible is None or p.path in visible]


class ProjectIn(BaseModel):
    path: str = Field(max_length=255)
    visibility: str = "private"


@router.post("/projects", tags=["projects"], status_code=201)
def create_project(body: ProjectIn, request: Request, principal: Principal = Depends(current_principal),
                   session: Session = Depends(get_session)) -> dict[str, Any]:
    """Admins create anywhere; others where they are a maintainer of a group above (their own namespace)."""
    path = body.path.strip("/").lower()
    authorize(principal, Action.ADMIN_PROJECT_SETTINGS, path)
    owner = _signed_in_user(session, principal) if principal.kind is Kind.USER else None
    try:
        project = service.create_project(session, path, visibility=body.visibility, owner=owner)
    except service.AuthError as exc:
        raise _bad_request(exc) from None
    service.audit(session, principal, "project_created", project.path, client_ip=client_ip(request),
                  details={"visibility": project.visibility})
    return project_json(project)


class ProjectChange(BaseModel):
    visibility: str


@router.put("/projects/{project:path}/visibility", tags=["projects"])
def change_visibility(project: str, body: ProjectChange, request: Request,
                      principal: Principal = Depends(current_principal),
                      session: Session = Depends(get_session)) -> dict[str, Any]:
    found = authorized_project(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    try:
        service.set_visibility(session, found, body.visibility)
    except service.AuthError as exc:
        raise _bad_request(exc) from None
    service.audit(session, principal, "project_visibility_changed", found.path, client_ip=client_ip(request),
                  details={"visibility": found.visibility})
    return project_json(found)


@router.get("/projects/{project:path}/members", tags=["projects"])
def members(project: str, principal: Principal = Depends(current_principal),
            session: Session = Depends(get_session)) -> list[dict[str, Any]]:
    found = authorized_project(session, principal, project, Action.READ_MEMBERS)
    return [{"username": m.username, "role": m.role.name.lower(), "access_level": int(m.role), "source": m.source,
             "inherited": m.inherited} for m in service.list_members(session, found)]


class MemberIn(BaseModel):
    username: str = Field(max_length=64)
    role: str


@router.post("/projects/{project:path}/members", tags=["projects"], status_code=201)
def add_member(project: str, body: MemberIn, request: Request, principal: Principal = Depends(current_principal),
               session: Session = Depends(get_session)) -> dict[str, Any]:
    found = authorized_project(session, principal, project, Action.MANAGE_MEMBERS)
    try:
        role = Role.parse(body.role)
        service.add_member(session, body.username, found.path, role)
    except (ValueError, service.AuthError) as exc:
        raise _bad_request(exc) from None
    service.audit(session, principal, "member_added", found.path, client_ip=client_ip(request),
                  details={"username": body.username, "role": role.name.lower()})
    return {"username": body.username.lower(), "role": role.name.lower(), "access_level": int(role)}


@router.delete("/projects/{project:path}/members/{username}", tags=["projects"], status_code=204)
def remove_member(project: str, username: str, request: Request, principal: Principal = Depends(current_principal),
                  session: Session = Depends(get_session)) -> None:
    found = authorized_project(session, principal, project, Action.MANAGE_MEMBERS)
    try:
        removed = service.remove_member(session, username, found.path)
    except service.AuthError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    if not removed:
        raise HTTPException(status_code=404, detail=f"{username!r} is not a direct member of {found.path}")
    service.audit(session, principal, "member_removed", found.path, client_ip=client_ip(request),
                  details={"username": username})


@router.get("/projects/{project:path}/deploy_tokens", tags=["projects"])
def deploy_tokens(project: str, principal: Principal = Depends(current_principal),
                  session: Session = Depends(get_session)) -> list[dict[str, Any]]:
    found = authorized_project(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    return [token_json(t) for t in service.list_deploy_tokens(session, found)]


@router.post("/projects/{project:path}/deploy_tokens", tags=["projects"], status_code=201)
def create_deploy_token(project: str, body: TokenIn, request: Request,
                        principal: Principal = Depends(current_principal),
                        session: Session = Depends(get_session)) -> dict[str, Any]:
    found = authorized_project(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    try:
        row, token = service.create_deploy_token(session, found, body.name, body.scopes, body.expires_at)
    except service.AuthError as exc:
        raise _bad_request(exc) from None
    service.audit(session, principal, "deploy_token_created", f"{found.path} deploy:{row.id}",
                  client_ip=client_ip(request), details={"name": row.name, "scopes": row.scopes})
    return token_json(row, token)


@router.delete("/projects/{project:path}/deploy_tokens/{token_id}", tags=["projects"], status_code=204)
def revoke_deploy_token(project: str, token_id: IdPath, request: Request,
                        principal: Principal = Depends(current_principal),
                        session: Session = Depends(get_session)) -> None:
    found = authorized_project(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    _revoke(request, session, principal, lambda: service.revoke_deploy_token(session, found, token_id),
            "deploy_token_revoked", f"{found.path} deploy:{token_id}")


# --- instance administration -------------------------------------------------------------------------------------

class UserIn(BaseModel):
    username: str = Field(max_length=64)
    password: str | None = Field(default=None, max_length=1024)
    email: str | None = Field(default=None, max_length=255)
    is_admin: bool = False


@router.get("/users", tags=["admin"])
def users(principal: Principal = Depends(current_principal),
          session: Session = Depends(get_session)) -> list[dict[str, Any]]:
    authorize(principal, Action.ADMIN_INSTANCE)
    return [{"id": u.id, "username": u.username, "email": u.email, "is_admin": u.is_admin, "active": u.is_active,
             "created_at": u.created_at.isoformat()} for u in service.list_users(session)]


@router.post("/users", tags=["admin"], status_code=201)
def create_user(body: UserIn, request: Request, principal: Principal = Depends(current_principal),
                session: Session = Depends(get_session)) -> dict[str, Any]:
    authorize(principal, Action.ADMIN_INSTANCE)
    try:
        user = service.create_user(session, body.username, body.password, is_admin=body.is_admin, email=body.email)
    except (service.AuthError, ValueError) as exc:
        raise _bad_request(exc) from None
    service.audit(session, principal, "user_created", user.username, client_ip=client_ip(request),
                  details={"is_admin": user.is_admin})
    return {"id": user.id, "username": user.username, "is_admin": user.is_admin}


@router.post("/users/{username}/block", tags=["admin"], status_code=201)
def block_user(username: str, request: Request, principal: Principal = Depends(current_principal),
               session: Session = Depends(get_session)) -> dict[str, Any]:
    """Block a user: their password, sessions and tokens stop working at once (GitLab's `POST /users/:id/block`)."""
    return _set_blocked(session, principal, request, username, True)


@router.post("/users/{username}/unblock", tags=["admin"], status_code=201)
def unblock_user(username: str, request: Request, principal: Principal = Depends(current_principal),
                 session: Session = Depends(get_session)) -> dict[str, Any]:
    return _set_blocked(session, principal, request, username, False)


def _set_blocked(session: Session, principal: Principal, request: Request, username: str,
                 blocked: bool) -> dict[str, Any]:
    authorize(principal, Action.ADMIN_INSTANCE)
    user = service.get_user(session, username[:64].lower())
    if user is None:
        raise HTTPException(status_code=404, detail=f"there is no user {username[:64]!r}")
    try:
        service.set_user_blocked(session, user, blocked, by=principal.name)
    except service.AuthError as exc:
        raise _bad_request(exc) from None
    service.audit(session, principal, "user_blocked" if blocked else "user_unblocked", user.username,
                  client_ip=client_ip(request))
    return {"username": user.username, "active": user.is_active}


@router.get("/audit_events", tags=["admin"])
def audit_events(limit: int = Query(default=100, ge=1, le=1000), before_id: IdQuery | None = None,
                 action: str | None = Query(default=None, max_length=64),
                 principal: Principal = Depends(current_principal),
                 session: Session = Depends(get_session)) -> list[dict[str, Any]]:
    authorize(principal, Action.ADMIN_INSTANCE)
    return [{"id": e.id, "created_at": e.created_at.isoformat(), "actor": e.actor, "action": e.action,
             "target": e.target, "client_ip": e.client_ip, "outcome": e.outcome, "message": e.message,
             "details": e.details}
            for e in service.list_audit_events(session, limit=limit, before_id=before_id, action=action)]


# --- serve -------------------------------------------------------------------------------------------------------

def _bootstrap(app: FastAPI) -> None:
    with app.state.db.session() as session:
        password = service.bootstrap_admin(session, app.state.settings)
    if password is not None:
        # Printed once to the console that started the server, never logged (logs are shipped elsewhere).
        print(f"hullscan: created the administrator 'admin' with password: {password}\n"
              "hullscan: change it with `hullscan admin set-password admin`; it is not shown again.", flush=True)


async def start(app: FastAPI) -> None:
    await run_in_threadpool(_bootstrap, app)
    token_issuer(app)


async def stop(app: FastAPI) -> None:
    return None
