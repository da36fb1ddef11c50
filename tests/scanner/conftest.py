"""Fixtures of the scanner tests: the shared test images and isolated cache dirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import image_expected, image_layout

IMAGES = ["debian-bookworm-minbase", "debian-python-app", "distroless-style", "go-binary", "multiarch-index"]
__all__ = ["IMAGES", "cyclonedx_edges", "expected_packages", "image_layout"]


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


def cyclonedx_edges(document: dict) -> set[tuple[str, str]]:
    """A CycloneDX graph as (name@version -> name@version) pairs; the image is `IMAGE`, the OS `OS`."""
    components = {c["bom-ref"]: c for c in document["components"]}
    root = document["metadata"]["component"]["bom-ref"]

    def name(ref: str) -> str:
        if ref == root:
            return "IMAGE"
        component = components[ref]
        return "OS" if component["type"] == "operating-system" else f"{component['name']}@{component.get('version', '')}"

    return {(name(d["ref"]), name(t)) for d in document["dependencies"] for t in d.get("dependsOn", [])}
