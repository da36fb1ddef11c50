"""The advisories service other parts call: the store for matching, changesets for re-matching, and the
import/sync entry points used by the CLI, the API and the scheduler.

Each source is written in its own transaction: readers see its old or its new data, a failing source
leaves its previous data intact and does not stop the others, and bad records are skipped and counted.
"""

from __future__ import annotations

import bz2
import contextlib
import csv
import gc
import json
import logging
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from datetime import datetime, timedelta, timezone
from typing import IO, Any
from urllib.parse import quote, urlencode, urlparse

import httpx
from defusedxml import ElementTree as SafeET
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hullscan.advisories.fetch import FetchError, download, get_bytes
from hullscan.advisories.normalize import normalize_name
from hullscan.advisories.parsers import (
    alpine, amazon, cve, debian, enrichment, mariner, oracle, osv, photon, redhat, redhat_repositories, suse, ubuntu,
)
from hullscan.advisories.parsers.base import MAX_RECORD_BYTES, Parsed, Tally
from hullscan.advisories.reader import Changeset, ChangeEntry, SqlAdvisoryStore, changesets_since
from hullscan.advisories.store import (
    ApplyResult,
    apply_cve_severities,
    apply_enrichment,
    apply_repository_cpes,
    apply_source,
    record_state,
)
from hullscan.advisories.types import Advisory, AffectedPackage
from hullscan.db import Database
from hullscan.db.models.advisories import (
    AdvisoryChangeset,
    AdvisoryRecord,
    AdvisorySourceState,
    AffectedEntry,
    RepositoryCpes,
    VulnerabilityEnrichment,
)
from hullscan.settings import Settings

__all__ = [
    "ChangeEntry", "Changeset", "SourceResult", "SqlAdvisoryStore", "changesets_since", "import_path",
    "normalize_name", "status", "sync",
]
log = logging.getLogger("hullscan.advisories")
Progress = Callable[[str, int, int | None], None]  # (source, advanced by, total if known)

FORMATS = ("osv", "alpine", "wolfi", "chainguard", "redhat-vex", "amazon-updateinfo", "oracle-oval",
           "mariner-oval", "photon", "suse-oval", "debian-list", "debian-json", "ubuntu-oval", "ubuntu-vex", "kev",
           "epss", "cve", "nvd")
CVE_FEEDS = ("cve", "nvd")  # formats that give CVE severities (docs/severity.md), not affected packages


class NothingImported(ValueError):
    """An import in which no record was usable: nothing is written, and the reasons are reported."""


@dataclass
class SourceResult:
    source: str
    ok: bool
    error: str | None = None
    records: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    added: int = 0
    modified: int = 0
    withdrawn: int = 0
    unchanged: int = 0
    changeset_id: int | None = None


# --- running one source ---------------------------------------------------------------------------------

_gc_lock = threading.Lock()
_gc_depth = 0
_gc_saved: tuple[int, int, int] | None = None
# An import allocates hundreds of thousands of small objects that all stay alive until it commits. With the
# default thresholds the cyclic collector keeps re-scanning them (and the whole process heap) while they
# accumulate: about a quarter of the import's CPU time, for nothing to collect. During an import, young
# collections run 70x less often and full ones wait for the import to end.
_IMPORT_GC_THRESHOLDS = (50_000, 20, 1_000)


@contextmanager
def _bulk_allocation() -> Iterator[None]:
    """Fewer garbage-collector passes while a source is imported (nesting- and thread-safe; restored after)."""
    global _gc_depth, _gc_saved
    with _gc_lock:
        if _gc_depth == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(*_IMPORT_GC_THRESHOLDS)
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_saved is not None:
                gc.set_threshold(*_gc_saved)
                _gc_saved = None



def _run(
    db: Database, name: str, kind: str, location: str | None, produce: Callable[[Tally], object],
    *, snapshot: bool = True, enrichment_kind: str | None = None, cursor: Callable[[], str | None] | None = None,
    progress: Progress | None = None, require_records: bool = False, remove: list[str] | None = None,
) -> SourceResult:
    """Parse and write one source in one transaction; on any error record it and keep the old data."""
    tally = Tally()
    log.info("advisory source started", extra={"fields": {"source": name, "location": location}})
    try:
        with _bulk_allocation(), db.session() as session:
            items = produce(tally)
            tick = (lambda n: progress(name, n, None)) if progress else None
            if enrichment_kind in CVE_FEEDS:
                result = apply_cve_severities(session, enrichment_kind, items)  # type: ignore[arg-type]
            elif enrichment_kind:
                result = apply_enrichment(session, name, items, kind=enrichment_kind)  # type: ignore[arg-type]
            else:
                result = apply_source(session, name, items, snapshot=snapshot, progress=tick,  # type: ignore[arg-type]
                                      remove=remove or ())
            if require_records and result.advisories == 0:
                raise NothingImported(_nothing_message(kind, location, tally))
            record_state(session, name, kind, location, tally, result, None, cursor() if cursor else None)
    except Exception as exc:  # any failure of one source is recorded, never propagated to the others
        error = f"{type(exc).__name__}: {exc}"
        log.warning("advisory source failed", extra={"fields": {"source": name, "error": error}})
        with db.session() as session:
            record_state(session, name, kind, location, tally, None, error)
        return SourceResult(name, False, error, tally.records, dict(tally.skipped))
    log.info("advisory source done", extra={"fields": {
        "source": name, "records": tally.records, "skipped": sum(tally.skipped.values()),
        "added": result.added, "modified": result.modified, "withdrawn": result.withdrawn,
    }})
    return SourceResult(name, True, None, tally.records, dict(tally.skipped), result.added, result.modified,
                        result.withdrawn, result.unchanged, result.changeset_id)


def _nothing_message(kind: str, location: str | None, tally: Tally) -> str:
    """Why an import wrote nothing: every record skipped (with the reasons), or none recognised at all."""
    where = f"{location} (read as {kind})"
    if not tally.records and not tally.skipped:
        return f"no {kind} record recognised in {where}; pass --format if the file is of another format"
    reasons = ", ".join(f"{reason}={count}" for reason, count in tally.skipped.most_common(5))
    example = next(iter(tally.examples.values()), "")
    what = f"all {tally.records} records of {where} were skipped" if tally.records else f"nothing usable in {where}"
    return f"{what} ({reasons}); nothing was written" + (f"; e.g. {example[:160]}" if example else "")


# --- local files and URLs ---------------------------------------------------------------------------------


def _head(path: Path) -> bytes:
    """The first 4 KiB of a file's content: decompressed for gzip, the first JSON member for a zip."""
    import gzip
    import zipfile

    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                member = next((i for i in zf.infolist() if i.filename.endswith(".json") and not i.is_dir()), None)
                if member is None:
                    return b""
                with zf.open(member) as fh:
                    return fh.read(4096)
        with path.open("rb") as fh:
            head = fh.read(4096)
            if head[:2] == b"\x1f\x8b":
                fh.seek(0)
                with gzip.GzipFile(fileobj=fh) as gz:
                    return gz.read(4096)
            if head[:3] == b"BZh":
                fh.seek(0)
                with bz2.BZ2File(fh) as bz:
                    return bz.read(4096)
            return head
    except (OSError, EOFError, ValueError, zipfile.BadZipFile):
        return b""


def detect_format(path: Path) -> str:
    """Guess a file's or folder's format from its name and first bytes."""
    name = path.name.lower()
    if path.is_dir():
        if any((child / repo).is_file() for child in path.iterdir() if child.is_dir()
               for repo in ("main.json", "community.json")):
            return "alpine"  # <branch>/<repo>.json
        if any((path / repo).is_file() for repo in ("main.json", "community.json")):
            return "alpine"
        first_openvex = next(path.rglob("CVE-*.json"), None)
        if first_openvex is not None and b"openvex.dev" in _head(first_openvex):
            return "ubuntu-vex"  # Canonical's vex/cve/<year>/CVE-*.json
        first_vex = next(path.rglob("cve-*.json"), None)
        if first_vex is not None and b'"csaf_vex"' in _head(first_vex):
            return "redhat-vex"
        first_cve = next(path.rglob("CVE-*.json"), None)  # a cvelistV5 checkout, or NVD files one per CVE
        if first_cve is not None and (feed := cve.looks_like(_head(first_cve))):
            return feed
        return "osv"
    if "updateinfo" in name and name.endswith((".xml", ".xml.gz")) or \
            name.endswith((".xml", ".xml.gz")) and b"<updates" in _head(path)[:512]:
        return "amazon-updateinfo"
    head = _head(path)
    if b"<oval_definitions" in head and (b"com.oracle.elsa" in head or b"Oracle Errata System" in head):
        return "oracle-oval"
    if mariner.looks_like(head):
        return "mariner-oval"
    if suse.looks_like(head):
        return "suse-oval"
    if name.endswith((".xml", ".xml.bz2")):
        return "ubuntu-oval"
    if photon.release_of(name):
        return "photon"
    if name.endswith(".tar.xz"):
        return "ubuntu-vex"  # Canonical's OpenVEX archive (vex-all.tar.xz)
    if name.endswith(".tar.zst"):
        return "redhat-vex"  # Red Hat's VEX archive (csaf_vex_<date>.tar.zst)
    if name.endswith((".csv", ".csv.gz")):
        return "epss"
    if name.endswith((".zip", ".jsonl", ".jsonl.gz", ".ndjson", ".json.gz", ".json")):
        if feed := cve.looks_like(head):
            return feed
        if b'"csaf_vex"' in head:
            return "redhat-vex"
        if b"openvex.dev" in head:
            return "ubuntu-vex"
    if name.endswith((".zip", ".jsonl", ".jsonl.gz", ".ndjson")):
        return "osv"
    with path.open("rb") as fh:
        head = fh.read(4096)
    stripped = head.lstrip()
    if stripped.startswith(b"[") and (b"] DSA-" in head or b"] DLA-" in head or b"] DTSA-" in head):
        return "debian-list"
    if stripped.startswith(b"{"):
        if b'"catalogVersion"' in head or b'"vulnerabilities"' in head and b'"cveID"' in head:
            return "kev"
        if b'"distroversion"' in head or b'"secfixes"' in head or b'"apkurl"' in head:
            if b"packages.wolfi.dev" in head:
                return "wolfi"
            if b"cgr.dev" in head:
                return "chainguard"
            return "alpine"
        if b'"releases"' in head and b'"CVE-' in head:
            return "debian-json"
        return "osv"
    raise ValueError(f"cannot tell the format of {path}; pass --format ({', '.join(FORMATS)})")


def _default_source(fmt: str, path: Path) -> str:
    stem = path.name.split(".", 1)[0].lower()
    if stem in ("all", "index", "data", "download") and path.parent.name:
        stem = path.parent.name.lower()  # `PyPI/all.zip` → osv:pypi
    if fmt == "osv":
        return f"osv:{stem}"
    if fmt == "debian-list":
        return f"debian-{path.parent.name.lower()}" if path.parent.name in ("DSA", "DLA", "DTSA") else f"debian-{stem}"
    if fmt == "ubuntu-oval":
        return f"ubuntu-oval:{path.name.split('.')[2] if path.name.count('.') > 2 else stem}"
    if fmt in alpine.SECDB_FEEDS:
        return alpine.SECDB_FEEDS[fmt].source
    if fmt in ("redhat-vex", "ubuntu-vex", "oracle-oval"):
        return fmt
    if fmt == "photon":
        return f"photon:{photon.release_of(path.name) or stem}"
    if fmt == "suse-oval":  # suse.linux.enterprise.server.15.xml → suse-oval:15, opensuse.leap.15.6.xml → leap-15.6
        m = re.search(r"server\.(\d+)\.xml", path.name.lower())
        leap = re.search(r"leap\.(\d+\.\d+)\.xml", path.name.lower())
        return f"suse-oval:{m.group(1) if m else f'leap-{leap.group(1)}' if leap else stem}"
    if fmt == "mariner-oval":  # one source per release file: `azurelinux-3.0-oval.xml` → mariner-oval:azurelinux-3.0
        return f"mariner-oval:{path.name.lower().removesuffix('.xml').removesuffix('-oval')}"
    if fmt == "amazon-updateinfo":  # one source per release: `<release>/updateinfo.xml.gz` as sync keeps it
        return f"amazon:{path.parent.name.lower() if 'updateinfo' in path.name else stem}"
    return {"alpine": "alpine-secdb", "debian-json": "debian-tracker", "kev": "kev", "epss": "epss", "cve": "cve",
            "nvd": "nvd"}[fmt]


def _open_maybe_bz2(path: Path) -> IO[bytes]:
    fh = path.open("rb")
    if fh.read(3) == b"BZh":
        fh.seek(0)
        return bz2.BZ2File(fh)
    fh.seek(0)
    return fh


def _producer(fmt: str, path: Path, source: str) -> tuple[Callable[[Tally], object], str | None]:
    if fmt == "osv":
        return (lambda t: osv.iter_path(path, t)), None
    if fmt == "alpine":
        return (lambda t: alpine.iter_documents(alpine.read_tree(path), t)), None
    if fmt in alpine.SECDB_FEEDS:
        return (lambda t: alpine.iter_documents(alpine.read_tree(path), t, alpine.SECDB_FEEDS[fmt])), None
    if fmt == "redhat-vex":
        return (lambda t: redhat.iter_documents(_vex_documents(path), t)), None
    if fmt == "suse-oval":
        def produce_suse(t: Tally) -> Iterator[Parsed]:
            with _open_maybe_bz2(path) as fh:
                yield from suse.iter_oval(fh, t)
        return produce_suse, None
    if fmt == "photon":
        release = photon.release_of(path.name)
        if release is None:
            raise ValueError(f"{path.name}: Photon data files are named cve_data_photon<release>.json")
        return (lambda t: photon.iter_cve_data(path.read_bytes()[: photon.MAX_RECORD_BYTES * 16 + 1], release, t)), None
    if fmt == "mariner-oval":
        def produce_mariner(t: Tally) -> Iterator[Parsed]:
            with path.open("rb") as fh:
                yield from mariner.iter_oval(fh, t)
        return produce_mariner, None
    if fmt == "oracle-oval":
        def produce_elsa(t: Tally) -> Iterator[Parsed]:
            with _open_maybe_bz2(path) as fh:
                yield from oracle.iter_oval(fh, t)
        return produce_elsa, None
    if fmt == "amazon-updateinfo":
        def produce_updateinfo(t: Tally) -> Iterator[Parsed]:
            with path.open("rb") as fh:
                yield from amazon.iter_updateinfo(fh, t)
        return produce_updateinfo, None
    if fmt == "debian-list":
        def produce_list(t: Tally) -> Iterator[Parsed]:
            with path.open("rb") as fh:
                yield from debian.iter_list(fh, t, source)
        return produce_list, None
    if fmt == "debian-json":
        return (lambda t: debian.iter_tracker_json(path.read_bytes(), t)), None
    if fmt == "ubuntu-oval":
        def produce_oval(t: Tally) -> Iterator[Parsed]:
            with _open_maybe_bz2(path) as fh:
                yield from ubuntu.iter_oval(fh, t)
        return produce_oval, None
    if fmt == "ubuntu-vex":
        return (lambda t: ubuntu.iter_vex_documents(_vex_documents(path), t)), None
    if fmt == "kev":
        return (lambda t: enrichment.iter_kev(path.read_bytes(), t)), "kev"
    if fmt in CVE_FEEDS:
        return (lambda t: cve.iter_path(path, t)), fmt
    if fmt == "epss":
        def produce_epss(t: Tally) -> Iterator:
            with path.open("rb") as fh:
                yield from enrichment.iter_epss(fh, t)
        return produce_epss, "epss"
    raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")


def _vex_documents(path: Path) -> Iterator[tuple[str, bytes]]:
    """JSON documents of a folder, one file, or an archive streamed member by member: Red Hat's `.tar.zst`,
    Canonical's `.tar.xz` (each holds every CVE). Each is read at most MAX_RECORD_BYTES + 1."""
    import tarfile

    limit = MAX_RECORD_BYTES
    if path.is_dir():
        for file in sorted(path.rglob("*.json")):
            with file.open("rb") as fh:
                yield str(file), fh.read(limit + 1)
        return
    if not path.name.endswith((".tar.zst", ".tar.xz", ".txz")):
        with path.open("rb") as fh:
            yield path.name, fh.read(limit + 1)
        return
    with contextlib.ExitStack() as stack:
        if path.name.endswith(".tar.zst"):
            import zstandard

            raw = stack.enter_context(path.open("rb"))
            stream = stack.enter_context(zstandard.ZstdDecompressor().stream_reader(raw))
            tar = stack.enter_context(tarfile.open(fileobj=stream, mode="r|"))
        else:
            tar = stack.enter_context(tarfile.open(path, mode="r|xz"))
        for member in tar:
            if not member.isfile() or not member.name.endswith(".json"):
                continue
            if member.size > limit:
                yield member.name, b"x" * (limit + 1)  # counted as too large, not read
                continue
            content = tar.extractfile(member)
            if content is not None:
                yield member.name, content.read()


def _import_targets(path: Path) -> list[tuple[str, Path]]:
    """What to import from a path; a folder mixing formats (like ../shared/advisories) is split up."""
    if path.is_file():
        return [(detect_format(path), path)]
    direct = detect_format(path)
    if direct in ("alpine", "redhat-vex", "ubuntu-vex", *CVE_FEEDS):  # one source spread over many files
        return [(direct, path)]
    children = sorted(path.iterdir())
    if children and all(c.is_file() and c.suffix == ".json" for c in children) and \
            all(detect_format(c) == "osv" for c in children):
        return [("osv", path)]
    targets: list[tuple[str, Path]] = []
    for child in children:
        if child.name.startswith(".") or child.suffix.lower() in (".md", ".txt") or "schema" in child.name:
            continue
        if child.is_dir():
            targets.extend(_import_targets(child))
        else:
            try:
                targets.append((detect_format(child), child))
            except ValueError as exc:
                log.warning("skipping file of unknown format", extra={"fields": {"path": str(child), "error": str(exc)}})
    return targets


def import_path(
    db: Database, settings: Settings, target: str, fmt: str | None = None, source: str | None = None,
    progress: Progress | None = None,
) -> list[SourceResult]:
    """Import a local file/folder or a URL; each detected source is one atomic import."""
    tmp: Path | None = None
    try:
        if urlparse(target).scheme in ("http", "https"):
            tmp = Path(tempfile.mkdtemp(prefix="import-", dir=_tmp_dir(settings)))
            with _client(settings) as client:
                downloaded = download(client, target, tmp, settings.advisories_http_retries)
            url_path = Path(urlparse(target).path)
            folder = tmp / (url_path.parent.name or "download")  # keep `<ecosystem>/all.zip` for naming
            folder.mkdir()
            path = folder / (url_path.name or "download")
            downloaded.rename(path)
        else:
            path = Path(target)
            if not path.exists():
                raise FileNotFoundError(f"no such file or folder: {target}")
        targets = [(fmt, path)] if fmt else _import_targets(path)
        results = []
        for f, p in targets:
            if f not in FORMATS:
                raise ValueError(f"unknown format {f!r}; known: {', '.join(FORMATS)}")
            name = source or _default_source(f, p)
            produce, enrich = _producer(f, p, name)
            results.append(_run(db, name, f, str(p), produce, enrichment_kind=enrich, progress=progress,
                                require_records=True))
        return results
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


# --- scheduled / on-demand sync from the configured sources ----------------------------------------------


def _client(settings: Settings) -> httpx.Client:
    return httpx.Client(timeout=settings.advisories_http_timeout, follow_redirects=True,
                        headers={"User-Agent": "hullscan-advisories"})


def _tmp_dir(settings: Settings) -> Path:
    path = settings.resolved_data_dir / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _osv_sync(db: Database, settings: Settings, ecosystem: str, client: httpx.Client,
              progress: Progress | None) -> SourceResult:
    """One OSV ecosystem: all.zip the first time (or after many changes), then only records newer than the
    cursor listed in modified_id.csv."""
    name = f"osv:{ecosystem.lower()}"
    base = f"{settings.advisories_osv_base_url.rstrip('/')}/{quote(ecosystem)}"
    tmp = Path(tempfile.mkdtemp(prefix="osv-", dir=_tmp_dir(settings)))
    try:
        with db.session() as s:
            state = s.get(AdvisorySourceState, name)
            cursor = state.cursor if state and state.last_success_at else None
        try:
            csv_path = download(client, f"{base}/modified_id.csv", tmp, settings.advisories_http_retries)
            changed, newest = _read_modified_csv(csv_path, cursor)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            with db.session() as s:
                record_state(s, name, "osv", base, Tally(), None, error)
            return SourceResult(name, False, error)
        if cursor is not None and len(changed) <= settings.advisories_osv_incremental_max:
            # Fetch first, write after: no network I/O while the source's transaction holds the write lock.
            fetched: list[tuple[str, bytes]] = []
            try:
                for adv_id in changed:
                    fetched.append((adv_id, get_bytes(client, f"{base}/{quote(adv_id)}.json",
                                                      settings.advisories_http_retries)))
                    if progress:
                        progress(name, 1, len(changed))
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                with db.session() as s:
                    record_state(s, name, "osv", base, Tally(), None, error)
                return SourceResult(name, False, error)

            def produce_changed(t: Tally) -> Iterator[Parsed]:
                for adv_id, data in fetched:
                    try:
                        obj = json.loads(data)
                    except ValueError as exc:
                        t.records += 1
                        t.skip("malformed_json", f"{adv_id}: {exc}")
                        continue
                    parsed = osv.parse_record(obj, t)
                    if parsed:
                        yield parsed
            if not changed:
                with db.session() as s:
                    record_state(s, name, "osv", base, _tally_of(s, name), ApplyResult(
                        changeset_id=_last_changeset(s, name)), None, newest or cursor)
                return SourceResult(name, True, changeset_id=None)
            return _run(db, name, "osv", base, produce_changed, snapshot=False, cursor=lambda: newest or cursor)
        try:
            zip_path = download(client, f"{base}/all.zip", tmp, settings.advisories_http_retries)
            zip_path = zip_path.rename(tmp / "all.zip")  # so errors name the file users know
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            with db.session() as s:
                record_state(s, name, "osv", base, Tally(), None, error)
            return SourceResult(name, False, error)
        return _run(db, name, "osv", base, lambda t: osv.iter_zip(zip_path, t), cursor=lambda: newest,
                    progress=progress)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _tally_of(session: Session, name: str) -> Tally:
    state = session.get(AdvisorySourceState, name)
    tally = Tally(records=state.records if state else 0)
    for reason, info in (state.skipped_reasons if state else {}).items():
        tally.skipped[reason] = info.get("count", 0)
        tally.examples[reason] = info.get("example", "")
    return tally


def _last_changeset(session: Session, name: str) -> int:
    state = session.get(AdvisorySourceState, name)
    return (state.last_changeset_id if state else None) or 0


def _read_change_list(path: Path, cursor: str | None,
                      entry: Callable[[list[str]], tuple[str, str] | None]) -> tuple[list[str], str | None]:
    """A feed's CSV list of changes: the items changed after `cursor` (ISO timestamps compare as text), in order
    and once each, and the newest timestamp listed. `entry` reads (timestamp, item) from a row of at least two
    fields, or None for a row that names no item; rows without a timestamp are passed over."""
    changed: list[str] = []
    newest: str | None = None
    with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        for row in csv.reader(fh):
            found = entry(row) if len(row) >= 2 else None
            if found is None or not found[0][:4].isdigit():
                continue
            stamp, item = found
            if newest is None or stamp > newest:
                newest = stamp
            if cursor is None or stamp > cursor:
                changed.append(item)
    return list(dict.fromkeys(changed)), newest


def _read_modified_csv(path: Path, cursor: str | None) -> tuple[list[str], str | None]:
    """OSV's `modified_id.csv` (`<ISO time>,<ecosystem>/<id>`): ids modified after `cursor`, newest time."""
    def entry(row: list[str]) -> tuple[str, str] | None:
        adv_id = row[1].strip().split("/")[-1]
        return (row[0].strip(), adv_id) if adv_id else None
    return _read_change_list(path, cursor, entry)


def _download_source(db: Database, settings: Settings, client: httpx.Client, name: str, fmt: str,
                     urls: list[str], progress: Progress | None) -> SourceResult:
    tmp = Path(tempfile.mkdtemp(prefix="sync-", dir=_tmp_dir(settings)))
    try:
        try:
            files = []
            for i, url in enumerate(urls):
                fetched = download(client, url, tmp, settings.advisories_http_retries)
                target = tmp / f"{i}-{Path(urlparse(url).path).name}"
                if fmt == "alpine":  # keep the <branch>/<repo>.json layout
                    parts = urlparse(url).path.rstrip("/").split("/")
                    target = tmp / "tree" / parts[-2] / parts[-1]
                    target.parent.mkdir(parents=True, exist_ok=True)
                fetched.rename(target)
                files.append(target)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            with db.session() as s:
                record_state(s, name, fmt, ",".join(urls), Tally(), None, error)
            return SourceResult(name, False, error)
        path = tmp / "tree" if fmt == "alpine" else files[0]
        produce, enrich = _producer(fmt, path, name)
        return _run(db, name, fmt, ",".join(urls), produce, enrichment_kind=enrich, progress=progress)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_NVD_WINDOW_DAYS = 120  # the longest lastModStartDate..lastModEndDate range the NVD API accepts
_NVD_PAGE = 2000  # its largest resultsPerPage


def _stamp(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+00:00")


def _amazon_sync(db: Database, settings: Settings, client: httpx.Client, release: str, mirror_list: str,
                 progress: Progress | None) -> SourceResult:
    """One Amazon Linux release: its repository's mirror list → repomd.xml → the updateinfo it names."""
    name = f"amazon:{release}"
    tmp = Path(tempfile.mkdtemp(prefix="amazon-", dir=_tmp_dir(settings)))
    try:
        try:
            mirrors = get_bytes(client, mirror_list, settings.advisories_http_retries, max_bytes=1 << 16)
            base = next((line.strip() for line in mirrors.decode("utf-8", "replace").splitlines()
                         if line.strip().startswith(("http://", "https://"))), None)
            if base is None:
                raise FetchError(f"{mirror_list} lists no mirror")
            base = base.rstrip("/")
            repomd = SafeET.fromstring(get_bytes(client, f"{base}/repodata/repomd.xml",
                                                 settings.advisories_http_retries, max_bytes=1 << 20))
            href = next((loc.get("href") for data in repomd.iter() if data.tag.endswith("data")
                         and data.get("type") == "updateinfo"
                         for loc in data if loc.tag.endswith("location")), None)
            if not href or ".." in href or href.startswith("/") or "://" in href:
                raise FetchError(f"{base}/repodata/repomd.xml names no usable updateinfo ({href!r})")
            path = download(client, f"{base}/{href}", tmp, settings.advisories_http_retries)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            with db.session() as s:
                record_state(s, name, "amazon-updateinfo", mirror_list, Tally(), None, error)
            return SourceResult(name, False, error)

        def produce(t: Tally) -> Iterator[Parsed]:
            with path.open("rb") as fh:
                yield from amazon.iter_updateinfo(fh, t)
        return _run(db, name, "amazon-updateinfo", f"{base}/{href}", produce, progress=progress)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _redhat_sync(db: Database, settings: Settings, client: httpx.Client, progress: Progress | None) -> SourceResult:
    """Red Hat CSAF VEX: the whole archive (`archive_latest.txt` names it) the first time or after many changes,
    then only the documents `changes.csv` lists as changed since the cursor."""
    name, base = "redhat-vex", settings.advisories_redhat_vex_url.rstrip("/")
    with db.session() as s:
        state = s.get(AdvisorySourceState, name)
        cursor = state.cursor if state and state.last_success_at else None
    tmp = Path(tempfile.mkdtemp(prefix="vex-", dir=_tmp_dir(settings)))
    try:
        try:
            changes = download(client, f"{base}/changes.csv", tmp, settings.advisories_http_retries)
            changed, newest = _read_changes_csv(changes, cursor)
            if cursor is not None and len(changed) <= settings.advisories_osv_incremental_max:
                # documents Red Hat withdrew since the cursor: removed from the store, not fetched (they are gone)
                deleted, _ = _read_changes_csv(download(client, f"{base}/deletions.csv", tmp,
                                                        settings.advisories_http_retries), cursor)
                changed = [p for p in changed if p not in set(deleted)]
                removed = [f"REDHAT-{Path(p).stem.upper()}" for p in deleted]
                fetched = []
                for doc_path in changed:
                    fetched.append((doc_path, get_bytes(client, f"{base}/{doc_path}", settings.advisories_http_retries)))
                    if progress:
                        progress(name, 1, len(changed))
                return _run(db, name, "redhat-vex", base, lambda t: redhat.iter_documents(iter(fetched), t),
                            snapshot=False, cursor=lambda: newest or cursor, remove=removed)
            archive_name = get_bytes(client, f"{base}/archive_latest.txt",
                                     settings.advisories_http_retries).decode("utf-8", "replace").strip()
            if not re.fullmatch(r"[\w.-]+\.tar\.zst", archive_name):
                raise FetchError(f"archive_latest.txt names {archive_name[:80]!r}, not a .tar.zst")
            archive = download(client, f"{base}/{archive_name}", tmp, settings.advisories_http_retries)
            archive = archive.rename(tmp / archive_name)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            with db.session() as s:
                record_state(s, name, "redhat-vex", base, Tally(), None, error)
            return SourceResult(name, False, error)
        return _run(db, name, "redhat-vex", base, lambda t: redhat.iter_documents(_vex_documents(archive), t),
                    cursor=lambda: newest or cursor, progress=progress)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _redhat_repository_sync(db: Database, settings: Settings, client: httpx.Client) -> SourceResult:
    """Red Hat's repository-to-CPE map, replaced whole in one transaction; a failed download or a document that
    is too large or unusable is recorded as the source's error and the stored map is kept."""
    name = kind = redhat_repositories.KIND
    url = settings.advisories_redhat_repository_cpe_url
    tally = Tally()
    tmp = Path(tempfile.mkdtemp(prefix="repository-cpe-", dir=_tmp_dir(settings)))
    try:
        path = download(client, url, tmp, settings.advisories_http_retries,
                        max_bytes=settings.advisories_redhat_repository_cpe_max_bytes)
        mapping = redhat_repositories.parse(path.read_bytes(), tally)
        with db.session() as session:
            result = apply_repository_cpes(session, name, repository_cpes(session), mapping)
            if not result.changeset_id:  # unchanged: the source still points at the map's last change
                result.changeset_id = _last_changeset(session, name)
            record_state(session, name, kind, url, tally, result, None)
    except Exception as exc:  # recorded, never propagated: the other sources go on
        error = f"{type(exc).__name__}: {exc}"
        log.warning("advisory source failed", extra={"fields": {"source": name, "error": error}})
        with db.session() as session:
            record_state(session, name, kind, url, tally, None, error)
        return SourceResult(name, False, error, tally.records, dict(tally.skipped))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("advisory source done", extra={"fields": {"source": name, "repositories": len(mapping)}})
    return SourceResult(name, True, None, tally.records, dict(tally.skipped), added=len(mapping))


def repository_cpes(session: Session) -> dict[str, tuple[str, ...]]:
    """The stored repository-to-CPE map (empty when never synced), for `advisories status` and tests."""
    rows = session.execute(select(RepositoryCpes.repository, RepositoryCpes.cpes)).all()
    return {repo: tuple(cpes.split()) for repo, cpes in rows}


def _read_changes_csv(path: Path, cursor: str | None) -> tuple[list[str], str | None]:
    """Red Hat's `changes.csv` (`"<year>/cve-….json","<ISO time>"`): paths changed after `cursor`, newest time."""
    def entry(row: list[str]) -> tuple[str, str] | None:
        doc_path = row[0].strip()
        return (row[1].strip(), doc_path) if re.fullmatch(r"\d{4}/cve-\d{4}-\d+\.json", doc_path) else None
    return _read_change_list(path, cursor, entry)


def _nvd_sync(db: Database, settings: Settings, client: httpx.Client, progress: Progress | None) -> SourceResult:
    """NVD CVE API 2.0: every page the first time, then only CVEs modified since the last success
    (`lastModStartDate`/`lastModEndDate` windows of at most 120 days), pages fetched to files, then parsed."""
    name, base = "nvd", settings.advisories_nvd_url
    with db.session() as s:
        state = s.get(AdvisorySourceState, name)
        cursor = state.cursor if state and state.last_success_at else None
    now = datetime.now(timezone.utc)
    windows: list[dict[str, str]] = [{}]
    if cursor:
        start = datetime.fromisoformat(cursor)
        windows = []
        while start < now:
            end = min(start + timedelta(days=_NVD_WINDOW_DAYS), now)
            windows.append({"lastModStartDate": _stamp(start), "lastModEndDate": _stamp(end)})
            start = end
    headers = {"apiKey": settings.advisories_nvd_api_key} if settings.advisories_nvd_api_key else {}
    tmp = Path(tempfile.mkdtemp(prefix="nvd-", dir=_tmp_dir(settings)))
    try:
        pages: list[Path] = []
        try:
            for window in windows:
                index, total = 0, None
                while total is None or index < total:
                    if pages and settings.advisories_nvd_request_interval > 0:
                        time.sleep(settings.advisories_nvd_request_interval)
                    query = urlencode({**window, "startIndex": index, "resultsPerPage": _NVD_PAGE})
                    page = download(client, f"{base}?{query}", tmp, settings.advisories_http_retries,
                                    headers=headers)
                    pages.append(page)
                    with page.open("rb") as fh:
                        doc = json.load(fh)
                    total = int(doc.get("totalResults", 0)) if isinstance(doc, dict) else 0
                    got = len(doc.get("vulnerabilities") or []) if isinstance(doc, dict) else 0
                    if progress:
                        progress(name, got, total)
                    if got == 0:
                        break
                    index += got
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            with db.session() as s:
                record_state(s, name, "nvd", base, Tally(), None, error)
            return SourceResult(name, False, error)

        def produce(t: Tally) -> Iterator:
            for page in pages:
                yield from cve.iter_path(page, t)
        return _run(db, name, "nvd", base, produce, enrichment_kind="nvd", cursor=lambda: now.isoformat())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _cve_sync(db: Database, settings: Settings, client: httpx.Client, progress: Progress | None) -> SourceResult:
    """cvelistV5's `deltaLog.json` (changes of the last 30 days): the records new or updated since the last
    success, each fetched from the records URL. A full baseline is an import of the cvelistV5 zip."""
    name, base = "cve", settings.advisories_cve_records_url.rstrip("/")
    with db.session() as s:
        state = s.get(AdvisorySourceState, name)
        cursor = state.cursor if state and state.last_success_at else None
    fetched: list[tuple[str, bytes]] = []
    newest = cursor
    try:
        log_doc = json.loads(get_bytes(client, settings.advisories_cve_delta_log_url, settings.advisories_http_retries))
        wanted: dict[str, None] = {}
        for delta in log_doc if isinstance(log_doc, list) else []:
            stamp = delta.get("fetchTime") if isinstance(delta, dict) else None
            if not isinstance(stamp, str) or (cursor is not None and stamp <= cursor):
                continue
            newest = stamp if newest is None or stamp > newest else newest
            for entry in (delta.get("new") or []) + (delta.get("updated") or []):
                cve_id = entry.get("cveId") if isinstance(entry, dict) else None
                if isinstance(cve_id, str) and cve.CVE_ID.match(cve_id):
                    wanted[cve_id] = None
        for cve_id in wanted:
            year, number = cve_id.split("-")[1:]
            url = f"{base}/{year}/{int(number) // 1000}xxx/{cve_id}.json"
            fetched.append((cve_id, get_bytes(client, url, settings.advisories_http_retries)))
            if progress:
                progress(name, 1, len(wanted))
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        with db.session() as s:
            record_state(s, name, "cve", settings.advisories_cve_delta_log_url, Tally(), None, error)
        return SourceResult(name, False, error)

    def produce(t: Tally) -> Iterator:
        for cve_id, data in fetched:
            try:
                obj = json.loads(data)
            except ValueError as exc:
                t.records += 1
                t.skip("malformed_json", f"{cve_id}: {exc}")
                continue
            yield from cve.parse_document(obj, t)
    return _run(db, name, "cve", settings.advisories_cve_delta_log_url, produce, enrichment_kind="cve",
                cursor=lambda: newest)


def sync(db: Database, settings: Settings, sources: list[str] | None = None,
         progress: Progress | None = None, cancel: threading.Event | None = None) -> list[SourceResult]:
    """Sync the configured sources (or the named ones); every source independently.

    `cancel` (set by `serve` on shutdown) stops before the next source; a source in progress completes or
    rolls back as a whole."""
    wanted = [s.lower() for s in (sources or settings.advisories_sources)]
    results: list[SourceResult] = []
    with _client(settings) as client:
        for kind in wanted:
            if cancel is not None and cancel.is_set():
                break
            if kind == "osv" or kind.startswith("osv:"):
                ecosystems = settings.advisories_osv_ecosystems if kind == "osv" else [
                    e for e in settings.advisories_osv_ecosystems if e.lower() == kind[4:]] or [kind[4:]]
                for eco in ecosystems:
                    results.append(_osv_sync(db, settings, eco, client, progress))
            elif kind == "alpine":
                base = settings.advisories_alpine_url.rstrip("/")
                urls = [f"{base}/{b}/{repo}.json" for b in settings.advisories_alpine_branches
                        for repo in ("main", "community")]
                results.append(_download_source(db, settings, client, "alpine-secdb", "alpine", urls, progress))
            elif kind == "debian":
                results.append(_download_source(db, settings, client, "debian-tracker", "debian-json",
                                                [settings.advisories_debian_tracker_url], progress))
            elif kind == "ubuntu":
                for release in settings.advisories_ubuntu_releases:
                    url = settings.advisories_ubuntu_oval_url.format(release=release)
                    results.append(_download_source(db, settings, client, f"ubuntu-oval:{release}", "ubuntu-oval",
                                                    [url], progress))
                if settings.advisories_ubuntu_vex_url:  # will-not-fix / end-of-life states (OVAL and OSV lack them)
                    results.append(_download_source(db, settings, client, "ubuntu-vex", "ubuntu-vex",
                                                    [settings.advisories_ubuntu_vex_url], progress))
            elif kind == "kev":
                results.append(_download_source(db, settings, client, "kev", "kev", [settings.advisories_kev_url],
                                                progress))
            elif kind == "epss":
                results.append(_download_source(db, settings, client, "epss", "epss", [settings.advisories_epss_url],
                                                progress))
            elif kind in alpine.SECDB_FEEDS:
                url = getattr(settings, f"advisories_{kind}_url")
                results.append(_download_source(db, settings, client, alpine.SECDB_FEEDS[kind].source, kind, [url],
                                                progress))
            elif kind == "nvd":
                results.append(_nvd_sync(db, settings, client, progress))
            elif kind == "redhat":
                results.append(_redhat_sync(db, settings, client, progress))
                results.append(_redhat_repository_sync(db, settings, client))
            elif kind == "redhat-cpe":
                results.append(_redhat_repository_sync(db, settings, client))
            elif kind == "oracle":
                results.append(_download_source(db, settings, client, "oracle-oval", "oracle-oval",
                                                [settings.advisories_oracle_oval_url], progress))
            elif kind == "mariner":
                for url in settings.advisories_mariner_oval_urls:
                    name = f"mariner-oval:{Path(urlparse(url).path).name.lower().removesuffix('.xml').removesuffix('-oval')}"
                    results.append(_download_source(db, settings, client, name, "mariner-oval", [url], progress))
            elif kind == "suse":
                for release in settings.advisories_suse_releases:
                    url = settings.advisories_suse_oval_url.format(release=release)
                    results.append(_download_source(db, settings, client, f"suse-oval:{release}", "suse-oval", [url],
                                                    progress))
                for release in settings.advisories_opensuse_leap_releases:
                    url = settings.advisories_opensuse_leap_oval_url.format(release=release)
                    results.append(_download_source(db, settings, client, f"suse-oval:leap-{release}", "suse-oval",
                                                    [url], progress))
            elif kind == "photon":
                for release in settings.advisories_photon_releases:
                    url = settings.advisories_photon_url.format(release=release)
                    results.append(_download_source(db, settings, client, f"photon:{release}", "photon", [url],
                                                    progress))
            elif kind == "amazon":
                for release, mirror_list in settings.advisories_amazon_mirror_lists.items():
                    results.append(_amazon_sync(db, settings, client, release, mirror_list, progress))
            elif kind == "cve":
                results.append(_cve_sync(db, settings, client, progress))
            else:
                results.append(SourceResult(kind, False, f"unknown source {kind!r}; known: osv, osv:<ecosystem>, "
                                                          "alpine, wolfi, chainguard, redhat, redhat-cpe, amazon, oracle, mariner, photon, suse, debian, ubuntu, kev, epss, nvd, cve"))
    return results


# --- status -----------------------------------------------------------------------------------------------


def status(session: Session, *, per_ecosystem: bool = False) -> dict:
    """Per-source state (records, skipped with reasons, last error) and store totals; with `per_ecosystem`, also
    what is loaded per ecosystem and distro release (a scan warns about the ones missing: no silent gaps)."""
    sources = [
        {
            "name": s.name, "kind": s.kind, "location": s.location, "records": s.records,
            "advisories": s.advisories, "skipped": s.skipped, "skipped_reasons": s.skipped_reasons,
            "last_attempt_at": s.last_attempt_at.isoformat() if s.last_attempt_at else None,
            "last_success_at": s.last_success_at.isoformat() if s.last_success_at else None,
            "last_error": s.last_error, "cursor": s.cursor, "last_changeset_id": s.last_changeset_id,
        }
        for s in session.execute(select(AdvisorySourceState).order_by(AdvisorySourceState.name)).scalars()
    ]
    return {
        "sources": sources,
        "totals": {
            "advisories": session.scalar(select(func.count()).select_from(AdvisoryRecord)) or 0,
            "withdrawn": session.scalar(
                select(func.count()).select_from(AdvisoryRecord).where(AdvisoryRecord.withdrawn.is_not(None))) or 0,
            "affected_entries": session.scalar(select(func.count()).select_from(AffectedEntry)) or 0,
            "enriched_cves": session.scalar(select(func.count()).select_from(VulnerabilityEnrichment)) or 0,
            "last_changeset_id": session.scalar(select(func.max(AdvisoryChangeset.id))),
        },
        **({"ecosystems": ecosystem_status(session)} if per_ecosystem else {}),
    }


def last_successful_sync(session: Session) -> datetime | None:
    """When the advisory database last took in a source successfully (sync or import; the newest over all
    sources), in UTC: the database's age as scanners show it (Harbor's scanner list). One indexed-free max over
    the few source rows, so cheap to ask per request."""
    newest = session.scalar(select(func.max(AdvisorySourceState.last_success_at)))
    return newest.replace(tzinfo=timezone.utc) if newest is not None and newest.tzinfo is None else newest


def ecosystem_status(session: Session, now: datetime | None = None) -> list[dict]:
    """Per ecosystem / distro release: advisories, affected entries and packages stored, the newest record's
    `modified` and when the store last wrote one, with their ages in days (one grouped query; not on scan paths)."""
    now = now or datetime.now(timezone.utc)
    rows = session.execute(
        select(AffectedEntry.ecosystem, func.count(func.distinct(AffectedEntry.advisory_id)), func.count(),
               func.count(func.distinct(AffectedEntry.package)), func.max(AdvisoryRecord.modified),
               func.max(AdvisoryRecord.updated_at))
        .join(AdvisoryRecord, AdvisoryRecord.id == AffectedEntry.advisory_id)
        .group_by(AffectedEntry.ecosystem).order_by(AffectedEntry.ecosystem)
    ).all()

    def age(when: datetime | None) -> int | None:
        if when is None:
            return None
        return max(0, (now - (when if when.tzinfo else when.replace(tzinfo=timezone.utc))).days)

    return [
        {"ecosystem": eco, "advisories": advisories, "affected_entries": entries, "packages": packages,
         "newest_modified": newest.isoformat() if newest else None, "newest_modified_age_days": age(newest),
         "last_written": written.isoformat() if written else None, "last_written_age_days": age(written)}
        for eco, advisories, entries, packages, newest, written in rows
    ]


# --- JSON shapes shared by the CLI and the API ------------------------------------------------------------


def affected_document(a: AffectedPackage) -> dict:
    return {
        "advisory_id": a.advisory_id, "ecosystem": a.ecosystem, "package": a.package,
        "ranges": [{"type": r.type, "events": [{e.kind: e.version} for e in r.events]} for r in a.ranges],
        "versions": a.versions, "fix_state": a.fix_state, "severity": a.severity, "arches": list(a.arches),
        "cpes": list(a.cpes),
    }


def advisory_document(adv: Advisory, affected: list[AffectedPackage] | None = None) -> dict:
    doc: dict[str, Any] = {
        "id": adv.id, "source": adv.source, "aliases": adv.aliases, "summary": adv.summary, "details": adv.details,
        "published": adv.published.isoformat() if adv.published else None,
        "modified": adv.modified.isoformat() if adv.modified else None,
        "withdrawn": adv.withdrawn.isoformat() if adv.withdrawn else None,
        "severity": adv.severity, "severity_source": adv.severity_source, "cvss_vector": adv.cvss_vector,
        "cvss_score": adv.cvss_score,
        "cvss_vectors": adv.cvss_vectors, "references": adv.references,
        "known_exploited": adv.known_exploited, "known_exploited_date": adv.known_exploited_date,
        "epss_score": adv.epss_score, "epss_percentile": adv.epss_percentile,
    }
    if affected is not None:
        doc["affected"] = [affected_document(a) for a in affected]
    return doc
