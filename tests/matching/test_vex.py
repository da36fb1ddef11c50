"""OpenVEX suppression rules: which statements apply to which findings."""

from __future__ import annotations

import json

import pytest

from hullscan.matching.finding import Finding, FindingPackage
from hullscan.matching.vex import VexError, apply_vex, load_vex
from hullscan.scanner.inventory import ImageInfo

IMAGE = ImageInfo(name="registry.example/team/app", tag="1.2", digest="sha256:" + "a" * 64)


def _finding(name: str, purl: str, vuln: str, *aliases: str) -> Finding:
    return Finding(
        package=FindingPackage(name=name, version="1.0", type="deb", purl=purl),
        vulnerability_id=vuln, identifiers=[vuln, *aliases], advisory_ids=[vuln], ecosystem="Debian:12",
    )


FINDINGS = [
    _finding("libc6", "pkg:deb/debian/libc6@1.0?arch=amd64&distro=debian-12", "CVE-2024-1", "DSA-1-1"),
    _finding("zlib1g", "pkg:deb/debian/zlib1g@1.0?arch=amd64", "CVE-2024-2"),
    _finding("curl", "pkg:deb/debian/curl@1.0?arch=arm64", "CVE-2024-3"),
]


def _vex(tmp_path, *statements) -> list:
    path = tmp_path / "doc.openvex.json"
    path.write_text(json.dumps({"@context": "https://openvex.dev/ns/v0.2.0", "statements": list(statements)}))
    return [load_vex(path)]


def _suppressed(tmp_path, *statements) -> list[str]:
    kept, suppressed = apply_vex(FINDINGS, _vex(tmp_path, *statements), IMAGE)
    assert len(kept) + len(suppressed) == len(FINDINGS)
    return [f.package.name for f in suppressed]


def test_package_purl_without_qualifiers_matches_any_qualifiers(tmp_path) -> None:
    assert _suppressed(tmp_path, {"vulnerability": {"name": "CVE-2024-1"}, "products": [{"@id": "pkg:deb/debian/libc6"}],
                                  "status": "not_affected"}) == ["libc6"]


def test_qualifiers_given_must_match(tmp_path) -> None:
    stmt = {"vulnerability": {"name": "CVE-2024-3"}, "products": [{"@id": "pkg:deb/debian/curl@1.0?arch=amd64"}],
            "status": "fixed"}
    assert _suppressed(tmp_path, stmt) == []


def test_alias_and_image_product_with_subcomponents(tmp_path) -> None:
    stmt = {"vulnerability": {"name": "DSA-1-1"},
            "products": [{"@id": "pkg:oci/app@sha256:" + "a" * 64, "subcomponents": [{"@id": "pkg:deb/debian/libc6@1.0"}]}],
            "status": "not_affected", "justification": "vulnerable_code_not_present"}
    assert _suppressed(tmp_path, stmt) == ["libc6"]


def test_image_without_subcomponents_covers_the_whole_image(tmp_path) -> None:
    stmt = {"vulnerability": "CVE-2024-2", "products": ["registry.example/team/app:1.2"], "status": "not_affected"}
    assert _suppressed(tmp_path, stmt) == ["zlib1g"]


def test_last_statement_wins_and_affected_does_not_suppress(tmp_path) -> None:
    product = [{"@id": "pkg:deb/debian/zlib1g"}]
    assert _suppressed(
        tmp_path,
        {"vulnerability": {"name": "CVE-2024-2"}, "products": product, "status": "not_affected"},
        {"vulnerability": {"name": "CVE-2024-2"}, "products": product, "status": "affected"},
    ) == []
    assert _suppressed(
        tmp_path,
        {"vulnerability": {"name": "CVE-2024-2"}, "products": product, "status": "under_investigation"},
        {"vulnerability": {"name": "CVE-2024-2"}, "products": product, "status": "fixed"},
    ) == ["zlib1g"]


@pytest.mark.parametrize("content", ["not json", "[]", '{"statements": 5}', "\xff\xfe"])
def test_unreadable_vex_is_a_clear_error(tmp_path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(VexError):
        load_vex(path)


def test_malformed_statements_are_counted(tmp_path) -> None:
    docs = _vex(tmp_path, {"status": "fixed"}, "nonsense", {"vulnerability": {"name": "CVE-2024-2"}, "products": [5],
                                                             "status": "fixed"})
    assert docs[0].skipped == 3 and docs[0].statements == []
