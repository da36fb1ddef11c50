"""Accounts and credentials in-process on SQLite and PostgreSQL: throttled sign-ins, revocation and expiry that
act at once (registry tokens included), deploy and job tokens, UI sessions, personal namespaces, audit log."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from hullscan.auth import Role
from hullscan.auth import service as auth
from hullscan.db import Database
from hullscan.db.base import utcnow
from hullscan.settings import Settings
from tests.registry.support import push_image
from tests.support.auth import ADMIN_PASSWORD, ADMIN_USER, HullscanAuth, bootstrap_admin, remember_secret, sign_in

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


def _user(db: Database, name: str, *, role: str | None = None, project: str = "team/app") -> str:
    password = remember_secret(f"{name}-password-1")
    with db.session() as s:
        auth.create_user(s, name, password)
        if role:
            if auth.get_project(s, project) is None:
                auth.create_project(s, project)
            auth.add_member(s, name, project, Role.parse(role))
    return password


def _token(db: Database, name: str, scopes: list[str]) -> tuple[int, str]:
    with db.session() as s:
        row, token = auth.create_personal_access_token(s, auth.require_user(s, name), "t", scopes)
        return row.id, remember_secret(token)


def _registry_token(client: TestClient, creds: tuple[str, str] | None, scope: str) -> httpx.Response:
    return client.get("/jwt/auth", params={"service": "hullscan-registry", "scope": scope}, auth=creds)


def _bearer(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _granted(response: httpx.Response) -> list[str]:
    import base64
    import json

    payload = response.json()["token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims["access"][0]["actions"]


def test_twenty_wrong_passwords_are_throttled_and_audited(app_client: Any) -> None:
    client, db = app_client
    password = _user(db, "alice", role="developer")
    codes = [client.get("/api/v1/user", auth=("alice", f"wrong-{i}")).status_code for i in range(20)]
    assert codes[:9] == [401] * 9 and set(codes[9:]) == {429}, codes  # locked at the 10th failure
    # locked: the right password is refused too, on every channel, without argon2 being asked
    assert client.get("/api/v1/user", auth=("alice", password)).status_code == 429
    assert _registry_token(client, ("alice", password), "repository:team/app/x:pull").status_code == 429
    page = client.get("/users/sign_in")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    ui = client.post("/users/sign_in", data={"username": "alice", "password": password, "csrf_token": csrf})
    assert ui.status_code == 429 and "too many failed sign-in attempts" in ui.text
    # a token still works (throttling guards passwords), and the lock ends when an admin resets the password
    _, token = _token(db, "alice", ["api"])
    assert client.get("/api/v1/user", headers={"PRIVATE-TOKEN": token}).json()["username"] == "alice"
    with db.session() as s:
        auth.set_password(s, auth.require_user(s, "alice"), "new-password-123")
        auth.clear_sign_in_failures(s, "alice")
    assert client.get("/api/v1/user", auth=("alice", "new-password-123")).status_code == 200
    events = client.get("/api/v1/audit_events", params={"action": "sign_in_failed"},
                        auth=(ADMIN_USER, ADMIN_PASSWORD)).json()
    assert len(events) == 10 and all(e["target"] == "alice" and e["outcome"] == "failure" for e in events)
    assert "locked" in events[0]["message"]
    assert all(password not in str(e) and "wrong-" not in str(e) for e in events)


def test_revoked_and_expired_tokens_stop_at_once_registry_tokens_included(app_client: Any) -> None:
    client, db = app_client
    _user(db, "dev", role="developer")
    token_id, token = _token(db, "dev", ["api"])
    assert client.get("/api/v1/projects/team%2Fapp/members", headers={"PRIVATE-TOKEN": token}).status_code == 200
    registry = _bearer(_registry_token(client, ("dev", token), "repository:team/app/web:pull,push"))
    push_image(TestClient(client.app, headers=registry), "team/app/web", "latest", b"layer")
    assert client.get("/v2/team/app/web/tags/list", headers=registry).status_code == 200

    revoked = client.delete(f"/api/v1/user/personal_access_tokens/{token_id}", headers={"PRIVATE-TOKEN": token})
    assert revoked.status_code == 204
    assert client.get("/api/v1/user", headers={"PRIVATE-TOKEN": token}).status_code == 401
    assert client.get("/api/v1/user", auth=("dev", token)).status_code == 401
    r = client.get("/v2/team/app/web/tags/list", headers=registry)  # issued before the revocation
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
    assert _registry_token(client, ("dev", token), "repository:team/app/web:pull").status_code == 401

    token_id, token = _token(db, "dev", ["read_api", "read_registry"])
    registry = _bearer(_registry_token(client, ("dev", token), "repository:team/app/web:pull,push"))
    assert client.get("/v2/team/app/web/tags/list", headers=registry).status_code == 200
    with db.session() as s:
        from hullscan.db.models.auth import PersonalAccessToken

        s.get(PersonalAccessToken, token_id).expires_at = utcnow() - timedelta(seconds=1)  # type: ignore[union-attr]
    assert client.get("/api/v1/user", headers={"PRIVATE-TOKEN": token}).status_code == 401
    assert client.get("/v2/team/app/web/tags/list", headers=registry).status_code == 401
    listed = client.get("/api/v1/user/personal_access_tokens", auth=("dev", "dev-password-1")).json()
    assert [t["revoked"] for t in listed] == [True, False] and all("token" not in t for t in listed)


def test_scopes_limit_what_a_token_does(app_client: Any) -> None:
    client, db = app_client
    _user(db, "owner", role="owner")
    _, read_api = _token(db, "owner", ["read_api"])
    _, registry_only = _token(db, "owner", ["read_registry"])
    h = {"PRIVATE-TOKEN": read_api}
    assert client.get("/api/v1/projects/team%2Fapp/security_settings", headers=h).status_code == 200
    assert client.put("/api/v1/projects/team%2Fapp/security_settings", json={"cs4r_daily_limit": 5},
                      headers=h).status_code == 403
    assert client.get("/api/v1/projects", headers={"PRIVATE-TOKEN": registry_only}).status_code == 403
    assert _granted(_registry_token(client, ("owner", read_api), "repository:team/app/x:pull,push")) == ["pull"]
    assert _granted(_registry_token(client, ("owner", registry_only), "repository:team/app/x:pull,push")) == ["pull"]
    assert _granted(_registry_token(client, ("owner", "owner-password-1"), "repository:team/app/x:pull,push")) \
        == ["pull", "push"]


def test_deploy_tokens_are_robots_of_one_project(app_client: Any) -> None:
    client, db = app_client
    _user(db, "maint", role="maintainer")
    with db.session() as s:
        auth.create_project(s, "team/other")
    made = client.post("/api/v1/projects/team%2Fapp/deploy_tokens", json={"name": "ci", "scopes": ["write_registry"]},
                       auth=("maint", "maint-password-1"))
    assert made.status_code == 201
    username, token = made.json()["username"], remember_secret(made.json()["token"])
    pull_only = client.post("/api/v1/projects/team%2Fapp/deploy_tokens",
                            json={"name": "pull", "scopes": ["read_registry"]}, auth=("maint", "maint-password-1"))
    assert _granted(_registry_token(client, (username, token), "repository:team/app/img:pull,push")) == ["pull", "push"]
    assert _granted(_registry_token(client, (username, token), "repository:team/other/img:pull")) == []
    assert _registry_token(client, ("someone-else", token), "repository:team/app/img:pull").status_code == 401
    pull_user, pull_token = pull_only.json()["username"], remember_secret(pull_only.json()["token"])
    assert _granted(_registry_token(client, (pull_user, pull_token), "repository:team/app/img:pull,push")) == ["pull"]
    assert client.get("/api/v1/projects/team%2Fapp/pipelines", auth=(username, token)).status_code == 403
    assert client.post("/api/v1/projects/team%2Fapp/deploy_tokens", json={"name": "x", "scopes": ["api"]},
                       auth=("maint", "maint-password-1")).status_code == 400
    gone = client.delete(f"/api/v1/projects/team%2Fapp/deploy_tokens/{made.json()['id']}",
                         auth=("maint", "maint-password-1"))
    assert gone.status_code == 204
    assert _registry_token(client, (username, token), "repository:team/app/img:pull").status_code == 401


def test_job_token_pulls_its_repository_only_while_the_job_runs(app_client: Any) -> None:
    client, db = app_client
    pusher = TestClient(client.app)
    pusher.auth = HullscanAuth()
    push_image(pusher, "team/app/web", "latest", b"layer-1")
    push_image(pusher, "team/app/other", "latest", b"layer-2")
    from hullscan.events import service as events
    from hullscan.pipelines import service as pipelines

    with db.session() as s:  # the pushes auto-created team/app with scanning on; their events become pipelines
        events.process_pending_events(s, db.settings)
    with db.session() as s:
        runner, _ = pipelines.register_runner(s, "t", now=utcnow())
        claimed = pipelines.claim_job(s, runner, now=utcnow(), lease_seconds=30)
    assert claimed is not None
    job_token = remember_secret(claimed.token)
    creds = ("gitlab-ci-token", job_token)
    repo = claimed.repository
    other = "team/app/other" if repo == "team/app/web" else "team/app/web"
    assert _granted(_registry_token(client, creds, f"repository:{repo}:pull,push")) == ["pull"]
    assert _granted(_registry_token(client, creds, f"repository:{other}:pull")) == []
    registry = _bearer(_registry_token(client, creds, f"repository:{repo}:pull"))
    assert client.get(f"/v2/{repo}/manifests/latest", headers=registry).status_code == 200
    assert client.get("/api/v1/projects/team%2Fapp/pipelines", auth=creds).status_code == 403
    with db.session() as s:
        pipelines.finish_job(s, pipelines.get_job(s, claimed.job_id), "failed", now=utcnow(),  # type: ignore[arg-type]
                             failure_reason="test")
    assert client.get(f"/v2/{repo}/manifests/latest", headers=registry).status_code == 401
    assert _registry_token(client, creds, f"repository:{repo}:pull").status_code == 401


def test_ui_sessions_cookie_flags_sign_out_and_open_redirects(app_client: Any, migrated_settings: Settings) -> None:
    client, db = app_client
    r = sign_in(client)
    assert r.status_code == 303 and r.headers["location"] == "/projects"
    cookie = [c for c in r.headers.get_list("set-cookie") if c.startswith("hullscan_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    session_value = client.cookies.get("hullscan_session")
    assert client.get("/projects").status_code == 200
    # the API honours the cookie for reads only: writes need a token (they carry no CSRF check)
    assert client.get("/api/v1/user").json()["username"] == ADMIN_USER
    assert client.post("/api/v1/projects", json={"path": "team/x"}).status_code == 401
    page = client.get("/projects")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert client.post("/users/sign_out", data={"csrf_token": csrf}).status_code == 303
    replay = TestClient(client.app, follow_redirects=False, cookies={"hullscan_session": session_value})
    assert replay.get("/projects").headers["location"].startswith("/users/sign_in")
    # return_to never leaves the site
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        client.cookies.delete("hullscan_session")  # a CSRF token belongs to one sign-in session: start afresh
        page = client.get("/users/sign_in")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        r = client.post("/users/sign_in", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD,
                                                "csrf_token": csrf, "return_to": target})
        assert r.headers["location"] == "/projects", target
    secure = TestClient(client.app, base_url="https://testserver", follow_redirects=False)
    r = sign_in(secure)
    cookie = [c for c in r.headers.get_list("set-cookie") if c.startswith("hullscan_session=")][0]
    assert "Secure" in cookie
    actions = {e["action"] for e in client.get("/api/v1/audit_events", auth=(ADMIN_USER, ADMIN_PASSWORD)).json()}
    assert {"sign_in", "sign_out"} <= actions


def test_personal_namespace_members_and_project_creation(app_client: Any) -> None:
    client, db = app_client
    _user(db, "bob")
    _user(db, "carol")
    bob = ("bob", "bob-password-1")
    assert client.post("/api/v1/projects", json={"path": "bob/tools"}, auth=bob).status_code == 201
    assert client.post("/api/v1/projects", json={"path": "carol/tools"}, auth=bob).status_code == 403
    assert client.post("/api/v1/projects", json={"path": "bob/tools"}, auth=bob).status_code == 400
    assert [p["path"] for p in client.get("/api/v1/projects", auth=bob).json()] == ["bob/tools"]
    # bob owns the project: he adds carol as a reporter; she may pull but not push, and sees no vulnerabilities
    added = client.post("/api/v1/projects/bob%2Ftools/members", json={"username": "carol", "role": "reporter"}, auth=bob)
    assert added.status_code == 201
    carol = ("carol", "carol-password-1")
    assert _granted(_registry_token(client, carol, "repository:bob/tools/cli:pull,push")) == ["pull"]
    assert client.get("/api/v1/projects/bob%2Ftools/vulnerabilities", auth=carol).status_code == 403
    members = client.get("/api/v1/projects/bob%2Ftools/members", auth=carol).json()
    assert {(m["username"], m["role"]) for m in members} == {("bob", "owner"), ("carol", "reporter")}
    # a push into one's own namespace creates the project (as the first push in GitLab's personal namespace)
    assert _granted(_registry_token(client, bob, "repository:bob/new/img:pull,push")) == ["pull", "push"]
    assert _granted(_registry_token(client, carol, "repository:bob/new/img:pull,push")) == []
    # bad input is a clear 400, never a 500
    for body in ({"username": "nobody", "role": "guest"}, {"username": "carol", "role": "emperor"}):
        assert client.post("/api/v1/projects/bob%2Ftools/members", json=body, auth=bob).status_code == 400
    assert client.post("/api/v1/users", json={"username": "Bad Name!"}, auth=(ADMIN_USER, ADMIN_PASSWORD)) \
        .status_code == 400
    assert client.post("/api/v1/users", json={"username": "team2", "password": "short"},
                       auth=(ADMIN_USER, ADMIN_PASSWORD)).status_code == 400
    with db.session() as s, pytest.raises(auth.AuthError):
        auth.create_user(s, "bob", "another-password")


def test_failures_from_one_address_lock_it_for_every_username(migrated_settings: Settings) -> None:
    from hullscan.web.app import create_app

    limit = 12  # (default 50) fewer argon2 checks keep the test quick; the rule is the same
    settings = migrated_settings.model_copy(update={"sign_in_max_failures_per_ip": limit})
    app = create_app(settings)
    client, db = TestClient(app), app.state.db
    password = _user(db, "erin")
    codes = [client.get("/api/v1/user", auth=(f"guess{i}", "wrong-password")).status_code for i in range(limit)]
    assert codes[:-1] == [401] * (limit - 1) and codes[-1] == 429
    assert client.get("/api/v1/user", auth=("erin", password)).status_code == 429  # same client address
    db.dispose()


def test_setting_and_triage_changes_are_audited(app_client: Any) -> None:
    client, db = app_client
    _user(db, "mona", role="maintainer")
    mona = ("mona", "mona-password-1")
    r = client.put("/api/v1/projects/team%2Fapp/security_settings",
                   json={"container_scanning_for_registry_enabled": True, "cs4r_tag_patterns": ["latest", "v*"]},
                   auth=mona)
    assert r.status_code == 200
    events = client.get("/api/v1/audit_events", params={"action": "security_settings_changed"},
                        auth=(ADMIN_USER, ADMIN_PASSWORD)).json()
    assert len(events) == 1 and events[0]["actor"] == "mona" and events[0]["target"] == "team/app"
    assert events[0]["details"]["cs4r_tag_patterns"] == ["latest", "v*"] and events[0]["client_ip"]
    assert client.get("/api/v1/audit_events", auth=mona).status_code == 403


def _csrf(client: TestClient, path: str = "/user_settings") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text[:300]
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def test_user_settings_page_tokens_shown_once_and_revoked(app_client: Any) -> None:
    client, db = app_client
    password = _user(db, "dev", role="developer")
    assert sign_in(client, "dev", password).status_code == 303
    assert 'href="/user_settings"' in client.get("/projects").text
    created = client.post("/user_settings/personal_access_tokens",
                          data={"name": "ci <b>bot</b>", "scopes": ["read_api", "read_registry"],
                                "expires_at": "2999-01-01", "csrf_token": _csrf(client)})
    assert created.status_code == 201
    token = re.search(r"<code>(hspat_[^<]+)</code>", created.text).group(1)  # type: ignore[union-attr]
    remember_secret(token)
    assert "<b>bot</b>" not in created.text and "ci &lt;b&gt;bot&lt;/b&gt;" in created.text  # untrusted name
    me = client.get("/api/v1/user", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["scopes"] == ["read_api", "read_registry"]
    listed = client.get("/user_settings").text
    assert token not in listed and "read_api, read_registry" in listed  # shown once, only its digest is kept
    bad = client.post("/user_settings/personal_access_tokens",
                      data={"name": "x", "scopes": ["root"], "csrf_token": _csrf(client)})
    assert bad.status_code == 400 and "unknown scope" in bad.text
    past = client.post("/user_settings/personal_access_tokens",
                       data={"name": "x", "scopes": ["api"], "expires_at": "2001-01-01", "csrf_token": _csrf(client)})
    assert past.status_code == 400 and "future" in past.text
    token_id = client.get("/api/v1/user/personal_access_tokens", headers={"Authorization": f"Bearer {token}"})
    assert token_id.status_code == 403  # read_api cannot manage tokens
    with db.session() as s:
        row_id = auth.list_personal_access_tokens(s, auth.require_user(s, "dev"))[0].id
        other_id = auth.create_personal_access_token(s, auth.require_user(s, ADMIN_USER), "admin's", ["api"])[0].id
    assert client.post(f"/user_settings/personal_access_tokens/{other_id}/revoke",
                       data={"csrf_token": _csrf(client)}).status_code == 404  # not one's own
    revoked = client.post(f"/user_settings/personal_access_tokens/{row_id}/revoke", data={"csrf_token": _csrf(client)})
    assert revoked.status_code == 303
    assert client.get("/api/v1/user", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert "revoked" in client.get("/user_settings").text
    actions = [e["action"] for e in client.get("/api/v1/audit_events", auth=(ADMIN_USER, ADMIN_PASSWORD)).json()]
    assert {"personal_access_token_created", "personal_access_token_revoked"} <= set(actions)


def test_password_change_needs_the_current_password_and_ends_other_sign_ins(app_client: Any) -> None:
    client, db = app_client
    password = _user(db, "dev", role="developer")
    assert sign_in(client, "dev", password).status_code == 303
    elsewhere = TestClient(client.app, follow_redirects=False)
    assert sign_in(elsewhere, "dev", password).status_code == 303
    short = client.post("/user_settings/password", data={"current_password": password, "new_password": "short",
                                                          "csrf_token": _csrf(client)})
    assert short.status_code == 400 and "8 to" in short.text
    wrong = client.post("/user_settings/password", data={"current_password": "not-it-at-all",
                                                          "new_password": "dev-password-2", "csrf_token": _csrf(client)})
    assert wrong.status_code == 400 and "current password is wrong" in wrong.text
    new_password = remember_secret("dev-password-2")
    changed = client.post("/user_settings/password", data={"current_password": password,
                                                            "new_password": new_password, "csrf_token": _csrf(client)})
    assert changed.status_code == 303 and changed.headers["location"].startswith("/user_settings?changed=1")
    assert client.get("/user_settings").status_code == 200  # this sign-in stays
    assert elsewhere.get("/projects").headers["location"].startswith("/users/sign_in")  # the other one ended
    assert client.get("/api/v1/user", auth=("dev", password)).status_code == 401
    assert client.get("/api/v1/user", auth=("dev", new_password)).status_code == 200
    # the API: the current password is required, the policy holds, a PAT with `api` may do it
    _, api_token = _token(db, "dev", ["api"])
    bearer = {"Authorization": f"Bearer {api_token}"}
    assert client.put("/api/v1/user/password", headers=bearer,
                      json={"current_password": "nope-nope", "new_password": "dev-password-3"}).status_code == 400
    assert client.put("/api/v1/user/password", headers=bearer,
                      json={"current_password": new_password, "new_password": "x"}).status_code == 400
    final = remember_secret("dev-password-3")
    assert client.put("/api/v1/user/password", headers=bearer,
                      json={"current_password": new_password, "new_password": final}).status_code == 204
    assert client.get("/api/v1/user", auth=("dev", final)).status_code == 200
    _, read_token = _token(db, "dev", ["read_api"])
    assert client.put("/api/v1/user/password", headers={"Authorization": f"Bearer {read_token}"},
                      json={"current_password": final, "new_password": "dev-password-4"}).status_code == 403
    audit = client.get("/api/v1/audit_events", auth=(ADMIN_USER, ADMIN_PASSWORD)).json()
    assert sum(e["action"] == "password_changed" for e in audit) == 2
    assert any(e["action"] == "sign_in_failed" and e.get("details", {}).get("channel") == "password_change"
               for e in audit)


def test_members_page_and_deploy_tokens_in_the_ui(app_client: Any) -> None:
    client, db = app_client
    owner_password = _user(db, "own", role="owner")
    dev_password = _user(db, "dev", role="developer")
    _user(db, "newbie")
    page = "/projects/team/app/-/project_members"
    assert sign_in(client, "dev", dev_password).status_code == 303
    listed = client.get(page)
    assert listed.status_code == 200 and 'data-member="own"' in listed.text and "Add member" not in listed.text
    assert client.post(page, data={"username": "newbie", "role": "guest", "csrf_token": _csrf(client, page)}) \
        .status_code == 403  # a developer sees members but does not manage them
    owner = TestClient(client.app, follow_redirects=False)
    assert sign_in(owner, "own", owner_password).status_code == 303
    added = owner.post(page, data={"username": "newbie", "role": "reporter", "csrf_token": _csrf(owner, page)})
    assert added.status_code == 303
    row = re.search(r'<tr data-member="newbie">(.*?)</tr>', owner.get(page).text, re.S).group(1)  # type: ignore[union-attr]
    assert "reporter" in row and "Remove" in row
    assert owner.post(page, data={"username": "nobody-here", "role": "guest", "csrf_token": _csrf(owner, page)}) \
        .status_code == 400
    assert owner.post(f"{page}/newbie/delete", data={"csrf_token": _csrf(owner, page)}).status_code == 303
    assert 'data-member="newbie"' not in owner.get(page).text
    assert owner.post(f"{page}/newbie/delete", data={"csrf_token": _csrf(owner, page)}).status_code == 404
    # deploy tokens: created on the settings page, shown once, usable for the registry, then revoked
    settings = "/projects/team/app/-/settings"
    made = owner.post(f"{settings}/deploy_tokens", data={"name": "ci", "scopes": ["read_registry"],
                                                        "csrf_token": _csrf(owner, settings)})
    assert made.status_code == 201
    username, token = re.search(r"Username <code>(deploy-token-\d+)</code>, token \(shown only now\): <code>([^<]+)</code>",
                                made.text).groups()  # type: ignore[union-attr]
    remember_secret(token)
    granted = _registry_token(client, (username, token), "repository:team/app/web:pull,push")
    assert granted.status_code == 200 and _granted(granted) == ["pull"]
    assert token not in owner.get(settings).text
    token_id = re.search(r'data-deploy-token="(\d+)"', owner.get(settings).text).group(1)  # type: ignore[union-attr]
    assert owner.post(f"{settings}/deploy_tokens/{token_id}/revoke",
                      data={"csrf_token": _csrf(owner, settings)}).status_code == 303
    assert _registry_token(client, (username, token), "repository:team/app/web:pull").status_code == 401
    assert "revoked" in owner.get(settings).text
    actions = {e["action"] for e in client.get("/api/v1/audit_events", auth=(ADMIN_USER, ADMIN_PASSWORD)).json()}
    assert {"member_added", "member_removed", "deploy_token_created", "deploy_token_revoked"} <= actions


def test_blocking_a_user_stops_every_credential_at_once(app_client: Any) -> None:
    client, db = app_client
    password = _user(db, "leaver", role="developer")
    _, token = _token(db, "leaver", ["api", "read_registry"])
    browser = TestClient(client.app, follow_redirects=False)
    assert sign_in(browser, "leaver", password).status_code == 303
    registry = _registry_token(client, ("leaver", token), "repository:team/app/web:pull")
    assert _granted(registry) == ["pull"]
    admin = (ADMIN_USER, ADMIN_PASSWORD)
    assert client.post("/api/v1/users/leaver/block", auth=("leaver", password)).status_code == 403
    blocked = client.post("/api/v1/users/leaver/block", auth=admin)
    assert blocked.status_code == 201 and blocked.json() == {"username": "leaver", "active": False}
    assert client.get("/api/v1/user", auth=("leaver", password)).status_code == 401
    assert client.get("/api/v1/user", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert browser.get("/projects").headers["location"].startswith("/users/sign_in")
    assert client.get("/v2/team/app/web/tags/list", headers=_bearer(registry)).status_code == 401
    assert sign_in(TestClient(client.app, follow_redirects=False), "leaver", password).status_code == 401
    # nobody blocks themselves or the last administrator; unknown users are a 404
    assert client.post(f"/api/v1/users/{ADMIN_USER}/block", auth=admin).status_code == 400
    assert client.post("/api/v1/users/nobody/block", auth=admin).status_code == 404
    assert client.post("/api/v1/users/leaver/unblock", auth=admin).json()["active"] is True
    assert client.get("/api/v1/user", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # the admin's Users page: create a user, block and unblock from there
    assert sign_in(client).status_code == 303
    made = client.post("/admin/users", data={"username": "newhire", "password": "newhire-pass-1",
                                             "csrf_token": _csrf(client, "/admin/users")})
    assert made.status_code == 201 and 'data-user="newhire"' in made.text
    assert client.post("/admin/users", data={"username": "x", "password": "short",
                                             "csrf_token": _csrf(client, "/admin/users")}).status_code == 400
    assert client.post("/admin/users/newhire/block", data={"csrf_token": _csrf(client, "/admin/users")}).status_code == 303
    row = re.search(r'<tr data-user="newhire">(.*?)</tr>', client.get("/admin/users").text, re.S).group(1)  # type: ignore[union-attr]
    assert "blocked" in row and "Unblock" in row
    assert client.get("/api/v1/user", auth=("newhire", "newhire-pass-1")).status_code == 401
    assert client.post("/admin/users/newhire/unblock", data={"csrf_token": _csrf(client, "/admin/users")}) \
        .status_code == 303
    assert client.get("/api/v1/user", auth=("newhire", "newhire-pass-1")).status_code == 200
    actions = [e["action"] for e in client.get("/api/v1/audit_events", auth=admin).json()]
    assert actions.count("user_blocked") == 2 and actions.count("user_unblocked") == 2


def test_admin_audit_events_page(app_client: Any) -> None:
    client, db = app_client
    password = _user(db, "dev", role="developer")
    assert sign_in(TestClient(client.app, follow_redirects=False), "dev", "<script>alert(1)</script>").status_code == 401
    dev = TestClient(client.app, follow_redirects=False)
    assert sign_in(dev, "dev", password).status_code == 303
    assert dev.get("/admin/audit_events").status_code == 403
    assert sign_in(client).status_code == 303
    page = client.get("/admin/audit_events")
    assert page.status_code == 200 and "sign_in_failed" in page.text and "sign_in" in page.text
    assert "<script>alert(1)" not in page.text  # nothing a caller typed is markup (the password is never logged)
    failed = client.get("/admin/audit_events", params={"action": "sign_in_failed"}).text
    rows = re.findall(r'<tr data-event="\d+">(.*?)</tr>', failed, re.S)
    assert rows and all("sign_in_failed" in r for r in rows)
    assert "no audit events" in client.get("/admin/audit_events", params={"action": "nothing_like_it"}).text.lower()


def test_admin_audit_events_page_pages_back(app_client: Any) -> None:
    client, db = app_client
    with db.session() as s:
        for n in range(105):
            auth.audit(s, ADMIN_USER, "bulk_test", f"item-{n}")
    assert sign_in(client).status_code == 303
    first = client.get("/admin/audit_events", params={"action": "bulk_test"}).text
    assert len(re.findall(r'<tr data-event=', first)) == 100 and "item-104" in first and "item-4<" not in first
    older = re.search(r'href="(/admin/audit_events\?[^"]+)">Older events', first).group(1)  # type: ignore[union-attr]
    rest = client.get(older.replace("&amp;", "&")).text
    assert len(re.findall(r'<tr data-event=', rest)) == 5 and "item-0<" in rest and "Older events" not in rest
