"""Migration 0003 creates exactly the tables the registry models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hullscan.db import Base, Database
from hullscan.settings import Settings

REGISTRY_TABLES = {"registry_repositories", "registry_blobs", "registry_repository_blobs", "registry_manifests",
                   "registry_manifest_references", "registry_tags"}


def _table_of(diff: tuple) -> str | None:
    for item in diff[1:]:
        table = getattr(item, "table", None)
        if table is not None:
            return table.name
        name = getattr(item, "name", None)
        if name in REGISTRY_TABLES:
            return name
    return diff[2] if len(diff) > 2 and isinstance(diff[2], str) else None


def test_registry_migration_matches_models(migrated_settings: Settings) -> None:
    db = Database(migrated_settings)
    try:
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = compare_metadata(ctx, Base.metadata)
    finally:
        db.dispose()
    flat = [d for group in diffs for d in (group if isinstance(group, list) else [group])]
    mine = [d for d in flat if _table_of(d) in REGISTRY_TABLES]
    assert mine == []
