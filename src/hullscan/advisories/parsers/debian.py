"""Debian security tracker: its DSA/DLA text lists and its JSON export.

Lists: `[DD Mon YYYY] DSA-NNNN-N <source> - <description>`, then `{CVE-...}` and
`[<codename>] - <source> <fixed version>|<not-affected>|<unfixed>|<end-of-life>` lines.
JSON (`https://security-tracker.debian.org/tracker/data/json`): package → CVE → releases →
{status, fixed_version, urgency, nodsa, nodsa_reason}.

Distro states become the entry's fix state (docs/severity.md "Fix state"): a fixed version → `fixed`;
`<unfixed>`, `<postponed>`, an `open`/`undetermined` status or a `postponed` no-DSA reason → `unfixed` (not fixed
yet); `<no-dsa>`, `<ignored>`, a no-DSA note without reason or with reason `ignored`, or `unimportant` urgency →
`wont_fix`; `<end-of-life>` or the `end-of-life` urgency of an open issue → `end_of_life`; fixed version `0` and
`<not-affected>` → `not_affected`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import IO

from hullscan.advisories.normalize import DEBIAN_CODENAMES, severity_word
from hullscan.advisories.parsers.base import MAX_RECORD_BYTES, Parsed, Tally, fixed_range, make_affected
from hullscan.advisories.types import Advisory, AffectedPackage
from hullscan.severities import worst_of

_HEADER = re.compile(r"^\[(\d{1,2} \w{3} \d{4})\]\s+((?:DSA|DLA|DTSA)-[\w-]+)\s+(\S+)(?:\s+-*\s*(.*))?$")
_RELEASE = re.compile(r"^\s+\[([a-z-]+)\]\s+-\s+(\S+)(?:\s+(\S+))?")
_CVES = re.compile(r"^\s+\{([^}]*)\}")
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_STATES = {"<not-affected>": "not_affected", "<unfixed>": "unfixed", "<end-of-life>": "end_of_life",
           "<ignored>": "wont_fix", "<postponed>": "unfixed", "<no-dsa>": "wont_fix"}
_NODSA_REASONS = {"postponed": "unfixed", "ignored": "wont_fix", "": "wont_fix"}


def _ecosystem(codename: str, tally: Tally, adv_id: str) -> str | None:
    release = DEBIAN_CODENAMES.get(codename)
    if release is None:
        tally.skip("unknown_ecosystem", f"{adv_id}: release {codename!r}")
        return None
    return f"Debian:{release}"


def _list_date(text: str) -> datetime | None:
    """`12 Jan 2024` (English month names, as the lists write them; strptime would follow the locale)."""
    day, month, year = text.split()
    try:
        return datetime(int(year), _MONTHS[month.title()], int(day), tzinfo=timezone.utc)
    except (KeyError, ValueError):
        return None


def iter_list(stream: IO[bytes], tally: Tally, source: str) -> Iterator[Parsed]:
    """Entries of a DSA or DLA list, one advisory each (a repeated id is merged into the first)."""
    current: dict | None = None
    seen: dict[str, Parsed] = {}

    def finish(entry: dict | None) -> None:
        if entry is None:
            return
        adv = Advisory(
            id=entry["id"], source=source, aliases=sorted(set(entry["cves"])), summary=entry["summary"],
            published=entry["date"],
            references=[f"https://security-tracker.debian.org/tracker/{entry['id']}"],
        )
        if entry["id"] in seen:
            seen[entry["id"]].affected.extend(entry["affected"])
            return
        parsed = Parsed(adv, entry["affected"])
        seen[entry["id"]] = parsed

    for lineno, raw in enumerate(stream, 1):
        if len(raw) > MAX_RECORD_BYTES:
            tally.skip("line_too_large", f"line {lineno}")
            continue
        line = raw.decode("utf-8", "replace").rstrip("\n")
        if line.startswith("["):
            finish(current)
            tally.records += 1
            m = _HEADER.match(line)
            if not m:
                tally.skip("invalid_record", f"line {lineno}: {line[:120]}")
                current = None
                continue
            date = _list_date(m.group(1))
            current = {"id": m.group(2), "package": m.group(3), "summary": (m.group(4) or "").strip() or None,
                       "date": date, "cves": [], "affected": []}
            continue
        if current is None or line.lstrip().startswith("NOTE:"):
            continue
        m = _CVES.match(line)
        if m:
            current["cves"].extend(c for c in m.group(1).split() if c.startswith(("CVE-", "CAN-")))
            continue
        m = _RELEASE.match(line)
        if m:
            eco = _ecosystem(m.group(1), tally, current["id"])
            if eco is None:
                continue
            package, version = m.group(2), m.group(3) or ""
            state = _STATES.get(version, "fixed" if version and not version.startswith("<") else None)
            if state is None:
                tally.skip("invalid_record", f"{current['id']}: {line.strip()[:120]}")
                continue
            item = make_affected(
                tally, current["id"], eco, package,
                fixed_range(version) if state == "fixed" else ([] if state == "not_affected" else fixed_range(None)),
                fix_state=state,
            )
            if item is not None:
                current["affected"].append(item)
    finish(current)
    yield from seen.values()


def iter_tracker_json(data: bytes, tally: Tally) -> Iterator[Parsed]:
    """The tracker's JSON: one advisory per CVE (`DEBIAN-<CVE>`), one entry per package and release."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        tally.skip("malformed_json", str(exc))
        return
    if not isinstance(doc, dict):
        tally.skip("invalid_document", "top level is not an object")
        return
    by_cve: dict[str, tuple[str | None, list[AffectedPackage]]] = {}
    for package, cves in doc.items():
        if not isinstance(cves, dict):
            tally.skip("invalid_record", f"package {package!r}")
            continue
        for cve, info in cves.items():
            tally.records += 1
            if not isinstance(info, dict) or not isinstance(info.get("releases", {}), dict):
                tally.skip("invalid_record", f"{package} {cve}")
                continue
            adv_id = f"DEBIAN-{cve}"
            desc, entries = by_cve.setdefault(cve, (info.get("description"), []))
            for codename, rel in info.get("releases", {}).items():
                if not isinstance(rel, dict):
                    tally.skip("invalid_record", f"{package} {cve} {codename}")
                    continue
                eco = _ecosystem(codename, tally, adv_id)
                if eco is None:
                    continue
                status = rel.get("status")
                fixed = rel.get("fixed_version")
                if status == "resolved" and fixed == "0":
                    state, ranges = "not_affected", []
                elif status == "resolved" and isinstance(fixed, str) and fixed:
                    state, ranges = "fixed", fixed_range(fixed)
                elif status in ("open", "undetermined"):
                    state, ranges = _open_state(rel), fixed_range(None)
                else:
                    tally.skip("invalid_record", f"{package} {cve} {codename}: status {status!r}")
                    continue
                urgency = rel.get("urgency") if isinstance(rel.get("urgency"), str) else None
                if urgency == "end-of-life":
                    urgency = None  # a state, not a severity
                item = make_affected(tally, adv_id, eco, package, ranges, fix_state=state, severity=urgency)
                if item is not None:
                    entries.append(item)
    for cve in sorted(by_cve):
        desc, entries = by_cve[cve]
        worst = worst_of([severity_word(e.severity.replace("*", "").strip()) if e.severity else None for e in entries])
        yield Parsed(
            Advisory(id=f"DEBIAN-{cve}", source="debian-tracker", aliases=[cve],
                     summary=desc if isinstance(desc, str) else None,
                     severity=worst, severity_source="debian" if worst and worst != "unknown" else None,
                     references=[f"https://security-tracker.debian.org/tracker/{cve}"]),
            entries,
        )


def _open_state(rel: dict) -> str:
    """The fix state of an open issue in one release: end of life, will not fix (no-DSA, ignored, unimportant),
    or not fixed yet (postponed to a point release, or simply open)."""
    urgency = rel.get("urgency")
    urgency = urgency if isinstance(urgency, str) else ""
    if urgency == "end-of-life":
        return "end_of_life"
    if "nodsa" in rel:
        reason = rel.get("nodsa_reason")
        return _NODSA_REASONS.get(reason if isinstance(reason, str) else "", "wont_fix")
    if urgency.startswith("unimportant"):
        return "wont_fix"
    return "unfixed"


