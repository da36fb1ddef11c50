"""Docker registry token authentication: scopes, the signed JWTs `/jwt/auth` hands out, and their checks.

The flow is Docker's token specification (distribution/docs/spec/auth/token.md): the registry answers 401 with
`WWW-Authenticate: Bearer realm=...,service=...,scope=...`, the client fetches a token for that scope with its
credentials, and repeats the request with `Authorization: Bearer <token>`. The token grants only the actions the
caller's role allows on each repository (possibly none); the registry checks it on every request.
Tokens are RS256 JWTs carrying their certificate (`x5c`), signed with a key generated at first start in the data
directory (`registry-token.pem`), so a CNCF Distribution registry that trusts the certificate
(`auth.token.rootcertbundle`; `hullscan admin registry-certificate` prints it) takes hullscan's users, roles and
tokens as GitLab's registry takes GitLab's. A token names the credential it was issued for, so revoking that
credential stops the token at once in hullscan's own registry (Distribution checks only the signature and expiry).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt

from hullscan.auth.keys import setting_or_file_identity
from hullscan.auth.principal import Kind, Principal
from hullscan.settings import Settings

ISSUER = "hullscan-token-issuer"
ALGORITHM = "RS256"
MAX_SCOPES = 32
VERIFIED_CACHE = 1024  # tokens whose signature was checked (a few MB at most)


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


def signing_identity(settings: Settings) -> tuple[Any, Any]:
    """The instance's token-signing key and certificate: from settings, else created at first use in data_dir."""
    return setting_or_file_identity(settings.registry_token_key, settings.registry_token_key_file,
                                    settings.resolved_data_dir / "registry-token.pem", ISSUER)


def certificate_pem(settings: Settings) -> str:
    """The certificate an external registry trusts (`auth.token.rootcertbundle`)."""
    from cryptography.hazmat.primitives import serialization

    return signing_identity(settings)[1].public_bytes(serialization.Encoding.PEM).decode()


class RegistryTokenIssuer:
    """Issues and verifies registry tokens with one instance's key."""

    def __init__(self, settings: Settings) -> None:
        import base64

        from cryptography.hazmat.primitives import serialization

        self.service = settings.registry_token_service
        self.ttl = settings.registry_token_ttl_seconds
        self._key, certificate = signing_identity(settings)
        self._public_key = certificate.public_key()
        self._headers = {"x5c": [base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()]}
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self, subject: str, credential: str, access: list[dict[str, Any]]) -> tuple[str, int, int]:
        """Returns (token, expires_in, issued_at)."""
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": subject, "aud": self.service, "iat": now, "nbf": now - 5,
                  "exp": now + self.ttl, "jti": secrets.token_hex(12), "access": access, "hsc": credential}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers=self._headers), self.ttl, now

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims once its signature, audience and issuer hold (checked once per token: an RS256
        check is a millisecond, and a pull sends the same token with every blob) and it has not expired
        (checked on every use)."""
        if len(token) > 16384:
            raise InvalidRegistryToken("token too long")
        claims = self._verified(token)
        if claims["exp"] <= time.time():
            raise InvalidRegistryToken("Signature has expired")
        return claims

    def _verified(self, token: str) -> dict[str, Any]:
        with self._lock:
            claims = self._cache.get(token)
            if claims is not None:
                self._cache.move_to_end(token)
                return claims
        try:
            claims = jwt.decode(token, self._public_key, algorithms=[ALGORITHM], audience=self.service, issuer=ISSUER,
                                options={"require": ["exp", "iat", "sub", "aud", "iss"]})
        except jwt.PyJWTError as exc:
            raise InvalidRegistryToken(str(exc)) from None
        if not isinstance(claims.get("access"), list) or not isinstance(claims.get("hsc"), str) or \
                not isinstance(claims.get("exp"), (int, float)):
            raise InvalidRegistryToken("token has no access claim")
        with self._lock:
            self._cache[token] = claims
            if len(self._cache) > VERIFIED_CACHE:
                self._cache.popitem(last=False)
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
