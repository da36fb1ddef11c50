"""Red Hat CSAF VEX entries keep the products (platform CPEs) their statement is made for, through the store.

The first piece of restricting a UBI image to the products of its repositories (issue 15 item 2): matching can
only compare an image's CPEs with an entry's if the entry still names them after import.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hullscan.advisories import service
from hullscan.advisories.parsers import redhat
from hullscan.advisories.parsers.base import Tally
from hullscan.advisories.service import SqlAdvisoryStore
from hullscan.db import Database
from hullscan.settings import Settings

VEX = Path(__file__).parent.parent / "data" / "feeds-samples" / "rhel" / "trivy-db" / "redhat-csaf" / \
    "vuln-list-redhat" / "csaf-vex"


@pytest.fixture
def db(migrated_settings: Settings) -> Iterator[Database]:
    d = Database(migrated_settings)
    yield d
    d.dispose()


def _sap_only(doc: dict) -> dict:
    """The real pam document with a second platform, RHEL 9 for SAP Solutions, whose fix is a later build."""
    doc = json.loads(json.dumps(doc))
    tree = doc["product_tree"]
    tree["branches"][0]["branches"].append({
        "category": "product_version", "name": "Red Hat Enterprise Linux for SAP Solutions",
        "product": {"name": "RHEL for SAP", "product_id": "SAP-9",
                    "product_identification_helper": {"cpe": "cpe:/a:redhat:enterprise_linux:9::sap"}}})
    tree["relationships"].append({"category": "default_component_of",
                                  "full_product_name": {"name": "pam on SAP", "product_id": "SAP-9:pam-sap"},
                                  "product_reference": "pam-sap", "relates_to_product_reference": "SAP-9"})
    tree["branches"][0]["branches"].append({"category": "architecture", "name": "x86_64", "branches": [{
        "category": "product_version", "name": "pam-sap",
        "product": {"name": "pam-sap", "product_id": "pam-sap", "product_identification_helper": {
            "purl": "pkg:rpm/redhat/pam-sap@2.0-1.el9?arch=x86_64"}}}]})
    doc["vulnerabilities"][0]["remediations"][0]["product_ids"].append("SAP-9:pam-sap")
    return doc


def test_entries_keep_the_cpes_of_their_statement() -> None:
    doc = json.loads((VEX / "cve-2024-10041.json").read_text())
    parsed = redhat.parse_document(_sap_only(doc), Tally())
    assert parsed is not None
    by_package = {(e.ecosystem, e.package): e for e in parsed.affected}
    assert by_package[("Red Hat:9", "pam")].cpes == ("cpe:/o:redhat:enterprise_linux:9::baseos",)
    assert by_package[("Red Hat:9", "pam-sap")].cpes == ("cpe:/a:redhat:enterprise_linux:9::sap",)


def test_cpes_survive_the_store(db: Database, migrated_settings: Settings, tmp_path: Path) -> None:
    doc = json.loads((VEX / "cve-2024-10041.json").read_text())
    (tmp_path / "cve-2024-10041.json").write_text(json.dumps(_sap_only(doc)))
    [result] = service.import_path(db, migrated_settings, str(tmp_path))
    assert result.ok, result.error
    with db.session() as s:
        got = SqlAdvisoryStore(s).affected_for([("Red Hat:9", "pam"), ("Red Hat:9", "pam-sap")])
    assert [e.cpes for e in got[("Red Hat:9", "pam")]] == [("cpe:/o:redhat:enterprise_linux:9::baseos",)]
    assert [e.cpes for e in got[("Red Hat:9", "pam-sap")]] == [("cpe:/a:redhat:enterprise_linux:9::sap",)]
