"""Who is calling and what they may do: GitLab's roles, token scopes and registry grants in one place.

Every route resolves its caller with `current_principal` and asks `authorize` before acting. The whole matrix
is `RULES` below (documented in docs/authorization.md); no route decides permissions on its own.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


class Role(enum.IntEnum):
    """GitLab's access levels."""

    GUEST = 10
    REPORTER = 20
    DEVELOPER = 30
    MAINTAINER = 40
    OWNER = 50

    @classmethod
    def parse(cls, name: str) -> "Role":
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {name!r}: one of {', '.join(r.name.lower() for r in cls)}") from None


class Scope(str, enum.Enum):
    API = "api"
    READ_API = "read_api"
    READ_REGISTRY = "read_registry"
    WRITE_REGISTRY = "write_registry"


class Action(str, enum.Enum):
    REGISTRY_PULL = "registry:pull"
    REGISTRY_PUSH = "registry:push"
    REGISTRY_DELETE = "registry:delete"
    REGISTRY_CATALOG = "registry:catalog"
    VIEW_PROJECT = "project:view"
    READ_PROJECT = "project:read"
    READ_MEMBERS = "members:read"
    READ_VULNERABILITIES = "vulnerabilities:read"
    TRIAGE_VULNERABILITIES = "vulnerabilities:triage"
    UPDATE_PIPELINES = "pipelines:update"
    ADMIN_PROJECT_SETTINGS = "project:admin_settings"
    MANAGE_MEMBERS = "members:manage"
    READ_ADVISORIES = "advisories:read"
    USE_API = "api:use"  # what any signed-in user with an API scope may do: profile, own project list
    MANAGE_OWN_TOKENS = "user:tokens"
    ADMIN_INSTANCE = "instance:admin"
    RECEIVE_REGISTRY_EVENTS = "registry_events:receive"


class Public(str, enum.Enum):
    """Who, beyond the role, may do an action on a public project."""

    ANYONE = "anyone"  # signed in or not (pulling images)
    SIGNED_IN = "signed_in"  # any user (not deploy or job tokens), as GitLab shows a public project to its users


@dataclass(frozen=True)
class Rule:
    """`role`: the least project role needed (None: any signed-in user; admins pass every rule but system ones).
    `scopes`: token scopes that carry the action (sessions and passwords carry all). `public`: who else may, on a
    public project."""

    role: Role | None
    scopes: frozenset[Scope]
    admin_only: bool = False
    public: Public | None = None


_READ = frozenset({Scope.API, Scope.READ_API})
_WRITE = frozenset({Scope.API})
_PULL = frozenset({Scope.API, Scope.READ_API, Scope.READ_REGISTRY, Scope.WRITE_REGISTRY})
_PUSH = frozenset({Scope.API, Scope.WRITE_REGISTRY})

RULES: dict[Action, Rule] = {
    Action.REGISTRY_PULL: Rule(Role.REPORTER, _PULL, public=Public.ANYONE),
    Action.REGISTRY_PUSH: Rule(Role.DEVELOPER, _PUSH),
    Action.REGISTRY_DELETE: Rule(Role.DEVELOPER, _PUSH),
    Action.REGISTRY_CATALOG: Rule(None, _PULL, admin_only=True),
    Action.VIEW_PROJECT: Rule(Role.GUEST, _READ, public=Public.SIGNED_IN),
    Action.READ_PROJECT: Rule(Role.REPORTER, _READ),
    Action.READ_MEMBERS: Rule(Role.GUEST, _READ),
    Action.READ_VULNERABILITIES: Rule(Role.DEVELOPER, _READ),
    Action.TRIAGE_VULNERABILITIES: Rule(Role.DEVELOPER, _WRITE),
    Action.UPDATE_PIPELINES: Rule(Role.DEVELOPER, _WRITE),
    Action.ADMIN_PROJECT_SETTINGS: Rule(Role.MAINTAINER, _WRITE),
    Action.MANAGE_MEMBERS: Rule(Role.OWNER, _WRITE),
    Action.READ_ADVISORIES: Rule(None, _READ),
    Action.USE_API: Rule(None, _READ),
    Action.MANAGE_OWN_TOKENS: Rule(None, _WRITE),
    Action.ADMIN_INSTANCE: Rule(None, _WRITE, admin_only=True),
}
REGISTRY_ACTIONS = {Action.REGISTRY_PULL: "pull", Action.REGISTRY_PUSH: "push", Action.REGISTRY_DELETE: "delete"}


class Kind(str, enum.Enum):
    ANONYMOUS = "anonymous"
    USER = "user"  # password, UI session or personal access token
    DEPLOY_TOKEN = "deploy_token"
    JOB = "job"
    REGISTRY_TOKEN = "registry_token"  # a JWT from /jwt/auth, on /v2/ only
    SYSTEM = "system"


@dataclass(frozen=True)
class Membership:
    path: str
    role: Role
    is_group: bool


@dataclass(frozen=True)
class Principal:
    name: str
    kind: Kind = Kind.USER
    user_id: int | None = None
    is_admin: bool = False
    scopes: frozenset[Scope] | None = None  # None: every scope (password or UI session)
    memberships: tuple[Membership, ...] = ()
    project_path: str | None = None  # a deploy token's project
    repository: str | None = None  # a job token's repository
    registry_grants: Mapping[str, frozenset[str]] = field(default_factory=dict)  # JWT: repository -> actions
    credential: str | None = None  # "pat:3", "deploy:1", "job:9", "session:4", "password:2" — for audit and JWTs

    @property
    def is_anonymous(self) -> bool:
        return self.kind is Kind.ANONYMOUS

    def role_in(self, project_path: str) -> Role | None:
        """The highest role from a membership of the project itself or of a group above it."""
        best: Role | None = None
        for m in self.memberships:
            applies = m.path == project_path if not m.is_group else project_path.startswith(m.path + "/")
            if applies and (best is None or m.role > best):
                best = m.role
        return best


def can_see(principal: Principal, project_path: str) -> bool:
    """May the principal know that the (non-public) project exists? Members of it or of a group above it,
    admins, and machine credentials of the project itself; every other caller gets 404, as in GitLab."""
    if principal.is_admin or principal.kind is Kind.SYSTEM:
        return True
    if principal.kind is Kind.DEPLOY_TOKEN:
        return principal.project_path == project_path
    if principal.kind is Kind.JOB:
        return principal.repository is not None and (principal.repository + "/").startswith(project_path + "/")
    return principal.role_in(project_path) is not None


ANONYMOUS = Principal(name="anonymous", kind=Kind.ANONYMOUS)
REGISTRY_WEBHOOK = Principal(name="registry-webhook", kind=Kind.SYSTEM)
SYSTEM = Principal(name="hullscan", kind=Kind.SYSTEM, is_admin=True)


class Forbidden(Exception):
    def __init__(self, principal: Principal, action: Action, resource: str | None) -> None:
        super().__init__(f"{principal.name} may not {action.value} on {resource or 'instance'}")
        self.principal = principal
        self.action = action
        self.resource = resource


def is_allowed(principal: Principal, action: Action, resource: str | None = None, *, public: bool = False,
               repository: str | None = None) -> bool:
    """May `principal` do `action` on `resource` (a project path)?

    Registry actions also name the `repository`: registry tokens and job tokens are scoped to repositories, not
    projects. `public` says the project is public: the rule's `public` audience may then act too."""
    if action is Action.RECEIVE_REGISTRY_EVENTS:
        return principal is REGISTRY_WEBHOOK
    rule = RULES[action]
    if principal.kind is Kind.SYSTEM:
        return principal.is_admin
    if principal.kind is Kind.REGISTRY_TOKEN:
        if action is Action.REGISTRY_CATALOG:
            return "*" in principal.registry_grants.get("registry:catalog", frozenset())
        verb = REGISTRY_ACTIONS.get(action)
        return verb is not None and repository is not None and verb in principal.registry_grants.get(repository, ())
    if rule.public is not None and public and (rule.public is Public.ANYONE or principal.kind is Kind.USER):
        return principal.is_anonymous or principal.scopes is None or bool(principal.scopes & rule.scopes)
    if principal.is_anonymous:
        return False
    if principal.scopes is not None and not principal.scopes & rule.scopes:
        return False
    if principal.kind is Kind.JOB:
        return action is Action.REGISTRY_PULL and repository is not None and repository == principal.repository
    if principal.kind is Kind.DEPLOY_TOKEN:
        return action in REGISTRY_ACTIONS and resource is not None and resource == principal.project_path
    if principal.is_admin:
        return True
    if rule.admin_only:
        return False
    if rule.role is None:
        return True
    role = principal.role_in(resource) if resource else None
    return role is not None and role >= rule.role


def authorize(principal: Principal, action: Action, resource: str | None = None, *, public: bool = False,
              repository: str | None = None) -> None:
    """Raise Forbidden unless `is_allowed`."""
    if not is_allowed(principal, action, resource, public=public, repository=repository):
        raise Forbidden(principal, action, resource)
