"""Fixtures of the scanner tests: the shared test images and isolated cache dirs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import shared_path

IMAGES = ["debian-bookworm-minbase", "debian-python-app", "distroless-style", "go-binary", "multiarch-index"]


def image_layout(name: str) -> Path:
    return shared_path("testdata", "images", name)


def expected_packages(name: str) -> dict:
    return json.loads(shared_path("testdata", "images", "expected", f"{name}.json").read_text())


@pytest.fixture
def scan_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME so the CLI's layer cache and docker config are the test's own."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("HULLSCAN_SCANNER_CACHE_DIR", raising=False)
    return home
