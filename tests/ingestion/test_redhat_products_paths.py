"""A RHEL 9.4 image built on EUS repositories on the server's two paths: the first match at ingestion and the
re-match of stored occurrence rows give what `hullscan scan` gives (tests/matching/test_ubi_products.py) --
only the EUS stream's statement, through Red Hat's repository-to-CPE map synced from a loopback server -- and a
change to the EUS stream's statements alone (`Red Hat:9.4+eus`) re-matches the images stored under `Red Hat:9`."""

from __future__ import annotations

import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import select

from hullscan.advisories.service import changesets_since, import_path, status, sync
from hullscan.advisories.service import repository_cpes as service_repository_cpes
from hullscan.auth import projects
from hullscan.db import Database
from hullscan.db.models.vulnerabilities import Vulnerability
from hullscan.ingestion.service import ingest_sbom, rematch_advisory_changes
from hullscan.scanner import analyze, write_cyclonedx
from hullscan.scanner.inventory import ImageInfo
from hullscan.settings import Settings
from tests.matching.test_ubi_products import _vex, images  # noqa: F401 - the image fixture

IMAGE = "registry.test:5000/group/app/rhel-eus"
DATA = Path(__file__).resolve().parents[1] / "data"


def _glibc(session, image: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {v.primary_identifier for v in session.scalars(select(Vulnerability).where(
        Vulnerability.image_name == image, Vulnerability.package_name == "glibc"))}


def _import(db: Database, cfg: Settings, folder: Path, statements: dict[str, tuple[str, str]]) -> None:
    folder.mkdir()
    for cve, (platform, cpe) in statements.items():
        (folder / f"{cve.lower()}.json").write_text(json.dumps(_vex(cve, platform, cpe, "2.34-105.el9_4")))
    for result in import_path(db, cfg, str(folder), source=f"redhat-vex:{folder.name}"):  # no withdrawals
        assert result.ok, result


def test_eus_image_on_ingestion_and_rematch(images: dict[str, Path], migrated_settings: Settings,  # noqa: F811
                                            tmp_path: Path) -> None:
    inventory = analyze(f"oci-dir:{images['eus']}")
    sboms = {}
    for name in (IMAGE, IMAGE + "-early"):
        inventory.image = ImageInfo(name=name, tag="9.4", digest=inventory.image.digest)
        sboms[name] = tmp_path / f"{name.rsplit('/', 1)[1]}.cdx.json"
        sboms[name].write_text(write_cyclonedx(inventory, registry_triggered=True))
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(DATA)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cfg = migrated_settings.model_copy(update={"advisories_redhat_repository_cpe_url": f"http://127.0.0.1:"
                                               f"{server.server_port}/redhat-repository-cpe/repository-to-cpe.json"})
    db = Database(cfg)
    try:
        [synced] = sync(db, cfg, ["redhat-cpe"])
        assert synced.ok, synced
        with db.session() as s:
            pid = projects.create_project(s, "group/app").id
            ingest_sbom(s, pid, sboms[IMAGE + "-early"])  # before any advisory
        _import(db, cfg, tmp_path / "main", {
            "CVE-2024-50011": ("BaseOS-9.4.0.Z.MAIN", "cpe:/o:redhat:enterprise_linux:9::baseos"),
            "CVE-2024-50012": ("SAP-9.4.0.Z.MAIN", "cpe:/a:redhat:enterprise_linux:9::sap")})
        with db.session() as s:
            rematch_advisory_changes(s, limit=1000)
        with db.session() as s:
            assert _glibc(s, IMAGE + "-early") == set()  # main-stream statements do not concern an EUS image
        _import(db, cfg, tmp_path / "eus", {
            "CVE-2024-50014": ("BaseOS-9.4.0.Z.EUS", "cpe:/a:redhat:rhel_eus:9.4::baseos")})
        with db.session() as s:
            ingest_sbom(s, pid, sboms[IMAGE])  # first match, the EUS statement present
            rematch_advisory_changes(s, limit=1000)  # the EUS-only changeset reaches the stored `Red Hat:9` rows
        with db.session() as s:
            first, rematched = _glibc(s, IMAGE), _glibc(s, IMAGE + "-early")
    finally:
        db.dispose()
        server.shutdown()
        server.server_close()
    assert first == {"CVE-2024-50014"}
    assert rematched == {"CVE-2024-50014"}


def _findings(session, image: str) -> dict[str, tuple[str, bool]]:  # type: ignore[no-untyped-def]
    """glibc's findings of `image`: CVE → (activity, no longer detected)."""
    return {v.primary_identifier: (v.activity, v.no_longer_detected) for v in session.scalars(select(Vulnerability)
            .where(Vulnerability.image_name == image, Vulnerability.package_name == "glibc"))}


def test_a_changed_repository_map_rematches_the_images_built_on_the_repository(
        images: dict[str, Path], migrated_settings: Settings, tmp_path: Path) -> None:  # noqa: F811
    """The map is first synced after the images were stored, then Red Hat moves the EUS BaseOS repository to
    another product (E4S): each sync that changes the map records a changeset naming the repositories, and one
    re-match pass makes the stored images' findings follow the map -- only the images built on a changed
    repository are re-matched. An identical re-sync records nothing."""
    site = tmp_path / "site"
    served = site / "repository-to-cpe.json"
    site.mkdir()
    original = json.loads((DATA / "redhat-repository-cpe" / "repository-to-cpe.json").read_text())
    served.write_text(json.dumps(original))
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cfg = migrated_settings.model_copy(update={
        "advisories_redhat_repository_cpe_url": f"http://127.0.0.1:{server.server_port}/repository-to-cpe.json"})
    sboms = {}
    for kind in ("eus", "sap"):
        inventory = analyze(f"oci-dir:{images[kind]}")
        inventory.image = ImageInfo(name=f"{IMAGE}-{kind}", tag="9.4", digest=inventory.image.digest)
        sboms[kind] = tmp_path / f"{kind}.cdx.json"
        sboms[kind].write_text(write_cyclonedx(inventory, registry_triggered=True))
    db = Database(cfg)
    try:
        _import(db, cfg, tmp_path / "statements", {
            "CVE-2024-50011": ("BaseOS-9.4.0.Z.MAIN", "cpe:/o:redhat:enterprise_linux:9::baseos"),
            "CVE-2024-50014": ("BaseOS-9.4.0.Z.EUS", "cpe:/a:redhat:rhel_eus:9.4::baseos"),
            "CVE-2024-50015": ("BaseOS-9.4.0.Z.E4S", "cpe:/a:redhat:rhel_e4s:9.4::baseos")})
        with db.session() as s:
            pid = projects.create_project(s, "group/app").id
            for sbom in sboms.values():
                ingest_sbom(s, pid, sbom)  # no map yet: the EUS repositories are unknown, the main release applies
        with db.session() as s:
            rematch_advisory_changes(s, limit=1000)  # the statements' import, already matched at ingestion
            before = _findings(s, f"{IMAGE}-eus")
        assert before == {"CVE-2024-50011": ("detected_by_scan", False)}

        [synced] = sync(db, cfg, ["redhat-cpe"])  # first sync: every repository of the map is new
        assert synced.ok, synced
        with db.session() as s:
            first = rematch_advisory_changes(s, limit=1000)
        with db.session() as s:
            eus, sap = _findings(s, f"{IMAGE}-eus"), _findings(s, f"{IMAGE}-sap")
        assert first.changesets == 1 and first.sources == 2
        assert eus == {"CVE-2024-50011": ("detected_by_scan", True),  # a main-release statement: not EUS's
                       "CVE-2024-50014": ("detected_by_advisory_update", False)}
        assert sap == {"CVE-2024-50011": ("detected_by_scan", False)}

        moved = {label: {**entry, "cpes": [c.replace("rhel_eus", "rhel_e4s") for c in entry["cpes"]]}
                 if label.startswith("rhel-9-for-x86_64-baseos-eus-rpms") else entry
                 for label, entry in original["data"].items()}
        served.write_text(json.dumps({"data": moved}))
        [changed] = sync(db, cfg, ["redhat-cpe"])
        assert changed.ok, changed
        with db.session() as s:
            [changeset] = changesets_since(s, status(s)["totals"]["last_changeset_id"] - 1)
            again = rematch_advisory_changes(s, limit=1000)
        with db.session() as s:
            eus, sap_after = _findings(s, f"{IMAGE}-eus"), _findings(s, f"{IMAGE}-sap")
        assert [(c.advisory_id, c.change, c.keys) for c in changeset.changes] == [
            ("rhel-9-for-x86_64-baseos-eus-rpms", "modified",
             [("Red Hat content set", "rhel-9-for-x86_64-baseos-eus-rpms")])]
        assert again.changesets == 1 and again.sources == 1  # the SAP image's repositories did not change
        assert eus == {"CVE-2024-50011": ("detected_by_scan", True),
                       "CVE-2024-50014": ("detected_by_advisory_update", True),
                       "CVE-2024-50015": ("detected_by_advisory_update", False)}
        assert sap_after == sap

        with db.session() as s:
            last = status(s)["totals"]["last_changeset_id"]
        [same] = sync(db, cfg, ["redhat-cpe"])  # the daily case: the same map records nothing
        assert same.ok, same
        with db.session() as s:
            assert status(s)["totals"]["last_changeset_id"] == last
            assert rematch_advisory_changes(s, limit=1000).changesets == 0
            assert service_repository_cpes(s)["rhel-9-for-x86_64-baseos-eus-rpms"] == (
                "cpe:/a:redhat:rhel_e4s:9.0::baseos", "cpe:/a:redhat:rhel_e4s:9.2::baseos",
                "cpe:/a:redhat:rhel_e4s:9.4::baseos")
    finally:
        db.dispose()
        server.shutdown()
        server.server_close()
