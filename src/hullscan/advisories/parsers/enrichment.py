"""Enrichment feeds keyed by CVE: CISA KEV (JSON catalog) and FIRST EPSS (CSV, optionally gzip)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from hullscan.advisories.parsers.base import Enrichment, Tally, gunzipped


def iter_kev(data: bytes, tally: Tally) -> Iterator[Enrichment]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        tally.skip("malformed_json", str(exc))
        return
    vulns = doc.get("vulnerabilities") if isinstance(doc, dict) else None
    if not isinstance(vulns, list):
        tally.skip("invalid_document", "no `vulnerabilities` list")
        return
    for entry in vulns:
        tally.records += 1
        cve = entry.get("cveID") if isinstance(entry, dict) else None
        if not isinstance(cve, str) or not cve.startswith("CVE-"):
            tally.skip("invalid_record", repr(entry)[:200])
            continue
        added = entry.get("dateAdded")
        yield Enrichment(cve_id=cve.strip(), known_exploited=True,
                         known_exploited_date=added if isinstance(added, str) else None)


def iter_epss(stream: io.BufferedIOBase, tally: Tally) -> Iterator[Enrichment]:
    """`cve,epss,percentile` rows after an optional `#model_version...` comment line."""
    buffered = gunzipped(stream)
    text = io.TextIOWrapper(buffered, encoding="utf-8", errors="replace", newline="")
    header_seen = False
    for row in csv.reader(line for line in text if not line.startswith("#")):
        if not header_seen and row and row[0].strip().lower() == "cve":
            header_seen = True
            continue
        if not row:
            continue
        tally.records += 1
        try:
            cve, score, pct = row[0].strip(), float(row[1]), float(row[2])
        except (IndexError, ValueError):
            tally.skip("invalid_record", ",".join(row)[:200])
            continue
        if not cve.startswith("CVE-") or not (0 <= score <= 1 and 0 <= pct <= 1):
            tally.skip("invalid_record", ",".join(row)[:200])
            continue
        yield Enrichment(cve_id=cve, epss_score=score, epss_percentile=pct)
