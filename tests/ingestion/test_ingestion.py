"""Ingestion, per-image resolution and continuous scanning against real data: the app image of
../shared/testdata/images scanned by hullscan's scanner, the real PyPI OSV records, PostgreSQL and SQLite."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hullscan.advisories.reader import SqlAdvisoryStore
from hullscan.advisories.service import import_path
from hullscan.auth import projects
from hullscan.db import Database
from hullscan.db.models.vulnerabilities import SbomOccurrence, SbomSource, Vulnerability
from hullscan.ingestion.service import IngestionError, ingest_sbom, rematch_advisory_changes
from hullscan.matching.engine import match
from hullscan.scanner import analyze, write_cyclonedx
from hullscan.scanner.inventory import ImageInfo, Inventory
from tests.conftest import data_path, image_layout

IMAGE = "registry.test:5000/group/project/app"


@pytest.fixture(scope="module")
def app_inventory() -> Inventory:
    inv = analyze(f"oci-dir:{image_layout('debian-python-app')}")
    return inv


def as_image(inv: Inventory, name: str, tag: str, digest: str) -> Inventory:
    return dataclasses.replace(inv, image=ImageInfo(name=name, tag=tag, digest=digest),
                               packages=[dataclasses.replace(p) for p in inv.packages])


def write_sbom(tmp_path: Path, inv: Inventory, label: str) -> Path:
    path = tmp_path / f"gl-sbom-{label}.cdx.json"
    path.write_text(write_cyclonedx(inv, registry_triggered=True))
    return path


def counts(session) -> tuple[int, int, int]:
    return (session.scalar(select(func.count()).select_from(SbomSource)),
            session.scalar(select(func.count()).select_from(SbomOccurrence)),
            session.scalar(select(func.count()).select_from(Vulnerability)))


def osv_record(vid: str, package: str, introduced: str, fixed: str | None, withdrawn: str | None = None) -> dict:
    events = [{"introduced": introduced}] + ([{"fixed": fixed}] if fixed else [])
    rec = {"id": vid, "modified": "2026-11-28T00:00:00Z", "published": "2026-11-28T00:00:00Z",
           "summary": f"test advisory for {package}", "aliases": [],
           "affected": [{"package": {"ecosystem": "PyPI", "name": package},
                         "ranges": [{"type": "ECOSYSTEM", "events": events}]}]}
    if withdrawn:
        rec["withdrawn"] = withdrawn
    return rec


def test_ingest_resolve_and_continuous_scanning(migrated_settings, tmp_path, app_inventory) -> None:
    db = Database(migrated_settings)
    import_path(db, migrated_settings, str(data_path("advisories", "osv", "pypi.jsonl.gz")))
    with db.session() as s:
        pid = projects.create_project(s, "group/project").id
        projects.update_project_settings(s, projects.get_project(s, pid), auto_resolve=True)

    app = as_image(app_inventory, IMAGE, "latest", "sha256:" + "a" * 64)
    other = as_image(app_inventory, IMAGE.replace("/app", "/other"), "latest", "sha256:" + "b" * 64)

    # 1. Ingest: vulnerabilities equal what matching reports for the same image (what `hullscan scan` shows).
    with db.session() as s:
        result = ingest_sbom(s, pid, write_sbom(tmp_path, app, "app"))
        ingest_sbom(s, pid, write_sbom(tmp_path, other, "other"))
        expected = match(app, SqlAdvisoryStore(s)).findings
    assert result.occurrences == len(app_inventory.packages) and result.findings == len(expected) > 5
    with db.session() as s:
        rows = s.scalars(select(Vulnerability).where(Vulnerability.image_name == IMAGE)).all()
        assert {(v.package_name, v.primary_identifier) for v in rows} == \
            {(f.package.name, f.vulnerability_id) for f in expected}
        assert {"urllib3", "requests", "Jinja2", "Django"} <= {v.package_name for v in rows} or \
            {"urllib3", "requests", "jinja2", "django"} <= {v.package_name.lower() for v in rows}
        assert not any(v.package_name.lower() == "pyyaml" for v in rows)  # whited out in the top layer
        for v in rows:
            assert v.report_type == 8 and v.location["image"] == f"{IMAGE}:latest"
            loc = hashlib.sha1(f"{IMAGE}:{v.package_name}".encode()).hexdigest()
            ident = hashlib.sha1(f"{v.primary_identifier.split('-')[0].lower()}:{v.primary_identifier}".encode())
            want = uuid.uuid5(uuid.UUID("58dc0f06-936c-43b3-93bb-71693f1b6570"),
                              f"container_scanning_for_registry-{ident.hexdigest()}-{loc}-{pid}")
            assert v.uuid == str(want)
        before = counts(s)
        urllib3_ids = {v.id for v in rows if v.package_name == "urllib3"}
        dismissed = next(iter(rows))
    from hullscan.vulnerabilities import service as vulns

    with db.session() as s:
        vulns.change_state(s, [dismissed.id], "dismissed", author="t", dismissal_reason="used_in_tests")

    # 2. Rescan: no duplicates; a dismissal survives.
    with db.session() as s:
        again = ingest_sbom(s, pid, write_sbom(tmp_path, app, "app2"))
        assert again.new_vulnerability_ids == [] and counts(s) == before
        assert s.get(Vulnerability, dismissed.id).state == "dismissed"

    # 3. A patched image (urllib3 upgraded) on the same tag resolves urllib3's vulnerabilities; the other image
    #    of the project keeps all of its vulnerabilities.
    patched = as_image(app_inventory, IMAGE, "latest", "sha256:" + "c" * 64)
    for p in patched.packages:
        if p.name == "urllib3":
            p.version = "2.2.3"
            p.purl = "pkg:pypi/urllib3@2.2.3"
    with db.session() as s:
        res = ingest_sbom(s, pid, write_sbom(tmp_path, patched, "patched"))
        assert set(res.no_longer_detected_ids) == urllib3_ids
        for vid in urllib3_ids:
            v = s.get(Vulnerability, vid)
            assert v.no_longer_detected and v.state in ("resolved", "dismissed")
        others = s.scalars(select(Vulnerability).where(Vulnerability.image_name.like("%/other"))).all()
        assert len(others) == len(expected) and not any(v.no_longer_detected for v in others)

    # 4. Continuous scanning: a new advisory for a stored package -> new vulnerability with no pipeline and no
    #    registry request; withdrawing it resolves it.
    with db.session() as s:
        rematch_advisory_changes(s)  # consume the changesets of the initial import
    feed = tmp_path / "extra.jsonl"
    feed.write_text(json.dumps(osv_record("HULLSCAN-TEST-0001", "jinja2", "0", "99.0")) + "\n")
    import_path(db, migrated_settings, str(feed), fmt="osv", source="test-extra")
    with db.session() as s:
        r = rematch_advisory_changes(s)
        assert r.changesets == 1 and len(r.new_vulnerability_ids) == 2  # both images carry jinja2 2.10
        new = [s.get(Vulnerability, i) for i in r.new_vulnerability_ids]
        assert {v.activity for v in new} == {"detected_by_advisory_update"}
        assert {v.primary_identifier for v in new} == {"HULLSCAN-TEST-0001"}
    feed.write_text(json.dumps(osv_record("HULLSCAN-TEST-0001", "jinja2", "0", "99.0",
                                          withdrawn="2026-11-28T01:00:00Z")) + "\n")
    import_path(db, migrated_settings, str(feed), fmt="osv", source="test-extra")
    with db.session() as s:
        r2 = rematch_advisory_changes(s)
        assert sorted(r2.no_longer_detected_ids) == sorted(r.new_vulnerability_ids)
        assert {s.get(Vulnerability, i).state for i in r2.no_longer_detected_ids} == {"resolved"}
    db.dispose()


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(specVersion="9.9"), "specVersion"),
    (lambda d: d.update(version="x"), "schema"),
    (lambda d: d["metadata"].update(properties=[p for p in d["metadata"]["properties"]
                                                if not p["name"].endswith("image:tag")]), "image:tag"),
    (lambda d: d["metadata"].update(properties=[p for p in d["metadata"]["properties"]
                                                if not p["name"].endswith("operating_system:version")]),
     "operating_system"),
    (lambda d: d["metadata"].update(properties=[p for p in d["metadata"]["properties"]
                                                if p["name"] != "gitlab:meta:schema_version"]), "schema_version"),
])
def test_invalid_sbom_writes_nothing(migrated_settings, tmp_path, app_inventory, mutate, message) -> None:
    db = Database(migrated_settings)
    with db.session() as s:
        pid = projects.create_project(s, "group/bad").id
        doc = json.loads(write_cyclonedx(as_image(app_inventory, IMAGE, "latest", "sha256:" + "d" * 64),
                                         registry_triggered=True))
        mutate(doc)
        path = tmp_path / "bad.cdx.json"
        path.write_text(json.dumps(doc))
        before = counts(s)
        with pytest.raises(IngestionError, match=message):
            ingest_sbom(s, pid, path)
        assert counts(s) == before
    with db.session() as s:
        path.write_bytes(b"\x00garbage{")
        with pytest.raises(IngestionError, match="JSON"):
            ingest_sbom(s, pid, path)
    db.dispose()
