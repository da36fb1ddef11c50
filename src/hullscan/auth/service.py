"""The auth part's service: users, groups and memberships, tokens, sessions, sign-in throttling, audit log.

Other parts call these functions, never the tables. Authentication functions return a `Principal`, which
`authorize` judges; nothing here decides what a role may do.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hullscan.auth import credentials
from hullscan.auth.credentials import (
    DEPLOY_TOKEN_PREFIX,
    PERSONAL_TOKEN_PREFIX,
    generate_password,
    hash_password,
    new_token,
    token_digest,
    verify_password,
)
from hullscan.auth.principal import Kind, Membership, Principal, Role, Scope
from hullscan.auth.projects import PROJECT_PATH, get_project
from hullscan.auth.projects import create_project as create_bare_project
from hullscan.db import Database
from hullscan.db.base import utcnow
from hullscan.db.models import Project
from hullscan.db.models.auth import (
    AuditEvent,
    DeployToken,
    Group,
    Member,
    PersonalAccessToken,
    SignInFailures,
    User,
    UserSession,
)
from hullscan.settings import Settings

log = logging.getLogger("hullscan.auth")
T = TypeVar("T", PersonalAccessToken, DeployToken)

USERNAME = re.compile(r"^[a-z0-9](?:[a-z0-9_.-]{0,62})$")
GROUP_PATH = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
RESERVED_USERNAMES = {"anonymous", "gitlab-ci-token", "registry-webhook", "hullscan", "root"}
ADMIN_USERNAME = "admin"
DEPLOY_SCOPES = {Scope.READ_REGISTRY, Scope.WRITE_REGISTRY}
VISIBILITIES = ("private", "public")


class AuthError(ValueError):
    """A request to the auth service is invalid (bad name, unknown user, ...): a 400/404-class error."""


class InvalidCredentials(Exception):
    """Credentials that do not authenticate anyone (HTTP 401)."""


class SignInThrottled(Exception):
    """Too many failed sign-ins for this user or client (HTTP 429)."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"too many failed sign-in attempts; try again after {until.isoformat(timespec='seconds')}")
        self.until = until


# --- users -------------------------------------------------------------------------------------------------------

def get_user(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username.strip().lower())).one_or_none()


def user_by_id(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def require_user(session: Session, username: str) -> User:
    user = get_user(session, username)
    if user is None:
        raise AuthError(f"there is no user {username!r}")
    return user


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.username)).all()


def create_user(session: Session, username: str, password: str | None = None, *, is_admin: bool = False,
                email: str | None = None) -> User:
    """A user and their personal namespace: a group named like them that they own (as in GitLab)."""
    username = username.strip().lower()
    if not USERNAME.match(username) or username in RESERVED_USERNAMES or username.startswith("deploy-token-"):
        raise AuthError(f"invalid or reserved username {username!r}: lower-case letters, digits, '_', '.', '-'")
    _check_name_is_free(session, username)
    user = User(username=username, email=email, is_admin=is_admin,
                password_hash=hash_password(password) if password is not None else None)
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
            group = Group(path=username)
            session.add(group)
            session.flush()
            session.add(Member(user_id=user.id, group_id=group.id, access_level=int(Role.OWNER)))
    except IntegrityError:
        # Another node created this user (or a group of this name) since the check; its row is committed now,
        # so the check answers what it would have answered had that node come first.
        _check_name_is_free(session, username)
        raise
    return user


def _check_name_is_free(session: Session, username: str) -> None:
    if get_user(session, username) is not None:
        raise AuthError(f"user {username!r} already exists")
    namespace_taken = session.scalars(select(Group.id).where(Group.path == username)).first() is not None or \
        session.scalars(select(Project.id).where(_under(username))).first() is not None
    if namespace_taken:
        raise AuthError(f"the namespace {username!r} already belongs to a group or project")


def set_password(session: Session, user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    session.flush()


def set_user_blocked(session: Session, user: User, blocked: bool, *, by: str | None = None) -> None:
    """Block (or unblock) a user, as GitLab's admins do: a blocked user's password, sessions, personal access
    tokens and registry tokens stop working at once (every check reads `is_active`), and their sign-ins end.
    Nobody blocks their own account, and the last active administrator stays."""
    if blocked:
        if by is not None and user.username == by:
            raise AuthError("you cannot block your own account")
        # The active administrators locked, in one order: two admins blocking each other through two nodes at
        # once take turns, and the second finds the first's block (else both pass and nobody can administer).
        if user.is_admin and not [i for i in session.scalars(
                select(User.id).where(User.is_admin.is_(True), User.is_active.is_(True))
                .order_by(User.id).with_for_update()) if i != user.id]:
            raise AuthError("the last active administrator cannot be blocked")
        session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    user.is_active = not blocked
    session.flush()


def bootstrap_admin(session: Session, settings: Settings) -> str | None:
    """Create the `admin` user on first start. Returns the password when it was generated (print it once)."""
    if session.scalars(select(User.id).where(User.is_admin.is_(True))).first() is not None:
        return None
    configured = settings.admin_password.get_secret_value() if settings.admin_password else None
    password = configured or generate_password()
    try:
        with session.begin_nested():
            create_user(session, ADMIN_USERNAME, password, is_admin=True)
    except (IntegrityError, AuthError):
        # Another node bootstrapped between our check and our insert: its insert either held ours on the unique
        # index (IntegrityError) or had committed already (AuthError). Either way it is there now.
        if get_user(session, ADMIN_USERNAME) is not None:
            return None
        raise
    return None if configured else password


# --- groups, projects and members --------------------------------------------------------------------------------

def create_project(session: Session, path: str, *, visibility: str = "private", owner: User | None = None,
                   cs4r_enabled: bool = False) -> Project:
    if visibility not in VISIBILITIES:
        raise AuthError(f"visibility must be one of {', '.join(VISIBILITIES)}")
    if get_project(session, path) is not None:
        raise AuthError(f"project {path!r} already exists")
    if not PROJECT_PATH.match(path):
        raise AuthError(f"invalid project path {path!r}: expected <namespace>/<project> in lower case")
    try:
        with session.begin_nested():
            project = create_bare_project(session, path, cs4r_enabled=cs4r_enabled)
    except IntegrityError:  # another node created it since the check (its row is committed now)
        if get_project(session, path) is not None:
            raise AuthError(f"project {path!r} already exists") from None
        raise
    project.visibility = visibility
    if owner is not None:
        session.add(Member(user_id=owner.id, project_id=project.id, access_level=int(Role.OWNER)))
    session.flush()
    return project


def set_visibility(session: Session, project: Project, visibility: str) -> None:
    if visibility not in VISIBILITIES:
        raise AuthError(f"visibility must be one of {', '.join(VISIBILITIES)}")
    project.visibility = visibility
    session.flush()


def _group(session: Session, path: str, *, create: bool) -> Group | None:
    group = session.scalars(select(Group).where(Group.path == path)).one_or_none()
    if group is None and create:
        if not GROUP_PATH.match(path) or len(path) > 255:
            raise AuthError(f"invalid group path {path!r}")
        try:
            with session.begin_nested():
                group = Group(path=path)
                session.add(group)
        except IntegrityError:  # another node created it since the check (its row is committed now)
            group = session.scalars(select(Group).where(Group.path == path)).one()
    return group


def add_member(session: Session, username: str, path: str, role: Role) -> Member:
    """Give `username` `role` in the project at `path`, or else in the group at `path` (created when new)."""
    user = require_user(session, username)
    path = path.strip("/").lower()
    project = get_project(session, path)
    if project is not None:
        member = session.scalars(select(Member).where(Member.user_id == user.id,
                                                      Member.project_id == project.id)).one_or_none()
        member = member or Member(user_id=user.id, project_id=project.id)
    else:
        group = _group(session, path, create=True)
        assert group is not None
        member = session.scalars(select(Member).where(Member.user_id == user.id,
                                                      Member.group_id == group.id)).one_or_none()
        member = member or Member(user_id=user.id, group_id=group.id)
    member.access_level = int(role)
    try:
        with session.begin_nested():
            session.add(member)
    except IntegrityError:  # another node added them since the check (committed now): set the role on that row
        source = Member.project_id == project.id if project is not None else Member.group_id == member.group_id
        member = session.scalars(select(Member).where(Member.user_id == user.id, source)
                                 .with_for_update()).one()
        member.access_level = int(role)
        session.flush()
    return member


def remove_member(session: Session, username: str, path: str) -> bool:
    user = require_user(session, username)
    project = get_project(session, path)
    group = None if project else _group(session, path, create=False)
    if project is not None:
        condition = Member.project_id == project.id
    elif group is not None:
        condition = Member.group_id == group.id
    else:
        raise AuthError(f"there is no project or group {path!r}")
    result = session.execute(delete(Member).where(Member.user_id == user.id, condition))
    return bool(result.rowcount)  # type: ignore[attr-defined]  # DML runs give a CursorResult; SQLAlchemy types it Result


@dataclass(frozen=True)
class MemberView:
    username: str
    role: Role
    source: str  # the project or group path the membership is on
    inherited: bool


def list_members(session: Session, project: Project) -> list[MemberView]:
    """Direct members of the project and members of every group above it; the highest role per user wins."""
    parts = project.path.split("/")
    ancestors = ["/".join(parts[:n]) for n in range(1, len(parts))]
    rows = session.execute(
        select(User.username, Member.access_level, Group.path, Member.project_id)
        .join(Member, Member.user_id == User.id)
        .outerjoin(Group, Group.id == Member.group_id)
        .where(or_(Member.project_id == project.id, Group.path.in_(ancestors)))
    ).all()
    best: dict[str, MemberView] = {}
    for username, level, group_path, project_id in rows:
        view = MemberView(username, Role(level), group_path or project.path, project_id is None)
        if username not in best or view.role > best[username].role:
            best[username] = view
    return sorted(best.values(), key=lambda v: v.username)


def memberships_of(session: Session, user_id: int) -> tuple[Membership, ...]:
    rows = session.execute(
        select(Member.access_level, Group.path, Project.path)
        .outerjoin(Group, Group.id == Member.group_id)
        .outerjoin(Project, Project.id == Member.project_id)
        .where(Member.user_id == user_id)
    ).all()
    return tuple(Membership(path=gpath or ppath, role=Role(level), is_group=gpath is not None)
                 for level, gpath, ppath in rows)


def _under(namespace: str) -> ColumnElement[bool]:
    """Projects below `namespace`, comparing text, not a LIKE pattern: `_` and `%` in a user-chosen name are
    escaped, so the namespace `a_b` never matches `a-b/secret`."""
    return Project.path.startswith(namespace + "/", autoescape=True)


def visible_project_paths(session: Session, principal: Principal) -> set[str] | None:
    """Projects the principal may open (None: all of them, for admins)."""
    if principal.is_admin:
        return None
    paths = set()
    if principal.kind is Kind.USER:
        direct = {m.path for m in principal.memberships if not m.is_group}
        groups = [m.path for m in principal.memberships if m.is_group]
        paths |= direct
        for prefix in groups:
            paths |= set(session.scalars(select(Project.path).where(_under(prefix))).all())
    return paths


# --- principals --------------------------------------------------------------------------------------------------

def principal_for_user(session: Session, user: User, *, scopes: frozenset[Scope] | None = None,
                       credential: str) -> Principal:
    return Principal(name=user.username, kind=Kind.USER, user_id=user.id, is_admin=user.is_admin, scopes=scopes,
                     memberships=memberships_of(session, user.id), credential=credential)


# Other parts add credential kinds of their own (pipelines: job tokens) without auth importing them.
TokenAuthenticator = Callable[[Session, str], Principal | None]
_token_authenticators: dict[str, TokenAuthenticator] = {}


def register_token_kind(prefix: str, authenticator: TokenAuthenticator) -> None:
    _token_authenticators[prefix] = authenticator


def _live(expires_at: datetime | None, revoked_at: datetime | None, now: datetime) -> bool:
    return revoked_at is None and (expires_at is None or expires_at > now)


def authenticate_token(session: Session, token: str, *, username: str | None = None,
                       now: datetime | None = None) -> Principal | None:
    """The principal of a personal access, deploy or registered (job) token; None when it is not one of ours
    or no longer valid."""
    now = now or utcnow()
    if len(token) > 512:
        return None
    if token.startswith(PERSONAL_TOKEN_PREFIX):
        row = session.execute(select(PersonalAccessToken, User).join(User, User.id == PersonalAccessToken.user_id)
                              .where(PersonalAccessToken.token_digest == token_digest(token))).one_or_none()
        if row is None or not _live(row[0].expires_at, row[0].revoked_at, now) or not row[1].is_active:
            return None
        pat, user = row
        return principal_for_user(session, user, scopes=frozenset(Scope(s) for s in pat.scopes),
                                  credential=f"pat:{pat.id}")
    if token.startswith(DEPLOY_TOKEN_PREFIX):
        deploy_row = session.execute(select(DeployToken, Project.path).join(Project, Project.id == DeployToken.project_id)
                                     .where(DeployToken.token_digest == token_digest(token))).one_or_none()
        if deploy_row is None or not _live(deploy_row[0].expires_at, deploy_row[0].revoked_at, now):
            return None
        deploy, project_path = deploy_row
        if username is not None and username != deploy.username:
            return None
        return Principal(name=deploy.username, kind=Kind.DEPLOY_TOKEN, scopes=frozenset(Scope(s) for s in deploy.scopes),
                         project_path=project_path, credential=f"deploy:{deploy.id}")
    for prefix, authenticator in _token_authenticators.items():
        if token.startswith(prefix):
            return authenticator(session, token)
    return None


def credential_is_live(session: Session, credential: str | None, now: datetime | None = None) -> bool:
    """Is the credential a registry token was issued for still valid? Revocation and expiry act at once."""
    now = now or utcnow()
    kind, _, raw_id = (credential or "").partition(":")
    if kind == "anonymous":
        return True
    if not raw_id.isdigit():
        return False
    ident = int(raw_id)
    if kind == "pat":
        row = session.execute(select(PersonalAccessToken.expires_at, PersonalAccessToken.revoked_at, User.is_active)
                              .join(User, User.id == PersonalAccessToken.user_id)
                              .where(PersonalAccessToken.id == ident)).one_or_none()
        return row is not None and _live(row[0], row[1], now) and row[2]
    if kind == "deploy":
        deploy_row = session.execute(select(DeployToken.expires_at, DeployToken.revoked_at)
                                     .where(DeployToken.id == ident)).one_or_none()
        return deploy_row is not None and _live(deploy_row[0], deploy_row[1], now)
    if kind == "password":
        return bool(session.scalars(select(User.is_active).where(User.id == ident)).one_or_none())
    if kind == "session":
        expires_at = session.scalars(select(UserSession.expires_at).where(UserSession.id == ident)).one_or_none()
        return expires_at is not None and expires_at > now
    checker = _credential_checkers.get(kind)
    return checker is not None and checker(session, ident)


_credential_checkers: dict[str, Callable[[Session, int], bool]] = {}


def register_credential_check(kind: str, checker: Callable[[Session, int], bool]) -> None:
    _credential_checkers[kind] = checker


# --- passwords and throttling ------------------------------------------------------------------------------------

def _throttle_keys(username: str, client_ip: str | None) -> list[tuple[str, str]]:
    keys = [("user", f"user:{username.strip().lower()[:100]}")]
    if client_ip:
        keys.append(("ip", f"ip:{client_ip[:100]}"))
    return keys


def throttled_until(session: Session, username: str, client_ip: str | None,
                    now: datetime | None = None) -> datetime | None:
    now = now or utcnow()
    keys = [key for _, key in _throttle_keys(username, client_ip)]
    locks = session.scalars(select(SignInFailures.locked_until).where(SignInFailures.key.in_(keys))).all()
    active = [until for until in locks if until is not None and until > now]
    return max(active) if active else None


def record_sign_in_failure(session: Session, settings: Settings, username: str, client_ip: str | None,
                           now: datetime | None = None) -> None:
    now = now or utcnow()
    window = timedelta(seconds=settings.sign_in_lockout_seconds)
    for kind, key in _throttle_keys(username, client_ip):
        limit = settings.sign_in_max_failures if kind == "user" else settings.sign_in_max_failures_per_ip
        # Locked, so two nodes counting failures of one key at once add up rather than overwrite each other.
        row = session.get(SignInFailures, key, with_for_update=True)
        if row is None:
            try:
                with session.begin_nested():
                    row = SignInFailures(key=key, failures=0, first_failure_at=now)
                    session.add(row)
            except IntegrityError:  # another node's first failure of this key committed it meanwhile
                row = session.get_one(SignInFailures, key, with_for_update=True)
        elif row.locked_until is not None and row.locked_until <= now or now - row.first_failure_at > window * 6:
            row.failures, row.first_failure_at, row.locked_until = 0, now, None
        row.failures += 1
        if row.failures >= limit:
            row.locked_until = now + window
    session.flush()


def clear_sign_in_failures(session: Session, username: str) -> None:
    session.execute(delete(SignInFailures).where(SignInFailures.key == f"user:{username.strip().lower()[:100]}"))


def sign_in_with_password(db: Database, settings: Settings, username: str, password: str, client_ip: str | None,
                          *, channel: str) -> Principal:
    """Check a password, counting failures per user and client in a unit of work of their own (a refused
    request must still record them). A locked user or client is refused before the password is looked at.
    The happy path only reads, so API clients using passwords do not serialise on the database."""
    username = username.strip().lower()
    with db.read_session() as session:
        until = throttled_until(session, username, client_ip)
        user = None
        if until is None:
            user = get_user(session, username) if USERNAME.match(username) else None
            ok = verify_password(user.password_hash if user else None, password, who=username)
            if ok and user is not None and user.is_active:
                had_failures = session.get(SignInFailures, f"user:{username[:100]}") is not None
                principal = principal_for_user(session, user, credential=f"password:{user.id}")
                if not had_failures:
                    return principal
                with db.session() as writer:
                    clear_sign_in_failures(writer, username)
                return principal
    with db.session() as writer:
        if until is None:
            record_sign_in_failure(writer, settings, username, client_ip)
            until = throttled_until(writer, username, client_ip)
            audit(writer, username[:64] or "?", "sign_in_failed", username[:64], client_ip=client_ip,
                  details={"channel": channel}, outcome="failure",
                  message="locked after too many failures" if until else "invalid username or password")
    if until is not None:
        raise SignInThrottled(until)
    raise InvalidCredentials("invalid username or password")


def change_password(db: Database, settings: Settings, username: str, current: str, new: str,
                    client_ip: str | None, *, keep_session: str | None = None) -> None:
    """A user's own password change. The new password must meet the policy (checked first: a refused new
    password costs no sign-in attempt); the current one is checked as a sign-in is, failures counted and
    throttled; then every other sign-in of the user ends (the one in `keep_session` stays), as in GitLab."""
    credentials.check_password_policy(new)
    principal = sign_in_with_password(db, settings, username, current, client_ip, channel="password_change")
    with db.session() as session:
        user = require_user(session, principal.name)
        set_password(session, user, new)
        others = delete(UserSession).where(UserSession.user_id == user.id)
        if keep_session:
            others = others.where(UserSession.session_digest != token_digest(keep_session))
        session.execute(others)
        audit(session, principal, "password_changed", user.username, client_ip=client_ip)


# --- personal access tokens and deploy tokens --------------------------------------------------------------------

def _scopes(values: Sequence[str], allowed: set[Scope]) -> list[str]:
    try:
        scopes = sorted({Scope(v.strip()) for v in values}, key=lambda s: s.value)
    except ValueError:
        raise AuthError(f"unknown scope in {list(values)!r}: one of {', '.join(s.value for s in allowed)}") from None
    if not scopes or not set(scopes) <= allowed:
        raise AuthError(f"scopes must be a non-empty subset of {', '.join(sorted(s.value for s in allowed))}")
    return [s.value for s in scopes]


def _expiry(expires_at: datetime | None, now: datetime) -> datetime | None:
    if expires_at is not None and expires_at <= now:
        raise AuthError("expires_at must be in the future")
    return expires_at


def create_personal_access_token(session: Session, user: User, name: str, scopes: Sequence[str],
                                 expires_at: datetime | None = None) -> tuple[PersonalAccessToken, str]:
    """Returns the row and the token itself, which is shown once and never stored."""
    return _new_token_row(session, PersonalAccessToken(user_id=user.id), PERSONAL_TOKEN_PREFIX, name, scopes,
                          set(Scope), expires_at)


def _new_token_row(session: Session, row: T, prefix: str, name: str, scopes: Sequence[str], allowed: set[Scope],
                   expires_at: datetime | None) -> tuple[T, str]:
    if not name.strip() or len(name) > 255:
        raise AuthError("a token needs a name of at most 255 characters")
    token = new_token(prefix)
    row.name, row.token_digest = name.strip(), token_digest(token)
    row.scopes, row.expires_at = _scopes(scopes, allowed), _expiry(expires_at, utcnow())
    session.add(row)
    session.flush()
    return row, token


def list_personal_access_tokens(session: Session, user: User) -> Sequence[PersonalAccessToken]:
    return session.scalars(select(PersonalAccessToken).where(PersonalAccessToken.user_id == user.id)
                           .order_by(PersonalAccessToken.id)).all()


def revoke_personal_access_token(session: Session, user: User | None, token_id: int) -> PersonalAccessToken:
    """Revoke one of `user`'s tokens (any user's when `user` is None: an admin acting)."""
    row = session.get(PersonalAccessToken, token_id)
    if row is None or (user is not None and row.user_id != user.id):
        raise AuthError(f"there is no personal access token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    session.flush()
    return row


def create_deploy_token(session: Session, project: Project, name: str, scopes: Sequence[str],
                        expires_at: datetime | None = None) -> tuple[DeployToken, str]:
    return _new_token_row(session, DeployToken(project_id=project.id), DEPLOY_TOKEN_PREFIX, name, scopes,
                          DEPLOY_SCOPES, expires_at)


def list_deploy_tokens(session: Session, project: Project) -> Sequence[DeployToken]:
    return session.scalars(select(DeployToken).where(DeployToken.project_id == project.id)
                           .order_by(DeployToken.id)).all()


def revoke_deploy_token(session: Session, project: Project, token_id: int) -> DeployToken:
    row = session.get(DeployToken, token_id)
    if row is None or row.project_id != project.id:
        raise AuthError(f"there is no deploy token {token_id} in {project.path}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    session.flush()
    return row


# --- UI sessions -------------------------------------------------------------------------------------------------

def start_session(session: Session, settings: Settings, user: User, client_ip: str | None) -> str:
    """A new sign-in; returns the cookie value (random; only its digest is stored)."""
    secret = credentials.new_token("")
    now = utcnow()
    session.add(UserSession(session_digest=token_digest(secret), user_id=user.id, client_ip=client_ip,
                            expires_at=now + timedelta(seconds=settings.session_ttl_seconds)))
    user.last_sign_in_at = now
    session.execute(delete(UserSession).where(UserSession.expires_at <= now))
    session.flush()
    return secret


def authenticate_session(session: Session, secret: str, now: datetime | None = None) -> Principal | None:
    now = now or utcnow()
    if not secret or len(secret) > 128:
        return None
    row = session.execute(select(UserSession, User).join(User, User.id == UserSession.user_id)
                          .where(UserSession.session_digest == token_digest(secret))).one_or_none()
    if row is None or row[0].expires_at <= now or not row[1].is_active:
        return None
    return principal_for_user(session, row[1], credential=f"session:{row[0].id}")


def end_session(session: Session, secret: str) -> None:
    session.execute(delete(UserSession).where(UserSession.session_digest == token_digest(secret)))


# --- audit log ---------------------------------------------------------------------------------------------------

def audit(session: Session, principal: Principal | str, action: str, target: str | None = None, *,
          client_ip: str | None = None, details: dict[str, Any] | None = None, outcome: str = "success",
          message: str | None = None) -> None:
    """Record a security-relevant action. Never pass secrets in `details`."""
    actor = principal if isinstance(principal, str) else principal.name
    user_id = None if isinstance(principal, str) else principal.user_id
    session.add(AuditEvent(actor=actor[:128], actor_user_id=user_id, action=action[:64],
                           target=target[:512] if target else None, client_ip=client_ip, details=details or {},
                           outcome=outcome, message=message))
    session.flush()


def list_audit_events(session: Session, *, limit: int = 100, before_id: int | None = None,
                      action: str | None = None, target_prefix: str | None = None) -> Sequence[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(min(max(limit, 1), 1000))
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    if action:
        query = query.where(AuditEvent.action == action)
    if target_prefix:  # a project's events: targets under its path (startswith escapes LIKE's wildcards)
        query = query.where(AuditEvent.target.startswith(target_prefix, autoescape=True))
    return session.scalars(query).all()
