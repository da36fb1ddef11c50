"""Docker registry token authentication: scopes, the signed JWTs `/jwt/auth` hands out, and their checks.

The flow is Docker's token specification (distribution/docs/spec/auth/token.md): the registry answers 401 with
`WWW-Authenticate: Bearer realm=...,service=...,scope=...`, the client fetches a token for that scope with its
credentials, and repeats the request with `Authorization: Bearer <token>`. The token grants only the actions the
caller's role allows on each repository (possibly none); the registry checks it on every request.
Tokens are HS256 JWTs signed with a key generated at first start in the data directory (only hullscan verifies
them). A token names the credential it was issued for, so revoking that credential stops the token at once.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from hullscan.auth.keys import load_or_create_key
from hullscan.auth.principal import Kind, Principal
from hullscan.settings import Settings

ISSUER = "hullscan-token-issuer"
ALGORITHM = "HS256"
MAX_SCOPES = 32


class InvalidRegistryToken(Exception):
    """A bearer token that is malformed, forged, expired or for another service."""


@dataclass(frozen=True)
class RequestedScope:
    type: str  # "repository" or "registry"
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def parse_scopes(values: list[str]) -> list[RequestedScope]:
    """`repository:group/project/app:pull,push` (several may share one parameter, space separated)."""
    scopes: list[RequestedScope] = []
    for value in values:
        for item in value.split():
            kind, _, rest = item.partition(":")
            name, _, actions = rest.rpartition(":")
            kind = kind.split("(", 1)[0]  # `repository(plugin)` is a class we do not distinguish
            if kind not in ("repository", "registry") or not name or len(name) > 255:
                raise ValueError(f"invalid scope {item[:300]!r}")
            scopes.append(RequestedScope(kind, name, tuple(a for a in actions.split(",") if a)))
            if len(scopes) > MAX_SCOPES:
                raise ValueError(f"at most {MAX_SCOPES} scopes per token")
    return scopes


def signing_key(settings: Settings) -> bytes:
    return load_or_create_key(settings.resolved_data_dir / "registry-token.key")


class RegistryTokenIssuer:
    """Issues and verifies registry tokens with one instance's key."""

    def __init__(self, settings: Settings, key_path: Path | None = None) -> None:
        self.service = settings.registry_token_service
        self.ttl = settings.registry_token_ttl_seconds
        self._key = load_or_create_key(key_path) if key_path else signing_key(settings)

    def issue(self, subject: str, credential: str, access: list[dict[str, Any]]) -> tuple[str, int, int]:
        """Returns (token, expires_in, issued_at)."""
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": subject, "aud": self.service, "iat": now, "nbf": now - 5,
                  "exp": now + self.ttl, "jti": secrets.token_hex(12), "access": access, "hsc": credential}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), self.ttl, now

    def verify(self, token: str) -> dict[str, Any]:
        if len(token) > 16384:
            raise InvalidRegistryToken("token too long")
        try:
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM], audience=self.service, issuer=ISSUER,
                                options={"require": ["exp", "iat", "sub", "aud", "iss"]})
        except jwt.PyJWTError as exc:
            raise InvalidRegistryToken(str(exc)) from None
        if not isinstance(claims.get("access"), list) or not isinstance(claims.get("hsc"), str):
            raise InvalidRegistryToken("token has no access claim")
        return claims

    def principal(self, claims: dict[str, Any]) -> Principal:
        grants: dict[str, frozenset[str]] = {}
        for entry in claims["access"]:
            if not isinstance(entry, dict):
                continue
            key = entry.get("name") if entry.get("type") == "repository" else f"registry:{entry.get('name')}"
            actions = entry.get("actions") or []
            if isinstance(key, str) and isinstance(actions, list):
                grants[key] = grants.get(key, frozenset()) | frozenset(a for a in actions if isinstance(a, str))
        return Principal(name=str(claims["sub"]), kind=Kind.REGISTRY_TOKEN, registry_grants=grants,
                         credential=claims["hsc"])


def challenge(realm: str, service: str, scope: str | None = None, error: str | None = None) -> str:
    """The `WWW-Authenticate` value of a registry 401."""
    parts = [f'realm="{realm}"', f'service="{service}"']
    if scope:
        parts.append(f'scope="{scope}"')
    if error:
        parts.append(f'error="{error}"')
    return "Bearer " + ",".join(parts)
