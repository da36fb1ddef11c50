"""Alpine secdb (`<branch>/main.json`, `community.json`): per package, fixed version → ids; `0` = not affected.

One advisory per id and source (`ALPINE-<id>`, aliased to the id), with one affected entry per branch and
package, so a CVE fixed in five branches is one record. Wolfi's and Chainguard's `security.json` are the same
format for one rolling release (`SECDB_FEEDS`): `WOLFI-<id>` / `CHAINGUARD-<id>` in ecosystem `Wolfi` /
`Chainguard`. None of these feeds rates severity.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hullscan.advisories.parsers.base import MAX_RECORD_BYTES, Parsed, Tally, fixed_range, make_affected
from hullscan.advisories.types import Advisory, AffectedPackage

_ID = re.compile(r"^[A-Z][A-Z0-9]*-[A-Za-z0-9][A-Za-z0-9_.:-]*$")


@dataclass(frozen=True)
class SecdbFeed:
    """One secdb-format feed: its advisory id prefix, source name, ecosystem (None: from `distroversion`)."""

    prefix: str
    source: str
    ecosystem: str | None
    reference: str


ALPINE = SecdbFeed("ALPINE", "alpine-secdb", None, "https://security.alpinelinux.org/vuln/{id}")
SECDB_FEEDS = {
    "wolfi": SecdbFeed("WOLFI", "wolfi-secdb", "Wolfi", "https://images.chainguard.dev/security/{id}"),
    "chainguard": SecdbFeed("CHAINGUARD", "chainguard-secdb", "Chainguard",
                            "https://images.chainguard.dev/security/{id}"),
}


def iter_documents(documents: Iterable[tuple[str, bytes]], tally: Tally, feed: SecdbFeed = ALPINE) -> Iterator[Parsed]:
    by_id: dict[str, list[AffectedPackage]] = {}
    for where, data in documents:
        if len(data) > MAX_RECORD_BYTES * 8:
            tally.skip("document_too_large", where)
            continue
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            tally.skip("malformed_json", f"{where}: {exc}")
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("packages"), list):
            tally.skip("invalid_document", where)
            continue
        ecosystem = feed.ecosystem or f"Alpine:{str(doc.get('distroversion', '')).strip()}"
        prefix = feed.prefix
        for entry in doc["packages"]:
            tally.records += 1
            pkg = entry.get("pkg") if isinstance(entry, dict) else None
            if not isinstance(pkg, dict) or not isinstance(pkg.get("name"), str):
                tally.skip("invalid_record", f"{where}: {repr(entry)[:200]}")
                continue
            secfixes = pkg.get("secfixes") or {}
            if not isinstance(secfixes, dict):
                tally.skip("invalid_record", f"{where}: {pkg['name']} secfixes")
                continue
            for fixed, ids in secfixes.items():
                if not isinstance(ids, list):
                    tally.skip("invalid_record", f"{where}: {pkg['name']} {fixed}")
                    continue
                idents = [ident for raw in ids for ident in str(raw).split() if _ID.match(ident)]  # free text too
                if not idents:
                    continue
                not_affected = str(fixed).strip() == "0"
                ranges = [] if not_affected else fixed_range(str(fixed))
                state = "not_affected" if not_affected else "fixed"
                # Validated once per fixed version; every id listed under it gets its own copy of the entry.
                first = make_affected(tally, f"{prefix}-{idents[0]}", ecosystem, pkg["name"], ranges, fix_state=state)
                if first is None:
                    for ident in idents[1:]:  # each id is one skipped entry, counted with its reason
                        make_affected(tally, f"{prefix}-{ident}", ecosystem, pkg["name"], ranges, fix_state=state)
                    continue
                by_id.setdefault(idents[0], []).append(first)
                for ident in idents[1:]:
                    by_id.setdefault(ident, []).append(AffectedPackage(
                        advisory_id=f"{prefix}-{ident}", ecosystem=first.ecosystem, package=first.package,
                        ranges=list(first.ranges), versions=[], fix_state=first.fix_state,
                    ))
    for ident in sorted(by_id):
        adv = Advisory(id=f"{feed.prefix}-{ident}", source=feed.source, aliases=[ident],
                       references=[feed.reference.format(id=ident)])
        yield Parsed(adv, by_id[ident])


def read_tree(path: Path) -> Iterator[tuple[str, bytes]]:
    """`<branch>/<repo>.json` files of a local secdb copy (or one file)."""
    files = [path] if path.is_file() else sorted(path.rglob("*.json"))
    for file in files:
        yield str(file), file.read_bytes()
