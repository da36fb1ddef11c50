"""Fixtures of the registry tests: one `hullscan serve` per module and database backend."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.auth import remember_secret
from tests.support.server import HullscanServer

WEBHOOK_SECRET = remember_secret("s3cret-for-tests")
# Registry tests measure the registry: no local scan runners, no scans triggered by the test pushes.
REGISTRY_ONLY = {"HULLSCAN_RUNNER_POOL_SIZE": "0", "HULLSCAN_FEATURE_CONTAINER_SCANNING_FOR_REGISTRY": "false"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def registry_server(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[HullscanServer]:
    """A real `hullscan serve`, shared by a module's tests, on SQLite and on PostgreSQL."""
    tmp = tmp_path_factory.mktemp(f"registry-{request.param}")
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres").create_database()
    env = {"HULLSCAN_REGISTRY_WEBHOOK_SECRET": WEBHOOK_SECRET, **REGISTRY_ONLY}
    srv = HullscanServer(tmp / "data", url, env=env).start()
    yield srv
    srv.stop()


@pytest.fixture
def client(registry_server: HullscanServer) -> Iterator[httpx.Client]:
    with registry_server.client() as c:
        yield c
