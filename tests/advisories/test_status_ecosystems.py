"""`hullscan advisories status` lists, per ecosystem and distro release, what is loaded and how old it is
(issue 15, "no silent gaps"), on SQLite and PostgreSQL, from real AlmaLinux/Rocky OSV records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

from hullscan.advisories import service
from hullscan.advisories.service import import_path
from hullscan.db import Database
from hullscan.settings import Settings
from tests.conftest import data_path
from tests.support.auth import ADMIN_PASSWORD, ADMIN_USER


def test_status_per_ecosystem_counts_and_ages(migrated_settings: Settings) -> None:
    alma = data_path("feeds-samples", "alma", "vunnel", "osv-database", "advisories")
    rocky = data_path("feeds-samples", "rocky", "vunnel", "osv")
    db = Database(migrated_settings)
    try:
        for folder in (alma, rocky):
            assert all(r.ok for r in import_path(db, migrated_settings, str(folder)))
        with db.session() as session:
            before = service.status(session)
            data = service.status(session, per_ecosystem=True)
            listed = service.ecosystem_status(session, now=datetime(2025, 1, 1, tzinfo=UTC))
    finally:
        db.dispose()
    assert "ecosystems" not in before  # the scan's emptiness check stays one count
    expected: dict[str, tuple[set[str], str]] = {}
    for path in [*alma.rglob("*.json"), *rocky.glob("*.json")]:
        record = json.loads(path.read_text())
        for entry in record["affected"]:
            ids, newest = expected.get(entry["package"]["ecosystem"], (set(), ""))
            expected[entry["package"]["ecosystem"]] = (ids | {record["id"]}, max(newest, record["modified"]))
    got = {e["ecosystem"]: e for e in data["ecosystems"]}
    assert set(got) == set(expected) and {"AlmaLinux:8", "AlmaLinux:9", "Rocky Linux:9"} <= set(got)
    for eco, (ids, newest) in expected.items():
        assert got[eco]["advisories"] == len(ids), (eco, got[eco])
        assert got[eco]["affected_entries"] >= got[eco]["packages"] >= 1
        assert got[eco]["newest_modified"][:19] == newest[:19]
    by_eco = {e["ecosystem"]: e for e in listed}
    newest_alma9 = datetime.fromisoformat(by_eco["AlmaLinux:9"]["newest_modified"])
    assert by_eco["AlmaLinux:9"]["newest_modified_age_days"] == (datetime(2025, 1, 1, tzinfo=UTC) - newest_alma9).days


def test_status_command_prints_the_ecosystem_table(migrated_settings: Settings, tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HULLSCAN_")}
    env.update({"HULLSCAN_DATA_DIR": str(migrated_settings.data_dir), "HULLSCAN_LOG_JSON": "false",
                "HULLSCAN_DATABASE_URL": migrated_settings.database_url or "", "COLUMNS": "200"})

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hullscan", "advisories", *args], env=env, text=True,
                              capture_output=True, timeout=300, check=False)

    empty = cli("status")
    assert empty.returncode == 0, empty.stderr
    assert "no advisories loaded for any ecosystem" in empty.stdout
    done = cli("import", str(data_path("modular-rpm", "almalinux9")))
    assert done.returncode == 0, done.stderr
    table = cli("status")
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if "AlmaLinux:9" in line)
    assert "│ 5 " in row.replace("  ", " "), row  # five errata in modular-rpm/almalinux9
    listed = json.loads(cli("status", "--json").stdout)["ecosystems"]
    assert [(e["ecosystem"], e["advisories"]) for e in listed] == [("AlmaLinux:9", 5)]


def test_api_status_lists_ecosystems_as_the_cli_does(migrated_settings: Settings) -> None:
    """`GET /api/v1/advisories/status` carries the per-ecosystem/release rows `advisories status --json` prints."""
    from fastapi.testclient import TestClient
    from pydantic import SecretStr

    from hullscan.web.app import create_app

    db = Database(migrated_settings)
    try:
        assert all(r.ok for r in import_path(db, migrated_settings, str(data_path("modular-rpm", "almalinux9"))))
        with db.session() as session:
            expected = service.ecosystem_status(session)
    finally:
        db.dispose()
    settings = migrated_settings.model_copy(update={"advisories_sync_interval": 0,
                                                    "admin_password": SecretStr(ADMIN_PASSWORD)})
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/advisories/status").status_code == 401
        got = client.get("/api/v1/advisories/status", auth=(ADMIN_USER, ADMIN_PASSWORD))
    assert got.status_code == 200
    rows = got.json()["ecosystems"]
    assert [(e["ecosystem"], e["advisories"]) for e in rows] == [("AlmaLinux:9", 5)]
    assert [{k: v for k, v in e.items() if "age" not in k} for e in rows] == \
        [{k: v for k, v in e.items() if "age" not in k} for e in expected]
