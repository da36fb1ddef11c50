"""Security headers and CSRF protection for the server-rendered UI.

CSRF uses a signed double-submit cookie bound to the sign-in session: the cookie holds
`<token>.<hmac(secret, token | digest of the session cookie)>`, so a token minted for one session (an attacker's
own, or the anonymous one before sign-in) is no token in another. Every form sends the token back in `csrf_token` (or the `X-CSRF-Token` header for scripts), and an unsafe request to a UI path is
refused unless both agree and the signature is ours. The check sits in middleware so a form that forgets it
cannot slip through. The REST API (`/api/`), the registry (`/v2/`) and health (`/-/`) authenticate by token,
not cookie, and are left alone.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hullscan.auth.http import SESSION_COOKIE
from hullscan.auth.keys import setting_or_file_key

CSRF_COOKIE = "hullscan_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = b"x-csrf-token"
MAX_FORM_BYTES = 1024 * 1024
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
NOT_UI_PREFIXES = ("/api/", "/v2/", "/v2", "/jwt/", "/-/", "/static/")
UI_PREFIXES_UNDER_DASH = ("/-/security/",)  # the instance's Security centre is a UI page (and form) all the same

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}


def load_secret(data_dir: Path, setting: Any = None) -> bytes:
    """The key CSRF tokens are signed with: the `ui_secret` setting (shared by every node), else one file in
    the data dir, so every process sharing it agrees."""
    return setting_or_file_key(setting, data_dir / "ui-secret.key")


def sign(secret: bytes, token: str, session: str = "") -> str:
    """The signature binding `token` to the sign-in `session` (its digest; "" for none)."""
    return hmac.new(secret, f"{token}|{session}".encode(), hashlib.sha256).hexdigest()


def session_binding(session_cookie: str | None) -> str:
    return hashlib.sha256(session_cookie.encode()).hexdigest() if session_cookie else ""


def verified_token(secret: bytes, cookie_value: str | None, session: str = "") -> str | None:
    """The token of a cookie we signed for this session, or None for a missing, forged or foreign one."""
    if not cookie_value or "." not in cookie_value or len(cookie_value) > 200 or not cookie_value.isascii():
        return None
    token, _, signature = cookie_value.partition(".")
    if not token or not hmac.compare_digest(sign(secret, token, session), signature):
        return None
    return token


def _cookie(scope: Scope, wanted: str = CSRF_COOKIE) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            jar = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header is simply no cookie
                continue
            if wanted in jar:
                return jar[wanted].value
    return None


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return value.decode("latin-1")
    return None


def is_ui_path(path: str) -> bool:
    return path.startswith(UI_PREFIXES_UNDER_DASH) or not path.startswith(NOT_UI_PREFIXES)


class UISecurityMiddleware:
    """Adds security headers to every non-registry response and enforces CSRF on UI form posts."""

    def __init__(self, app: ASGIApp, data_dir: Path, secret_setting: Any = None,
                 machine_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.machine_prefixes = machine_prefixes  # other machine APIs (the Harbor adapter): no CSRF, no UI cookie
        self.data_dir = data_dir
        self.secret_setting = secret_setting
        self._secret: bytes | None = None

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = load_secret(self.data_dir, self.secret_setting)
        return self._secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path.startswith("/v2"):
            await self.app(scope, receive, send)
            return
        ui = is_ui_path(path) and not (self.machine_prefixes and path.startswith(self.machine_prefixes))
        binding = session_binding(_cookie(scope, SESSION_COOKIE)) if ui else ""
        token = verified_token(self.secret, _cookie(scope), binding) if ui else None
        new_cookie = None
        if ui and token is None:
            token = secrets.token_urlsafe(24)
            new_cookie = f"{token}.{sign(self.secret, token, binding)}"
        if ui:
            scope.setdefault("state", {})["csrf_token"] = token

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if new_cookie is not None:
                    headers.append("set-cookie",
                                   f"{CSRF_COOKIE}={new_cookie}; Path=/; HttpOnly; SameSite=Strict")
            await send(message)

        if ui and scope["method"] in UNSAFE_METHODS:
            body, ok = await self._read_body(receive)
            if not ok:
                await _plain(send_with_headers, 413, "The form is too large.", token or "")
                return
            submitted = self._submitted(scope, body).encode("utf-8", "replace")  # bytes: any text compares
            if new_cookie is not None or not hmac.compare_digest(submitted, (token or "").encode()):
                await _plain(send_with_headers, 403,
                             "This form expired or was not sent from a hullscan page (CSRF check failed). "
                             "Go back, reload the page and try again.", token or "")
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send_with_headers)

    @staticmethod
    async def _read_body(receive: Receive) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", False
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_FORM_BYTES:
                return b"", False
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), True

    @staticmethod
    def _submitted(scope: Scope, body: bytes) -> str:
        header = _header(scope, CSRF_HEADER)
        if header:
            return header
        content_type = _header(scope, b"content-type") or ""
        if content_type.startswith("application/x-www-form-urlencoded"):
            try:
                values = parse_qs(body.decode("utf-8"), max_num_fields=10_000).get(CSRF_FIELD)
            except (UnicodeDecodeError, ValueError):
                return ""
            return values[0] if values else ""
        return ""


def _replay(body: bytes, original: Receive) -> Receive:
    """Hand the buffered body to the app once, then pass through (so disconnects are still seen)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()

    return receive


async def _plain(send: Send, status: int, text: str, csrf_token: str) -> None:
    from hullscan.web.ui.render import error_page_html

    body = error_page_html(status, text, csrf_token=csrf_token).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/html; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
