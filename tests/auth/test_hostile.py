"""Authorization against a hostile caller: names that are LIKE patterns, writes that must be durable before the
answer, existence probes, forged or foreign CSRF tokens, numbers outside int64. In-process on SQLite and
PostgreSQL, and against a real `hullscan serve` where the timing of the response matters."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hullscan.auth import Role
from hullscan.auth import service as auth
from hullscan.db import Database
from hullscan.settings import Settings
from tests.support.auth import bootstrap_admin, remember_secret, sign_in
from tests.support.server import HullscanServer

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@pytest.fixture
def app_client(migrated_settings: Settings) -> Iterator[tuple[TestClient, Database]]:
    from hullscan.web.app import create_app

    bootstrap_admin(migrated_settings)
    app = create_app(migrated_settings)
    db = Database(migrated_settings)
    yield TestClient(app, follow_redirects=False), db
    db.dispose()
    app.state.db.dispose()


def _user_token(db: Database, name: str, scopes: tuple[str, ...] = ("api",)) -> str:
    with db.session() as s:
        user = auth.get_user(s, name) or auth.create_user(s, name, remember_secret(f"{name}-password-1"))
        return remember_secret(auth.create_personal_access_token(s, user, "t", list(scopes))[1])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_underscore_in_a_namespace_is_not_a_wildcard(app_client: Any) -> None:
    client, db = app_client
    token = _user_token(db, "a_b")  # owns the personal namespace group "a_b"
    with db.session() as s:
        auth.create_project(s, "a-b/secret")
        auth.create_project(s, "axb/secret")
        auth.create_project(s, "a_b/mine")
    listed = client.get("/api/v1/projects", headers=_bearer(token))
    assert listed.status_code == 200, listed.text
    assert [p["path"] for p in listed.json()] == ["a_b/mine"]
    # the UI's project list (and its vulnerability counts) shows the same set
    assert sign_in(client, "a_b", "a_b-password-1").status_code == 303
    page = client.get("/projects")
    assert page.status_code == 200 and "a_b/mine" in page.text
    assert "a-b/secret" not in page.text and "axb/secret" not in page.text
    # the namespace check at sign-up compares text too: "a-b/..." does not take the namespace "a_b"
    with db.session() as s:
        auth.create_project(s, "c-d/x")
        assert auth.create_user(s, "c_d", "c_d-password-1").username == "c_d"


def test_a_revoked_token_fails_on_the_very_next_request(tmp_path: Any, database_url: str) -> None:
    """The revocation is committed before its 204 is sent: 100 of 100 tries, against a real server."""
    server = HullscanServer(tmp_path / "data", database_url).start()
    try:
        with server.client() as admin:
            admin_token = remember_secret(admin.post("/api/v1/user/personal_access_tokens",
                                                     json={"name": "driver", "scopes": ["api"]}).json()["token"])
        still_worked = 0
        with httpx.Client(base_url=server.url, timeout=60, headers=_bearer(admin_token)) as client:
            for i in range(100):
                made = client.post("/api/v1/user/personal_access_tokens", json={"name": f"t{i}", "scopes": ["api"]})
                assert made.status_code == 201, made.text
                token = remember_secret(made.json()["token"])
                assert client.get("/api/v1/user", headers=_bearer(token)).status_code == 200
                assert client.delete(f"/api/v1/user/personal_access_tokens/{made.json()['id']}").status_code == 204
                if client.get("/api/v1/user", headers=_bearer(token)).status_code != 401:
                    still_worked += 1
        assert still_worked == 0, f"{still_worked} of 100 revoked tokens still worked right after the 204"
    finally:
        server.stop()


def _existence_world(db: Database) -> dict[str, Any]:
    from hullscan.vulnerabilities import service as vulns
    from tests.ui.seed import finding

    with db.session() as s:
        project = auth.create_project(s, "team/app")
        auth.create_project(s, "pub/lib", visibility="public")
        vulns.record_findings(s, vulns.ImageScope(project.id, "registry.test/team/app/web", "latest",
                                                  "sha256:" + "1" * 64, "debian 12"),
                              [finding("openssl", "3.0.11-1", "CVE-2024-0727")])
        vid = vulns.query_vulnerabilities(s, vulns.VulnerabilityFilter(project_id=project.id))[0][0].id
        auth.create_project(s, "other/proj")
    token = _user_token(db, "outsider")
    with db.session() as s:
        auth.add_member(s, "outsider", "other/proj", Role.OWNER)
    return {"vulnerability": vid, "outsider": token}


def test_hidden_and_missing_answer_the_same_404(app_client: Any) -> None:
    """Anonymous, non-member and missing: one answer (GitLab's 404), so probing tells nothing."""
    client, db = app_client
    world = _existence_world(db)
    callers = {"anonymous": {}, "outsider": _bearer(world["outsider"])}
    vid = world["vulnerability"]
    probes = [  # (a resource that exists but is hidden, one that does not exist)
        ("/api/v1/projects/team%2Fapp/vulnerabilities", "/api/v1/projects/team%2Fnope/vulnerabilities"),
        ("/api/v1/projects/team%2Fapp/members", "/api/v1/projects/team%2Fnope/members"),
        ("/api/v1/projects/team%2Fapp/security_settings", "/api/v1/projects/team%2Fnope/security_settings"),
        ("/api/v1/projects/team%2Fapp/pipelines", "/api/v1/projects/team%2Fnope/pipelines"),
        (f"/api/v1/vulnerabilities/{vid}", f"/api/v1/vulnerabilities/{vid + 1000}"),
    ]
    for name, headers in callers.items():
        for hidden, missing in probes:
            a, b = client.get(hidden, headers=headers), client.get(missing, headers=headers)
            assert a.status_code == b.status_code == 404, (name, hidden, a.status_code, b.status_code)
            normalise = str(vid + 1000), str(vid)
            assert a.json() == {"error": "not_found", "message": a.json()["message"]}
            assert a.json()["message"].replace("team/app", "team/nope") == \
                b.json()["message"].replace(*normalise), (name, hidden)
        # writes too
        a = client.post(f"/api/v1/vulnerabilities/{vid}/state", json={"state": "confirmed"}, headers=headers)
        b = client.post(f"/api/v1/vulnerabilities/{vid + 1000}/state", json={"state": "confirmed"}, headers=headers)
        assert a.status_code == b.status_code == 404, (name, a.text, b.text)
    # a member without the role still learns the project exists: 403, as in GitLab
    guest = _user_token(db, "guesty")
    with db.session() as s:
        auth.add_member(s, "guesty", "team/app", Role.GUEST)
    assert client.get("/api/v1/projects/team%2Fapp/vulnerabilities", headers=_bearer(guest)).status_code == 403
    # public projects are no secret
    assert client.get("/api/v1/projects/pub%2Flib/security_settings",
                      headers=_bearer(world["outsider"])).status_code == 403
    # the UI: the same "no such project" page for members of other projects; a sign-in redirect for anonymous
    assert sign_in(client, "outsider", "outsider-password-1").status_code == 303
    for page in ("-/overview", "-/images", "-/pipelines", f"-/security/vulnerabilities/{vid}"):
        a, b = client.get(f"/projects/team/app/{page}"), client.get(f"/projects/team/nope/{page}")
        assert a.status_code == b.status_code == 404, (page, a.status_code, b.status_code)
        assert a.text.replace("team/app", "team/nope") == b.text, page
    client.cookies.clear()
    for page in ("-/overview", "-/images"):
        a, b = client.get(f"/projects/team/app/{page}"), client.get(f"/projects/team/nope/{page}")
        assert a.status_code == b.status_code == 303
        assert a.headers["location"].replace("team%2Fapp", "team%2Fnope") == b.headers["location"]


def test_registry_existence_probes_answer_alike(app_client: Any) -> None:
    client, db = app_client
    world = _existence_world(db)
    answers = {}
    for repo in ("team/app/web", "team/nope/web"):
        scope = f"repository:{repo}:pull"
        token = client.get("/jwt/auth", params={"service": "hullscan-registry", "scope": scope},
                           auth=("outsider", world["outsider"]))
        assert token.status_code == 200
        r = client.get(f"/v2/{repo}/tags/list", headers=_bearer(token.json()["token"]))
        answers[repo] = (r.status_code, r.json()["errors"][0]["code"])
        anonymous = client.get(f"/v2/{repo}/tags/list")
        answers[repo + " anonymous"] = (anonymous.status_code, anonymous.json()["errors"][0]["code"])
    assert answers["team/app/web"] == answers["team/nope/web"], answers
    assert answers["team/app/web anonymous"] == answers["team/nope/web anonymous"], answers


HOSTILE_NUMBERS = ("²", "١٢", "+5", "1_000", "12.0", " 7", "9223372036854775808", "99999999999999999999999", "0")


def test_numbers_are_validated_at_the_edge_with_one_error_shape(app_client: Any) -> None:
    """Unicode digits, int64 overflows and friends: a 4xx in the API's one error shape, never a 5xx."""
    client, db = app_client
    world = _existence_world(db)
    with db.session() as s:
        admin_token = remember_secret(auth.create_personal_access_token(s, auth.require_user(s, "admin"), "t",
                                                                        ["api"])[1])
    admin = _bearer(admin_token)
    templates = [
        ("GET", "/api/v1/vulnerabilities/{n}"), ("POST", "/api/v1/vulnerabilities/{n}/state"),
        ("GET", "/api/v1/projects/{n}/vulnerabilities"), ("GET", "/api/v1/projects/team%2Fapp/pipelines/{n}"),
        ("GET", "/api/v1/projects/team%2Fapp/jobs/{n}"), ("GET", "/api/v1/projects/team%2Fapp/jobs/{n}/trace"),
        ("DELETE", "/api/v1/user/personal_access_tokens/{n}"), ("GET", "/api/v1/audit_events?before_id={n}"),
        ("GET", "/api/v1/registry/events?before_id={n}"), ("GET", "/api/v1/registry/events?project_id={n}"),
        ("GET", "/api/v1/projects/team%2Fapp/pipelines?offset={n}"),
        ("GET", "/api/v1/projects/team%2Fapp/webhooks/{n}/deliveries"),
        ("GET", "/v2/team/app/web/tags/list?n={n}"), ("GET", "/v2/_catalog?n={n}"),
    ]
    wrong = []
    for method, template in templates:
        for n in HOSTILE_NUMBERS:
            url = template.replace("{n}", httpx.URL("/" + n).raw_path.decode()[1:])
            for headers in ({}, admin):
                body = {"state": "confirmed"} if method == "POST" else None
                r = client.request(method, url, headers=headers, json=body)
                if r.status_code >= 500:
                    wrong.append(f"{method} {url}: {r.status_code} {r.text[:100]}")
                elif r.status_code >= 400 and url.startswith("/api/") and \
                        set(r.json()) - {"details"} != {"error", "message"}:
                    wrong.append(f"{method} {url}: error body {r.text[:100]}")
    assert not wrong, "\n".join(wrong)
    # an id in range still works, and a project id is still an id
    r = client.get(f"/api/v1/vulnerabilities/{world['vulnerability']}", headers=admin)
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/projects/1/vulnerabilities", headers=admin).status_code == 200
    # JSON bodies: ids beyond int64 in a bulk change are refused, not sent to the database
    r = client.post("/api/v1/projects/team%2Fapp/vulnerabilities/bulk_state", headers=admin,
                    json={"ids": [2**63], "state": "confirmed"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request", r.text
    # the UI answers with its error page, never a 500
    for n in HOSTILE_NUMBERS:
        quoted = httpx.URL("/" + n).raw_path.decode()[1:]
        r = client.get(f"/projects/team/app/-/jobs/{quoted}", headers=admin)
        assert r.status_code < 500, (n, r.status_code)


def _csrf(page: httpx.Response) -> str:
    import re

    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:300]
    return found.group(1)


def test_csrf_tokens_are_bound_to_the_sign_in_session(app_client: Any, migrated_settings: Settings) -> None:
    from hullscan.web.app import create_app

    client, db = app_client
    _user_token(db, "victim")
    _user_token(db, "mallory")
    # the anonymous token from the sign-in page is no token once signed in
    before = _csrf(client.get("/users/sign_in"))
    assert sign_in(client, "victim", "victim-password-1").status_code == 303
    r = client.post("/user_settings/personal_access_tokens", data={"name": "t", "scopes": "read_api",
                                                                   "csrf_token": before})
    assert r.status_code == 403, r.status_code
    mine = _csrf(client.get("/user_settings"))
    r = client.post("/user_settings/personal_access_tokens", data={"name": "t", "scopes": "read_api", "csrf_token": mine})
    assert r.status_code in (200, 201, 303), r.text[:300]
    # mallory's own cookie and token, tossed into the victim's browser, do not pass with the victim's session
    attacker = TestClient(create_app(migrated_settings), follow_redirects=False)
    assert sign_in(attacker, "mallory", "mallory-password-1").status_code == 303
    token = _csrf(attacker.get("/user_settings"))
    client.cookies.set("hullscan_csrf", attacker.cookies["hullscan_csrf"])
    r = client.post("/user_settings/personal_access_tokens", data={"name": "x", "scopes": "read_api", "csrf_token": token})
    assert r.status_code == 403
    # non-ASCII tokens are refused like any other wrong token, not a 500
    for bad in ("é", "\u0000", "ﬀ" * 40):
        r = client.post("/user_settings/personal_access_tokens", data={"name": "x", "csrf_token": bad})
        assert r.status_code == 403, (bad, r.status_code)
        r = client.post("/user_settings/personal_access_tokens", data={"name": "x"},
                        headers={"X-CSRF-Token": bad.encode()})
        assert r.status_code == 403, (bad, r.status_code)
    assert client.post("/users/sign_out", data={"csrf_token": "é"}).status_code == 403


def _audited_address(server: HullscanServer) -> str:
    with httpx.Client(base_url=server.url, timeout=60) as anyone:
        r = anyone.get("/api/v1/user", auth=("nobody", "wrong-password-1"),
                       headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
        assert r.status_code == 401
    with server.client() as admin:
        events = admin.get("/api/v1/audit_events", params={"action": "sign_in_failed"}).json()
    return events[0]["client_ip"]


def test_forwarded_headers_are_believed_only_from_configured_proxies(tmp_path: Any) -> None:
    """By default not even loopback may set the client address (uvicorn's own default trusts 127.0.0.1)."""
    server = HullscanServer(tmp_path / "plain").start()
    try:
        assert _audited_address(server) == "127.0.0.1"
    finally:
        server.stop()
    server = HullscanServer(tmp_path / "proxied", env={"HULLSCAN_FORWARDED_ALLOW_IPS": "127.0.0.1"}).start()
    try:
        assert _audited_address(server) == "203.0.113.9"
    finally:
        server.stop()
