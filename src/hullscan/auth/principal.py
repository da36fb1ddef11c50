from __future__ import annotations

import enum
from dataclasses import dataclass

from fastapi import Request


class Action(str, enum.Enum):
    REGISTRY_PULL = "registry:pull"
    REGISTRY_PUSH = "registry:push"
    REGISTRY_DELETE = "registry:delete"
    REGISTRY_CATALOG = "registry:catalog"
    READ_PROJECT = "project:read"
    READ_VULNERABILITIES = "vulnerabilities:read"
    TRIAGE_VULNERABILITIES = "vulnerabilities:triage"
    ADMIN_PROJECT_SETTINGS = "project:admin_settings"
    ADMIN_INSTANCE = "instance:admin"
    RECEIVE_REGISTRY_EVENTS = "registry_events:receive"


@dataclass(frozen=True)
class Principal:
    """Who is calling. Until the authentication issue lands this is always the local administrator."""

    name: str
    is_admin: bool = False
    user_id: int | None = None


LOCAL_ADMIN = Principal(name="admin", is_admin=True)


class Forbidden(Exception):
    def __init__(self, principal: Principal, action: Action, resource: str | None) -> None:
        super().__init__(f"{principal.name} may not {action.value} on {resource or 'instance'}")
        self.principal = principal
        self.action = action
        self.resource = resource


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: resolve the caller of any API, UI or registry route."""
    return LOCAL_ADMIN


def authorize(principal: Principal, action: Action, resource: str | None = None) -> None:
    """Raise Forbidden unless `principal` may perform `action` on `resource` (a project or repository path)."""
    if principal.is_admin:
        return
    raise Forbidden(principal, action, resource)
