"""`scan_target`: what `hullscan scan` does, as a function (inventory -> findings -> filters -> VEX)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hullscan.advisories.types import AdvisoryStore
from hullscan.matching.engine import match
from hullscan.matching.finding import Finding, normalize_severity
from hullscan.severities import RANK
from hullscan.matching.reports.model import ScanReport
from hullscan.matching.sbom import looks_like_sbom, read_sbom
from hullscan.matching.vex import apply_vex, load_vex
from hullscan.scanner.command import ScanConfig
from hullscan.scanner.inventory import Inventory

if TYPE_CHECKING:
    from hullscan.settings import Settings


class ScanError(Exception):
    """A scan that cannot run: the message says why and what to do."""


class EmptyAdvisoryStore(ScanError):
    pass


@dataclass
class ScanRequest:
    target: str
    severities: set[str] | None = None  # keep only these (None = all)
    ignore_unfixed: bool = False
    vex_files: list[Path] = field(default_factory=list)
    platform: str | None = None
    insecure: bool = False
    max_sbom_components: int = 250_000
    scan_config: ScanConfig = field(default_factory=ScanConfig)  # limits and layer cache of an image scan


def parse_severities(text: str | None) -> set[str] | None:
    """`HIGH,CRITICAL` -> {"high", "critical"}; rejects words that are not severities."""
    if not text:
        return None
    out = set()
    for word in text.split(","):
        word = word.strip().lower()
        if not word:
            continue
        if normalize_severity(word) != word:
            raise ScanError(f"unknown severity {word!r}; use critical, high, medium, low, unknown")
        out.add(word)
    return out or None


def load_inventory(request: ScanRequest) -> Inventory:
    """An SBOM file is read as it is; anything else is an image reference for the scanner."""
    path = Path(request.target)
    if looks_like_sbom(path):
        return read_sbom(path, max_components=request.max_sbom_components)
    source = request.target
    if path.is_dir() and (path / "oci-layout").exists():
        source = f"oci-dir:{path}"
    try:
        return request.scan_config.analyze(source, platform=request.platform, insecure=request.insecure)
    except ScanError:
        raise
    except (OSError, ValueError) as exc:
        raise ScanError(f"cannot analyse {request.target}: {exc}") from exc
    except Exception as exc:  # the scanner's own typed errors (SourceError, ...) carry the reason
        if type(exc).__name__.endswith("Error"):
            raise ScanError(f"cannot analyse {request.target}: {exc}") from exc
        raise


def run_scan(request: ScanRequest, store: AdvisoryStore, inventory: Inventory | None = None) -> ScanReport:
    """Match, then drop what --severity / --ignore-unfixed exclude, then what VEX statements suppress."""
    started = datetime.now(UTC)
    vex_docs = [load_vex(p) for p in request.vex_files]
    inventory = inventory if inventory is not None else load_inventory(request)
    result = match(inventory, store)
    kept: list[Finding] = []
    filtered = 0
    for f in result.findings:
        if request.severities is not None and f.severity not in request.severities:
            filtered += 1
        elif request.ignore_unfixed and not f.fixed_versions:
            filtered += 1
        else:
            kept.append(f)
    suppressed: list[Finding] = []
    if vex_docs:
        kept, suppressed = apply_vex(kept, vex_docs, inventory.image)
        skipped = sum(d.skipped for d in vex_docs)
        if skipped:
            result.stats.warnings.append(f"{skipped} VEX statement(s) skipped: missing status, vulnerability or products")
    return ScanReport(
        inventory=inventory,
        findings=kept,
        stats=result.stats,
        suppressed=suppressed,
        filtered=filtered,
        started=started,
        finished=datetime.now(UTC),
    )


def fails(report: ScanReport, fail_on: str | None) -> bool:
    """True when a kept finding is at or above `fail_on` (any finding when fail_on is None)."""
    if fail_on is None:
        return bool(report.findings)
    threshold = RANK[normalize_severity(fail_on)]
    return any(f.severity_rank >= threshold for f in report.findings)


@dataclass
class LocalStore:
    store: AdvisoryStore
    is_empty: Callable[[], bool]


@dataclass(frozen=True)
class StoreLocation:
    """Where `hullscan scan` finds advisories: the SQLite file of the data directory unless a database URL is
    set. It can be built from raw settings (`hullscan.config`), so that a scan on the embedded default loads
    neither pydantic nor SQLAlchemy; `settings()` gives the full settings where they are needed (a database
    URL, or syncing an empty store)."""

    data_dir: Path
    database_url: str | None = None

    @property
    def sqlite_file(self) -> Path | None:
        return None if self.database_url else self.data_dir / "hullscan.db"

    def settings(self) -> Settings:
        from hullscan.settings import get_settings

        return get_settings()


@contextmanager
def local_store(location: StoreLocation) -> Iterator[LocalStore]:
    """The advisory store of the local data directory. Whether it is empty is asked only when a scan found no
    candidates at all (counting the store costs more than most scans)."""
    path = location.sqlite_file
    if path is not None:
        from hullscan.advisories.reader import SqliteFileAdvisoryStore

        if not path.exists():
            raise EmptyAdvisoryStore(_empty_message(location.data_dir))
        try:
            file_store = SqliteFileAdvisoryStore(path)
        except sqlite3.DatabaseError as exc:  # not a hullscan database, or one older than this version
            raise _no_tables(location.data_dir, exc) from exc
        except (OSError, sqlite3.Error) as exc:
            raise ScanError(f"cannot open the advisory store {path}: {exc}") from exc
        try:
            yield LocalStore(file_store, lambda: _is_empty(file_store.is_empty, location.data_dir))
        finally:
            file_store.close()
        return
    from hullscan.advisories.reader import SqlAdvisoryStore
    from hullscan.advisories.service import status
    from hullscan.db import Database

    db = Database(location.settings())
    try:
        with db.read_session() as session:
            yield LocalStore(SqlAdvisoryStore(session),
                             lambda: _is_empty(lambda: not status(session)["totals"]["advisories"], location.data_dir))
    finally:
        db.dispose()


def _preload_store_modules(location: StoreLocation) -> None:
    try:
        import hullscan.advisories.reader  # noqa: F401

        if location.sqlite_file is None:
            import hullscan.db  # noqa: F401
    except ImportError:  # the real import below reports it
        pass


def sync_empty_store(location: StoreLocation) -> None:
    """Sync the configured sources into an empty store (what `hullscan scan` does unless --offline)."""
    from hullscan.advisories.service import status, sync
    from hullscan.db import Database, upgrade

    settings = location.settings()
    upgrade(settings)
    db = Database(settings)
    try:
        results = sync(db, settings)
        failures = [f"{r.source}: {r.error}" for r in results if not r.ok]
        with db.session() as session:
            if _is_empty(lambda: not status(session)["totals"]["advisories"], location.data_dir):
                detail = "; ".join(failures) or "no source returned advisories"
                raise EmptyAdvisoryStore(f"{_empty_message(location.data_dir)} (sync failed: {detail})")
    finally:
        db.dispose()


def _is_database_error(exc: BaseException) -> bool:
    """An error of the database driver or of SQLAlchemy (when loaded): the store is not what it should be."""
    import sys

    if isinstance(exc, sqlite3.Error):
        return True
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    return sqlalchemy_exc is not None and isinstance(exc, sqlalchemy_exc.SQLAlchemyError)


def _no_tables(data_dir: Path, exc: BaseException) -> EmptyAdvisoryStore:
    return EmptyAdvisoryStore(f"{_empty_message(data_dir)}; the database has no advisory tables yet "
                              f"({type(exc).__name__}): run `hullscan db upgrade` first")


def scan_with_local_store(
    request: ScanRequest, location: StoreLocation, *, offline: bool, notify: Callable[[str], None] | None = None
) -> ScanReport:
    """Analyse (or read) the target once, match it against the local store; an empty store is an error when
    offline, else it is synced first (as `trivy` fetches its database on first use) and the scan rerun."""
    for path in request.vex_files:  # fail on a bad VEX file before any slow work
        load_vex(path)
    # The store's imports run while the image is read (the scanner's decompression runs outside the GIL).
    preload = threading.Thread(target=_preload_store_modules, args=(location,), daemon=True)
    preload.start()
    inventory = load_inventory(request)
    preload.join()
    try:
        with local_store(location) as local:
            try:
                report = run_scan(request, local.store, inventory=inventory)
            except Exception as exc:  # no advisory tables (never migrated) or not a hullscan database
                if not _is_database_error(exc):
                    raise
                raise _no_tables(location.data_dir, exc) from exc
            empty = report.stats.candidates == 0 and local.is_empty()
    except EmptyAdvisoryStore:
        if offline:
            raise
        empty = True
    if not empty:
        return report
    if offline:
        raise EmptyAdvisoryStore(_empty_message(location.data_dir))
    if notify:
        notify("the advisory store is empty: syncing the configured sources first (--offline skips this)")
    sync_empty_store(location)
    with local_store(location) as local:
        return run_scan(request, local.store, inventory=inventory)


def _is_empty(ask: Callable[[], bool], data_dir: Path) -> bool:
    try:
        return ask()
    except Exception as exc:  # noqa: BLE001 - an unmigrated or foreign database: report it as empty, clearly
        if not _is_database_error(exc) and not isinstance(exc, KeyError):
            raise
        raise _no_tables(data_dir, exc) from exc


def _empty_message(data_dir: Path) -> str:
    return (
        f"no advisories in {data_dir}: import or sync them first, e.g. "
        "`hullscan advisories sync` or `hullscan advisories import PATH` (set HULLSCAN_DATA_DIR to use another "
        "data directory)"
    )
