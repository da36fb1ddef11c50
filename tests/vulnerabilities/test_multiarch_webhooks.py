"""A tag that switches to a multi-arch index: each platform's findings are new findings (new fingerprints, new
builds), but the `new_vulnerability` webhook tells only of vulnerabilities new to the image — those that mirror
a finding the tag already had as one platform are left out, on every platform; one the tag had lost before the
switch, and one that appears only now, are told. Real SBOMs of a test image through the real ingestion (as the
runner writes them per platform), SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sqlalchemy import select

from hullscan.advisories.service import import_path
from hullscan.auth import projects
from hullscan.db import Database
from hullscan.db.models.vulnerabilities import Vulnerability, WebhookDelivery
from hullscan.ingestion.service import ingest_sbom
from hullscan.scanner import analyze
from hullscan.scanner.inventory import Inventory
from hullscan.settings import Settings
from hullscan.vulnerabilities import notifications
from tests.conftest import data_path, image_layout
from tests.pipelines.test_multiarch import IMAGE, _platform_sbom


def _sbom(tmp: Path, inv: Inventory, digest: str, platform: str | None = None, drop: tuple[str, ...] = ()) -> Path:
    """The inventory's SBOM without the packages `drop`, as the runner writes it (for one platform of an index)."""
    label = f"{digest[-4:]}-{(platform or 'single').replace('/', '-')}"
    return _platform_sbom(tmp, dataclasses.replace(inv, packages=[p for p in inv.packages if p.name not in drop]),
                          platform, digest, label)


def _told(session, hook_id: int) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(identifier, image) of every vulnerability the webhook was told of so far."""
    return sorted((v["identifier"], v["image"]) for d in session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook_id)) for v in d.payload["vulnerabilities"])


def test_the_switch_to_multiarch_tells_only_of_vulnerabilities_new_to_the_image(migrated_settings: Settings,
                                                                                  tmp_path: Path) -> None:
    db = Database(migrated_settings)
    import_path(db, migrated_settings, str(data_path("advisories", "osv", "pypi.jsonl.gz")))
    inv = analyze(f"oci-dir:{image_layout('debian-python-app')}")
    packages = {p.name for p in inv.packages}
    assert {"urllib3", "Jinja2"} <= packages, packages

    def ingest(path: Path) -> list[int]:
        with db.session() as s:
            new = ingest_sbom(s, pid, path).new_vulnerability_ids
            notifications.notify_new_vulnerabilities(s, new, reason="scan")  # as ingest_sbom_artifact does
            return new

    with db.session() as s:
        pid = projects.create_project(s, "group/project").id
        hook = notifications.create_webhook(s, pid, "http://hooks.test/new", min_severity="unknown").id
    # scanned as one platform: without jinja2 (it comes with the index); urllib3 is there, then goes
    ingest(_sbom(tmp_path, inv, "sha256:" + "1" * 64, drop=("Jinja2",)))
    ingest(_sbom(tmp_path, inv, "sha256:" + "2" * 64, drop=("Jinja2", "urllib3")))  # urllib3's: no longer detected
    with db.session() as s:
        first = _told(s, hook)
        single = {i for i, _ in first}
        urllib3 = {v.primary_identifier for v in s.scalars(select(Vulnerability).where(
            Vulnerability.package_name == "urllib3"))}
        jinja2_ids = single & {v.primary_identifier for v in s.scalars(select(Vulnerability).where(
            Vulnerability.package_name == "Jinja2"))}
    assert urllib3 and urllib3 <= single and not jinja2_ids

    # the same tag pushed as an index, each platform ingested on its own (as the runner uploads them)
    amd64 = ingest(_sbom(tmp_path, inv, "sha256:" + "3" * 64, "linux/amd64"))
    arm64 = ingest(_sbom(tmp_path, inv, "sha256:" + "4" * 64, "linux/arm64/v8"))
    with db.session() as s:
        created = {(v.primary_identifier, v.image_name) for v in s.scalars(select(Vulnerability).where(
            Vulnerability.id.in_(amd64 + arm64)))}
        jinja2 = {v.primary_identifier for v in s.scalars(select(Vulnerability).where(
            Vulnerability.package_name == "Jinja2"))}
        told = [t for t in _told(s, hook) if t not in first]
    assert jinja2 and len(created) == 2 * len({i for i, _ in created})  # every finding is new, on both platforms
    # told: what the tag did not have when it switched — urllib3's (gone before) and jinja2's (never there)
    expected = sorted((i, f"{IMAGE} [{p}]:latest") for i in urllib3 | jinja2 for p in ("linux/amd64", "linux/arm64/v8"))
    assert told == expected, told
    # the mirrors are not told, but are new findings all the same (in the report, each to be triaged)
    assert {i for i, _ in created} - urllib3 - jinja2 == single - urllib3 != set()
    db.dispose()
