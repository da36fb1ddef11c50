"""CBL-Mariner and Azure Linux OVAL (`cbl-mariner-2.0-oval.xml`, `azurelinux-3.0-oval.xml`): one
`vulnerability` definition per (CVE, package), its rpminfo tests naming the package and an EVR state:
`less than` (fixed in it), `less than or equal` (no fix: the last affected build), `greater than` (the range
starts there; stored as an inclusive start). `<patchable>Not Applicable</patchable>` definitions say the CVE
does not (or no longer) apply and are skipped.

The release is read from the dist tag of the builds (`.cm1`, `.cm2` → Mariner 1.0/2.0, `.azl3` → Azure
Linux 3.0). One advisory per CVE and release (`AZURELINUX-3.0-CVE-…`, `MARINER-2.0-CVE-…`), aliased to the CVE.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

from hullscan.advisories.normalize import severity_word
from hullscan.advisories.parsers.base import Parsed, Tally, make_affected, range_event
from hullscan.advisories.parsers.oval import D, read_oval
from hullscan.advisories.parsers.oval import OvalError as OvalError  # what a caller of iter_oval catches
from hullscan.advisories.types import Advisory, AffectedPackage, AffectedRange

_L = "{http://oval.mitre.org/XMLSchema/oval-definitions-5#linux}"
_TAG = re.compile(r"\.(cm|azl)(\d+)\b")
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
MAX_OVAL_BYTES = 256 * 1024 * 1024


def _release(evrs: list[str]) -> tuple[str, str] | None:
    """(ecosystem, id prefix) from the builds' dist tag."""
    for evr in evrs:
        if m := _TAG.search(evr):
            major = m.group(2)
            if m.group(1) == "azl":
                return f"Azure Linux:{major}.0", f"AZURELINUX-{major}.0"
            return f"Mariner:{major}.0", f"MARINER-{major}.0"
    return None


def iter_oval(stream: IO[bytes], tally: Tally) -> Iterator[Parsed]:
    root = read_oval(stream, MAX_OVAL_BYTES, tally)
    objects = {o.get("id"): (o.findtext(f"{_L}name") or "").strip() for o in root.iter(f"{_L}rpminfo_object")}
    states: dict[str | None, tuple[str, str]] = {}
    for state in root.iter(f"{_L}rpminfo_state"):
        evr = state.find(f"{_L}evr")
        if evr is not None and evr.text and evr.get("operation"):
            states[state.get("id")] = (evr.get("operation", ""), evr.text.strip())
    tests: dict[str | None, tuple[str, str, str]] = {}
    for test in root.iter(f"{_L}rpminfo_test"):
        obj, st = test.find(f"{_L}object"), test.find(f"{_L}state")
        if obj is None or st is None or obj.get("object_ref") not in objects or st.get("state_ref") not in states:
            continue
        op, evr = states[st.get("state_ref")]
        tests[test.get("id")] = (objects[obj.get("object_ref")], op, evr)
    found = _release([evr for _, evr in states.values()])
    if found is None:
        tally.skip("unknown_ecosystem", "no .cm<N>/.azl<N> build in this OVAL file")
        return
    ecosystem, prefix = found
    by_cve: dict[str, tuple[list[AffectedPackage], str | None]] = {}
    for definition in root.iter(f"{D}definition"):
        tally.records += 1
        meta = definition.find(f"{D}metadata")
        cve = next((r.get("ref_id") for r in (meta.findall(f"{D}reference") if meta is not None else [])
                    if r.get("source") == "CVE"), None)
        if meta is None or not cve or not _CVE.match(cve):
            tally.skip("invalid_record", str(definition.get("id"))[:120])
            continue
        patchable = (meta.findtext(f"{D}patchable") or "").strip().lower()
        if patchable == "not applicable":
            tally.skip("not_applicable", f"{cve} {definition.get('id')}")
            continue
        word = severity_word(meta.findtext(f"{D}severity"))
        severity = word if word and word != "unknown" else None
        per_package: dict[str, list[tuple[str, str]]] = {}
        for criterion in definition.iter(f"{D}criterion"):
            test = tests.get(criterion.get("test_ref"))
            if test is not None:
                per_package.setdefault(test[0], []).append((test[1], test[2]))
        adv_id = f"{prefix}-{cve}"
        entries, _ = by_cve.setdefault(cve, ([], severity))
        for package, conditions in per_package.items():
            item = _entry(tally, adv_id, ecosystem, package, conditions, severity)
            if item is not None:
                entries.append(item)
    for cve in sorted(by_cve):
        entries, severity = by_cve[cve]
        yield Parsed(
            Advisory(id=f"{prefix}-{cve}", source="mariner-oval", aliases=[cve], severity=severity,
                     severity_source="azure-linux" if severity else None,
                     references=[f"https://nvd.nist.gov/vuln/detail/{cve}"]),
            entries,
        )


def _entry(tally: Tally, adv_id: str, ecosystem: str, package: str, conditions: list[tuple[str, str]],
           severity: str | None) -> AffectedPackage | None:
    introduced, fixed, last = "0", None, None
    for op, evr in conditions:
        evr = evr[2:] if evr.startswith("0:") else evr
        if op == "less than":
            fixed = evr
        elif op == "less than or equal":
            last = evr
        elif op in ("greater than", "greater than or equal"):
            introduced = evr
        else:
            tally.skip("unknown_operation", f"{adv_id}: {package} {op}")
            return None
    if fixed is None and last is None:
        tally.skip("invalid_record", f"{adv_id}: {package}: no upper bound")
        return None
    events = [range_event("introduced", introduced)]
    events.append(range_event("fixed", fixed) if fixed else range_event("last_affected", last or ""))
    state = "fixed" if fixed else "unfixed"
    return make_affected(tally, adv_id, ecosystem, package, [AffectedRange("ECOSYSTEM", tuple(events))],
                         fix_state=state, severity=severity)


def looks_like(head: bytes) -> bool:
    return b"<oval_definitions" in head and (b"CBL-Mariner" in head or b"com.microsoft" in head
                                             or b"Azure Linux" in head)
