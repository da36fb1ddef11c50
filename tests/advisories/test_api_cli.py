"""`hullscan advisories` commands and the read API of a real `hullscan serve` sharing one database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import data_path
from tests.support.server import HullscanServer
from tests.support.auth import ADMIN_HTTP


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("HULLSCAN_")}
    out.update({"HULLSCAN_DATA_DIR": str(tmp_path / "data"), "HULLSCAN_DATABASE_URL": database_url,
                "HULLSCAN_ADVISORIES_SYNC_INTERVAL": "0", "HULLSCAN_LOG_JSON": "false"})
    return out


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[HullscanServer]:
    srv = HullscanServer(tmp_path / "data", database_url, env={"HULLSCAN_ADVISORIES_SYNC_INTERVAL": "0"})
    srv.start(timeout=240)  # the whole app imports slowly on a loaded 2-core machine
    yield srv
    srv.stop()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hullscan", "advisories", *args], env=env, capture_output=True,
                          text=True, timeout=300, cwd=env["HULLSCAN_DATA_DIR"] + "/..")


def test_cli_import_then_api_reads(env: dict[str, str], served: HullscanServer, tmp_path: Path) -> None:
    dsa = data_path("advisories", "debian", "DSA", "list").read_text()
    head = dsa[: dsa.index("[01 Mar 2023]")]  # the newest entries of the real list
    (tmp_path / "DSA").mkdir()
    (tmp_path / "DSA" / "list").write_text(head)
    done = _cli(env, "import", str(tmp_path / "DSA" / "list"))
    assert done.returncode == 0, done.stderr
    assert "debian-dsa" in done.stdout
    kev = _cli(env, "import", str(data_path("advisories", "kev", "known_exploited_vulnerabilities.json")))
    assert kev.returncode == 0, kev.stderr

    status = _cli(env, "status", "--json")
    data = json.loads(status.stdout)
    names = {s["name"]: s for s in data["sources"]}
    assert names["kev"]["records"] == 1404 and names["debian-dsa"]["records"] == head.count("\n[") + 1

    show = _cli(env, "show", "DSA-5380-1")
    assert show.returncode == 0 and "CVE-2023-1393" in show.stdout and "xorg-server" in show.stdout
    search = _cli(env, "search", "xorg-server", "--ecosystem", "Debian:11", "--json")
    assert any(d["advisory_id"] == "DSA-5380-1" for d in json.loads(search.stdout))
    missing = _cli(env, "show", "DSA-0-0")
    assert missing.returncode == 1 and "not found" in missing.stderr
    bad = _cli(env, "import", str(tmp_path / "nope.json"))
    assert bad.returncode == 2 and "no such file" in bad.stderr

    api = served.url + "/api/v1"
    got = ADMIN_HTTP.get(f"{api}/advisories/DSA-5380-1", timeout=30)
    assert got.status_code == 200
    doc = got.json()
    assert doc["id"] == "DSA-5380-1" and "CVE-2023-1393" in doc["aliases"]
    assert doc["affected"][0]["ecosystem"] == "Debian:11" and doc["affected"][0]["package"] == "xorg-server"
    assert doc["affected"][0]["ranges"][0]["events"][-1] == {"fixed": "2:1.20.11-1+deb11u6"}

    listed = ADMIN_HTTP.get(f"{api}/advisories", params={"package": "xorg-server", "ecosystem": "Debian:11"}, timeout=30)
    assert listed.status_code == 200 and "DSA-5380-1" in [a["id"] for a in listed.json()["advisories"]]
    assert ADMIN_HTTP.get(f"{api}/advisories/NOPE-1", timeout=30).status_code == 404
    assert ADMIN_HTTP.get(f"{api}/advisories", timeout=30).status_code == 400  # package is required (a bad query string: 400)
    st = ADMIN_HTTP.get(f"{api}/advisories/status", timeout=30).json()
    assert {s["name"] for s in st["sources"]} >= {"kev", "debian-dsa"} and st["totals"]["advisories"] > 0
    hostile = ADMIN_HTTP.get(f"{api}/advisories/" + "A" * 5000, timeout=30)
    assert hostile.status_code == 404
