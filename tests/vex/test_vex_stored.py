"""Imported VEX statements keep applying: a finding recorded after the import (a new advisory re-matched, a
re-scan) that a statement names takes the statement's state, a `fixed` statement for an image digest survives a
re-match, and neither a new digest nor a new package version is covered by a statement scoped to the old one. A
later manual triage wins. Real SBOMs of a test image, real ingestion and re-matching; SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hullscan.advisories.service import import_path
from hullscan.auth import projects
from hullscan.db import Database
from hullscan.db.models.vex import VexStatement
from hullscan.db.models.vulnerabilities import Vulnerability, WebhookDelivery
from hullscan.ingestion.service import ingest_sbom, rematch_advisory_changes
from hullscan.matching.vex import parse_vex
from hullscan.scanner import analyze, write_cyclonedx
from hullscan.scanner.inventory import ImageInfo, Inventory
from hullscan.settings import Settings
from hullscan.vex import service as vex
from hullscan.vulnerabilities import notifications
from hullscan.vulnerabilities import service as vulns
from tests.conftest import data_path, image_layout

IMAGE = "registry.test:5000/group/project/app"
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
DOC_ID = "https://vex.test/app/2026-12-01"


def _sbom(tmp: Path, inv: Inventory, digest: str) -> Path:
    inv = dataclasses.replace(inv, image=ImageInfo(name=IMAGE, tag="latest", digest=digest))
    path = tmp / f"sbom-{digest[-4:]}.cdx.json"
    path.write_text(write_cyclonedx(inv, registry_triggered=True))
    return path


def _advisories(db: Database, settings: Settings, tmp: Path, name: str, entries: list[tuple[str, str, str]]) -> None:
    """(id, PyPI package, modified) advisories affecting every version, imported as a feed."""
    feed = tmp / f"{name}.jsonl"
    feed.write_text("".join(json.dumps({
        "id": ident, "modified": modified, "summary": f"test advisory for {package}",
        "affected": [{"package": {"ecosystem": "PyPI", "name": package},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}) + "\n"
        for ident, package, modified in entries))
    import_path(db, settings, str(feed), fmt="osv", source=f"test-{name}")


def _openvex(statements: list[dict[str, Any]], doc_id: str = DOC_ID) -> bytes:
    return json.dumps({"@context": "https://openvex.dev/ns/v0.2.0", "@id": doc_id, "author": "security team",
                       "timestamp": "2026-12-01T00:00:00Z", "version": 1, "statements": statements}).encode()


def _finding(session: Any, identifier: str) -> Vulnerability:
    (v,) = session.scalars(select(Vulnerability).where(Vulnerability.primary_identifier == identifier))
    return v


def _project(settings: Settings, tmp: Path) -> tuple[Database, Inventory, int]:
    """PyPI advisories, and group/project with the test image's SBOM ingested at digest D1."""
    db = Database(settings)
    import_path(db, settings, str(data_path("advisories", "osv", "pypi.jsonl.gz")))
    inv = analyze(f"oci-dir:{image_layout('debian-python-app')}")
    with db.session() as s:
        pid = projects.create_project(s, "group/project").id
        ingest_sbom(s, pid, _sbom(tmp, inv, D1))
        rematch_advisory_changes(s)  # the initial import's changesets: nothing new
    return db, inv, pid


def test_stored_statements_keep_applying(migrated_settings: Settings, tmp_path: Path) -> None:
    db, inv, pid = _project(migrated_settings, tmp_path)
    _advisories(db, migrated_settings, tmp_path, "urllib3", [("HULLSCAN-VEX-FIXED", "urllib3", "2026-12-01T00:00:00Z")])
    with db.session() as s:
        rematch_advisory_changes(s)
        assert _finding(s, "HULLSCAN-VEX-FIXED").state == "detected"

    doc = _openvex([
        # about advisories that do not exist yet: the package without version, so any version
        {"vulnerability": {"name": "HULLSCAN-VEX-NEW", "aliases": ["CVE-2099-0001"]},
         "products": [{"@id": "pkg:pypi/jinja2"}], "status": "not_affected",
         "justification": "vulnerable_code_not_in_execute_path"},
        # a package version the image does not have: not this finding
        {"vulnerability": {"name": "HULLSCAN-VEX-OTHER-VERSION"}, "products": [{"@id": "pkg:pypi/django@4.2"}],
         "status": "not_affected", "justification": "component_not_present"},
        # the image digest D1, with the package as subcomponent: resolved now, and it stays so
        {"vulnerability": {"name": "HULLSCAN-VEX-FIXED"},
         "products": [{"@id": f"pkg:oci/app@{D1}", "subcomponents": [{"@id": "pkg:pypi/urllib3"}]}],
         "status": "fixed"},
    ])
    with db.session() as s:
        result = vex.import_vex(s, pid, parse_vex(doc), source="test", actor="alice")
        assert result.changed == {"resolved": 1}
        # one row per vulnerability name of each statement
        assert s.scalar(select(func.count()).select_from(VexStatement)) == 4

    # new advisories arrive; re-matching records new findings, and re-matches urllib3 (still detected)
    _advisories(db, migrated_settings, tmp_path, "new", [
        ("HULLSCAN-VEX-NEW", "jinja2", "2026-12-02T00:00:00Z"),
        ("HULLSCAN-VEX-OTHER-VERSION", "django", "2026-12-02T00:00:00Z"),
        ("HULLSCAN-VEX-URLLIB3-2", "urllib3", "2026-12-02T00:00:00Z")])
    with db.session() as s:
        hook = notifications.create_webhook(s, pid, "http://hooks.test/new", min_severity="unknown")
        rematched = rematch_advisory_changes(s)
        assert rematched.sources == 1
        # a finding that arrived dismissed is no news: the webhook hears of the other two only
        assert notifications.notify_new_vulnerabilities(s, rematched.new_vulnerability_ids, reason="test") == 1
        (delivery,) = s.scalars(select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id))
        assert sorted(v["identifier"] for v in delivery.payload["vulnerabilities"]) == \
            ["HULLSCAN-VEX-OTHER-VERSION", "HULLSCAN-VEX-URLLIB3-2"]
    with db.session() as s:
        new = _finding(s, "HULLSCAN-VEX-NEW")
        assert (new.state, new.dismissal_reason) == ("dismissed", "not_applicable")
        entry = vulns.history(s, new.id)[-1]
        assert entry.author == f"vex:{DOC_ID}" and entry.to_state == "dismissed"
        assert "VEX not_affected" in entry.comment and "justification: vulnerable_code_not_in_execute_path" in \
            entry.comment and "imported by alice" in entry.comment
        assert _finding(s, "HULLSCAN-VEX-OTHER-VERSION").state == "detected"  # django 3.2, not 4.2
        assert _finding(s, "HULLSCAN-VEX-URLLIB3-2").state == "detected"  # a statement names its vulnerability
        fixed = _finding(s, "HULLSCAN-VEX-FIXED")
        assert fixed.state == "resolved" and not fixed.no_longer_detected  # the re-match still detects it
        assert [(t.to_state, t.author) for t in vulns.history(s, fixed.id)] == \
            [("detected", "hullscan"), ("resolved", f"vex:{DOC_ID}")]  # detected, resolved at import: no churn

    with db.session() as s:  # a re-scan of the same image: nothing changes
        ingest_sbom(s, pid, _sbom(tmp_path, inv, D1))
        assert _finding(s, "HULLSCAN-VEX-FIXED").state == "resolved"
        assert _finding(s, "HULLSCAN-VEX-NEW").state == "dismissed"

    with db.session() as s:  # a new digest is not covered by the statement about D1
        ingest_sbom(s, pid, _sbom(tmp_path, inv, D2))
        fixed = _finding(s, "HULLSCAN-VEX-FIXED")
        assert (fixed.state, fixed.image_digest) == ("detected", D2)
        assert _finding(s, "HULLSCAN-VEX-NEW").state == "dismissed"  # about the package at any version

    with db.session() as s:  # back to D1, after a person decided otherwise: the later manual triage wins
        vulns.change_state(s, [_finding(s, "HULLSCAN-VEX-FIXED").id], "dismissed", author="bob",
                           dismissal_reason="acceptable_risk")
        vulns.change_state(s, [_finding(s, "HULLSCAN-VEX-NEW").id], "confirmed", author="bob")
        ingest_sbom(s, pid, _sbom(tmp_path, inv, D1))
        assert _finding(s, "HULLSCAN-VEX-FIXED").state == "dismissed"
        assert _finding(s, "HULLSCAN-VEX-NEW").state == "confirmed"
    db.dispose()


def test_statements_are_capped_and_replaced(migrated_settings: Settings) -> None:
    db = Database(migrated_settings)
    statement = {"vulnerability": {"name": "CVE-2099-0002", "aliases": ["GHSA-test-0002"]},
                 "products": [{"@id": "pkg:pypi/jinja2"}], "status": "not_affected",
                 "justification": "component_not_present"}
    with db.session() as s:
        pid = projects.create_project(s, "group/capped").id
        vex.import_vex(s, pid, parse_vex(_openvex([statement])), source="t", actor="a", max_statements=3)
        # the same document again replaces its statements instead of adding to them
        vex.import_vex(s, pid, parse_vex(_openvex([statement])), source="t", actor="a", max_statements=3)
        assert s.scalar(select(func.count()).select_from(VexStatement)) == 2
    with db.session() as s, pytest.raises(vex.VexImportError, match="more than the 3 allowed"):
        vex.import_vex(s, pid, parse_vex(_openvex([statement], "https://vex.test/other")), source="t", actor="a",
                       max_statements=3)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(VexStatement)) == 2
        # a document's statements are withdrawn by importing it again without statements
        vex.import_vex(s, pid, parse_vex(_openvex([])), source="t", actor="a", max_statements=3)
        assert s.scalar(select(func.count()).select_from(VexStatement)) == 0
    db.dispose()


def test_a_fixed_statement_keeps_its_finding_resolved_without_churn(migrated_settings: Settings,
                                                                     tmp_path: Path) -> None:
    """Re-matches and a rescan that still detect a finding a stored `fixed` statement resolved leave it resolved
    with no new history entry and no webhook; a finding a person resolved is still "detected again"."""
    db, inv, pid = _project(migrated_settings, tmp_path)
    _advisories(db, migrated_settings, tmp_path, "urllib3", [("HULLSCAN-VEX-FIXED", "urllib3", "2026-12-01T00:00:00Z"),
                                                             ("HULLSCAN-BY-HAND", "urllib3", "2026-12-01T00:00:00Z")])
    doc = _openvex([{"vulnerability": {"name": "HULLSCAN-VEX-FIXED"},
                     "products": [{"@id": f"pkg:oci/app@{D1}", "subcomponents": [{"@id": "pkg:pypi/urllib3"}]}],
                     "status": "fixed"}])
    with db.session() as s:
        rematch_advisory_changes(s)
        assert vex.import_vex(s, pid, parse_vex(doc), source="test", actor="alice").changed == {"resolved": 1}
        vulns.change_state(s, [_finding(s, "HULLSCAN-BY-HAND").id], "resolved", author="bob")
        hook = notifications.create_webhook(s, pid, "http://hooks.test/new", min_severity="unknown")
        fixed_id = _finding(s, "HULLSCAN-VEX-FIXED").id
        before = [(t.id, t.to_state, t.author) for t in vulns.history(s, fixed_id)]
        assert before[-1][1:] == ("resolved", f"vex:{DOC_ID}")
    for day in ("02", "03"):  # the advisories change twice: each re-match records urllib3's findings again
        _advisories(db, migrated_settings, tmp_path, "urllib3", [
            ("HULLSCAN-VEX-FIXED", "urllib3", f"2026-12-{day}T00:00:00Z"),
            ("HULLSCAN-BY-HAND", "urllib3", f"2026-12-{day}T00:00:00Z")])
        with db.session() as s:
            rematched = rematch_advisory_changes(s)
            assert rematched.sources == 1
            notifications.notify_new_vulnerabilities(s, rematched.new_vulnerability_ids, reason="advisory_update")
            fixed = _finding(s, "HULLSCAN-VEX-FIXED")
            assert (fixed.state, fixed.no_longer_detected) == ("resolved", False)
            assert [(t.id, t.to_state, t.author) for t in vulns.history(s, fixed_id)] == before
            by_hand = _finding(s, "HULLSCAN-BY-HAND")  # not the statement's: detected again, as before
            assert by_hand.state == "detected"
            assert vulns.history(s, by_hand.id)[-1].comment == "detected again"
            vulns.change_state(s, [by_hand.id], "resolved", author="bob")
    with db.session() as s:  # a rescan of the same digest: still nothing
        ingested = ingest_sbom(s, pid, _sbom(tmp_path, inv, D1))
        notifications.notify_new_vulnerabilities(s, ingested.new_vulnerability_ids, reason="scan")
        assert [(t.id, t.to_state, t.author) for t in vulns.history(s, fixed_id)] == before
        assert s.scalar(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.webhook_id == hook.id)) == 0
    with db.session() as s:  # once withdrawn, the statement keeps nothing: the next rescan detects it again
        (document,) = vex.stored_documents(s, pid)
        vex.withdraw_document(s, pid, document.id)
        ingest_sbom(s, pid, _sbom(tmp_path, inv, D1))
        assert _finding(s, "HULLSCAN-VEX-FIXED").state == "detected"
        assert vulns.history(s, fixed_id)[-1].comment == "detected again"
    db.dispose()
