"""Layer cache: one layer's analysis, keyed by (diff_id, analyzer-set version).

The interface is two methods so the server can later back it with its database or an HTTP endpoint; the CLI
uses `SqliteLayerCache` (stdlib sqlite3, one file under the cache dir).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from hullscan.batches import chunks


class LayerCache(Protocol):
    """`get_many` is optional: caches without it are asked one `get` per layer."""

    def get(self, diff_id: str, analyzers: str) -> dict[str, Any] | None: ...

    def put(self, diff_id: str, analyzers: str, analysis: dict[str, Any]) -> None: ...


class NullCache:
    """No caching (`--no-cache`)."""

    def get(self, diff_id: str, analyzers: str) -> dict[str, Any] | None:
        return None

    def put(self, diff_id: str, analyzers: str, analysis: dict[str, Any]) -> None:
        return None

    def get_many(self, diff_ids: list[str], analyzers: str) -> dict[str, dict[str, Any]]:
        return {}


TOUCH_AFTER = 3600.0  # used_at is refreshed at most hourly: a warm scan then writes nothing
IN_BATCH = 500  # bound parameters per statement


def _load(blob: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(zlib.decompress(blob))
    except (zlib.error, ValueError):
        return None
    return value if isinstance(value, dict) else None


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "hullscan"


# --- scratch space ------------------------------------------------------------------------------------------
# A scan spools big files into a directory of its own under `<cache dir>/tmp/`, never under the system temp
# dir, so its disk use is where the operator put the cache and one sweep finds every leftover. Each scan holds
# an exclusive flock on `<dir>/.lock` while it runs: a directory whose lock can be taken belongs to a dead scan
# (killed, even by SIGKILL) and is removed by the next scan that starts. SIGTERM and SIGHUP remove the live
# directories at once (see `remove_scratch_on_signals`).

SCRATCH = "tmp"
SCRATCH_PREFIXES = ("scan-", "job-")  # a scan's spooled files; a runner job's SBOM and summary
_live: set[str] = set()


def sweep_scratch(root: Path) -> int:
    """Remove the scratch dirs of scans that are no longer running; returns how many."""
    import fcntl
    import shutil

    removed = 0
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if not entry.name.startswith(SCRATCH_PREFIXES) or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            fd = os.open(os.path.join(entry.path, ".lock"), os.O_RDONLY)
        except FileNotFoundError:  # killed before it took its lock, or just being created by another scan
            fd = None
            try:
                if time.time() - entry.stat(follow_symlinks=False).st_mtime < 60:
                    continue
            except OSError:
                continue
        except OSError:
            continue
        try:
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a running scan
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
        finally:
            if fd is not None:
                os.close(fd)
    return removed


@contextmanager
def scratch_dir(cache_dir: Path | None = None, prefix: str = "scan-") -> Iterator[str]:
    """A private directory under `<cache_dir>/tmp/` for one scan (or runner job), removed when the block ends
    however it ends (and by the next scan's sweep if this process is killed)."""
    import fcntl
    import shutil
    import tempfile

    root = Path(cache_dir or default_cache_dir()).expanduser() / SCRATCH
    root.mkdir(parents=True, exist_ok=True)
    sweep_scratch(root)
    assert prefix in SCRATCH_PREFIXES
    path = tempfile.mkdtemp(prefix=prefix, dir=root)
    fd = os.open(os.path.join(path, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _live.add(path)
    try:
        yield path
    finally:
        _live.discard(path)
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)


def remove_scratch_on_signals() -> None:
    """SIGTERM/SIGHUP: remove every live scratch dir and exit at once (128 + signal), without waiting for
    layer threads to notice. For the command line and scan child processes, not for a library caller."""
    import shutil
    import signal

    def handler(signum: int, frame: object) -> None:
        for path in list(_live):
            shutil.rmtree(path, ignore_errors=True)
        os._exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


class SqliteLayerCache:
    """Local cache file. Values are zlib-compressed JSON; a corrupt entry is a miss, never an error."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        # A cache: losing the last commits to a power cut is harmless, so commits need not wait for fsync.
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS layer_analysis (diff_id TEXT NOT NULL, analyzers TEXT NOT NULL, "
            "analysis BLOB NOT NULL, created_at REAL NOT NULL, used_at REAL NOT NULL, "
            "PRIMARY KEY (diff_id, analyzers))"
        )
        self.conn.execute("CREATE TABLE IF NOT EXISTS documents (key TEXT PRIMARY KEY, document BLOB NOT NULL, "
                          "used_at REAL NOT NULL)")

    @classmethod
    def in_dir(cls, directory: Path) -> SqliteLayerCache:
        return cls(directory / "layers.sqlite")

    def get(self, diff_id: str, analyzers: str) -> dict[str, Any] | None:
        return self.get_many([diff_id], analyzers).get(diff_id)

    def get_many(self, diff_ids: list[str], analyzers: str) -> dict[str, dict[str, Any]]:
        """Every cached analysis among `diff_ids` (one query per 500 layers), by diff_id."""
        found: dict[str, dict[str, Any]] = {}
        stale: list[str] = []
        now = time.time()
        wanted = list(dict.fromkeys(diff_ids))
        for batch in chunks(wanted, IN_BATCH):
            marks = ",".join("?" * len(batch))
            rows = self.conn.execute(f"SELECT diff_id, analysis, used_at FROM layer_analysis WHERE analyzers = ? "
                                     f"AND diff_id IN ({marks})", (analyzers, *batch)).fetchall()
            for diff_id, blob, used_at in rows:
                value = _load(blob)
                if value is None:
                    continue  # a corrupt entry is a miss
                found[diff_id] = value
                if used_at < now - TOUCH_AFTER:
                    stale.append(diff_id)
        for batch in chunks(stale, IN_BATCH):
            self.conn.execute(f"UPDATE layer_analysis SET used_at = ? WHERE analyzers = ? AND diff_id IN "
                              f"({','.join('?' * len(batch))})", (now, analyzers, *batch))
        return found

    def put(self, diff_id: str, analyzers: str, analysis: dict[str, Any]) -> None:
        blob = zlib.compress(json.dumps(analysis, separators=(",", ":")).encode(), 6)
        now = time.time()
        self.conn.execute("INSERT OR REPLACE INTO layer_analysis VALUES (?, ?, ?, ?, ?)",
                          (diff_id, analyzers, blob, now, now))

    def get_document(self, key: str) -> str | None:
        """A rendered SBOM of an identical inventory (see `sbom.write_cyclonedx`)."""
        row = self.conn.execute("SELECT document, used_at FROM documents WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            document = zlib.decompress(row[0]).decode()
        except (zlib.error, UnicodeDecodeError):
            return None
        now = time.time()
        if row[1] < now - TOUCH_AFTER:
            self.conn.execute("UPDATE documents SET used_at = ? WHERE key = ?", (now, key))
        return document

    def put_document(self, key: str, document: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO documents VALUES (?, ?, ?)",
                          (key, zlib.compress(document.encode(), 6), time.time()))

    def prune(self, *, older_than_seconds: float | None = None, keep_analyzers: str | None = None) -> int:
        """Drop entries unused for `older_than_seconds` and/or made by another analyzer set; returns the count."""
        removed = 0
        if older_than_seconds is not None:
            self.conn.execute("DELETE FROM documents WHERE used_at < ?", (time.time() - older_than_seconds,))
        elif keep_analyzers is not None:
            self.conn.execute("DELETE FROM documents")
        if keep_analyzers is not None:
            removed += self.conn.execute("DELETE FROM layer_analysis WHERE analyzers != ?",
                                         (keep_analyzers,)).rowcount
        if older_than_seconds is not None:
            removed += self.conn.execute("DELETE FROM layer_analysis WHERE used_at < ?",
                                         (time.time() - older_than_seconds,)).rowcount
        self.conn.execute("VACUUM")
        return removed

    def count(self) -> int:
        count: int = self.conn.execute("SELECT COUNT(*) FROM layer_analysis").fetchone()[0]
        return count

    def close(self) -> None:
        self.conn.close()
