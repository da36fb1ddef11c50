"""The authorization matrix: every API route, UI page and registry operation × every kind of caller, each
asserted allowed or denied. A route without an entry in MATRIX fails the test, so no route ships unjudged.

Runs in-process against the whole app on SQLite and PostgreSQL; the callers hold real credentials (personal
access tokens, registry tokens from /jwt/auth) created through the auth service.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from hullscan.auth import Role
from hullscan.auth import service as auth
from hullscan.db import Database
from hullscan.db.base import utcnow
from hullscan.settings import Settings
from tests.registry.support import OCI_MANIFEST, image_manifest, sha256
from tests.support.auth import ADMIN_USER, HullscanAuth, bootstrap_admin
from tests.ui.seed import finding

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PROJECT = "team/app"
REPO = "team/app/web"
PUBLIC_REPO = "pub/lib/base"
ROLES = ("guest", "reporter", "developer", "maintainer", "owner")
# Callers, least privileged first: a route that mutates is first reached by those who must be refused.
CALLERS = ("anonymous", "expired", "revoked", "noscope", "other", *ROLES, "admin")

# What each route needs: "open" (credentials are not even looked at), "public" (anyone; credentials that are sent
# must be valid), "signed_in" (any user with an API scope), a project role on
# team/app, "admin", or "machine" (runner, job and registry-webhook credentials only: every user is refused).
MATRIX: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/openapi.json"): "open",
    ("GET", "/api/v1/docs"): "open",
    ("GET", "/docs/oauth2-redirect"): "open",
    ("GET", "/redoc"): "open",
    ("GET", "/-/health"): "open",
    ("GET", "/-/ready"): "open",
    ("GET", "/metrics"): "open",  # counts only, for Prometheus
    ("GET", "/api/v1/version"): "open",
    ("GET", "/jwt/auth"): "public",
    ("GET", "/users/sign_in"): "public",
    ("POST", "/users/sign_in"): "open",  # the form carries the credentials
    ("POST", "/users/sign_out"): "public",
    # UI
    ("GET", "/"): "public",  # a redirect to /projects
    ("GET", "/projects"): "signed_in",
    ("GET", "/projects/{rest:path}"): "signed_in",
    ("GET", "/admin/{rest:path}"): "signed_in",
    ("GET", "/projects/{project:path}/-/overview"): "developer",
    ("GET", "/projects/{project:path}/-/security/vulnerability_report"): "developer",
    ("GET", "/projects/{project:path}/-/security/vulnerability_report/export.csv"): "developer",
    ("POST", "/projects/{project:path}/-/security/vulnerability_report/bulk"): "developer",
    # a group (team: team/app) and the instance report list what the caller may read; triage what she may triage
    ("GET", "/groups/{group:path}"): "developer",
    ("GET", "/groups/{group:path}/-/security/dashboard"): "developer",
    ("GET", "/groups/{group:path}/-/security/vulnerabilities"): "developer",
    ("GET", "/groups/{group:path}/-/security/vulnerabilities/export.csv"): "developer",
    ("POST", "/groups/{group:path}/-/security/vulnerabilities/bulk"): "developer",
    ("GET", "/-/security/vulnerabilities"): "signed_in",
    ("GET", "/-/security/vulnerabilities/export.csv"): "signed_in",
    ("POST", "/-/security/vulnerabilities/bulk"): "developer",  # of team/app's row; others: 403, or 404 (not theirs)
    ("GET", "/projects/{project:path}/-/security/vulnerabilities/{vulnerability_id}"): "developer",
    ("POST", "/projects/{project:path}/-/security/vulnerabilities/{vulnerability_id}/state"): "developer",
    ("GET", "/projects/{project:path}/-/images"): "reporter",
    ("GET", "/projects/{project:path}/-/images/sbom"): "reporter",
    ("GET", "/projects/{project:path}/-/pipelines"): "reporter",
    ("GET", "/projects/{project:path}/-/jobs/{job_id}"): "reporter",
    ("GET", "/projects/{project:path}/-/pipelines/{pipeline_id}"): "reporter",
    ("POST", "/projects/{project:path}/-/pipelines/{pipeline_id}/{action}"): "developer",  # retry (cancel: API)
    ("GET", "/projects/{project:path}/-/dependencies"): "reporter",  # counts only for who reads vulnerabilities
    ("GET", "/projects/{project:path}/-/dependencies/export.csv"): "reporter",
    ("GET", "/projects/{project:path}/-/dependencies/export.cdx.json"): "reporter",
    ("POST", "/projects/{project:path}/-/security/vulnerabilities/{vulnerability_id}/issue_link"): "developer",
    ("POST", "/projects/{project:path}/-/security/vulnerabilities/{vulnerability_id}/issue_link/delete"): "developer",
    ("POST", "/projects/{project:path}/-/settings/issue_tracker"): "maintainer",
    ("PUT", "/api/v1/vulnerabilities/{vulnerability_id}/issue_link"): "developer",
    ("DELETE", "/api/v1/vulnerabilities/{vulnerability_id}/issue_link"): "developer",
    ("POST", "/api/v1/vulnerabilities/{vulnerability_id}/comments"): "developer",
    ("GET", "/api/v1/projects/{project:path}/issue_tracker"): "developer",
    ("PUT", "/api/v1/projects/{project:path}/issue_tracker"): "maintainer",
    ("POST", "/api/v1/projects/{project:path}/pipelines/{pipeline_id}/cancel"): "developer",
    ("POST", "/api/v1/projects/{project:path}/pipelines/{pipeline_id}/retry"): "developer",
    ("GET", "/api/v4/projects/{project:path}/dependencies"): "developer",
    ("GET", "/projects/{project:path}/-/settings"): "maintainer",
    ("GET", "/projects/{project:path}/-/settings/policy"): "maintainer",
    ("POST", "/projects/{project:path}/-/settings/policy"): "maintainer",
    ("POST", "/projects/{project:path}/-/settings/policy/exceptions"): "maintainer",
    ("POST", "/projects/{project:path}/-/settings/policy/exceptions/{exception_id}/delete"): "maintainer",
    ("POST", "/projects/{project:path}/-/settings"): "maintainer",
    ("POST", "/projects/{project:path}/-/settings/webhooks"): "maintainer",
    ("POST", "/projects/{project:path}/-/settings/webhooks/{webhook_id}/delete"): "maintainer",
    ("GET", "/projects/{project:path}/-/project_members"): "guest",
    ("POST", "/projects/{project:path}/-/project_members"): "owner",
    ("POST", "/projects/{project:path}/-/project_members/{username}/delete"): "owner",
    ("POST", "/projects/{project:path}/-/settings/deploy_tokens"): "maintainer",
    ("POST", "/projects/{project:path}/-/settings/deploy_tokens/{token_id}/revoke"): "maintainer",
    ("GET", "/admin"): "admin",
    ("GET", "/admin/advisories"): "admin",
    ("POST", "/admin/advisories/sync"): "admin",
    ("GET", "/admin/runners"): "admin",
    ("GET", "/admin/users"): "admin",
    ("GET", "/admin/audit_events"): "admin",
    ("POST", "/admin/users"): "admin",
    ("POST", "/admin/users/{username}/{change}"): "admin",
    # API: the user, projects, members, tokens
    ("GET", "/api/v1/user"): "signed_in",
    ("GET", "/api/v1/user/personal_access_tokens"): "signed_in",
    ("POST", "/api/v1/user/personal_access_tokens"): "signed_in",
    ("DELETE", "/api/v1/user/personal_access_tokens/{token_id}"): "signed_in",
    ("PUT", "/api/v1/user/password"): "signed_in",
    ("GET", "/user_settings"): "signed_in",
    ("POST", "/user_settings/personal_access_tokens"): "signed_in",
    ("POST", "/user_settings/personal_access_tokens/{token_id}/revoke"): "signed_in",
    ("POST", "/user_settings/password"): "signed_in",
    ("GET", "/api/v1/projects"): "signed_in",
    ("POST", "/api/v1/projects"): "admin",  # under team/ (users may also create in their own namespace)
    ("PUT", "/api/v1/projects/{project:path}/visibility"): "maintainer",
    ("GET", "/api/v1/projects/{project:path}/members"): "guest",
    ("POST", "/api/v1/projects/{project:path}/members"): "owner",
    ("DELETE", "/api/v1/projects/{project:path}/members/{username}"): "owner",
    ("GET", "/api/v1/projects/{project:path}/deploy_tokens"): "maintainer",
    ("POST", "/api/v1/projects/{project:path}/deploy_tokens"): "maintainer",
    ("DELETE", "/api/v1/projects/{project:path}/deploy_tokens/{token_id}"): "maintainer",
    ("GET", "/api/v1/users"): "admin",
    ("POST", "/api/v1/users"): "admin",
    ("GET", "/api/v1/audit_events"): "admin",
    ("POST", "/api/v1/users/{username}/block"): "admin",  # the victim is blocked, then unblocked (sorted order)
    ("POST", "/api/v1/users/{username}/unblock"): "admin",
    # API: registry events and scanning settings
    ("POST", "/api/v1/registry/events"): "machine",
    ("GET", "/api/v1/registry/events"): "reporter",  # filtered to the project's repository
    ("GET", "/api/v1/projects/{project:path}/registry/dropped_pushes"): "reporter",
    ("GET", "/api/v1/projects/{project:path}/security_settings"): "reporter",
    ("PUT", "/api/v1/projects/{project:path}/security_settings"): "maintainer",
    # API: runners and pipelines
    ("POST", "/api/v1/runners"): "machine",
    ("GET", "/api/v1/runners"): "admin",
    ("POST", "/api/v1/jobs/request"): "machine",
    ("PUT", "/api/v1/jobs/{job_id}"): "machine",
    ("POST", "/api/v1/jobs/{job_id}/release"): "machine",
    ("PATCH", "/api/v1/jobs/{job_id}/trace"): "machine",
    ("POST", "/api/v1/jobs/{job_id}/artifacts"): "machine",
    ("GET", "/api/v1/projects/{project:path}/pipelines"): "reporter",
    ("GET", "/api/v1/projects/{project:path}/pipelines/{pipeline_id}"): "reporter",
    ("GET", "/api/v1/projects/{project:path}/jobs/{job_id}"): "reporter",
    ("GET", "/api/v1/projects/{project:path}/jobs/{job_id}/trace"): "reporter",
    ("GET", "/api/v1/projects/{project:path}/jobs/{job_id}/artifacts/{name}"): "reporter",
    ("POST", "/api/v1/projects/{project:path}/jobs/{job_id}/cancel"): "developer",
    ("POST", "/api/v1/projects/{project:path}/jobs/{job_id}/retry"): "developer",
    ("GET", "/api/v1/projects/{project:path}/scan_settings"): "reporter",
    ("PUT", "/api/v1/projects/{project:path}/scan_settings"): "maintainer",
    # API: the pull gate and its exceptions
    ("GET", "/api/v1/projects/{project:path}/policy"): "reporter",
    ("PUT", "/api/v1/projects/{project:path}/policy"): "maintainer",
    ("GET", "/api/v1/projects/{project:path}/policy/exceptions"): "reporter",
    ("POST", "/api/v1/projects/{project:path}/policy/exceptions"): "maintainer",
    ("DELETE", "/api/v1/projects/{project:path}/policy/exceptions/{exception_id}"): "maintainer",
    ("GET", "/api/v1/projects/{project:path}/policy/blocked_pulls"): "reporter",
    # API: advisories and vulnerabilities
    ("GET", "/api/v1/advisories/status"): "signed_in",
    ("GET", "/api/v1/advisories"): "signed_in",
    ("GET", "/api/v1/advisories/{advisory_id}"): "signed_in",
    ("GET", "/api/v1/projects/{project:path}/vulnerabilities"): "developer",
    ("GET", "/api/v1/projects/{project:path}/vulnerability_counts"): "developer",
    ("GET", "/api/v1/projects/{project:path}/vulnerabilities/export.csv"): "developer",
    ("GET", "/api/v1/vulnerabilities/export.csv"): "admin",
    ("GET", "/api/v1/vulnerabilities/{vulnerability_id}"): "developer",
    ("POST", "/api/v1/vulnerabilities/{vulnerability_id}/state"): "developer",
    ("POST", "/api/v1/projects/{project:path}/vulnerabilities/bulk_state"): "developer",
    ("POST", "/api/v1/projects/{project:path}/vex"): "developer",
    ("GET", "/api/v1/projects/{project:path}/vex"): "developer",
    ("GET", "/api/v1/projects/{project:path}/vex/statements"): "reporter",  # what documents say, not findings
    ("DELETE", "/api/v1/projects/{project:path}/vex/documents/{document_id}"): "developer",
    ("GET", "/api/v1/projects/{project:path}/images/{digest}/remediation"): "developer",
    ("GET", "/projects/{project:path}/-/images/{digest}/remediation"): "developer",
    ("POST", "/projects/{project:path}/-/vex/import"): "developer",  # bulk triage, as the API's import
    ("GET", "/projects/{project:path}/-/vex"): "reporter",
    ("POST", "/projects/{project:path}/-/vex/documents/{document_id}/withdraw"): "developer",
    ("GET", "/projects/{project:path}/-/security/vex.json"): "developer",
    ("POST", "/api/v1/projects/{project:path}/webhooks"): "maintainer",
    ("GET", "/api/v1/projects/{project:path}/webhooks"): "maintainer",
    ("GET", "/api/v1/projects/{project:path}/webhooks/{webhook_id}/deliveries"): "maintainer",
    ("DELETE", "/api/v1/projects/{project:path}/webhooks/{webhook_id}"): "maintainer",
    # API: the GitLab-compatible part (/api/v4); an export is its author's (an admin made the one asked for)
    ("GET", "/api/v4/projects/{project:path}"): "guest",  # and any user on a public project (PUBLIC_MATRIX)
    ("GET", "/api/v4/projects/{project:path}/vulnerabilities"): "developer",
    ("GET", "/api/v4/vulnerabilities/{vulnerability_id}"): "developer",
    ("POST", "/api/v4/vulnerabilities/{vulnerability_id}/confirm"): "developer",
    ("POST", "/api/v4/vulnerabilities/{vulnerability_id}/resolve"): "developer",
    ("POST", "/api/v4/vulnerabilities/{vulnerability_id}/dismiss"): "developer",
    ("POST", "/api/v4/vulnerabilities/{vulnerability_id}/revert"): "developer",
    ("POST", "/api/v4/security/projects/{project:path}/vulnerability_exports"): "developer",
    ("POST", "/api/v4/security/groups/{group:path}/vulnerability_exports"): "developer",  # its projects the caller reads
    ("GET", "/api/v4/security/vulnerability_exports/{export_id}"): "admin",
    ("GET", "/api/v4/security/vulnerability_exports/{export_id}/download"): "admin",
    # Harbor's scanner adapter (docs/harbor.md): judged by harbor_adapter_api_key, which no user holds
    ("GET", "/harbor/api/v1/metadata"): "machine",
    ("POST", "/harbor/api/v1/scan"): "machine",
    ("GET", "/harbor/api/v1/scan/{scan_request_id}/report"): "machine",
    # the registry: one route, judged per operation in REGISTRY_MATRIX
    ("*", "/v2/{path:path}"): "registry",
}

# Registry operations on team/app/web (private) and pub/lib/base (public): what each needs.
REGISTRY_MATRIX: list[tuple[str, str, str, str]] = [
    # (operation, method, path, need)
    ("base", "GET", "/v2/", "public"),  # any valid token; without one: the challenge (asserted below)
    ("catalog", "GET", "/v2/_catalog", "admin"),
    ("tags", "GET", f"/v2/{REPO}/tags/list", "reporter"),
    ("manifest get", "GET", f"/v2/{REPO}/manifests/latest", "reporter"),
    ("manifest head", "HEAD", f"/v2/{REPO}/manifests/latest", "reporter"),
    ("blob get", "GET", f"/v2/{REPO}/blobs/{{layer}}", "reporter"),
    ("referrers", "GET", f"/v2/{REPO}/referrers/{{manifest}}", "reporter"),
    ("upload start", "POST", f"/v2/{REPO}/blobs/uploads/", "developer"),
    ("manifest put", "PUT", f"/v2/{REPO}/manifests/latest", "developer"),
    ("manifest delete", "DELETE", f"/v2/{REPO}/manifests/{{other_manifest}}", "developer"),
    ("public tags", "GET", f"/v2/{PUBLIC_REPO}/tags/list", "public"),
    ("public manifest", "GET", f"/v2/{PUBLIC_REPO}/manifests/latest", "public"),
    ("public push", "POST", f"/v2/{PUBLIC_REPO}/blobs/uploads/", "admin"),  # nobody is a member of pub/lib
]

# What a caller who is no member of the public project pub/lib may do there (through the one rule table: an
# action's `public` audience): see the project as GitLab shows a public project to any signed-in user, not read
# its vulnerabilities (GitLab: the Security Dashboard's role, Developer) nor triage them; a refusal is a 403, since
# a public project is no secret. (method, path, need): "signed_in" = any user with an API scope, "admin" = only
# administrators (nobody is a member of pub/lib).
PUBLIC_MATRIX: list[tuple[str, str, str]] = [
    ("GET", "/api/v4/projects/pub%2Flib", "signed_in"),
    ("GET", "/api/v4/projects/{public_project_id}", "signed_in"),
    ("GET", "/api/v4/projects/pub%2Flib/vulnerabilities", "admin"),
    ("GET", "/api/v4/projects/pub%2Flib/dependencies", "admin"),
    ("GET", "/api/v4/vulnerabilities/{public_vulnerability}", "admin"),
    ("POST", "/api/v4/vulnerabilities/{public_vulnerability}/confirm", "admin"),
    ("POST", "/api/v4/security/projects/pub%2Flib/vulnerability_exports", "admin"),
    ("GET", "/api/v1/projects/pub%2Flib/security_settings", "admin"),
    ("GET", "/api/v1/projects/pub%2Flib/vulnerabilities", "admin"),
]


@dataclass
class World:
    client: TestClient
    db: Database
    tokens: dict[str, str] = field(default_factory=dict)  # caller -> personal access token
    passwords: dict[str, str] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)


def _allowed(need: str, caller: str) -> bool:
    if need == "open":
        return True
    if need == "public":
        return caller not in ("expired", "revoked")
    if need == "machine" or caller in ("anonymous", "expired", "revoked", "noscope"):
        return False
    if caller == "admin":
        return True
    if need == "signed_in":
        return True
    if need == "admin" or caller == "other":
        return False
    return ROLES.index(caller) >= ROLES.index(need)


def _registry_allowed(need: str, caller: str) -> bool:
    if need == "public":
        return caller not in ("expired", "revoked")  # bad credentials are refused even where none are needed
    if caller == "noscope":  # read_registry only, owner of team/app: pulls but nothing else
        return need in ("signed_in", "reporter")
    if need == "signed_in":
        return caller not in ("anonymous", "expired", "revoked")
    return _allowed(need, caller)


def _routes(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) the app answers, through included routers."""
    found: list[tuple[str, str]] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            if hasattr(route, "original_router"):
                walk(route.original_router.routes, prefix + (getattr(route.include_context, "prefix", "") or ""))
                continue
            methods = getattr(route, "methods", None)
            if not methods:
                assert route.path == "/static", f"unexpected non-route {route.path}"
                continue
            methods = set(methods) - {"HEAD"} or {"HEAD"}
            if len(methods) > 2:
                found.append(("*", prefix + route.path))
                continue
            found.extend((m, prefix + route.path) for m in sorted(methods))
    walk(app.routes, "")
    return found


def _seed(settings: Settings) -> World:
    bootstrap_admin(settings)
    db = Database(settings)
    world = World(client=None, db=db)  # type: ignore[arg-type]
    now = utcnow()
    with db.session() as s:
        project = auth.create_project(s, PROJECT, cs4r_enabled=True)
        auth.create_project(s, "other/proj")
        public = auth.create_project(s, "pub/lib", visibility="public")
        for name in (*ROLES, "other", "victim"):
            user = auth.create_user(s, f"{name}-user", f"{name}-password-1")
            world.passwords[name] = f"{name}-password-1"
            if name in ROLES:
                auth.add_member(s, user.username, PROJECT, Role.parse(name))
            elif name == "other":
                auth.add_member(s, user.username, "other/proj", Role.OWNER)
            if name != "victim":
                world.tokens[name] = auth.create_personal_access_token(s, user, "matrix", ["api"])[1]
        admin = auth.require_user(s, ADMIN_USER)
        world.tokens["admin"] = auth.create_personal_access_token(s, admin, "matrix", ["api"])[1]
        owner = auth.require_user(s, "owner-user")
        expired, world.tokens["expired"] = auth.create_personal_access_token(s, owner, "old", ["api"])
        expired.expires_at = now - timedelta(seconds=1)
        revoked, world.tokens["revoked"] = auth.create_personal_access_token(s, owner, "gone", ["api"])
        auth.revoke_personal_access_token(s, owner, revoked.id)
        world.tokens["noscope"] = auth.create_personal_access_token(s, owner, "pull", ["read_registry"])[1]
        deploy, _ = auth.create_deploy_token(s, project, "ci", ["read_registry"])
        world.ids["deploy_token"] = deploy.id
        from hullscan.vulnerabilities import notifications
        from hullscan.vulnerabilities import service as vulns

        vulns.record_findings(s, vulns.ImageScope(project.id, f"registry.test/{REPO}", "latest", "sha256:" + "1" * 64,
                                                  "debian 12"), [finding("openssl", "3.0.11-1", "CVE-2024-0727")])
        world.ids["vulnerability"] = vulns.query_vulnerabilities(s, vulns.VulnerabilityFilter(
            project_id=project.id))[0][0].id
        vulns.record_findings(s, vulns.ImageScope(public.id, f"registry.test/{PUBLIC_REPO}", "latest",
                                                  "sha256:" + "2" * 64, "debian 12"),
                              [finding("openssl", "3.0.11-1", "CVE-2024-0727")])
        world.ids["public_project_id"] = public.id
        world.ids["public_vulnerability"] = vulns.query_vulnerabilities(s, vulns.VulnerabilityFilter(
            project_id=public.id))[0][0].id
        world.ids["webhook"] = notifications.create_webhook(s, project.id, "http://127.0.0.1:9/hook").id
        world.ids["project"] = project.id
    return world


def _push_images(world: World) -> None:
    """Images to pull and delete, pushed as the admin through the registry itself; a pipeline from the push."""
    admin = HullscanAuth()
    layer, config = b"layer-bytes", json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    for repo in (REPO, PUBLIC_REPO):
        for blob in (config, layer):
            r = world.client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(blob)}, content=blob,
                                  auth=admin)
            assert r.status_code == 201, r.text
        for tag, body in (("latest", image_manifest(config, [layer])),
                          ("old", image_manifest(config, [layer], annotations={"v": "old"}))):
            r = world.client.put(f"/v2/{repo}/manifests/{tag}", content=body,
                                 headers={"Content-Type": OCI_MANIFEST}, auth=admin)
            assert r.status_code == 201, r.text
    world.ids["layer"] = sha256(layer)
    world.ids["manifest"] = sha256(image_manifest(config, [layer]))
    world.ids["other_manifest"] = sha256(image_manifest(config, [layer], annotations={"v": "old"}))
    world.ids["manifest_body"] = image_manifest(config, [layer])
    from hullscan.events import service as events
    from hullscan.pipelines import service as pipelines

    with world.db.session() as s:
        events.process_pending_events(s, world.db.settings)
    with world.db.session() as s:
        project_pipelines = pipelines.list_pipelines(s, world.ids["project"])
        assert project_pipelines, "the admin's push became no pipeline"
        world.ids["pipeline"] = project_pipelines[0].id
        world.ids["job"] = pipelines.jobs_of(s, [project_pipelines[0].id])[project_pipelines[0].id][0].id


def _fill(path: str, world: World) -> str:
    values = {
        "project": PROJECT, "vulnerability_id": world.ids["vulnerability"], "job_id": world.ids["job"],
        "pipeline_id": world.ids["pipeline"], "webhook_id": world.ids["webhook"], "token_id": 999_999,
        "username": "victim-user", "advisory_id": "CVE-2024-0727", "name": "gl-sbom-report.cdx.json",
        "rest": "nothing-here", "change": "unblock", "exception_id": 999_999, "group": "team",
        "action": "retry", "scan_request_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "digest": "sha256:" + "1" * 64, "document_id": 999_999,
    }

    def one(m: re.Match[str]) -> str:
        key = m.group(1).split(":")[0]
        if key == "token_id" and "deploy_tokens" in path:
            return str(world.ids["deploy_token"])
        if key == "export_id":
            return str(_export(world))
        return str(values[key])
    return re.sub(r"\{([^}]+)\}", one, path)


def _export(world: World) -> int:
    """An export of team/app made by the admin (created on first use: exports live in the data directory)."""
    if "export" not in world.ids:
        r = world.client.post(f"/api/v4/security/projects/{PROJECT.replace('/', '%2F')}/vulnerability_exports",
                              headers=_headers("admin", world))
        assert r.status_code == 201, r.text
        world.ids["export"] = r.json()["id"]
    return int(world.ids["export"])


def _request_args(method: str, template: str, world: World, csrf: str) -> dict[str, Any]:
    """A well-formed request for each route, so that only authorization can refuse it."""
    path = _fill(template, world)
    kwargs: dict[str, Any] = {"params": {}}
    if template == "/api/v1/registry/events" and method == "GET":
        kwargs["params"] = {"repository": REPO}
    if template.endswith("/images/sbom"):
        kwargs["params"] = {"job": world.ids["job"]}
    if template == "/api/v1/advisories":
        kwargs["params"] = {"package": "openssl"}
    if template == "/api/v1/jobs/{job_id}/artifacts":
        kwargs["params"] = {"name": "gl-sbom-report.cdx.json"}
    if template == "/api/v1/projects/{project:path}/vex/statements":
        kwargs["params"] = {"vulnerability": "CVE-2024-0727", "per_page": 5}
    if template == "/api/v1/jobs/request":
        kwargs["params"] = {"wait": 0}
    if template.endswith("/trace") and method == "PATCH":
        kwargs["params"] = {"offset": 0}
    bodies: dict[str, Any] = {
        "/api/v1/user/personal_access_tokens": {"name": "t", "scopes": ["read_api"]},
        "/api/v1/projects": {"path": "team/created", "visibility": "private"},
        "/api/v1/projects/{project:path}/visibility": {"visibility": "private"},
        "/api/v1/projects/{project:path}/members": {"username": "victim-user", "role": "guest"},
        "/api/v1/projects/{project:path}/deploy_tokens": {"name": "t", "scopes": ["read_registry"]},
        "/api/v1/users": {"username": "made-by-matrix", "password": "made-by-matrix-1"},
        "/api/v1/projects/{project:path}/security_settings": {"cs4r_daily_limit": 50},
        "/api/v1/runners": {"token": "not-the-registration-token"},
        "/api/v1/vulnerabilities/{vulnerability_id}/state": {"state": "confirmed"},
        "/api/v4/vulnerabilities/{vulnerability_id}/dismiss": {"dismissal_reason": "false_positive"},
        "/api/v1/projects/{project:path}/vulnerabilities/bulk_state": {"ids": [world.ids["vulnerability"]],
                                                                        "state": "confirmed"},
        "/api/v1/projects/{project:path}/webhooks": {"url": "http://127.0.0.1:9/x"},
        "/api/v1/projects/{project:path}/vex": {"statements": []},
        "/api/v1/jobs/{job_id}": {"state": "running"},
        "/api/v1/projects/{project:path}/scan_settings": {"fail_partial_scans": False},
        "/api/v1/projects/{project:path}/policy": {"gate_enabled": False},
        "/api/v1/vulnerabilities/{vulnerability_id}/issue_link": {"url": "https://tracker.example/issues/1"},
        "/api/v1/vulnerabilities/{vulnerability_id}/comments": {"comment": "seen by the matrix"},
        "/api/v1/projects/{project:path}/issue_tracker": {"url_template": None},
        "/api/v1/projects/{project:path}/policy/exceptions": {"identifier": "CVE-2024-0727", "reason": "matrix",
                                                               "expires_at": (utcnow() + timedelta(days=30)).isoformat()},
        # a wrong current password: allowed callers get 400 and nobody's password changes
        "/api/v1/user/password": {"current_password": "not-the-password", "new_password": "matrix-password-1"},
    }
    forms: dict[str, dict[str, Any]] = {
        "/users/sign_in": {"username": "victim-user", "password": "victim-password-1"},
        "/projects/{project:path}/-/security/vulnerability_report/bulk": {"ids": [world.ids["vulnerability"]],
                                                                          "state": "confirmed"},
        "/groups/{group:path}/-/security/vulnerabilities/bulk": {"ids": [world.ids["vulnerability"]],
                                                                "state": "confirmed"},
        "/-/security/vulnerabilities/bulk": {"ids": [world.ids["vulnerability"]], "state": "confirmed"},
        "/projects/{project:path}/-/security/vulnerabilities/{vulnerability_id}/state": {"state": "confirmed"},
        "/projects/{project:path}/-/settings": {"tag_patterns": "latest", "daily_limit": "50", "cs4r_enabled": "on"},
        "/projects/{project:path}/-/settings/webhooks": {"url": "http://127.0.0.1:9/y", "events": "new_vulnerability"},
        "/user_settings/personal_access_tokens": {"name": "t", "scopes": "read_api"},
        "/projects/{project:path}/-/project_members": {"username": "victim-user", "role": "guest"},
        "/projects/{project:path}/-/settings/deploy_tokens": {"name": "t", "scopes": "read_registry"},
        "/user_settings/password": {"current_password": "not-the-password", "new_password": "matrix-password-1"},
        "/admin/users": {"username": "made-in-the-ui", "password": "made-in-the-ui-1"},
        "/projects/{project:path}/-/settings/policy": {"min_severity": "critical"},
        "/projects/{project:path}/-/vex/import": {"document": '{"statements": []}'},
        "/projects/{project:path}/-/security/vulnerabilities/{vulnerability_id}/issue_link": {
            "url": "https://tracker.example/issues/2", "title": "matrix"},
        "/projects/{project:path}/-/settings/issue_tracker": {"url_template": ""},
        "/projects/{project:path}/-/settings/policy/exceptions": {"identifier": "CVE-2024-0727", "reason": "matrix",
                                                                  "expires_at": (utcnow() + timedelta(days=30)).date().isoformat()},
    }
    if method in ("POST", "PUT", "PATCH") and template in bodies:
        kwargs["json"] = bodies[template]
    elif method == "POST" and not template.startswith(("/api/", "/jwt/")):
        kwargs["data"] = {**forms.get(template, {}), "csrf_token": csrf}
    elif method in ("POST", "PUT", "PATCH"):
        kwargs["content"] = b"{}"
    return {"method": method, "url": path, **kwargs}


def _headers(caller: str, world: World) -> dict[str, str]:
    token = world.tokens.get(caller)
    return {"Authorization": f"Bearer {token}"} if token else {}


def _refused(r: httpx.Response) -> bool:
    """401, 403, the sign-in redirect, or the 404 of a project the caller may not see (as GitLab answers)."""
    location = r.headers.get("location", "")
    hidden = r.status_code == 404 and any(m in r.text for m in (
        f"project '{PROJECT}' not found", f"There is no project &#39;{PROJECT}&#39;", "vulnerability ",
        "There is no group &#39;team&#39;", "group 'team' not found"))
    return r.status_code in (401, 403) or hidden or (r.status_code == 303 and location.startswith("/users/sign_in?"))


def _registry_token(world: World, caller: str, scope: str) -> httpx.Response:
    if caller == "anonymous":
        return world.client.get("/jwt/auth", params={"service": "hullscan-registry", "scope": scope})
    user = "owner-user" if caller in ("expired", "revoked", "noscope") else \
        ADMIN_USER if caller == "admin" else f"{caller}-user"
    return world.client.get("/jwt/auth", params={"service": "hullscan-registry", "scope": scope},
                            auth=(user, world.tokens[caller]))


@pytest.fixture
def world(migrated_settings: Settings) -> Any:
    from hullscan.web.app import create_app

    world = _seed(migrated_settings)
    app = create_app(migrated_settings.model_copy(update={"harbor_adapter_api_key": SecretStr("harbor-matrix-key")}))
    world.client = TestClient(app, follow_redirects=False)
    _push_images(world)
    yield world
    app.state.db.dispose()
    world.db.dispose()


def test_every_route_has_a_matrix_entry(migrated_settings: Settings) -> None:
    from hullscan.web.app import create_app

    app = create_app(migrated_settings)
    routes = set(_routes(app))
    missing = sorted(routes - set(MATRIX))
    assert not missing, f"routes without an authorization matrix entry: {missing}"
    stale = sorted(set(MATRIX) - routes)
    assert not stale, f"matrix entries for routes that no longer exist: {stale}"
    app.state.db.dispose()


def test_every_action_is_documented() -> None:
    from pathlib import Path

    from hullscan.auth import Action

    doc = (Path(__file__).resolve().parents[2] / "docs" / "authorization.md").read_text()
    assert not [a.value for a in Action if f"`{a.value}`" not in doc]


def test_api_and_ui_matrix(world: World) -> None:
    csrf_page = world.client.get("/users/sign_in")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', csrf_page.text).group(1)  # type: ignore[union-attr]
    wrong: list[str] = []
    for (method, template), need in sorted(MATRIX.items()):
        if need == "registry":
            continue
        for caller in CALLERS:
            args = _request_args(method, template, world, csrf)
            r = world.client.request(**args, headers=_headers(caller, world))
            world.client.cookies.delete("hullscan_session")  # callers are their tokens, not a sign-in left over
            if r.status_code >= 500:
                wrong.append(f"{method} {template} as {caller}: {r.status_code} {r.text[:200]}")
                continue
            expected = _allowed(need, caller)
            if expected == _refused(r):
                wrong.append(f"{method} {template} as {caller}: expected {'allow' if expected else 'deny'}, "
                             f"got {r.status_code} {r.text[:160]!r}")
    assert not wrong, "\n".join(wrong)


def test_public_project_matrix(world: World) -> None:
    """Non-members of a public project: every caller against PUBLIC_MATRIX; refusals of signed-in users are 403
    (the project is no secret), of anonymous callers 401."""
    wrong: list[str] = []
    for method, template, need in PUBLIC_MATRIX:
        path = template.format(**world.ids)
        for caller in CALLERS:
            r = world.client.request(method, path, headers=_headers(caller, world))
            allowed = _allowed(need, caller)
            refused = {"anonymous": 401, "expired": 401, "revoked": 401}.get(caller, 403)
            if (r.status_code < 300) != allowed or (not allowed and r.status_code != refused):
                wrong.append(f"{method} {path} as {caller}: expected {'allow' if allowed else refused}, "
                             f"got {r.status_code} {r.text[:160]!r}")
    assert not wrong, "\n".join(wrong)


def test_registry_matrix(world: World) -> None:
    wrong: list[str] = []
    for operation, method, template, need in REGISTRY_MATRIX:
        path = template.format(**{k: v for k, v in world.ids.items() if isinstance(v, (str, int))})
        m = re.match(r"^/v2/(.+?)/(?:blobs|manifests|tags|referrers)", path)
        verbs = "pull" if method in ("GET", "HEAD") else "delete" if method == "DELETE" else "pull,push"
        scope = f"repository:{m.group(1)}:{verbs}" if m else "registry:catalog:*"
        for caller in CALLERS:
            token = _registry_token(world, caller, scope)
            if caller in ("expired", "revoked"):
                if token.status_code != 401:
                    wrong.append(f"{operation}: /jwt/auth gave {caller} a token ({token.status_code})")
                continue
            assert token.status_code == 200, (caller, token.text)
            headers = {"Authorization": f"Bearer {token.json()['token']}"}
            body = world.ids["manifest_body"] if operation == "manifest put" else None
            if body is not None:
                headers["Content-Type"] = OCI_MANIFEST
            r = world.client.request(method, path, headers=headers, content=body)
            expected = _registry_allowed(need, caller)
            if r.status_code >= 500 or expected == (r.status_code in (401, 403)):
                wrong.append(f"{operation} ({method} {path}) as {caller}: expected "
                             f"{'allow' if expected else 'deny'}, got {r.status_code} {r.text[:160]!r}")
            if not expected and r.status_code == 401:
                assert 'Bearer realm="' in r.headers["www-authenticate"], operation
    assert not wrong, "\n".join(wrong)
    # without any token the registry answers with the challenge that starts the token flow
    r = world.client.get(f"/v2/{REPO}/tags/list")
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="http://testserver/jwt/auth",service="hullscan-registry"')
    assert f'scope="repository:{REPO}:pull"' in challenge
