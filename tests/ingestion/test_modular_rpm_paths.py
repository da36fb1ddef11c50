"""The modular rpm image (scripts/build-rpm-test-image.sh: nodejs:18 with epochs, npm built from nodejs, glibc for
x86_64 and i686) on the two server paths, against real AlmaLinux OSV records: the first match at ingestion and
the re-match of stored occurrence rows after the advisories arrive give what matching the scanner's inventory
gives -- the stream's advisory only, npm with npm's own fix -- because the rows keep the label, epoch and arch."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from hullscan.advisories.reader import SqlAdvisoryStore
from hullscan.advisories.service import import_path
from hullscan.auth import projects
from hullscan.db import Database
from hullscan.db.models.vulnerabilities import SbomOccurrence, Vulnerability
from hullscan.ingestion.service import ingest_sbom, rematch_advisory_changes
from hullscan.matching.engine import match
from hullscan.scanner import analyze, write_cyclonedx
from hullscan.scanner.inventory import ImageInfo
from tests.conftest import data_path
from tests.matching.test_modular_rpm import rpm_image  # noqa: F401 - the image fixture

IMAGE = "registry.test:5000/group/app/alma"


def _rows(session, image: str) -> set[tuple]:  # type: ignore[no-untyped-def]
    return {(v.package_name, v.package_version, v.primary_identifier, v.severity, tuple(v.fixed_versions))
            for v in session.scalars(select(Vulnerability).where(Vulnerability.image_name == image))}


def test_ingestion_and_rematch_of_the_modular_rpm_image(rpm_image: Path, migrated_settings,  # noqa: F811
                                                        tmp_path: Path) -> None:
    inventory = analyze(f"oci-dir:{rpm_image}")
    inventory.image = ImageInfo(name=IMAGE, tag="9.4", digest=inventory.image.digest)
    assert sorted(p.arch for p in inventory.packages if p.name == "glibc") == ["i686", "x86_64"]
    sbom = tmp_path / "sbom.cdx.json"
    sbom.write_text(write_cyclonedx(inventory, registry_triggered=True))
    later = tmp_path / "later.cdx.json"  # the same image under another name, ingested before the advisories
    inventory.image = ImageInfo(name=IMAGE + "-early", tag="9.4", digest=inventory.image.digest)
    later.write_text(write_cyclonedx(inventory, registry_triggered=True))
    db = Database(migrated_settings)
    try:
        with db.session() as s:
            pid = projects.create_project(s, "group/app").id
            ingest_sbom(s, pid, later)  # (A) no advisories yet
            assert _rows(s, IMAGE + "-early") == set()
        with db.session() as s:  # the stored rows keep what matching needs
            stored = {(o.name, o.arch, (o.properties or {}).get("modularitylabel"), (o.properties or {}).get("epoch"))
                      for o in s.scalars(select(SbomOccurrence))}
        assert ("glibc", "i686", None, None) in stored and ("glibc", "x86_64", None, None) in stored
        assert ("npm", "x86_64", "nodejs:18:9040020240807144226:rhel9", "1") in stored

        for result in import_path(db, migrated_settings, str(data_path("modular-rpm", "almalinux9"))):
            assert result.ok, result
        with db.session() as s:
            expected = {(f.package.name, f.package.version, f.vulnerability_id, f.severity, tuple(f.fixed_versions))
                        for f in match(analyze(f"oci-dir:{rpm_image}"), SqlAdvisoryStore(s)).findings}  # (C)
            ingest_sbom(s, pid, sbom)  # (B) advisories first
            rematch_advisory_changes(s, limit=1000)  # (A) re-matched from the stored rows
        with db.session() as s:
            first, rematched = _rows(s, IMAGE), _rows(s, IMAGE + "-early")
    finally:
        db.dispose()
    # ALSA-2024:6147 (nodejs:18) is found once per CVE it names in `related`, for nodejs and for npm
    assert {(name, ident) for name, _, ident, _, _ in expected} == {
        (name, cve) for name in ("nodejs", "npm") for cve in ("CVE-2024-22020", "CVE-2024-28863")}
    npm_fix = next(fixed for name, _, _, _, fixed in expected if name == "npm")
    assert npm_fix == ("1:10.7.0-1.18.20.4.1.module_el9.4.0+112+bb28ff81",)
    assert first == expected
    assert rematched == expected
