"""Fixtures of the UI tests: the app in-process on a migrated database, and a cookie-keeping client."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator

import pytest

from hullscan.db import Database
from hullscan.settings import Settings
from tests.support.auth import bootstrap_admin, sign_in

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def db(migrated_settings: Settings) -> Iterator[Database]:
    database = Database(migrated_settings)
    yield database
    database.dispose()


@pytest.fixture
def client(migrated_settings: Settings) -> Iterator[TestClient]:
    """The whole app (API, registry, UI) without its background workers."""
    from hullscan.web.app import create_app

    bootstrap_admin(migrated_settings)
    app = create_app(migrated_settings)
    test_client = TestClient(app, follow_redirects=False)  # no `with`: the lifespan (runners, schedulers) stays off
    assert sign_in(test_client).status_code == 303
    yield test_client
    app.state.db.dispose()


def csrf_token(client: TestClient, page: str) -> str:
    """The token a page's forms carry (the page also sets the signed cookie)."""
    r = client.get(page)
    assert r.status_code == 200, r.text
    found = CSRF_INPUT.search(r.text)
    assert found, f"no csrf_token input on {page}"
    return found.group(1)
