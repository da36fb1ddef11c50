"""Jinja2 rendering with autoescape, the helpers templates use, and HTML error pages for UI routes.

Everything shown may come from an image, an SBOM or an advisory, so templates never mark text safe and
links to outside pages are only rendered for http(s) URLs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from hullscan import __version__
from hullscan.auth import Action, Forbidden, is_allowed
from hullscan.severities import SEVERITIES

log = logging.getLogger("hullscan.web.ui")
TEMPLATE_DIR = Path(__file__).parent / "templates"
STATE_LABELS = {"detected": "Needs triage", "confirmed": "Confirmed", "dismissed": "Dismissed",
                "resolved": "Resolved"}
REASON_LABELS = {"acceptable_risk": "Acceptable risk", "false_positive": "False positive",
                 "mitigating_control": "Mitigating control", "used_in_tests": "Used in tests",
                 "not_applicable": "Not applicable"}


def project_url(project_path: str, *parts: str, **query: Any) -> str:
    """`/projects/<path>/-/<parts>` with each segment escaped; query values of None are left out."""
    url = "/projects/" + "/".join(quote(p, safe="") for p in project_path.split("/"))
    if parts:
        url += "/-/" + "/".join(quote(str(p), safe="") for p in parts)
    pairs = [(k, v) for k, v in query.items() if v is not None and v != ""]
    return url + ("?" + urlencode(pairs, doseq=True) if pairs else "")


def group_url(group_path: str, *parts: str) -> str:
    """`/groups/<path>/-/<parts>`: a group is a namespace, every project below its path (as in GitLab)."""
    url = "/groups/" + "/".join(quote(p, safe="") for p in group_path.split("/"))
    return url + ("/-/" + "/".join(quote(p, safe="") for p in parts) if parts else "")


def external_url(url: object) -> str | None:
    """An outside link we will render: http(s) only, so `javascript:` and friends never become an href."""
    if not isinstance(url, str) or len(url) > 2048:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()


def identifier_url(identifier: str) -> str | None:
    """Where a well-known identifier is described."""
    ident = identifier.strip()
    if ident.upper().startswith("CVE-"):
        return f"https://nvd.nist.gov/vuln/detail/{quote(ident.upper())}"
    if ident.upper().startswith("GHSA-"):
        return f"https://github.com/advisories/{quote(ident)}"
    if ident.upper().startswith(("PYSEC-", "GO-", "RUSTSEC-", "OSV-")):
        return f"https://osv.dev/vulnerability/{quote(ident)}"
    return None


PACKAGE_TYPE_LABELS = {"python": "pip", "pypi": "pip", "golang": "go", "go-module": "go", "java": "maven",
                       "gem": "rubygems", "rust": "cargo", "dotnet": "nuget"}


def package_type_label(package_type: str | None) -> str | None:
    """The package manager people know (pip, npm, go, deb...), not the scanner's internal type name."""
    return PACKAGE_TYPE_LABELS.get(package_type or "", package_type) or None


def finding_title(v: Any) -> str:
    """"CVE-2023-43804 in urllib3 1.24.1 (pip)": what, in which package, at which version, from where."""
    kind = package_type_label(v.package_type)
    return f"{v.primary_identifier} in {v.package_name} {v.package_version}" + (f" ({kind})" if kind else "")


def finding_subtitle(v: Any) -> str | None:
    """The advisory's summary, unless the stored title is only the generated "<pkg> … is vulnerable to <id>"."""
    title = (v.title or "").strip()
    if not title or title.endswith(f" is vulnerable to {v.primary_identifier}"):
        return None
    return title


def severity_source_label(source: str | None) -> str:
    """docs/severity.md's source names in words: which feed rated this finding (and whose score it is)."""
    if not source:
        return "None: no feed rates this vulnerability."
    kind, _, rest = source.partition(":")
    if kind == "nvd":
        which, _, who = rest.partition(":")
        return "NVD, NIST's own CVSS score" if which == "primary" else f"NVD, the CVSS score from {who or 'a CNA'}"
    if kind == "cve":
        which, _, who = rest.partition(":")
        return f"CVE record, the CVSS score from {who or 'its publisher'}" + (" (ADP)" if which == "adp" else "")
    if source == "ghsa":
        return "GitHub's rating in its advisory database"
    if source == "osv:database_specific":
        return "The advisory database's own rating"
    if rest == "cvss":
        return f"The CVSS vector in the {kind.upper() if kind == 'osv' else kind.capitalize()} advisory"
    return f"The distribution's rating of this package ({source})"


def fmt_dt(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        value = parsed
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def fmt_duration(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return "—"
    end = end or datetime.now(timezone.utc)
    seconds = max(0, int((end - start).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m"


def short_digest(digest: str | None) -> str:
    if not digest:
        return "—"
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:12]}" if hexpart else digest[:19]


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATE_DIR)),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(project_url=project_url, group_url=group_url, external_url=external_url,
                       identifier_url=identifier_url,
                       finding_title=finding_title, finding_subtitle=finding_subtitle,
                       package_type_label=package_type_label, severity_source_label=severity_source_label,
                       SEVERITIES=SEVERITIES, STATE_LABELS=STATE_LABELS, REASON_LABELS=REASON_LABELS,
                       version=__version__)
    env.filters.update(dt=fmt_dt, short_digest=short_digest)
    env.globals["duration"] = fmt_duration
    return env


ENV = _environment()


def permission_check(principal: Any, project_path: str | None) -> Callable[[str], bool]:
    """`can("READ_VULNERABILITIES")` for templates: a page offers only links and forms the API would allow."""
    def can(action: str) -> bool:
        return principal is not None and project_path is not None and is_allowed(principal, Action[action],
                                                                                  project_path)
    return can


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    principal = getattr(request.state, "principal", None)
    project = context.get("project")
    context.setdefault("can", permission_check(principal, getattr(project, "path", None)))
    body = ENV.get_template(template).render(
        request=request, principal=principal, csrf_token=getattr(request.state, "csrf_token", ""),
        path=request.url.path, **context)
    return HTMLResponse(body, status_code=status_code, headers={"Cache-Control": "no-store"})


TITLES = {400: "Bad request", 403: "Not allowed", 404: "Not found", 405: "Method not allowed",
          413: "Too large", 422: "Bad request", 500: "Something went wrong"}


def error_page_html(status: int, message: str, principal: object = None, csrf_token: str = "") -> str:
    """The error page; `csrf_token` is the request's (from `UISecurityMiddleware`) so its Sign out form works."""
    return ENV.get_template("error.html").render(status=status, title=TITLES.get(status, "Error"),
                                                 message=message, principal=principal, csrf_token=csrf_token,
                                                 path="")


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(x) for x in err.get("loc", ())[1:]) or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "Some values in the address are not valid — " + "; ".join(parts)


class HTMLErrorRoute(APIRoute):
    """UI routes answer errors with a clear HTML page (never a JSON body or a stack trace)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                session = getattr(request.state, "ui_session", None)
                if session is not None:
                    session.rollback()  # a refused request writes nothing, even if a service had begun
                return _error_response(request, exc)

        return guarded


def _error_response(request: Request, exc: Exception) -> Response:
    from hullscan.auth.http import Unauthenticated, hidden_project_message, is_hidden, sign_in_redirect
    from hullscan.auth.projects import ProjectError
    from hullscan.auth.service import AuthError, SignInThrottled
    from hullscan.vulnerabilities.service import VulnerabilityError

    principal = getattr(request.state, "principal", None)
    token = getattr(request.state, "csrf_token", "")

    def _error(status: int, message: str, principal: object) -> HTMLResponse:
        return HTMLResponse(error_page_html(status, message, principal, token), status_code=status,
                            headers={"Cache-Control": "no-store"})

    if isinstance(exc, Unauthenticated) or isinstance(exc, Forbidden) and exc.principal.is_anonymous:
        return sign_in_redirect(request)
    anonymous = principal is None or getattr(principal, "is_anonymous", False)
    if anonymous and isinstance(exc, HTTPException) and exc.status_code == 404:
        return sign_in_redirect(request)  # as for a private project: anonymous callers learn nothing
    if isinstance(exc, Forbidden) and is_hidden(request, exc):  # the same page as a missing project's
        return _error(404, hidden_project_message(request), principal)
    if isinstance(exc, Forbidden):
        return _error(403, f"You are not allowed to do this: {exc}", principal)
    if isinstance(exc, SignInThrottled):
        return _error(429, str(exc), principal)
    if isinstance(exc, AuthError):
        return _error(400, str(exc), principal)
    if isinstance(exc, HTTPException):
        return _error(exc.status_code, str(exc.detail), principal)
    if isinstance(exc, RequestValidationError):
        return _error(400, _validation_message(exc), principal)
    if isinstance(exc, (VulnerabilityError, ProjectError)):
        return _error(400, str(exc), principal)
    from hullscan.web.outage import MESSAGE, is_outage, retry_after

    if is_outage(exc):
        response = _error(503, f"The page cannot be shown now: {MESSAGE}.", principal)
        response.headers.update(retry_after())
        return response
    log.error("UI page failed: %s", request.url.path, exc_info=exc)
    return _error(500, "The page could not be shown; the error was logged.", principal)

