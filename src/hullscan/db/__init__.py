"""Database: engine and sessions, models, Alembic migrations.

SQLite (WAL, foreign keys on) is the embedded default; PostgreSQL via
`HULLSCAN_DATABASE_URL=postgresql+psycopg://...`. Code must stay portable between the two.
"""

from hullscan.db.base import Base
from hullscan.db.session import Database, upgrade

__all__ = ["Base", "Database", "upgrade"]
