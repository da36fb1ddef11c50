"""Modular rpms against real AlmaLinux OSV records, imported with the real importer into the real store.

AlmaLinux/Rocky OSV names modular packages plainly (`nodejs`, `npm`) and gives the stream only in the summary
and the `.module_el9…` release; the import stores them under `nodejs:18::nodejs` (as Red Hat data keys them),
and an installed package with a modularity label is looked up only under its stream's key. So: advisories of
the installed stream match, other streams' and the non-modular package's do not, npm is compared with npm's
own fixed version, and epochs count.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from hullscan.advisories.parsers.base import Tally
from hullscan.advisories.parsers.osv import parse_record
from hullscan.advisories.service import SqlAdvisoryStore, import_path
from hullscan.auth import projects
from hullscan.db import Database
from hullscan.db.models.vulnerabilities import Vulnerability
from hullscan.ecosystems import (
    advisory_package_names,
    is_modular_version,
    module_stream,
    summary_streams,
)
from hullscan.ingestion.service import ingest_sbom, rematch_advisory_changes
from hullscan.matching import match
from hullscan.scanner import analyze, write_cyclonedx
from hullscan.scanner.inventory import ImageInfo, Inventory, OperatingSystem, Package
from hullscan.settings import Settings
from tests.conftest import data_path

RECORDS = "modular-rpm"
NODE18 = "nodejs:18:9040020240807144226:rhel9"
ALSA_2024_6147_CVES = ("CVE-2024-22020", "CVE-2024-28863")  # its `related`: one finding per CVE


def _rpm(name: str, version: str, *, epoch: str | None = "1", label: str | None = NODE18,
         source: str = "nodejs", arch: str = "x86_64") -> Package:
    props = {"release": version.rpartition("-")[2]}
    if epoch is not None:
        props["epoch"] = epoch
    if label:
        props["modularitylabel"] = label
    return Package(name=name, version=version, type="rpm", source_name=source, arch=arch, properties=props)


def _findings(store: SqlAdvisoryStore, *packages: Package) -> set[tuple[str, str, str, tuple[str, ...]]]:
    inventory = Inventory(ImageInfo(name="alma"), OperatingSystem("almalinux", "9.4"), list(packages))
    result = match(inventory, store)
    # by advisory: a finding is one CVE of the errata (its `related` CVEs), its advisory_ids name the errata
    return {(f.package.name, f.package.version, a, tuple(f.fixed_versions))
            for f in result.findings for a in f.advisory_ids}


@pytest.fixture
def store(migrated_settings: Settings) -> Iterator[SqlAdvisoryStore]:
    db = Database(migrated_settings)
    try:
        results = import_path(db, migrated_settings, str(data_path(RECORDS, "almalinux9")))
        assert results and all(r.ok for r in results), results
        with db.session() as session:
            yield SqlAdvisoryStore(session)
    finally:
        db.dispose()


def _ids(found: set[tuple[str, str, str, tuple[str, ...]]], package: str) -> dict[str, tuple[str, ...]]:
    return {ident: fixed for name, _, ident, fixed in found if name == package}


def test_installed_stream_matches_and_other_streams_do_not(store: SqlAdvisoryStore) -> None:
    found = _findings(
        store,
        _rpm("nodejs", "1:18.20.2-2.module_el9.4.0+99+a01f7676"),
        _rpm("npm", "1:10.5.0-1.18.20.2.2.module_el9.4.0+99+a01f7676"),
    )
    # ALSA-2024:6147 (nodejs:18, fixed 18.20.4) applies; ALSA-2024:2779 is already installed;
    # ALSA-2024:5815 (nodejs:20), ALSA-2025:1613 (nodejs:22), ALSA-2024:2910 (non-modular) never apply.
    assert _ids(found, "nodejs") == {"ALSA-2024:6147": ("1:18.20.4-1.module_el9.4.0+112+bb28ff81",)}, found
    # npm is compared with, and reported with, npm's own fixed version, not nodejs's
    assert _ids(found, "npm") == {"ALSA-2024:6147": ("1:10.7.0-1.18.20.4.1.module_el9.4.0+112+bb28ff81",)}, found
    assert len(found) == 2


def test_other_streams_match_their_own_installs(store: SqlAdvisoryStore) -> None:
    node20 = "nodejs:20:9040020240716081744:rhel9"
    node22 = "nodejs:22:9050020250115120000:rhel9"
    found = _findings(
        store,
        _rpm("nodejs", "1:20.14.0-1.module_el9.4.0+100+71a1bbd6", label=node20),
        _rpm("v8-12.4-devel", "3:12.4.254.19-1.22.12.0.1.module_el9.5.0+130+aaaaaaaa", label=node22),
    )
    assert _ids(found, "nodejs") == {"ALSA-2024:5815": ("1:20.16.0-1.module_el9.4.0+107+dbd477e4",)}, found
    assert _ids(found, "v8-12.4-devel") == {
        "ALSA-2025:1613": ("3:12.4.254.21-1.22.13.1.1.module_el9.5.0+139+09296491",)}, found


def test_non_modular_install_gets_only_non_modular_advisories(store: SqlAdvisoryStore) -> None:
    found = _findings(store, _rpm("nodejs", "1:16.20.2-7.el9_4", label=None),
                      _rpm("npm", "1:8.19.4-1.16.20.2.7.el9_4", label=None))
    assert _ids(found, "nodejs") == {"ALSA-2024:2910": ("1:16.20.2-8.el9_4",)}, found
    assert _ids(found, "npm") == {"ALSA-2024:2910": ("1:8.19.4-1.16.20.2.8.el9_4",)}, found
    assert len(found) == 2


def test_epochs_count(store: SqlAdvisoryStore) -> None:
    """The epoch comes from the rpm header (`properties["epoch"]`) even when the version string omits it:
    1:18.20.5 is newer than 1:18.20.4 (no finding); read as 0:18.20.5 it would look older than the fix."""
    assert _findings(store, _rpm("nodejs", "18.20.5-1.module_el9.5.0+120+aaaaaaaa")) == set()
    # without an epoch at all (0), the same version IS older than every 1: fix of its stream
    found = _findings(store, _rpm("nodejs", "18.20.5-1.module_el9.5.0+120+aaaaaaaa", epoch=None))
    assert set(_ids(found, "nodejs")) == {"ALSA-2024:6147", "ALSA-2024:2779"}, found


def test_import_keys_modular_entries_by_stream() -> None:
    tally = Tally()
    parsed = parse_record(json.loads(data_path(RECORDS, "almalinux9", "ALSA-2024:6147.json").read_text()), tally)
    assert parsed is not None
    keys = {(a.ecosystem, a.package) for a in parsed.affected}
    assert ("AlmaLinux:9", "nodejs:18::nodejs") in keys and ("AlmaLinux:9", "nodejs:18::npm") in keys
    assert all(pkg.startswith("nodejs:18::") for _, pkg in keys)
    plain = parse_record(json.loads(data_path(RECORDS, "almalinux9", "ALSA-2024:2910.json").read_text()), tally)
    assert plain is not None and {a.package for a in plain.affected} >= {"nodejs", "npm"}


def test_rocky_modular_record_from_the_feed_samples() -> None:
    """Rocky writes `.module+el9…` releases and `0:` epochs; the stream is again in the summary only."""
    path = Path(data_path("feeds-samples", "rocky", "vunnel", "osv", "RLSA-2024_3671.json"))
    parsed = parse_record(json.loads(path.read_text()), Tally())
    assert parsed is not None
    assert {a.package for a in parsed.affected} >= {"ruby:3.3::ruby", "ruby:3.3::rubygem-pg"}


@pytest.mark.parametrize(("label", "stream"), [
    (NODE18, "nodejs:18"), ("container-tools:rhel8:8030020201124131330:830f1ff1", "container-tools:rhel8"),
    ("", None), (None, None), ("nodejs", None), ("nodejs::", None),
])
def test_module_stream_of_a_label(label: str | None, stream: str | None) -> None:
    assert module_stream(label) == stream


def test_streams_named_in_summaries() -> None:
    assert summary_streams("Moderate: mariadb:10.3 security, bug fix, and enhancement update") == ["mariadb:10.3"]
    assert summary_streams("Important: container-tools:rhel8 security update") == ["container-tools:rhel8"]
    assert summary_streams("Moderate: python39:3.9 and python39-devel:3.9 security update") == [
        "python39:3.9", "python39-devel:3.9"]
    assert summary_streams("Important: kernel security update") == []
    assert summary_streams("see https://errata.almalinux.org/9/ALSA-2024-6147.html") == []
    assert summary_streams("a:" * 100_000) == []  # hostile: bounded, no match
    assert is_modular_version("1:18.20.4-1.module_el9.4.0+112+bb28ff81")
    assert is_modular_version("0:3.3.1-2.module+el9.4.0+20787+4c237fd3")
    assert not is_modular_version("1:16.20.2-8.el9_4")
    # only rpm ecosystems with modular fixes get stream keys
    assert advisory_package_names("AlmaLinux:9", "npm", "nodejs:18 update", ["1:10.7.0-1.module_el9.4.0+1+a"]) == [
        "nodejs:18::npm"]
    assert advisory_package_names("AlmaLinux:9", "npm", "nodejs:18 update", ["1:10.7.0-1.el9"]) == ["npm"]
    assert advisory_package_names("PyPI", "x", "nodejs:18", ["1.0.module_el9"]) == ["x"]


# --- end to end: an rpm image built with rpmbuild + `rpm --justdb` (scripts/build-rpm-test-image.sh) ---------

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rpm_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert shutil.which("rpmbuild"), "Debian's rpm package is needed (scripts/system-deps.sh installs it)"
    out = tmp_path_factory.mktemp("rpm-image") / "layout"
    subprocess.run(["sh", str(ROOT / "scripts" / "build-rpm-test-image.sh"), str(out)], check=True,
                   capture_output=True, timeout=300)
    return out


def _hullscan(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hullscan", *args], check=False, env=env, capture_output=True, text=True,
                          timeout=600, cwd=env["HULLSCAN_DATA_DIR"])


def test_scan_of_an_rpm_image_and_of_its_sbom(rpm_image: Path, tmp_path: Path) -> None:
    """`hullscan scan` of the image and of its own SBOM: the nodejs:18 install gets ALSA-2024:6147 for nodejs and
    npm, each with its own fixed version; nodejs:20/22 and non-modular advisories never; both glibc arches are
    in the inventory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HULLSCAN_")}
    env.update({"HULLSCAN_DATA_DIR": str(tmp_path), "HULLSCAN_SCANNER_CACHE_DIR": str(tmp_path / "cache"),
                "HULLSCAN_LOG_JSON": "false"})
    done = _hullscan(env, "advisories", "import", str(data_path(RECORDS, "almalinux9")))
    assert done.returncode == 0, done.stderr
    want = [("nodejs", "1:18.20.2-2.module_el9.4.0+99+a01f7676", cve, ["1:18.20.4-1.module_el9.4.0+112+bb28ff81"])
            for cve in ALSA_2024_6147_CVES] + [
            ("npm", "1:10.5.0-1.18.20.2.2.module_el9.4.0+99+a01f7676", cve,
             ["1:10.7.0-1.18.20.4.1.module_el9.4.0+112+bb28ff81"]) for cve in ALSA_2024_6147_CVES]
    sbom = tmp_path / "sbom.json"
    done = _hullscan(env, "sbom", f"oci-dir:{rpm_image}", "--output", str(sbom))
    assert done.returncode == 0, done.stderr
    components = json.loads(sbom.read_text())["components"]
    glibc = sorted(c["purl"].split("arch=")[1].split("&")[0] for c in components if c["name"] == "glibc")
    assert glibc == ["i686", "x86_64"]
    for target in (f"oci-dir:{rpm_image}", str(sbom)):
        done = _hullscan(env, "scan", "--offline", target, "--format", "json")
        assert done.returncode in (0, 1), done.stderr  # 1: findings at or above the failure threshold
        findings = json.loads(done.stdout)["findings"]
        got = sorted((f["package"]["name"], f["package"]["version"], f["vulnerability_id"], f["fixed_versions"])
                     for f in findings)
        assert got == want, (target, got)


def _stored(db: Database, image: str) -> list[tuple[str, str, str, list[str]]]:
    with db.session() as s:
        rows = s.scalars(select(Vulnerability).where(Vulnerability.image_name == image)).all()
        return sorted((v.package_name, v.package_version, v.primary_identifier, list(v.fixed_versions))
                      for v in rows)


def test_server_paths_ingestion_and_rematch_agree(rpm_image: Path, migrated_settings: Settings,
                                                 tmp_path: Path) -> None:
    """(A) an SBOM ingested before the advisories exist, then re-matched when they are imported, and (B) one
    ingested after: the same stored vulnerabilities, only the nodejs:18 advisory, npm with npm's own fix."""
    inventory = analyze(f"oci-dir:{rpm_image}")
    want = [("nodejs", "1:18.20.2-2.module_el9.4.0+99+a01f7676", cve, ["1:18.20.4-1.module_el9.4.0+112+bb28ff81"])
            for cve in ALSA_2024_6147_CVES] + [
            ("npm", "1:10.5.0-1.18.20.2.2.module_el9.4.0+99+a01f7676", cve,
             ["1:10.7.0-1.18.20.4.1.module_el9.4.0+112+bb28ff81"]) for cve in ALSA_2024_6147_CVES]
    db = Database(migrated_settings)
    try:

        def ingest(name: str, digest: str) -> None:
            with db.session() as s:
                pid = projects.create_project(s, name.split("/", 1)[1]).id
            image = dataclasses.replace(inventory, image=ImageInfo(name=name, tag="latest", digest=digest))
            sbom = tmp_path / f"{digest[-4:]}.cdx.json"
            sbom.write_text(write_cyclonedx(image, registry_triggered=True))
            with db.session() as s:
                ingest_sbom(s, pid, sbom)

        ingest("registry.test/alma/before", "sha256:" + "c" * 64)  # (A) no advisories yet
        assert _stored(db, "registry.test/alma/before") == []
        assert all(r.ok for r in import_path(db, migrated_settings, str(data_path(RECORDS, "almalinux9"))))
        with db.session() as s:
            rematch_advisory_changes(s)
        ingest("registry.test/alma/after", "sha256:" + "d" * 64)  # (B) advisories first
        assert _stored(db, "registry.test/alma/before") == _stored(db, "registry.test/alma/after") == want
    finally:
        db.dispose()
