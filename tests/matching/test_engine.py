"""Engine behaviour on a real scanned inventory and a small store: merging, fix state, batching, counting."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hullscan.advisories.types import Advisory, AffectedPackage, AffectedRange, RangeEvent
from hullscan.matching import match, match_inventory
from hullscan.scanner.inventory import ImageInfo, Inventory, OperatingSystem, Package
from tests.matching.memstore import MemoryStore


def test_aliases_merge_into_one_finding_with_every_identifier(app_inventory, small_store) -> None:
    findings = [f for f in match_inventory(app_inventory, small_store) if f.package.name == "urllib3"]
    assert len(findings) == 1
    f = findings[0]
    assert f.vulnerability_id == "CVE-2019-11324"
    assert set(f.identifiers) == {"CVE-2019-11324", "PYSEC-2019-132", "GHSA-mh33-7rrq-662w"}
    assert sorted(f.advisory_ids) == ["GHSA-mh33-7rrq-662w", "PYSEC-2019-132"]
    assert f.fixed_versions == ["1.24.2"]
    assert f.fix_state == "fixed"
    assert f.severity == "high" and f.cvss_score == 7.5 and f.cvss_vector.startswith("CVSS:3.1/")
    assert f.known_exploited is True and f.epss_score == 0.02
    assert f.package.layer_diff_id and f.package.path.endswith("METADATA") and f.package.purl == "pkg:pypi/urllib3@1.24.1"
    assert f.solution == "Upgrade to version 1.24.2 or above"


def test_os_packages_match_by_source_name_and_release(app_inventory, small_store) -> None:
    by_pkg = {}
    for f in match_inventory(app_inventory, small_store):
        by_pkg.setdefault(f.package.name, []).append(f)
    # zlib1g's source package is zlib: the Debian:12 row for zlib applies to it, unfixed (won't fix).
    (zlib,) = by_pkg["zlib1g"]
    assert zlib.vulnerability_id == "CVE-2023-45853"
    assert zlib.fix_state == "wont_fix" and zlib.fixed_versions == []
    assert zlib.severity == "critical"  # distro per-package severity wins over the CVSS v2 vector
    assert zlib.solution == "no solution available: the distribution will not fix this in this release"
    # not_affected rows never become findings
    assert "libc6" not in by_pkg
    assert [f.vulnerability_id for f in by_pkg["lodash"]] == ["CVE-2020-8203"]


def test_other_release_advisories_do_not_apply(app_inventory, small_store) -> None:
    bullseye = replace(app_inventory, os=OperatingSystem("debian", "11.6"))
    assert not [f for f in match_inventory(bullseye, small_store) if f.package.type == "deb"]


def test_store_round_trips_do_not_grow_with_the_inventory(app_inventory, small_store) -> None:
    one = MemoryStoreCopy(small_store)
    single = match_inventory(app_inventory, one)
    big = Inventory(app_inventory.image, app_inventory.os, app_inventory.packages * 50)
    result = match(big, small_store)
    assert small_store.calls == one.calls
    assert small_store.calls.count("affected_for") == 1
    # one call for all matched advisories, then the two that share CVE-2019-11324 asked apart
    assert small_store.calls.count("advisories") == 3
    assert len(result.findings) == 50 * len(single)


class MemoryStoreCopy(MemoryStore):
    def __init__(self, other: MemoryStore) -> None:
        super().__init__()
        self.entries, self.records = other.entries, other.records


def test_unparsable_versions_and_unknown_types_are_counted() -> None:
    store = MemoryStore()
    rng = [AffectedRange("ECOSYSTEM", (RangeEvent("introduced", "0"), RangeEvent("fixed", "2.0")))]
    store.add(Advisory(id="PYSEC-1", source="osv"), AffectedPackage("PYSEC-1", "PyPI", "demo", ranges=rng))
    store.add(Advisory(id="PYSEC-2", source="osv"), AffectedPackage("PYSEC-2", "PyPI", "bad-range", ranges=[
        AffectedRange("ECOSYSTEM", (RangeEvent("introduced", "0"), RangeEvent("fixed", "not a version!!")))
    ]))
    inv = Inventory(
        ImageInfo(name="t"),
        None,
        [
            Package("demo", "1.0", "python"),
            Package("Demo", "not a version!!", "python"),
            Package("bad_range", "1.0", "python"),
            Package("thing", "1.0", "conda"),
            Package("curl", "8.0-r0", "apk"),  # OS package but no OS known
        ],
    )
    result = match(inv, store)
    assert [(f.package.name, f.vulnerability_id) for f in result.findings] == [("demo", "PYSEC-1")]
    assert result.stats.unparsable_versions == 1
    assert result.stats.bad_ranges == 1
    assert result.stats.unsupported_packages == 2
    assert any("conda" in w for w in result.stats.warnings)


def test_withdrawn_advisories_never_match() -> None:
    from datetime import UTC, datetime

    store = MemoryStore()
    store.add(
        Advisory(id="GO-2020-0001", source="osv", withdrawn=datetime(2021, 1, 1, tzinfo=UTC)),
        AffectedPackage("GO-2020-0001", "Go", "stdlib", ranges=[AffectedRange("SEMVER", (RangeEvent("introduced", "0"),))]),
    )
    inv = Inventory(ImageInfo(name="t"), None, [Package("stdlib", "go1.19.8", "go", purl="pkg:golang/stdlib@go1.19.8")])
    assert match_inventory(inv, store) == []


def test_packages_that_look_alike_get_equal_findings_of_their_own(app_inventory, small_store) -> None:
    """Copies of a package (same keys, version, architecture) are matched once; each still gets its own
    findings, naming its own path and layer, with lists it can change alone."""
    urllib3 = next(p for p in app_inventory.packages if p.name == "urllib3")
    twin = replace(urllib3, path="/other/site-packages/urllib3-1.24.1.dist-info/METADATA", layer_diff_id="sha256:" + "0" * 64)
    inventory = Inventory(app_inventory.image, app_inventory.os, [urllib3, twin, urllib3])
    first, second, third = match_inventory(inventory, small_store)
    assert first.package.path == urllib3.path and second.package.path == twin.path
    assert second.package.layer_diff_id == twin.layer_diff_id
    assert (first.identifiers, first.fixed_versions, first.links, first.severity) == (
        second.identifiers, second.fixed_versions, second.links, second.severity)
    assert first.to_dict()["package"] == third.to_dict()["package"]
    first.identifiers.append("X-1")
    first.links.clear()
    assert "X-1" not in second.identifiers and "X-1" not in third.identifiers and second.links and third.links


def test_matching_leaves_the_cycle_collector_as_it_found_it(app_inventory, small_store) -> None:
    import gc

    assert gc.isenabled()
    match(app_inventory, small_store)
    assert gc.isenabled()
    gc.disable()
    try:
        match(app_inventory, small_store)
        assert not gc.isenabled()
    finally:
        gc.enable()

    class Failing(MemoryStore):
        def advisories(self, ids):  # type: ignore[no-untyped-def]
            raise RuntimeError("store down")

    failing = Failing()
    failing.entries, failing.records = small_store.entries, small_store.records
    with pytest.raises(RuntimeError, match="store down"):
        match(app_inventory, failing)
    assert gc.isenabled()


def test_an_os_release_without_a_feed_and_an_ecosystem_without_records_are_named() -> None:
    """No silent gaps: an OS release no feed covers is named with its package count; a store that can say which
    ecosystems it holds records for gets the others named too, and their packages are not looked up."""

    class PypiOnly(MemoryStore):
        def ecosystems_loaded(self, ecosystems):
            self.calls.append("ecosystems_loaded")
            return {e for e in ecosystems if e == "PyPI"}

    store = PypiOnly()
    store.add(Advisory(id="PYSEC-1", source="osv"), AffectedPackage(
        "PYSEC-1", "PyPI", "demo", [AffectedRange("ECOSYSTEM", (RangeEvent("introduced", "0"),
                                                                 RangeEvent("fixed", "2.0")))]))
    inv = Inventory(ImageInfo(name="t"), OperatingSystem("plan9", "4"), [
        Package("demo", "1.0", "python"), Package("left-pad", "1.0.0", "npm"), Package("lodash", "4.0.0", "npm"),
        Package("curl", "8.0-r0", "apk"), Package("zlib", "1.3-r0", "apk")])
    result = match(inv, store)
    assert [f.vulnerability_id for f in result.findings] == ["PYSEC-1"]
    assert result.stats.unchecked == {"plan9 4": 2, "npm": 2}
    assert any(w.startswith("OS packages not matched: no advisory feed for plan9 4") for w in result.stats.warnings)
    assert "no advisories loaded for npm (2 packages): 2 package(s) not checked" in " ".join(result.stats.warnings)
    assert store.calls == ["ecosystems_loaded", "affected_for", "advisories"]
