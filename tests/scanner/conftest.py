"""Fixtures of the scanner tests: the shared test images and isolated cache dirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import image_expected, image_layout

IMAGES = ["debian-bookworm-minbase", "debian-python-app", "distroless-style", "go-binary", "multiarch-index"]
__all__ = ["IMAGES", "expected_packages", "image_layout"]


def expected_packages(name: str) -> dict:
    return image_expected(name)


@pytest.fixture
def scan_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME so the CLI's layer cache and docker config are the test's own."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("HULLSCAN_SCANNER_CACHE_DIR", raising=False)
    return home
