"""Identities and permissions. Every route resolves its caller through `current_principal` and asks
`authorize` before acting; the rules live in `principal.RULES`, the identities in `service`.

`current_principal` (FastAPI, the database) is imported on first use, so that commands which only need the
rules (or nothing of auth at all) do not pay for the web stack."""

from typing import Any

from hullscan.auth.principal import Action, Forbidden, Principal, Role, authorize, is_allowed

__all__ = ["Action", "Forbidden", "Principal", "Role", "authorize", "current_principal", "is_allowed"]


def __getattr__(name: str) -> Any:
    if name == "current_principal":
        from hullscan.auth.http import current_principal

        return current_principal
    raise AttributeError(f"module 'hullscan.auth' has no attribute {name!r}")
