"""Identities and permissions. Every route resolves its caller through `current_principal` and asks
`authorize` before acting, so authentication changes these two places and no route."""

from hullscan.auth.principal import Action, Forbidden, Principal, authorize, current_principal

__all__ = ["Action", "Forbidden", "Principal", "authorize", "current_principal"]
