"""`hullscan scan` of a syft SBOM and of a Trivy SBOM of an image gives the findings of hullscan's own SBOM of it
(and of the image itself): every SBOM is read through the package record's codec, which takes each producer's
property names and purl forms into the same package record.

Documented exceptions:
- display spelling only (the same vulnerability, identifier, severity and fixed versions of the same package;
  the lookup keys are equal): syft lower-cases Python distribution names (`django` for `Django`), and Trivy
  writes the Go standard library's version as `v1.19.8` where hullscan and syft write `go1.19.8`. The comparison
  therefore compares Python names by PEP 503 and Go versions without the `go`/`v` prefix;
- syft (1.18) writes no modularity label for an rpm (nor any property carrying the module stream), so the
  advisories of a modular rpm's stream cannot be told from other streams' and are not reported from a syft SBOM:
  on the modular rpm image syft's findings are hullscan's minus those of the labelled packages (missed, never
  wrong). Trivy writes the label (`aquasecurity:trivy:Modularitylabel`) and gives hullscan's findings."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hullscan.advisories.reader import SqlAdvisoryStore
from hullscan.advisories.service import import_path
from hullscan.db import Database, upgrade
from hullscan.matching.finding import Finding
from hullscan.matching.sbom import read_sbom
from hullscan.matching.service import ScanRequest, run_scan
from hullscan.scanner import analyze, write_cyclonedx
from hullscan.settings import Settings
from tests.conftest import data_path, image_layout
from tests.matching.test_modular_rpm import rpm_image  # noqa: F401 - the modular rpm image fixture

IMAGES = ("debian-python-app", "go-binary", "distroless-style")
ADVISORIES = (("advisories", "osv", "pypi.jsonl.gz"), ("advisories", "osv", "go.jsonl.gz"),
              ("advisories", "debian", "DSA", "list"), ("modular-rpm", "almalinux9"))
MODULAR = "modular-rpm (scripts/build-rpm-test-image.sh)"


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not path:
        pytest.fail(f"{name} is missing: install the test extra (pip install -e '.[test]')")
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Iterator[SqlAdvisoryStore]:
    tmp = tmp_path_factory.mktemp("peer-sboms")
    settings = Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'hullscan.db'}")
    upgrade(settings)
    db = Database(settings)
    for parts in ADVISORIES:
        for result in import_path(db, settings, str(data_path(*parts))):
            assert result.ok, result
    with db.session() as session:
        yield SqlAdvisoryStore(session)
    db.dispose()


def _syft(layout: Path, out: Path) -> Path:
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
    out.write_text(subprocess.run([_tool("syft"), "scan", f"oci-dir:{layout}", "-o", "cyclonedx-json", "-q"],
                                  env=env, capture_output=True, text=True, check=True, timeout=600).stdout)
    return out


def _trivy(layout: Path, out: Path, cache: Path) -> Path:
    out.write_text(subprocess.run([_tool("trivy"), "image", "--input", str(layout), "--format", "cyclonedx",
                                   "--cache-dir", str(cache), "--skip-db-update", "--offline-scan", "--quiet"],
                                  capture_output=True, text=True, check=True, timeout=600).stdout)
    return out


def _key(f: Finding) -> tuple:
    name, version = f.package.name, f.package.version
    if f.package.type == "python":
        name = re.sub(r"[-_.]+", "-", name).lower()
    if f.package.type == "go" and name == "stdlib":
        version = version.removeprefix("go").removeprefix("v")
    return (f.package.type, name, version, f.vulnerability_id, f.severity, tuple(f.fixed_versions))


def _findings(target: Path, store: SqlAdvisoryStore) -> set[tuple]:
    return {_key(f) for f in run_scan(ScanRequest(target=str(target)), store, inventory=read_sbom(target)).findings}


@pytest.mark.parametrize("name", [*IMAGES, MODULAR])
def test_syft_and_trivy_sboms_give_hullscans_findings(name: str, store: SqlAdvisoryStore, tmp_path: Path,
                                                      request: pytest.FixtureRequest) -> None:
    layout = request.getfixturevalue("rpm_image") if name == MODULAR else image_layout(name)
    inventory = analyze(f"oci-dir:{layout}")
    own = tmp_path / "own.cdx.json"
    own.write_text(write_cyclonedx(inventory))
    expected = _findings(own, store)
    direct = {_key(f) for f in run_scan(ScanRequest(target=name), store, inventory=inventory).findings}
    assert expected == direct  # hullscan's own SBOM loses nothing matching needs
    if name in ("debian-python-app", "go-binary"):
        assert len(expected) > 20
    labelled = {p.name for p in inventory.packages if p.properties.get("modularitylabel")}
    if name == MODULAR:
        assert labelled == {"nodejs", "npm"} and {f[1] for f in expected} == labelled
    for producer, sbom in (("syft", _syft(layout, tmp_path / "syft.cdx.json")),
                           ("trivy", _trivy(layout, tmp_path / "trivy.cdx.json", tmp_path / "trivy-cache"))):
        got = _findings(sbom, store)
        want = {f for f in expected if f[1] not in labelled} if producer == "syft" else expected
        assert got == want, (producer, sorted(want - got)[:10], sorted(got - want)[:10])
