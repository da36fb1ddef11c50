from __future__ import annotations

import subprocess
import sys

from sqlalchemy import inspect, text

from hullscan import __version__
from hullscan.db import Database, upgrade
from hullscan.settings import Settings
from tests.support.auth import ADMIN_HTTP


def test_migrations_create_tables_and_are_idempotent(settings: Settings) -> None:
    upgrade(settings)
    upgrade(settings)  # a second run is a no-op
    db = Database(settings)
    names = set(inspect(db.engine).get_table_names())
    assert "projects" in names and "alembic_version" in names
    if settings.sqlalchemy_url.startswith("sqlite"):
        with db.engine.connect() as c:
            assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.dispose()


def test_settings_from_toml_and_env(tmp_path, monkeypatch) -> None:
    (tmp_path / "hullscan.toml").write_text('port = 9999\nlog_level = "DEBUG"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HULLSCAN_LOG_LEVEL", "WARNING")
    s = Settings()
    assert s.port == 9999  # from the file
    assert s.log_level == "WARNING"  # the environment wins over the file
    assert s.sqlalchemy_url.endswith("var/hullscan.db")


def test_cli_version_and_help() -> None:
    out = subprocess.run([sys.executable, "-m", "hullscan", "version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == __version__
    for cmd in (["--help"], ["serve", "--help"], ["db", "upgrade", "--help"]):
        r = subprocess.run([sys.executable, "-m", "hullscan", *cmd], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_serve_health_ready(server) -> None:
    assert ADMIN_HTTP.get(server.url + "/-/health").json() == {"status": "ok"}
    assert ADMIN_HTTP.get(server.url + "/-/ready").json()["status"] == "ok"
    assert ADMIN_HTTP.get(server.url + "/api/v1/version").json()["version"] == __version__
    assert ADMIN_HTTP.get(server.url + "/api/v1/openapi.json").status_code == 200
