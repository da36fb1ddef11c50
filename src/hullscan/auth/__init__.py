"""Identities and permissions. Every route resolves its caller through `current_principal` and asks
`authorize` before acting; the rules live in `principal.RULES`, the identities in `service`."""

from hullscan.auth.http import current_principal
from hullscan.auth.principal import Action, Forbidden, Principal, Role, authorize, is_allowed

__all__ = ["Action", "Forbidden", "Principal", "Role", "authorize", "current_principal", "is_allowed"]
