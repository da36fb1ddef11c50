"""Every package-database fixture of tests/data/peer-vectors yields the packages its expected.json
lists. Fields an expected package leaves out are not asserted. Fixtures whose input was not copied (the
Go binaries, see the README's `input_not_copied`) have nothing to read and are not collected."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

from hullscan.scanner.analyzers import AnalysisContext, FileEntry, default_analyzers
from hullscan.scanner.image import analyze
from hullscan.scanner.inventory import dependency_graph
from tests.conftest import DATA

FIXTURES = DATA / "peer-vectors" / "fixtures"


def _cases() -> list[Path]:
    if not FIXTURES.is_dir():
        pytest.fail(f"test data missing: {FIXTURES}")
    return sorted(p.parent for p in FIXTURES.glob("*/*/expected.json")
                  if not json.loads(p.read_text()).get("input_not_copied"))


def _image_path(case: Path, file: Path) -> str:
    """Where a parser-level fixture file lives in a real image, so the analyzer that wants it gets it."""
    eco, name = case.parent.name, file.name
    if eco == "deb":
        return "/var/lib/dpkg/status"
    if eco == "apk":
        return "/lib/apk/db/installed"
    if eco == "rpm":
        return f"/var/lib/rpm/{name}"
    if eco == "npm":
        if name.endswith(".yaml"):
            return "/app/pnpm-lock.yaml"
        if "yarn" in case.name:
            return "/app/yarn.lock"
        if "lock" in case.name:
            return "/app/package-lock.json"
        return "/app/node_modules/fixture/package.json"
    if eco == "gem":
        return "/app/Gemfile.lock" if name == "Gemfile.lock" else f"/usr/lib/ruby/gems/3.1.0/specifications/{name}"
    if eco == "python":
        return "/usr/lib/python3/dist-packages/fixture.dist-info/METADATA"
    if eco == "cargo":
        return "/app/Cargo.lock"
    if eco == "composer":
        return "/app/composer.lock" if name == "composer.lock" else "/app/vendor/composer/installed.json"
    raise AssertionError(f"no image path for {case}")


def _run(case: Path, tmp_path: Path):
    inputs = case / "input"
    files = [p for p in inputs.rglob("*") if p.is_file()]
    eco = case.parent.name
    if eco == "java":  # pom.properties as it ships: inside a jar
        jar = tmp_path / "rootfs" / "app" / "fixture.jar"
        jar.parent.mkdir(parents=True)
        with zipfile.ZipFile(jar, "w") as zf:
            zf.write(files[0], "META-INF/maven/org.example/fixture/pom.properties")
        return analyze(f"dir:{tmp_path / 'rootfs'}").packages, []
    rootfs_like = any(len(p.relative_to(inputs).parts) > 1 or p.name.endswith(".egg-info") for p in files)
    if rootfs_like:
        inventory = analyze(f"dir:{inputs}")
        return inventory.packages, inventory.warnings
    packages, warnings = [], []
    ctx = AnalysisContext(tmp_dir=str(tmp_path))
    for file in files:
        path = _image_path(case, file)
        data = file.read_bytes()
        entry = FileEntry(path=path, size=len(data), data=data)
        for analyzer in default_analyzers():
            if analyzer.wants(path, len(data), 0o644):
                result = analyzer.analyze([entry], ctx)
                packages += result.packages
                warnings += result.warnings
    return packages, warnings


def _norm(name: str, eco: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower() if eco == "python" else name


def _source(package) -> str | None:
    if package.type == "rpm":
        return package.properties.get("sourcerpm")
    return package.source_name


@pytest.mark.parametrize("case", _cases(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_yields_expected_packages(case: Path, tmp_path: Path) -> None:
    expected = json.loads((case / "expected.json").read_text())["packages"]
    eco = case.parent.name
    found, warnings = _run(case, tmp_path)
    for want in expected:
        matches = [p for p in found if _norm(p.name, eco) == _norm(want["name"], eco)
                   and p.version == (want.get("version") or "")]
        assert matches, f"{want['name']} {want.get('version')} not found in {[(p.name, p.version) for p in found]}"
        if want.get("source_package") and eco in ("deb", "apk", "rpm"):
            assert want["source_package"] in {_source(p) for p in matches}, want
        if want.get("licenses") and eco in ("deb", "apk", "rpm", "npm", "composer", "gem"):
            assert any(sorted(p.licenses) == sorted(want["licenses"]) for p in matches), (
                want["licenses"], [p.licenses for p in matches])
        if eco == "rpm" and want.get("arch"):
            assert want["arch"] in {p.arch for p in matches}
        if eco == "rpm" and "epoch" in want:
            epochs = {p.properties.get("epoch") for p in matches}
            assert (str(want["epoch"]) if want["epoch"] is not None else None) in epochs


def _dependency_cases() -> list[Path]:
    return [case for case in _cases() if "expected_dependencies" in json.loads((case / "expected.json").read_text())]


@pytest.mark.parametrize("case", _dependency_cases(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_dependency_edges(case: Path, tmp_path: Path) -> None:
    """syft's relationship assertions on its own database fixtures: dpkg Depends with alternatives (every
    installed choice), architecture restrictions and Provides; apk `D:` through `p:` (so:, cmd:)."""
    expected = json.loads((case / "expected.json").read_text())["expected_dependencies"]
    found, _ = _run(case, tmp_path)
    graph = dependency_graph(found)
    ours = {found[i].name: sorted(found[j].name for j in targets) for i, targets in graph.items()}
    assert ours == {name: sorted(targets) for name, targets in expected.items() if targets}


def test_rpm_fixture_counts_match_real_rpm(tmp_path: Path) -> None:
    """Whole-database counts (the expected lists come from rpm 4.18 / go-rpmdb reading the same files)."""
    for case, count in (("go-rpmdb-cbl-mariner-2.0-sqlite", 129), ("go-rpmdb-sle15-bci-ndb", 35)):
        found, warnings = _run(FIXTURES / "rpm" / case, tmp_path)
        assert len(found) == count and warnings == []
