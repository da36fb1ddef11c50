"""OSV records (https://ossf.github.io/osv-schema/) from JSON-lines (optionally gzip), a zip or a folder."""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hullscan.advisories.normalize import best_cvss, severity_word
from hullscan.advisories.parsers.base import (
    EVENT_KINDS,
    MALFORMED,
    Parsed,
    as_dict,
    Tally,
    bounded_lines,
    gunzipped,
    iter_folder_files,
    make_affected,
    parse_time,
    iter_zip_members,
    load_json,
    range_event,
)
from hullscan.advisories.types import Advisory, AffectedRange
from hullscan.ecosystems import advisory_package_names


# AlmaLinux and Rocky Linux errata in OSV: the CVEs they fix are listed in `related` (not `aliases`), and their
# Red Hat style rating is the summary's first word ("Important: nodejs security update").
_RHEL_CLONE = {"ALSA": "almalinux", "ALBA": "almalinux", "ALEA": "almalinux",
               "RLSA": "rocky", "RLBA": "rocky", "RLEA": "rocky"}
_CVE = re.compile(r"CVE-\d{4}-\d{4,}")
_SUMMARY_RATING = re.compile(r"\s*(critical|important|moderate|low)\s*:", re.IGNORECASE)


class CorruptArchive(ValueError):
    """A zip or gzip that cannot be read to the end."""


def _list(obj: dict[str, Any], key: str) -> list[Any]:
    """A list-valued field of an untrusted record; anything else (a number, a string, an object) is empty."""
    value = obj.get(key)
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_record(obj: Any, tally: Tally) -> Parsed | None:
    """One OSV JSON object → Parsed (bad affected entries dropped and counted), or None when unusable."""
    tally.records += 1
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not obj["id"].strip():
        tally.skip("invalid_record", repr(obj)[:200])
        return None
    adv_id = obj["id"].strip()[:128]
    vectors = [s.get("score", "") for s in _list(obj, "severity") if isinstance(s, dict)]
    vectors_by_version, vector, score, cvss_sev = best_cvss(v for v in vectors if isinstance(v, str))
    db_specific = as_dict(obj.get("database_specific"))
    # GitHub's own rating (`database_specific.severity`) first: it is not always the vector's (docs/severity.md)
    word = severity_word(db_specific.get("severity") if isinstance(db_specific.get("severity"), str) else None)
    severity: str | None
    severity_source: str | None
    if word and word != "unknown":
        severity, severity_source = word, "ghsa" if adv_id.startswith("GHSA-") else "osv:database_specific"
    else:
        severity, severity_source = cvss_sev, ("osv:cvss" if cvss_sev else None)
    refs = [r["url"] for r in _list(obj, "references") if isinstance(r, dict) and isinstance(r.get("url"), str)]
    aliases = [a for a in _list(obj, "aliases") if isinstance(a, str)]
    if adv_id.startswith(("UBUNTU-CVE-", "DEBIAN-CVE-")):  # a distro's record of one CVE names it in `upstream`:
        # the CVE becomes the finding's id and joins the distro's other records of it (VEX states, USNs)
        aliases += [u for u in _list(obj, "upstream") if isinstance(u, str) and len(u) <= 32 and _CVE.fullmatch(u)]
    vendor = _RHEL_CLONE.get(adv_id.partition("-")[0])
    if vendor is not None:
        # the errata's CVEs become aliases (one finding per CVE, CVE severities apply); the vendor's own rating
        # ranks first (docs/severity.md), from `database_specific.severity` or else the summary's prefix
        aliases += [r for r in _list(obj, "related") if isinstance(r, str) and len(r) <= 32 and _CVE.fullmatch(r)]
        prefix = _SUMMARY_RATING.match(_text(obj.get("summary"))[:32])
        if word and word != "unknown":
            severity_source = f"{vendor}:database_specific"
        elif prefix:
            severity, severity_source = severity_word(prefix.group(1)) or severity, f"{vendor}:summary"
    advisory = Advisory(
        id=adv_id,
        source="osv",
        aliases=sorted(set(aliases) - {adv_id}),
        summary=obj.get("summary") if isinstance(obj.get("summary"), str) else None,
        details=obj.get("details") if isinstance(obj.get("details"), str) else None,
        published=parse_time(obj.get("published")),
        modified=parse_time(obj.get("modified")),
        withdrawn=parse_time(obj.get("withdrawn")),
        severity=severity,
        cvss_vector=vector,
        cvss_score=score,
        cvss_vectors=vectors_by_version,
        severity_source=severity_source,
        references=refs,
    )
    affected = []
    for entry in _list(obj, "affected"):
        if not isinstance(entry, dict) or not isinstance(entry.get("package"), dict):
            tally.skip("invalid_affected", f"{adv_id}: {repr(entry)[:200]}")
            continue
        pkg = entry["package"]
        ranges = []
        bad = False
        for rng in _list(entry, "ranges"):
            if not isinstance(rng, dict) or not isinstance(rng.get("events"), list):
                bad = True
                break
            events = []
            for ev in rng["events"]:
                if not isinstance(ev, dict) or len(ev) != 1:
                    bad = True
                    break
                (kind, version), = ev.items()
                if kind not in EVENT_KINDS or not isinstance(version, str):
                    bad = True
                    break
                events.append(range_event(kind, version))
            ranges.append(AffectedRange(str(rng.get("type", "ECOSYSTEM")).upper(), tuple(events)))
        if bad:
            tally.skip("invalid_range", f"{adv_id}: {repr(entry.get('ranges'))[:200]}")
            continue
        has_fix = any(ev.kind == "fixed" for r in ranges for ev in r.events)
        eco_specific = as_dict(entry.get("ecosystem_specific"))
        pkg_sev = eco_specific.get("urgency") or eco_specific.get("severity")
        fixed = [ev.version for r in ranges for ev in r.events if ev.kind == "fixed"]
        # modular rpms: stored under `module:stream::name` (the stream is named in the summary only)
        for name in advisory_package_names(str(pkg.get("ecosystem", "")), _text(pkg.get("name")), advisory.summary, fixed):
            item = make_affected(
                tally,
                adv_id,
                str(pkg.get("ecosystem", "")),
                name,
                ranges,
                entry.get("versions") if isinstance(entry.get("versions"), list) else [],
                "fixed" if has_fix else "unfixed",
                pkg_sev if isinstance(pkg_sev, str) else None,
            )
            if item is not None:
                affected.append(item)
    return Parsed(advisory, affected)


def _parsed(data: bytes, tally: Tally, where: str) -> Parsed | None:
    """One record's bytes → Parsed; malformed JSON and unusable records are counted, not raised."""
    obj = load_json(data, tally, where)
    return None if obj is MALFORMED else parse_record(obj, tally)


def iter_jsonl(stream: io.BufferedIOBase, tally: Tally, where: str = "jsonl") -> Iterator[Parsed]:
    """Records of a JSON-lines stream (gzip detected by its magic bytes), one line at a time."""
    try:
        for lineno, line in bounded_lines(gunzipped(stream), tally, where):
            parsed = _parsed(line, tally, f"{where}:{lineno}")
            if parsed:
                yield parsed
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise CorruptArchive(f"{where}: cannot read compressed stream: {exc}") from exc


def iter_zip(path: Path, tally: Tally) -> Iterator[Parsed]:
    """Records of an OSV `all.zip` (one JSON document per member)."""
    for name, data in iter_zip_members(path, tally, CorruptArchive):
        parsed = _parsed(data, tally, name)
        if parsed:
            yield parsed


def iter_dir(path: Path, tally: Tally) -> Iterator[Parsed]:
    """Records of a folder of OSV JSON files (recursively, in name order)."""
    for name, data in iter_folder_files(path, "*.json", tally):
        parsed = _parsed(data, tally, name)
        if parsed:
            yield parsed


def iter_path(path: Path, tally: Tally) -> Iterator[Parsed]:
    if path.is_dir():
        return iter_dir(path, tally)
    if path.suffix == ".zip":
        return iter_zip(path, tally)
    if path.suffix == ".json":
        return iter_dir_single(path, tally)
    return _iter_file(path, tally)


def iter_dir_single(path: Path, tally: Tally) -> Iterator[Parsed]:
    obj = load_json(path.read_bytes(), tally, path.name)
    if obj is MALFORMED:
        return
    for item in obj if isinstance(obj, list) else [obj]:
        parsed = parse_record(item, tally)
        if parsed:
            yield parsed


def _iter_file(path: Path, tally: Tally) -> Iterator[Parsed]:
    with path.open("rb") as fh:
        yield from iter_jsonl(fh, tally, path.name)
