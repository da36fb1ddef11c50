"""Oracle Linux ELSA OVAL (`com.oracle.elsa-all.xml.bz2`): one `patch` definition per ELSA.

Fixes are read from the criteria, whose comments Oracle writes in one fixed form: `<pkg> is earlier than
<epoch:version-release>`, in blocks that also say `Oracle Linux <N> is installed`, `Oracle Linux arch is
<arch>`, `Module <name:stream> is enabled` or `<pkg> is ksplice-based`. Each fact holds for the block it is
in and the blocks below. Definitions are streamed (iterparse) and cleared, so memory stays per definition.

Not kept: ksplice and FIPS builds (a normal package must not be compared with them, as vunnel does). Arch is
kept only where it tells fixes apart: where an ELSA's arches were respun at different builds (rsyslog
8.24.0-57.0.1 on x86_64, 57.0.4 on aarch64), the lowest build is an arch-less entry and each higher one an entry
limited to its arches (the engine matches those only against packages of those arches): a patched package is
never flagged, and aarch64's 57.0.1 is found. A build shipped for every arch is one arch-less entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from functools import cmp_to_key
from typing import IO, Any

from defusedxml import ElementTree as SafeET

from hullscan.advisories.normalize import severity_word
from hullscan.advisories.parsers.base import Parsed, Tally, fixed_range, make_affected
from hullscan.advisories.parsers.oval import D, unreadable
from hullscan.advisories.parsers.oval import OvalError as OvalError  # what a caller of iter_oval catches
from hullscan.advisories.types import Advisory, AffectedPackage
from hullscan.versions import compare

_EARLIER = re.compile(r"^(\S+) is earlier than (\S+)$")
_INSTALLED = re.compile(r"^Oracle Linux (\d+) is installed$")
_ARCH = re.compile(r"^Oracle Linux arch is (\S+)$")
_MODULE = re.compile(r"^Module (\S+:\S+) is enabled$")
_KSPLICE = re.compile(r"^\S+ is ksplice-based$")
_ELSA = re.compile(r"^ELSA-\d{4}-\d+$")
_MAX_DEPTH = 32


def _facts(node: Any, ctx: dict[str, Any], out: list[tuple[dict[str, Any], str, str]], depth: int = 0) -> None:
    """Collect (context, package, fixed EVR) from a criteria tree."""
    if depth > _MAX_DEPTH:
        return
    ctx = dict(ctx)
    children = list(node)
    for child in children:
        if child.tag != f"{D}criterion":
            continue
        comment = (child.get("comment") or "").strip()
        if m := _INSTALLED.match(comment):
            ctx["release"] = m.group(1)
        elif m := _ARCH.match(comment):
            ctx["arch"] = m.group(1)
        elif m := _MODULE.match(comment):
            ctx["module"] = m.group(1)
        elif _KSPLICE.match(comment):
            ctx["ksplice"] = True
    for child in children:
        if child.tag == f"{D}criterion":
            if m := _EARLIER.match((child.get("comment") or "").strip()):
                out.append((ctx, m.group(1), m.group(2)))
        elif child.tag == f"{D}criteria":
            _facts(child, ctx, out, depth + 1)


def _definition(definition: Any, tally: Tally) -> Parsed | None:
    tally.records += 1
    meta = definition.find(f"{D}metadata")
    if meta is None:
        tally.skip("invalid_record", str(definition.get("id"))[:120])
        return None
    refs = meta.findall(f"{D}reference")
    elsa = next((r.get("ref_id") for r in refs if r.get("source") == "elsa"), None)
    if not elsa or not _ELSA.match(elsa):
        tally.skip("invalid_record", f"{definition.get('id')}: no ELSA id")
        return None
    cves = sorted({r.get("ref_id") for r in refs if r.get("source") == "CVE" and (r.get("ref_id") or "").startswith("CVE-")})
    advisory_meta = meta.find(f"{D}advisory")
    word = severity_word((advisory_meta.findtext(f"{D}severity") if advisory_meta is not None else None) or "")
    severity = word if word and word != "unknown" else None
    platforms = [p.text.strip() for p in meta.iter(f"{D}platform") if p.text]
    default_release = next((m.group(1) for p in platforms if (m := re.fullmatch(r"Oracle Linux (\d+)", p))), None)
    facts: list[tuple[dict[str, Any], str, str]] = []
    criteria = definition.find(f"{D}criteria")
    if criteria is not None:
        _facts(criteria, {"release": default_release}, facts)
    builds: dict[tuple[str, str], dict[str, set[str]]] = {}  # (ecosystem, package) -> fixed EVR -> arches
    for ctx, package, evr in facts:
        if ctx.get("ksplice") or "ksplice" in evr or evr.endswith("_fips") or "_fips" in evr.split("-")[-1]:
            tally.skip("ksplice_or_fips", f"{elsa}: {package} {evr}")
            continue
        if not ctx.get("release"):
            tally.skip("unknown_ecosystem", f"{elsa}: {package}: no Oracle Linux release")
            continue
        key = f"{ctx['module']}::{package}" if ctx.get("module") else package
        where = (f"Oracle Linux:{ctx['release']}", key)
        if evr.startswith("0:"):
            evr = evr[2:]
        builds.setdefault(where, {}).setdefault(evr, set()).add(ctx.get("arch") or "")
    entries: list[AffectedPackage] = []
    for (ecosystem, key), by_evr in sorted(builds.items()):
        try:
            per_arch = _per_arch(by_evr)
        except ValueError:
            tally.skip("invalid_version", f"{elsa}: {key} {sorted(by_evr)}")
            continue
        for evr, arches in per_arch:
            item = make_affected(tally, elsa, ecosystem, key, fixed_range(evr), severity=severity)
            if item is not None:
                item.arches = tuple(arches)
                entries.append(item)
    issued = advisory_meta.find(f"{D}issued") if advisory_meta is not None else None
    title = " ".join((meta.findtext(f"{D}title") or "").split())
    return Parsed(
        Advisory(id=elsa, source="oracle-oval", aliases=cves, summary=title or None,
                 details=(meta.findtext(f"{D}description") or "").strip() or None,
                 published=_date(issued.get("date") if issued is not None else None),
                 severity=severity, severity_source="oracle" if severity else None,
                 references=[r.get("ref_url") for r in refs if r.get("source") == "elsa" and r.get("ref_url")]),
        entries,
    )


def _per_arch(by_evr: dict[str, set[str]]) -> list[tuple[str, list[str]]]:
    """(fixed EVR, arches it is limited to) of one package: the lowest build, arch-less; and where some arches were
    respun at a higher build, that build limited to them. Raises ValueError for an unreadable version."""
    def rpm_order(a: str, b: str) -> int:
        return compare("rpm", a, b)

    order = cmp_to_key(rpm_order)
    arches = set().union(*by_evr.values()) - {""}
    if not arches or all("" in found or found >= arches for found in by_evr.values()):
        return [(min(by_evr, key=order), [])]
    lowest: dict[str, str] = {}
    for evr, found in sorted(by_evr.items(), key=lambda item: order(item[0])):
        for arch in (arches if "" in found else found):
            lowest.setdefault(arch, evr)
    grouped: dict[str, list[str]] = {}
    for arch, evr in sorted(lowest.items()):
        grouped.setdefault(evr, []).append(arch)
    lowest_build = min(grouped, key=order)
    return [(lowest_build, []), *sorted((evr, arches) for evr, arches in grouped.items() if evr != lowest_build)]


def _date(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value).replace(tzinfo=timezone.utc) if value else None
    except ValueError:
        return None


def iter_oval(stream: IO[bytes], tally: Tally) -> Iterator[Parsed]:
    """ELSA advisories of one OVAL document, one definition in memory at a time."""
    try:
        for _, elem in SafeET.iterparse(stream, events=("end",)):
            if elem.tag != f"{D}definition":
                continue
            if elem.get("class") == "patch":
                parsed = _definition(elem, tally)
                if parsed is not None:
                    yield parsed
            elem.clear()
    except Exception as exc:  # defusedxml's own errors, ParseError, bz2/EOF errors of a cut file
        raise unreadable(exc, tally) from exc
