"""Layer cache: one layer's analysis, keyed by (diff_id, analyzer-set version).

The interface is two methods so the server can later back it with its database or an HTTP endpoint; the CLI
uses `SqliteLayerCache` (stdlib sqlite3, one file under the cache dir).
"""

from __future__ import annotations

import json
import sqlite3
import time
import zlib
from pathlib import Path
from typing import Protocol


class LayerCache(Protocol):
    def get(self, diff_id: str, analyzers: str) -> dict | None: ...

    def put(self, diff_id: str, analyzers: str, analysis: dict) -> None: ...


class NullCache:
    """No caching (`--no-cache`)."""

    def get(self, diff_id: str, analyzers: str) -> dict | None:
        return None

    def put(self, diff_id: str, analyzers: str, analysis: dict) -> None:
        return None


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "hullscan"


class SqliteLayerCache:
    """Local cache file. Values are zlib-compressed JSON; a corrupt entry is a miss, never an error."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
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

    def get(self, diff_id: str, analyzers: str) -> dict | None:
        row = self.conn.execute("SELECT analysis FROM layer_analysis WHERE diff_id = ? AND analyzers = ?",
                                (diff_id, analyzers)).fetchone()
        if row is None:
            return None
        try:
            value = json.loads(zlib.decompress(row[0]))
        except (zlib.error, ValueError):
            return None
        self.conn.execute("UPDATE layer_analysis SET used_at = ? WHERE diff_id = ? AND analyzers = ?",
                          (time.time(), diff_id, analyzers))
        return value if isinstance(value, dict) else None

    def put(self, diff_id: str, analyzers: str, analysis: dict) -> None:
        blob = zlib.compress(json.dumps(analysis, separators=(",", ":")).encode(), 6)
        now = time.time()
        self.conn.execute("INSERT OR REPLACE INTO layer_analysis VALUES (?, ?, ?, ?, ?)",
                          (diff_id, analyzers, blob, now, now))

    def get_document(self, key: str) -> str | None:
        """A rendered SBOM of an identical inventory (see `sbom.write_cyclonedx`)."""
        row = self.conn.execute("SELECT document FROM documents WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return zlib.decompress(row[0]).decode()
        except (zlib.error, UnicodeDecodeError):
            return None

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
        return self.conn.execute("SELECT COUNT(*) FROM layer_analysis").fetchone()[0]

    def close(self) -> None:
        self.conn.close()
