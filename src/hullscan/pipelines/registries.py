"""Which registry a job pulls from and with which credentials: the embedded one (the URL the runner reached
the API at), or an external registry configured in `Settings.external_registries`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hullscan.settings import Settings


class RegistryConfigError(ValueError):
    """An `external_registries` entry is malformed."""


@dataclass(frozen=True)
class ExternalRegistry:
    host: str  # as it appears in image references (CS_IMAGE), e.g. registry.example.com:5000
    url: str  # base URL to reach its /v2/ API
    username: str | None = None
    password: str | None = None


def external_registries(settings: Settings) -> list[ExternalRegistry]:
    out = []
    for i, entry in enumerate(settings.external_registries):
        url = (entry.get("url") or "").rstrip("/")
        host = entry.get("host") or urlsplit(url).netloc
        if not url or urlsplit(url).scheme not in ("http", "https") or not host:
            raise RegistryConfigError(f"external_registries[{i}] needs a url http(s)://HOST[:PORT] (and a host)")
        out.append(ExternalRegistry(host=host, url=url, username=entry.get("username") or None,
                                    password=entry.get("password") or None))
    return out


def registry_access(settings: Settings, origin: str, host: str, api_base_url: str,
                    job_token: str | None = None) -> dict[str, Any]:
    """What the runner needs to pull one repository: base URL and credentials.

    The embedded registry takes the job token (GitLab's `gitlab-ci-token` convention): it grants a pull of the
    job's one repository while the job runs. External registries use the credentials configured for their host."""
    if origin == "embedded":
        return {"host": host, "url": api_base_url.rstrip("/"), "username": "gitlab-ci-token" if job_token else None,
                "password": job_token}
    for registry in external_registries(settings):
        if registry.host == host:
            return {"host": host, "url": registry.url, "username": registry.username,
                    "password": registry.password}
    return {"host": host, "url": f"https://{host}", "username": None, "password": None}
