"""Alpine secdb (`<branch>/main.json`, `community.json`): per package, fixed version → ids; `0` = not affected.

One advisory per id and source (`ALPINE-<id>`, aliased to the id), with one affected entry per branch and
package, so a CVE fixed in five branches is one record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from hullscan.advisories.parsers.base import MAX_RECORD_BYTES, Parsed, Tally, fixed_range, make_affected
from hullscan.advisories.types import Advisory, AffectedPackage

_ID = re.compile(r"^[A-Z][A-Z0-9]*-[A-Za-z0-9][A-Za-z0-9_.:-]*$")


def iter_documents(documents: Iterable[tuple[str, bytes]], tally: Tally) -> Iterator[Parsed]:
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
        branch = str(doc.get("distroversion", "")).strip()
        ecosystem = f"Alpine:{branch}"
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
                first = make_affected(tally, f"ALPINE-{idents[0]}", ecosystem, pkg["name"], ranges, fix_state=state)
                if first is None:
                    for ident in idents[1:]:  # each id is one skipped entry, counted with its reason
                        make_affected(tally, f"ALPINE-{ident}", ecosystem, pkg["name"], ranges, fix_state=state)
                    continue
                by_id.setdefault(idents[0], []).append(first)
                for ident in idents[1:]:
                    by_id.setdefault(ident, []).append(AffectedPackage(
                        advisory_id=f"ALPINE-{ident}", ecosystem=first.ecosystem, package=first.package,
                        ranges=list(first.ranges), versions=[], fix_state=first.fix_state,
                    ))
    for ident in sorted(by_id):
        adv = Advisory(id=f"ALPINE-{ident}", source="alpine-secdb", aliases=[ident],
                       references=[f"https://security.alpinelinux.org/vuln/{ident}"])
        yield Parsed(adv, by_id[ident])


def read_tree(path: Path) -> Iterator[tuple[str, bytes]]:
    """`<branch>/<repo>.json` files of a local secdb copy (or one file)."""
    files = [path] if path.is_file() else sorted(path.rglob("*.json"))
    for file in files:
        yield str(file), file.read_bytes()
