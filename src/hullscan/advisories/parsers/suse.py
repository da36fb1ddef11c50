"""SUSE Linux Enterprise Server OVAL (`suse.linux.enterprise.server.<major>.xml.bz2`) and openSUSE Leap OVAL
(`opensuse.leap.<release>.xml.bz2`, platform `openSUSE Leap 15.6 is installed` → ecosystem `openSUSE:Leap 15.6`,
advisories `SUSE-leap-15.6-<CVE>`): one `vulnerability` definition per CVE. Its criteria pair a platform (`SUSE Linux Enterprise Server 15 SP1-LTSS is installed`)
with rpminfo tests: an EVR state `less than` (fixed in it) or a `version equals 0` state ("is not affected").

Only SLES platforms are read (Desktop, HPC, SAP and Module platforms share the same code base but are not
separate releases for images); SP and LTSS/BCL variants go through the ecosystem table's SUSE rule
(`15 SP1-LTSS` → 15.1). Where a release has a plain and an LTSS/BCL fix, the plain one is kept (LTSS is not
shipped as a container image). Other state operations are counted, not guessed. One advisory per CVE
(`SUSE-<major>-<CVE>`; definitions naming no SLES platform give none), with SUSE's own rating as the vendor severity.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO, Any

from hullscan.advisories.normalize import severity_word
from hullscan.advisories.parsers.base import Parsed, Tally, fixed_range, make_affected
from hullscan.advisories.parsers.oval import D, read_oval
from hullscan.advisories.parsers.oval import OvalError as OvalError  # what a caller of iter_oval catches
from hullscan.advisories.types import Advisory, AffectedPackage
from hullscan.versions import compare

_PLATFORM = re.compile(r"^SUSE Linux Enterprise Server (\d+)(?: SP(\d+))?(?:-([A-Z]+))? is installed$")
_LEAP = re.compile(r"^openSUSE Leap (\d+\.\d+) is installed$")
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
_MAX_DEPTH = 32
MAX_OVAL_BYTES = 1024 * 1024 * 1024


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _is_platform(leaf: Any, tests: dict, states: dict) -> bool:
    """A `<product> is installed` test: a `version equals <release>` state (a package's "is not affected" test
    is `version equals 0`)."""
    state = states.get(tests.get(leaf.get("test_ref"), (None, None))[1])
    return state is not None and state[0] == "version" and state[1] == "equals" and state[2] != "0"


def _platforms(node: Any, tests: dict, states: dict, depth: int = 0) -> tuple[set[tuple[str, int]], bool]:
    """SLES platforms named in a subtree, and whether the subtree holds anything but platform tests."""
    if depth > _MAX_DEPTH:
        return set(), True
    found: set[tuple[str, int]] = set()
    other = False
    for child in node:
        if _local(child.tag) == "criterion":
            if _is_platform(child, tests, states):
                comment = (child.get("comment") or "").strip()
                if m := _PLATFORM.match(comment):
                    release = f"Linux Enterprise Server {m.group(1)}" + (f" SP{m.group(2)}" if m.group(2) else "")
                    found.add((f"SUSE:{release}", 1 if m.group(3) else 0))
                elif m := _LEAP.match(comment):
                    found.add((f"openSUSE:Leap {m.group(1)}", 0))
            else:
                other = True
        elif _local(child.tag) == "criteria":
            sub, sub_other = _platforms(child, tests, states, depth + 1)
            found |= sub
            other = other or sub_other
    return found, other


def _walk(node: Any, inherited: set[tuple[str, int]], tests: dict, states: dict,
          out: list[tuple[tuple[str, int], str]], depth: int = 0) -> None:
    """(platform, test id) of every package test, paired with the SLES platforms an AND joins it with:
    `AND(platform, OR(packages))` per block, or `AND(OR(platforms), OR(packages))` for all at once."""
    if depth > _MAX_DEPTH:
        return
    children = list(node)
    platforms = inherited
    if (node.get("operator") or "AND").upper() == "AND":
        here: set[tuple[str, int]] = set()
        for child in children:
            if _local(child.tag) == "criterion" and _is_platform(child, tests, states):
                here |= _platforms(_Wrap(child), tests, states)[0]
            elif _local(child.tag) == "criteria":
                sub, sub_other = _platforms(child, tests, states, depth + 1)
                if not sub_other:
                    here |= sub
        if here:
            platforms = here
    for child in children:
        if _local(child.tag) == "criterion":
            if not _is_platform(child, tests, states):
                out.extend((p, child.get("test_ref") or "") for p in platforms)
        elif _local(child.tag) == "criteria":
            _walk(child, platforms, tests, states, out, depth + 1)


class _Wrap:
    """One criterion as a subtree of its own, for `_platforms`."""

    def __init__(self, leaf: Any) -> None:
        self.leaf = leaf

    def __iter__(self) -> Iterator[Any]:
        return iter([self.leaf])


def iter_oval(stream: IO[bytes], tally: Tally) -> Iterator[Parsed]:
    root = read_oval(stream, MAX_OVAL_BYTES, tally)
    objects: dict[str | None, str] = {}
    states: dict[str | None, tuple[str, str, str]] = {}  # id -> (kind, operation, value)
    tests: dict[str | None, tuple[str | None, str | None]] = {}
    for elem in root.iter():
        name = _local(elem.tag)
        if name == "rpminfo_object":
            objects[elem.get("id")] = next((c.text or "" for c in elem if _local(c.tag) == "name"), "").strip()
        elif name == "rpminfo_state":
            for c in elem:
                if _local(c.tag) in ("evr", "version") and c.text:
                    states[elem.get("id")] = (_local(c.tag), c.get("operation") or "", c.text.strip())
        elif name == "rpminfo_test":
            obj = next((c.get("object_ref") for c in elem if _local(c.tag) == "object"), None)
            st = next((c.get("state_ref") for c in elem if _local(c.tag) == "state"), None)
            tests[elem.get("id")] = (obj, st)
    for definition in root.iter(f"{D}definition"):
        if definition.get("class") != "vulnerability":
            continue
        tally.records += 1
        meta = definition.find(f"{D}metadata")
        cve = (meta.findtext(f"{D}title") or "").strip() if meta is not None else ""
        if not _CVE.match(cve):
            tally.skip("invalid_record", str(definition.get("id"))[:120])
            continue
        advisory_meta = meta.find(f"{D}advisory") if meta is not None else None
        word = severity_word(advisory_meta.findtext(f"{D}severity") if advisory_meta is not None else None)
        severity = word if word and word != "unknown" else None
        found: list[tuple[tuple[str, int], str]] = []
        criteria = definition.find(f"{D}criteria")
        if criteria is not None:
            _walk(criteria, set(), tests, states, found)
        best: dict[tuple[str, str], tuple[int, str, str]] = {}  # (release, package) -> (rank, state, evr)
        if not found:
            tally.skip("no_sles_platform", cve)
            continue
        first = found[0][0][0]
        leap = re.search(r"Leap (\S+)", first)
        major = f"leap-{leap.group(1)}" if leap else re.search(r"Server (\d+)", first).group(1)  # type: ignore[union-attr]
        adv_id = f"SUSE-{major}-{cve}"
        for (release, rank), test_id in found:
            obj, st = tests.get(test_id, (None, None))
            package, state = objects.get(obj), states.get(st)
            if not package or state is None:
                continue
            kind, op, value = state
            if kind == "version" and op == "equals" and value == "0":
                fix_state, evr = "not_affected", ""
            elif kind == "evr" and op == "less than":
                fix_state, evr = "fixed", value[2:] if value.startswith("0:") else value
            else:
                tally.skip("unknown_operation", f"{cve}: {package} {kind} {op!r}")
                continue
            key = (release, package)
            old = best.get(key)
            if old is None or rank < old[0] or (rank == old[0] and fix_state == "fixed" and old[1] == "fixed"
                                                and _older(evr, old[2])):
                best[key] = (rank, fix_state, evr)
        entries: list[AffectedPackage] = []
        for (release, package), (_, fix_state, evr) in sorted(best.items()):
            ranges = fixed_range(evr) if fix_state == "fixed" else []
            item = make_affected(tally, adv_id, release, package, ranges, fix_state=fix_state,
                                 severity=severity if fix_state == "fixed" else None)
            if item is not None:
                entries.append(item)
        yield Parsed(
            Advisory(id=adv_id, source="suse-oval", aliases=[cve],
                     details=(meta.findtext(f"{D}description") or "").strip() or None,
                     severity=severity, severity_source="suse" if severity else None,
                     references=[f"https://www.suse.com/security/cve/{cve}/"]),
            entries,
        )


def _older(a: str, b: str) -> bool:
    try:
        return compare("rpm", a, b) < 0
    except ValueError:
        return False


def looks_like(head: bytes) -> bool:
    return b"<oval_definitions" in head and (b"org.opensuse.security" in head or b"Marcus Updateinfo" in head)
