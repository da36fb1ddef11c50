"""CVSS severity of CVE ids from CVE JSON 5 records (cvelistV5, CISA Vulnrichment) and the NVD CVE API 2.0.

Only scores are taken from these feeds: they say how bad a CVE is, not which package versions it affects
(that comes from the ecosystem and distro sources). Each record gives at most one `CveSeverity`, chosen
inside the record by the order documented in docs/severity.md; scores are recomputed from the vector with
the `cvss` library, so a record's own `baseScore` is never trusted blindly.
"""

from __future__ import annotations

import io
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hullscan.advisories.normalize import cvss_score
from hullscan.advisories.parsers.base import (
    MALFORMED,
    CveSeverity,
    Tally,
    bounded_lines,
    gunzipped,
    iter_folder_files,
    iter_zip_members,
    load_json,
)

CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}$")
# Inside a CVE JSON 5 container: newest CVSS first (v2 is ignored: every CVE with only v2 is old and NVD's).
_CVE5_KEYS = ("cvssV4_0", "cvssV3_1", "cvssV3_0")
# NVD API 2.0 metric lists, newest first.
_NVD_KEYS = ("cvssMetricV40", "cvssMetricV31", "cvssMetricV30", "cvssMetricV2")
MAX_DOCUMENT_BYTES = 256 * 1024 * 1024  # one NVD page of 2,000 CVEs is a few MB; far beyond is hostile


class NotCveData(ValueError):
    """A document that is neither a CVE JSON 5 record nor an NVD API 2.0 response."""


def _scored(vector: Any) -> tuple[str, float, str] | None:
    if not isinstance(vector, str) or not vector or len(vector) > 255:
        return None
    return cvss_score(vector)


def _container_metric(container: Any) -> tuple[str, tuple[str, float, str]] | None:
    """(vector, (version, score, severity)) of the best CVSS metric of one CVE JSON 5 container."""
    if not isinstance(container, dict) or not isinstance(container.get("metrics"), list):
        return None
    for key in _CVE5_KEYS:
        for metric in container["metrics"]:
            entry = metric.get(key) if isinstance(metric, dict) else None
            if isinstance(entry, dict):
                vector = entry.get("vectorString")
                scored = _scored(vector)
                if scored is not None and isinstance(vector, str):  # _scored answers only for strings
                    return vector.strip(), scored
    return None


def parse_cve5(obj: Any, tally: Tally) -> CveSeverity | None:
    """One CVE JSON 5 record → its severity (CNA first, then CISA-ADP, then other ADPs), or None (counted)."""
    tally.records += 1
    meta = obj.get("cveMetadata") if isinstance(obj, dict) else None
    cve_id = meta.get("cveId") if isinstance(meta, dict) else None
    if not isinstance(meta, dict) or not isinstance(cve_id, str) or not CVE_ID.match(cve_id.strip()):
        tally.skip("invalid_record", repr(obj)[:200])
        return None
    cve_id = cve_id.strip()
    modified = meta.get("dateUpdated") if isinstance(meta.get("dateUpdated"), str) else None
    containers = obj.get("containers") if isinstance(obj.get("containers"), dict) else {}
    cna = containers.get("cna")
    adps = [a for a in containers.get("adp") or [] if isinstance(a, dict)]
    adps.sort(key=lambda a: 0 if _short_name(a) == "CISA-ADP" else 1)  # stable: others keep their order
    for kind, container in [("cna", cna), *(("adp", a) for a in adps)]:
        found = _container_metric(container)
        if found is not None:
            vector, (version, score, severity) = found
            return CveSeverity(cve_id, "cve", severity, score, vector, version,
                               f"{kind}:{_short_name(container) or 'unknown'}", modified[:32] if modified else None)
    tally.skip("no_cvss", cve_id)
    return CveSeverity(cve_id, "cve", None, None, None, None, None, modified[:32] if modified else None)


def _short_name(container: Any) -> str:
    meta = container.get("providerMetadata") if isinstance(container, dict) else None
    name = meta.get("shortName") if isinstance(meta, dict) else None
    return name[:40] if isinstance(name, str) else ""


def parse_nvd_cve(cve: Any, tally: Tally) -> CveSeverity | None:
    """One NVD API 2.0 `cve` object → its severity: NIST's Primary metric first, then a Secondary (the CNA's)."""
    tally.records += 1
    cve_id = cve.get("id") if isinstance(cve, dict) else None
    if not isinstance(cve_id, str) or not CVE_ID.match(cve_id.strip()):
        tally.skip("invalid_record", repr(cve)[:200])
        return None
    cve_id = cve_id.strip()
    modified = cve.get("lastModified") if isinstance(cve.get("lastModified"), str) else None
    metrics = cve.get("metrics") if isinstance(cve.get("metrics"), dict) else {}
    for wanted in ("Primary", "Secondary"):
        for key in _NVD_KEYS:
            for metric in metrics.get(key) or []:
                if not isinstance(metric, dict) or metric.get("type") != wanted:
                    continue
                data = metric.get("cvssData")
                vector = data.get("vectorString") if isinstance(data, dict) else None
                scored = _scored(vector)
                if scored is not None and isinstance(vector, str):  # _scored answers only for strings
                    version, score, severity = scored
                    source = metric_source if isinstance(metric_source := metric.get("source"), str) else ""
                    return CveSeverity(cve_id, "nvd", severity, score, vector.strip(), version,
                                       f"{wanted.lower()}:{source[:40] or 'unknown'}",
                                       modified[:32] if modified else None)
    tally.skip("no_cvss", cve_id)
    return CveSeverity(cve_id, "nvd", None, None, None, None, None, modified[:32] if modified else None)


def parse_document(obj: Any, tally: Tally) -> Iterator[CveSeverity]:
    """A CVE JSON 5 record, an NVD API 2.0 page (`vulnerabilities[].cve`), a bare NVD `cve` object, or a list
    of any of these."""
    items = obj if isinstance(obj, list) else [obj]
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("vulnerabilities"), list) and "cveMetadata" not in item:
            for vuln in item["vulnerabilities"]:
                found = parse_nvd_cve(vuln.get("cve") if isinstance(vuln, dict) else None, tally)
                if found is not None:
                    yield found
        elif isinstance(item, dict) and "cveMetadata" in item:
            found = parse_cve5(item, tally)
            if found is not None:
                yield found
        elif isinstance(item, dict) and isinstance(item.get("id"), str) and "metrics" in item:
            found = parse_nvd_cve(item, tally)
            if found is not None:
                yield found
        else:
            tally.records += 1
            tally.skip("unrecognised_record", repr(item)[:200])


def _load(data: bytes, tally: Tally, where: str) -> Any:
    obj = load_json(data, tally, where)
    return None if obj is MALFORMED else obj


def iter_stream(stream: io.BufferedIOBase, tally: Tally, where: str = "jsonl") -> Iterator[CveSeverity]:
    """JSON lines (gzip detected by magic bytes) or one (pretty-printed) JSON document, sizes bounded."""
    buffered = gunzipped(stream)
    try:
        for lineno, line in bounded_lines(buffered, tally, where):
            try:
                obj = json.loads(line)
            except (ValueError, UnicodeDecodeError) as exc:
                if lineno == 1 and line.lstrip()[:1] in (b"{", b"["):  # one pretty-printed document
                    data = line + buffered.read(MAX_DOCUMENT_BYTES)
                    if buffered.read(1):
                        tally.records += 1
                        tally.skip("record_too_large", where)
                        return
                    obj = _load(data, tally, where)
                    if obj is not None:
                        yield from parse_document(obj, tally)
                    return
                tally.records += 1
                tally.skip("malformed_json", f"{where}:{lineno}: {exc}")
                continue
            yield from parse_document(obj, tally)
    except (OSError, EOFError, zlib.error) as exc:
        raise NotCveData(f"{where}: cannot read compressed stream: {exc}") from exc


def iter_path(path: Path, tally: Tally) -> Iterator[CveSeverity]:
    """A file (JSON, JSON lines, gzip), a folder of JSON files (a cvelistV5 checkout) or a zip of them."""
    if path.is_dir():
        for name, data in iter_folder_files(path, "CVE-*.json", tally):
            obj = _load(data, tally, name)
            if obj is not None:
                yield from parse_document(obj, tally)
        return
    if path.suffix == ".zip":
        yield from _iter_zip(path, tally)
        return
    with path.open("rb") as fh:
        yield from iter_stream(fh, tally, path.name)


def _iter_zip(path: Path, tally: Tally) -> Iterator[CveSeverity]:
    for name, data in iter_zip_members(path, tally, NotCveData):
        obj = _load(data, tally, name)
        if obj is not None:
            yield from parse_document(obj, tally)


def looks_like(head: bytes) -> str | None:
    """`cve` or `nvd` when the first bytes of a (decompressed) file are of these feeds."""
    if b'"dataType"' in head and b'"CVE_RECORD"' in head or b'"cveMetadata"' in head or \
            re.match(rb'\s*\{\s*"containers"\s*:\s*\{\s*"(cna|adp)"', head):
        return "cve"
    if b'"format"' in head and b'"NVD_CVE"' in head or (b'"vulnStatus"' in head and b'"CVE-' in head):
        return "nvd"
    return None
