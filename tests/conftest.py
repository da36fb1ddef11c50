"""Shared fixtures. Database-touching tests run against SQLite and a real PostgreSQL cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hullscan.settings import Settings
from tests.support.postgres import PostgresCluster
from tests.support.server import HullscanServer

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A file of ../shared; fails naming it when it is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"test data missing: {path}")
    return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh empty database per test, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hullscan.db'}"
    return request.getfixturevalue("postgres").create_database()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
def migrated_settings(settings: Settings) -> Settings:
    from hullscan.db import upgrade

    upgrade(settings)
    return settings


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[HullscanServer]:
    """`hullscan serve` running as a real process on a free loopback port."""
    srv = HullscanServer(tmp_path / "data", database_url).start()
    yield srv
    srv.stop()
