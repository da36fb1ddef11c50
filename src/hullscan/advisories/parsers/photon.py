"""Photon OS `cve_data_photon<release>.json` (https://packages.broadcom.com/photon/photon_cve_metadata/): a
JSON array of `{cve_id, pkg, cve_score, aff_ver, res_ver, status}`, one row per (vulnerability, package).

`res_ver` is the fixed build (`7.88.1-4.ph4`); `aff_ver` is prose and not read. `status: "Not Affected"` is a
not-affected statement; `res_ver: "NA"` on an open row means no fix yet; a row with no version information at
all (`aff_ver` and `res_ver` both "NA" or empty) says nothing and is counted. Photon publishes a CVSS score
without a vector: the severity is its NVD band (9.0 critical, 7.0 high, 4.0 medium, 0.1 low). The release
comes from the file name (or the caller). One advisory per id and release (`PHOTON-4.0-CVE-…`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from hullscan.advisories.parsers.base import (
    MAX_RECORD_BYTES,
    Parsed,
    Tally,
    fixed_range,
    make_affected,
)
from hullscan.advisories.types import Advisory, AffectedPackage
from hullscan.severities import from_score, worst_of

_ID = re.compile(r"^[A-Z][A-Z0-9]*-\d{4}-\d{3,}$")
_RELEASE = re.compile(r"cve_data_photon(\d+\.\d+)\.json")
_EMPTY = ("", "NA", "N/A")


def release_of(name: str) -> str | None:
    m = _RELEASE.search(name)
    return m.group(1) if m else None


def _band(score: object) -> str | None:
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 < score <= 10:
        return None
    return from_score(score)


def iter_cve_data(data: bytes, release: str, tally: Tally) -> Iterator[Parsed]:
    if len(data) > MAX_RECORD_BYTES * 16:
        tally.skip("document_too_large", f"photon {release}")
        return
    try:
        rows = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        tally.skip("malformed_json", str(exc)[:200])
        return
    if not isinstance(rows, list):
        tally.skip("invalid_document", "top level is not a list")
        return
    ecosystem = f"Photon OS:{release}"
    by_id: dict[str, tuple[list[AffectedPackage], list[str | None]]] = {}
    for row in rows:
        tally.records += 1
        if not isinstance(row, dict) or not isinstance(row.get("cve_id"), str) or not _ID.match(row["cve_id"]) \
                or not isinstance(row.get("pkg"), str):
            tally.skip("invalid_record", repr(row)[:200])
            continue
        ident, pkg = row["cve_id"], row["pkg"]
        fixed = res_ver if isinstance(res_ver := row.get("res_ver"), str) else ""
        affected = aff_ver if isinstance(aff_ver := row.get("aff_ver"), str) else ""
        status = str(row.get("status") or "").strip().lower()
        adv_id = f"PHOTON-{release}-{ident}"
        severity = _band(row.get("cve_score"))
        if status == "not affected":
            item = make_affected(tally, adv_id, ecosystem, pkg, [], fix_state="not_affected")
        elif fixed.strip() not in _EMPTY:
            item = make_affected(tally, adv_id, ecosystem, pkg, fixed_range(fixed.strip()), severity=severity)
        elif affected.strip() not in _EMPTY:
            item = make_affected(tally, adv_id, ecosystem, pkg, fixed_range(None), fix_state="unfixed",
                                 severity=severity)
        else:
            tally.skip("no_version_information", f"{ident} {pkg}")
            continue
        if item is not None:
            entries, severities = by_id.setdefault(ident, ([], []))
            entries.append(item)
            severities.append(severity)
    for ident in sorted(by_id):
        entries, severities = by_id[ident]
        worst = worst_of(s for s in severities if s != "unknown")
        yield Parsed(
            Advisory(id=f"PHOTON-{release}-{ident}", source="photon", aliases=[ident], severity=worst,
                     severity_source="photon:cve_score" if worst else None,
                     references=[f"https://nvd.nist.gov/vuln/detail/{ident}"] if ident.startswith("CVE-") else []),
            entries,
        )
