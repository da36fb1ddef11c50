"""What parsers produce, and the validation every affected entry goes through."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from hullscan.advisories.normalize import UnknownEcosystem, normalize_ecosystem, normalize_name
from hullscan.advisories.types import Advisory, AffectedPackage, AffectedRange, RangeEvent
from hullscan.versions import InvalidVersion, parse, scheme_for_ecosystem

MAX_RECORD_BYTES = 16 * 1024 * 1024  # one advisory larger than this is hostile, not data


def as_dict(value: Any) -> dict[str, Any]:
    """An object-valued field of an untrusted record; anything else (null, a list, a string) reads as empty."""
    return value if isinstance(value, dict) else {}


def gunzipped(stream: io.BufferedIOBase) -> io.BufferedReader | gzip.GzipFile:
    """The stream, decompressed when it starts with gzip's magic bytes: feeds are published both ways, and the
    bytes are peeked (a buffer is added when the stream has none), so a plain stream is read from its start."""
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(stream)
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=buffered)
    return buffered


MALFORMED = object()  # what `load_json` answers for bytes that are not JSON (`null` is JSON)


def load_json(data: bytes | str, tally: Tally, where: str) -> Any:
    """One JSON document, or MALFORMED (counted as malformed_json, with where and why) when it is not one."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        tally.records += 1
        tally.skip("malformed_json", f"{where}: {exc}")
        return MALFORMED


def bounded_lines(stream: io.BufferedIOBase, tally: Tally, where: str) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of the non-blank lines of a JSON-lines stream, each read at most MAX_RECORD_BYTES + 1
    at a time: a longer line is counted as too large and drained, so memory stays bounded whatever the input."""
    lineno = 0
    while True:
        line = stream.readline(MAX_RECORD_BYTES + 1)
        if not line:
            return
        lineno += 1
        if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
            tally.records += 1
            tally.skip("record_too_large", f"{where}:{lineno}")
            while line and not line.endswith(b"\n"):  # drain the rest of the line
                line = stream.readline(MAX_RECORD_BYTES)
            continue
        if line.strip():
            yield lineno, line


def iter_folder_files(path: Path, pattern: str, tally: Tally) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each file under a folder matching `pattern` (recursively, in path order); a file larger
    than MAX_RECORD_BYTES is counted as too large and not read."""
    for file in sorted(path.rglob(pattern)):
        if file.stat().st_size > MAX_RECORD_BYTES:
            tally.records += 1
            tally.skip("record_too_large", str(file))
            continue
        yield file.name, file.read_bytes()


def iter_zip_members(path: Path, tally: Tally, corrupt: type[ValueError]) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each `.json` member of a feed's zip archive, read at most MAX_RECORD_BYTES + 1 at a
    time. An oversized member is counted and skipped; an unreadable archive or member (bad CRC, truncation)
    raises the caller's `corrupt` error, so a cut download fails its source instead of importing half."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise corrupt(f"{path.name}: not a readable zip: {exc}") from exc
    with zf:
        for info in zf.infolist():
            if info.is_dir() or not info.filename.endswith(".json"):
                continue
            if info.file_size > MAX_RECORD_BYTES:
                tally.records += 1
                tally.skip("record_too_large", info.filename)
                continue
            try:
                with zf.open(info) as member:
                    data = member.read(MAX_RECORD_BYTES + 1)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as exc:
                raise corrupt(f"{path.name}: member {info.filename} is corrupt: {exc}") from exc
            yield info.filename, data
def iter_json_documents(documents: Iterator[tuple[str, bytes]], tally: Tally) -> Iterator[tuple[str, Any]]:
    """(name, decoded JSON) of (name, bytes) documents; one over MAX_RECORD_BYTES or not JSON is counted, skipped."""
    import json

    for where, data in documents:
        if len(data) > MAX_RECORD_BYTES:
            tally.records += 1
            tally.skip("record_too_large", where)
            continue
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            tally.records += 1
            tally.skip("malformed_json", f"{where}: {exc}")
            continue
        yield where, doc


EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")


@dataclass
class Parsed:
    advisory: Advisory
    affected: list[AffectedPackage]


@dataclass
class Enrichment:
    cve_id: str
    known_exploited: bool | None = None
    known_exploited_date: str | None = None
    epss_score: float | None = None
    epss_percentile: float | None = None


@dataclass(frozen=True)
class CveSeverity:
    """The CVSS severity one CVE feed gives a CVE (all None when the record carries no usable score)."""

    cve_id: str
    feed: str  # nvd | cve
    severity: str | None
    score: float | None
    vector: str | None
    cvss_version: str | None
    source: str | None  # where in the record: `cna:<CNA>`, `adp:CISA-ADP`, `primary:nvd@nist.gov`, ...
    modified: str | None = None


@dataclass
class Tally:
    """Records read and skipped (by reason) while parsing one source."""

    records: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def skip(self, reason: str, detail: str = "") -> None:
        self.skipped[reason] += 1
        self.examples.setdefault(reason, detail[:300])


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.year <= 1:
        return None  # Go's placeholder `0001-01-01T00:00:00Z`
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt


def make_affected(
    tally: Tally,
    advisory_id: str,
    ecosystem: str,
    name: str,
    ranges: list[AffectedRange],
    versions: list[str] | None = None,
    fix_state: str = "fixed",
    severity: str | None = None,
) -> AffectedPackage | None:
    """A validated entry, or None (counted) when its ecosystem is unknown or a range version unreadable."""
    known = _ecosystem_scheme(ecosystem)
    if known is None:
        tally.skip("unknown_ecosystem", f"{advisory_id}: {ecosystem!r}")
        return None
    eco, scheme = known
    if not isinstance(name, str) or not name.strip():
        tally.skip("invalid_package", f"{advisory_id}: package name {name!r}")
        return None
    for rng in ranges:
        if rng.type.upper() == "GIT":
            continue
        for ev in rng.events:
            if ev.kind == "introduced" and ev.version in ("0", "*"):
                continue
            if ev.kind == "limit" and ev.version == "*":
                continue
            if not _readable(scheme, ev.version):
                tally.skip("invalid_version", f"{advisory_id}: {eco} {name} {ev.kind} {ev.version!r}")
                return None
    return AffectedPackage(
        advisory_id=advisory_id,
        ecosystem=eco,
        package=_normalized_name(eco, name),
        ranges=ranges,
        versions=_strings(versions) if versions else [],
        fix_state=fix_state,
        severity=severity,
    )


def _strings(values: list) -> list[str]:
    """The strings of a list (OSV lists can hold thousands of versions: the all-strings case is checked in C)."""
    if set(map(type, values)) == {str}:
        return list(values)
    return [v for v in values if isinstance(v, str)]


@lru_cache(maxsize=65536)
def range_event(kind: str, version: str) -> RangeEvent:
    """A shared (immutable) event: feeds repeat `introduced 0` and the same fixed versions many times."""
    return RangeEvent(kind, version)


def fixed_range(fixed: str | None) -> list[AffectedRange]:
    """`introduced 0` up to `fixed` (or open-ended when there is no fix yet)."""
    return [_fixed_range(fixed)]


@lru_cache(maxsize=65536)
def _fixed_range(fixed: str | None) -> AffectedRange:
    events = [RangeEvent("introduced", "0")]
    if fixed:
        events.append(RangeEvent("fixed", fixed))
    return AffectedRange("ECOSYSTEM", tuple(events))


@lru_cache(maxsize=4096)
def _ecosystem_scheme(ecosystem: str) -> tuple[str, str] | None:
    try:
        eco = normalize_ecosystem(ecosystem)
        return eco, scheme_for_ecosystem(eco)
    except (UnknownEcosystem, ValueError):
        return None


@lru_cache(maxsize=65536)
def _normalized_name(ecosystem: str, name: str) -> str:
    return normalize_name(ecosystem, name)


@lru_cache(maxsize=200_000)
def _readable(scheme: str, version: str) -> bool:
    try:
        parse(scheme, version)
        return True
    except InvalidVersion:
        return False
