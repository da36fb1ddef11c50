"""One elected node per loop: on PostgreSQL the node holding a session-level advisory lock named after the
loop; on SQLite the single process that owns the database file."""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import Connection, text

from hullscan.db import Database

log = logging.getLogger("hullscan.workers")


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for `name` (the same on every node and release)."""
    digest = hashlib.sha256(f"hullscan:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Leadership:
    """Who runs an elected loop. The lock lives as long as its connection: a node that dies or loses the
    database loses it, and another node takes over on its next tick."""

    def __init__(self, db: Database, name: str) -> None:
        self.db = db
        self.name = name
        self.key = lock_key(name)
        self._conn: Connection | None = None
        self.single_process = db.engine.dialect.name != "postgresql"

    @property
    def held(self) -> bool:
        return self.single_process or self._conn is not None

    def acquire(self) -> bool:
        """True when this node is (still) the leader; cheap to call before every tick."""
        if self.single_process:
            return True
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except Exception:  # noqa: BLE001 - the connection died and the lock with it
                log.warning("lost leadership", extra={"fields": {"loop": self.name}})
                self.release()
        conn = self.db.engine.connect()
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
            conn.commit()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        log.info("elected", extra={"fields": {"loop": self.name}})
        return True

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            conn.commit()
        except Exception as exc:  # noqa: BLE001 - closing the connection below releases the lock anyway
            log.debug("advisory unlock failed", extra={"fields": {"loop": self.name, "error": str(exc)[:200]}})
        finally:
            try:
                conn.invalidate()  # never hand a lock-holding connection back to the pool
            finally:
                conn.close()
