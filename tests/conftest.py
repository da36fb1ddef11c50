"""Shared fixtures. Database-touching tests run against SQLite and a real PostgreSQL cluster."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hullscan.settings import Settings
from tests.support.postgres import PostgresCluster
from tests.support.server import HullscanServer

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def _load_testimages():  # scripts/ is not a package; the same module `make test` runs
    spec = importlib.util.spec_from_file_location("hullscan_testimages", ROOT / "scripts" / "testimages" / "ensure.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_testimages = _load_testimages()
_IMAGES_CACHE = _testimages.cache_root()  # resolved now: some tests point HOME elsewhere later


def data_path(*parts: str) -> Path:
    """A file of the committed test data (tests/data, provenance in tests/data/README.md); fails naming it
    when it is missing."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"test data missing: {path}")
    return path


def images_dir() -> Path:
    """The five test images, built by scripts/testimages from the recipe (or copied from ../shared when
    that was built by the same recipe) and cached outside the clone."""
    return _testimages.ensure(_IMAGES_CACHE)


def image_layout(name: str) -> Path:
    """The OCI layout directory of one test image."""
    path = images_dir() / name
    if not (path / "index.json").is_file():
        pytest.fail(f"test image missing: {path}")
    return path


def image_expected(name: str) -> dict:
    """expected.py's ground truth for a test image as it was built (versions follow the Debian mirror)."""
    return json.loads((images_dir() / "expected" / f"{name}.json").read_text())


def image_manifest(name: str) -> tuple[dict, dict]:
    """(manifest, config) of a single-platform test image, for digests that must follow the build."""
    layout = image_layout(name)

    def blob(digest: str) -> dict:
        return json.loads((layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_text())

    manifest = blob(json.loads((layout / "index.json").read_text())["manifests"][0]["digest"])
    return manifest, blob(manifest["config"]["digest"])


def shared_path(*parts: str) -> Path:
    """Transitional: the old ../shared names, answered from the repo's own data. Use data_path/image_layout."""
    if parts[:2] == ("testdata", "images"):
        path = images_dir().joinpath(*parts[2:])
        if not path.exists():
            pytest.fail(f"test image missing: {path}")
        return path
    if parts[:2] == ("testdata", "peer-vectors"):
        return data_path("peer-vectors", *parts[2:])
    return data_path(*parts)


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
