"""`scan_target`: what `hullscan scan` does, as a function (inventory -> findings -> filters -> VEX)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hullscan.advisories.types import AdvisoryStore
from hullscan.matching.engine import match
from hullscan.matching.finding import SEVERITY_RANK, Finding, normalize_severity
from hullscan.matching.reports.model import ScanReport
from hullscan.matching.sbom import looks_like_sbom, read_sbom
from hullscan.matching.vex import apply_vex, load_vex
from hullscan.scanner.inventory import Inventory
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
        from hullscan.scanner import analyze
    except ImportError as exc:  # pragma: no cover - the scanner part ships with hullscan
        raise ScanError(f"image scanning is not available: {exc}") from exc
    try:
        return analyze(source, platform=request.platform, insecure=request.insecure)
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
    threshold = SEVERITY_RANK[normalize_severity(fail_on)]
    return any(f.severity_rank >= threshold for f in report.findings)


@dataclass
class LocalStore:
    store: AdvisoryStore
    is_empty: Callable[[], bool]


@contextmanager
def local_store(settings: Settings) -> Iterator[LocalStore]:
    """The advisory store of the local data directory. Whether it is empty is asked only when a scan found no
    candidates at all (counting the store costs more than most scans)."""
    from hullscan.advisories.reader import SqlAdvisoryStore
    from hullscan.db import Database

    db_path = settings.resolved_data_dir / "hullscan.db"
    if not settings.database_url and not db_path.exists():
        raise EmptyAdvisoryStore(_empty_message(settings))
    db = Database(settings)

    def is_empty() -> bool:
        from hullscan.advisories.service import status

        return _is_empty_session(session, status, settings)

    try:
        with db.session() as session:
            yield LocalStore(SqlAdvisoryStore(session), is_empty)
    finally:
        db.dispose()


def _preload_store_modules() -> None:
    try:
        import hullscan.advisories.reader  # noqa: F401
    except ImportError:  # the real import below reports it
        pass


def sync_empty_store(settings: Settings) -> None:
    """Sync the configured sources into an empty store (what `hullscan scan` does unless --offline)."""
    from hullscan.advisories.service import status, sync
    from hullscan.db import Database, upgrade

    upgrade(settings)
    db = Database(settings)
    try:
        results = sync(db, settings)
        failures = [f"{r.source}: {r.error}" for r in results if not r.ok]
        with db.session() as session:
            if _is_empty_session(session, status, settings):
                detail = "; ".join(failures) or "no source returned advisories"
                raise EmptyAdvisoryStore(f"{_empty_message(settings)} (sync failed: {detail})")
    finally:
        db.dispose()


def scan_with_local_store(
    request: ScanRequest, settings: Settings, *, offline: bool, notify: Callable[[str], None] | None = None
) -> ScanReport:
    """Analyse (or read) the target once, match it against the local store; an empty store is an error when
    offline, else it is synced first (as `trivy` fetches its database on first use) and the scan rerun."""
    for path in request.vex_files:  # fail on a bad VEX file before any slow work
        load_vex(path)
    # The database layer takes about a second of imports; let them run while the image is read (the
    # scanner's decompression runs outside the GIL).
    preload = threading.Thread(target=_preload_store_modules, daemon=True)
    preload.start()
    inventory = load_inventory(request)
    preload.join()
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with local_store(settings) as local:
            try:
                report = run_scan(request, local.store, inventory=inventory)
            except SQLAlchemyError as exc:  # no advisory tables (never migrated) or not a hullscan database
                raise EmptyAdvisoryStore(
                    f"{_empty_message(settings)}; the database has no advisory tables yet ({type(exc).__name__}): "
                    "run `hullscan db upgrade` first"
                ) from exc
            empty = report.stats.candidates == 0 and local.is_empty()
    except EmptyAdvisoryStore:
        if offline:
            raise
        empty = True
    if not empty:
        return report
    if offline:
        raise EmptyAdvisoryStore(_empty_message(settings))
    if notify:
        notify("the advisory store is empty: syncing the configured sources first (--offline skips this)")
    sync_empty_store(settings)
    with local_store(settings) as local:
        return run_scan(request, local.store, inventory=inventory)


def _is_empty_session(session: Any, status: Callable[[Any], dict], settings: Settings) -> bool:
    try:
        return not status(session)["totals"]["advisories"]
    except Exception as exc:  # noqa: BLE001 - an unmigrated or foreign database: report it as empty, clearly
        raise EmptyAdvisoryStore(
            f"{_empty_message(settings)}; the database has no advisory tables yet ({type(exc).__name__}): "
            "run `hullscan db upgrade` first"
        ) from exc


def _empty_message(settings: Settings) -> str:
    return (
        f"no advisories in {settings.resolved_data_dir}: import or sync them first, e.g. "
        "`hullscan advisories sync` or `hullscan advisories import PATH` (set HULLSCAN_DATA_DIR to use another "
        "data directory)"
    )
