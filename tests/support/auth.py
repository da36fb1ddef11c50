"""Credentials the tests use against a real `hullscan serve`: the bootstrapped admin, and an httpx auth that
speaks what real clients speak — Basic on the API, the Docker token flow on the registry (`/v2/`)."""

from __future__ import annotations

import re
import time
from collections.abc import Generator

import httpx

ADMIN_USER = "admin"
ADMIN_PASSWORD = "test-admin-password-0"  # HullscanServer bootstraps the admin with it
ADMIN_CREDS = f"{ADMIN_USER}:{ADMIN_PASSWORD}"
# Every secret a test hands to a server; HullscanServer fails a test whose server log shows one of them.
SECRETS: set[str] = {ADMIN_PASSWORD}
_REPO_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:blobs|manifests|tags|referrers)(?:/|$)")


def remember_secret(value: str) -> str:
    SECRETS.add(value)
    return value


# Whatever a test did not register, tokens and registry JWTs have a recognisable shape.
TOKEN_SHAPES = re.compile(r"\bhs(?:pat|dt|jt|rt)_[A-Za-z0-9_-]{20,}|\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}")


def leaked_secrets(text: str) -> list[str]:
    """Registered secrets and token-shaped strings found in `text` (shown truncated)."""
    found = {s[:8] + "..." for s in SECRETS if s and s in text}
    found |= {m.group(0)[:10] + "..." for m in TOKEN_SHAPES.finditer(text)}
    return sorted(found)


def registry_scope(method: str, path: str) -> str:
    """The token scope a registry request needs (what docker and skopeo ask for)."""
    m = _REPO_PATH.match(path)
    if m is None:
        return "registry:catalog:*"
    uploading = "/blobs/uploads" in path
    verbs = "pull" if method in ("GET", "HEAD") and not uploading else "pull,push,delete" if method == "DELETE" else "pull,push"
    return f"repository:{m.group('name')}:{verbs}"


def parse_challenge(value: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', value))


class HullscanAuth(httpx.Auth):
    """Basic credentials for the API; on `/v2/` a bearer token fetched from the challenge's realm (cached per
    scope until shortly before it expires). A request that already carries Authorization is left alone."""

    def __init__(self, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> None:
        self.basic = httpx.BasicAuth(username, password)
        self.tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self.realms: dict[str, tuple[str, str]] = {}  # origin -> (realm, service)

    def _token_request(self, origin: str, scope: str) -> httpx.Request:
        realm, service = self.realms[origin]
        request = httpx.Request("GET", realm, params={"service": service, "scope": scope})
        return next(self.basic.auth_flow(request))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "authorization" in request.headers:
            yield request
            return
        path = request.url.path
        if not (path == "/v2" or path.startswith("/v2/")):
            yield next(self.basic.auth_flow(request))
            return
        origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        scope = registry_scope(request.method, path)
        if request.url.params.get("mount") and request.url.params.get("from"):  # as docker asks for a mount
            scope += f" repository:{request.url.params['from']}:pull"
        if origin not in self.realms:
            probe = yield httpx.Request("GET", f"{origin}/v2/")
            challenge = parse_challenge(probe.headers.get("www-authenticate", ""))
            if probe.status_code != 401 or "realm" not in challenge:
                yield request
                return
            self.realms[origin] = (challenge["realm"], challenge.get("service", ""))
        cached = self.tokens.get((origin, scope))
        if cached is None or cached[1] < time.monotonic():
            answer = yield self._token_request(origin, scope)
            answer.read()
            if answer.status_code != 200:  # e.g. an invalid repository name: let the registry answer the request
                yield request
                return
            body = answer.json()
            cached = (body["token"], time.monotonic() + max(int(body.get("expires_in", 60)) - 30, 5))
            self.tokens[(origin, scope)] = cached
        request.headers["Authorization"] = f"Bearer {cached[0]}"
        yield request


ADMIN = HullscanAuth()
ADMIN_HTTP = httpx.Client(auth=ADMIN, timeout=60)


def bootstrap_admin(settings: object) -> None:
    """Create the admin in a migrated database, as `serve` does on first start (for in-process apps)."""
    from pydantic import SecretStr

    from hullscan.auth.service import bootstrap_admin as bootstrap
    from hullscan.db import Database

    db = Database(settings.model_copy(update={"admin_password": SecretStr(ADMIN_PASSWORD)}))  # type: ignore[attr-defined]
    try:
        with db.session() as session:
            bootstrap(session, db.settings)
    finally:
        db.dispose()


def sign_in(client: httpx.Client, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> httpx.Response:
    """Sign in through the UI's form, as a browser does; the client keeps the session cookie."""
    page = client.get("/users/sign_in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    return client.post("/users/sign_in", data={"username": username, "password": password,
                                                "csrf_token": token.group(1), "return_to": "/projects"})
