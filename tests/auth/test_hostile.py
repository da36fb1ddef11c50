"""Authorization against a hostile caller: names that are LIKE patterns, writes that must be durable before the
answer, existence probes, forged or foreign CSRF tokens, numbers outside int64. In-process on SQLite and
PostgreSQL, and against a real `hullscan serve` where the timing of the response matters."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

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
