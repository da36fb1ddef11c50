"""Red Hat's repository-to-CPE map (https://security.access.redhat.com/data/metrics/repository-to-cpe.json):
which products (CPEs) each repository (content set) ships, so an image built on EUS, E4S, SAP, HA, ...
repositories matches only those products' CSAF statements (hullscan.matching.redhat_products).

Shape: `{"data": {"<repository>": {"cpes": ["cpe:/o:redhat:enterprise_linux:9::baseos", ...],
"repo_relative_urls": [...]}, ...}}`. A repository label may carry `__<releasever>__<basearch>` suffixes
(`rhel-8-for-x86_64-baseos-eus-rpms__8_DOT_4__x86_64`); content manifests name the content set before them,
so suffixed labels are folded into their content set. Entries that are not a repository name with CPE strings
are skipped and counted; a document without the `data` object, or with no usable entry, is refused whole
(`InvalidMapping`), so a broken download never replaces a good map.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hullscan.advisories.parsers.base import Tally

KIND = "redhat-repository-cpes"
_REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,199}")
_CPE = re.compile(r"cpe:/[aho]:[A-Za-z0-9._~%-]+(?::[A-Za-z0-9._~%+-]*){0,6}")
MAX_CPES = 256  # per repository; the real map names at most a few dozen
# The ecosystem of the change keys a changed map records, `(CONTENT_SET_KEY, <repository>)`: continuous scanning
# re-matches the stored images whose content sets include the repository (hullscan.ingestion.service).
CONTENT_SET_KEY = "Red Hat content set"


class InvalidMapping(ValueError):
    """A repository-to-CPE document that cannot be used at all."""


def parse(data: bytes, tally: Tally) -> dict[str, tuple[str, ...]]:
    """Content set → its product CPEs (sorted, unique). Time and memory linear in `data`'s size."""
    try:
        doc: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidMapping(f"not JSON: {exc}") from exc
    entries = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(entries, dict):
        raise InvalidMapping('no "data" object mapping repositories to {"cpes": [...]}')
    found: dict[str, set[str]] = {}
    for label, entry in entries.items():
        tally.records += 1
        content_set = label.split("__", 1)[0]
        if not _REPOSITORY.fullmatch(content_set):
            tally.skip("invalid_repository", repr(label)[:200])
            continue
        cpes = entry.get("cpes") if isinstance(entry, dict) else None
        if not isinstance(cpes, list) or not cpes:
            tally.skip("no_cpes", repr(label)[:200])
            continue
        good = {c for c in cpes[:MAX_CPES + 1] if isinstance(c, str) and _CPE.fullmatch(c)}
        if len(cpes) > MAX_CPES or len(good) < len(cpes):
            tally.skip("invalid_cpe", f"{label[:120]}: {cpes!r}"[:200])
            continue
        found.setdefault(content_set, set()).update(good)
    if not found:
        raise InvalidMapping(f"none of its {len(entries)} entries names a repository with CPEs")
    return {name: tuple(sorted(cpes)) for name, cpes in sorted(found.items())}


def changes(old: dict[str, tuple[str, ...]], new: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Repository → "added" | "modified" | "withdrawn" for each repository whose CPEs differ between two maps
    (as `parse` returns them: sorted, unique); empty when the map is unchanged. Linear in the maps' sizes."""
    out = {repo: "withdrawn" for repo in old if repo not in new}
    for repo, cpes in new.items():
        before = old.get(repo)
        if before is None:
            out[repo] = "added"
        elif tuple(sorted(set(before))) != cpes:
            out[repo] = "modified"
    return dict(sorted(out.items()))
