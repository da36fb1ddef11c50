"""The matching cases of ../shared/testdata/peer-vectors/matching (Trivy's detector tests), through match()."""

from __future__ import annotations

import json
import re

import pytest

from hullscan.advisories.types import Advisory, AffectedRange, RangeEvent
from hullscan.matching import match
from hullscan.scanner.inventory import ImageInfo, Inventory, OperatingSystem, Package
from tests.conftest import data_path
from tests.matching.memstore import ArchAffectedPackage, MemoryStore

OS_FILES = ["alpine", "debian", "ubuntu", "alma", "rocky", "amazon"]
FAMILY_TYPE = {"alpine": "apk", "debian": "deb", "ubuntu": "deb", "alma": "rpm", "rocky": "rpm", "amazon": "rpm"}
STATUS = {"will_not_fix": "wont_fix", "affected": "unfixed", "fix_deferred": "unfixed", "end_of_life": "unfixed"}


def _bucket_ecosystem(bucket: str) -> str:
    """trivy-db bucket name -> the OSV-style ecosystem hullscan's store uses."""
    m = re.fullmatch(r"(alpine|debian|ubuntu|alma|rocky|amazon linux) (\S+)", bucket)
    assert m, bucket
    family, release = m.groups()
    return {
        "alpine": f"Alpine:v{release}",
        "debian": f"Debian:{release}",
        "ubuntu": f"Ubuntu:{release}",
        "alma": f"AlmaLinux:{release}",
        "rocky": f"Rocky Linux:{release}",
        "amazon linux": f"Amazon Linux:{release}",
    }[family]


def _store_for(case: dict) -> MemoryStore:
    """Each peer advisory row as the store holds it: fixed -> [0, fixed); no fix -> unfixed (or won't fix);
    AffectedVersion -> affected from that version on; per-arch Entries -> one row per arch set."""
    store = MemoryStore()
    for row in case["advisories"]:
        eco = _bucket_ecosystem(row["bucket"])
        store.records.setdefault(row["id"], Advisory(id=row["id"], source="peer", aliases=list(row.get("VendorIDs", []))))
        entries = row.get("Entries") or [{"FixedVersion": row.get("FixedVersion", ""), "Arches": []}]
        for entry in entries:
            fixed = entry.get("FixedVersion") or ""
            events = [RangeEvent("introduced", row.get("AffectedVersion") or "0")]
            if fixed:
                events.append(RangeEvent("fixed", fixed))
            affected_everything = not fixed and not row.get("AffectedVersion")
            state = "fixed" if fixed else STATUS.get(row.get("status_name", ""), "unfixed")
            store.entries[(eco, row["package_key"])].append(
                ArchAffectedPackage(
                    advisory_id=row["id"],
                    ecosystem=eco,
                    package=row["package_key"],
                    ranges=[] if affected_everything else [AffectedRange("ECOSYSTEM", tuple(events))],
                    fix_state=state,
                    severity=(row.get("severity_name") or None),
                    arches=list(entry.get("Arches") or []),
                )
            )
    return store


def _inventory(case: dict) -> tuple[Inventory, str | None]:
    distro = case["distro"]
    pkg = case["package"]
    family = {"alma": "almalinux"}.get(distro["family"], distro["family"])
    properties = {}
    if pkg.get("modularity_label"):
        properties["modularity_label"] = pkg["modularity_label"]
    package = Package(
        name=pkg["name"],
        version=pkg["version"],
        type=FAMILY_TYPE[distro["family"]],
        source_name=pkg.get("source_name"),
        source_version=pkg.get("source_version"),
        arch=pkg.get("arch"),
        properties=properties,
    )
    repo = distro.get("repository", {}).get("Release")
    return Inventory(ImageInfo(name="test"), OperatingSystem(family, distro["version"]), [package]), repo


def _os_cases():
    for name in OS_FILES:
        for case in json.loads(data_path("peer-vectors", "matching", f"ospkg-{name}.json").read_text()):
            yield pytest.param(case, id=case["case"])


@pytest.mark.parametrize("case", list(_os_cases()))
def test_os_package_case(case: dict) -> None:
    inventory, repo = _inventory(case)
    store = _store_for(case)
    result = match(inventory, store, repository_release=repo)
    got = {(f.vulnerability_id, tuple(f.fixed_versions)) for f in result.findings}
    want = {(v["id"], (v["fixed_version"],) if v["fixed_version"] else ()) for v in case["expected_vulnerabilities"]}
    assert got == want
    by_id = {f.vulnerability_id: f for f in result.findings}
    for v in case["expected_vulnerabilities"]:
        finding = by_id[v["id"]]
        assert finding.package.name == v["pkg_name"]
        assert finding.package.version == v["installed_version"]
        assert set(v.get("vendor_ids", [])) <= set(finding.identifiers)
        if v.get("severity"):
            assert finding.severity == v["severity"].lower()
        if v.get("status") == "will_not_fix":
            assert finding.fix_state == "wont_fix"
        if not v["fixed_version"]:
            assert finding.fix_state in ("unfixed", "wont_fix")
            assert finding.solution.startswith("no solution available")
    assert store.calls.count("affected_for") <= 1


def test_bad_versions_are_counted_not_matched() -> None:
    cases = [c for c in _os_cases() if c.values[0]["case"] == "amazon: empty version / bash"]
    inventory, _ = _inventory(cases[0].values[0])
    result = match(inventory, _store_for(cases[0].values[0]))
    assert result.findings == []
    assert result.stats.unparsable_versions == 1


def test_outdated_ubuntu_esm_release_is_a_warning() -> None:
    case = next(c.values[0] for c in _os_cases() if c.values[0]["case"].startswith("ubuntu: ubuntu 19.04-ESM"))
    inventory, _ = _inventory(case)
    result = match(inventory, _store_for(case))
    assert result.findings == []
    assert any("19.04" in w for w in result.stats.warnings)
