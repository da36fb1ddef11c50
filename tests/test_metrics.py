"""/metrics' full-table figures (registry blobs and bytes, scans by outcome, dropped pushes) are computed at most
once per `metrics_aggregate_seconds` per node, and stay right across pushes and registry GC."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hullscan.db import Database
from hullscan.settings import Settings
from hullscan.workers.metrics import Metrics
from tests.registry.conftest import REGISTRY_ONLY
from tests.registry.support import push_blob, push_image, sha256
from tests.support.server import HullscanServer


def _values(text: str) -> dict[str, float]:
    return {s.name + "".join(f"{{{v}}}" for v in s.labels.values()): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _scrape(server: HullscanServer) -> dict[str, float]:
    r = httpx.get(f"{server.url}/metrics", timeout=30)
    assert r.status_code == 200
    return _values(r.text)


def _until(server: HullscanServer, blobs: int, size: int) -> dict[str, float]:
    """Scrape until the figures are the expected ones: at most the interval (1 s) plus a margin later."""
    deadline = time.monotonic() + 10
    while True:
        found = _scrape(server)
        if (found["hullscan_registry_blobs"], found["hullscan_registry_bytes"]) == (blobs, size):
            return found
        assert time.monotonic() < deadline, (found["hullscan_registry_blobs"], found["hullscan_registry_bytes"],
                                             blobs, size)
        time.sleep(0.2)


def test_registry_figures_follow_pushes_and_gc(tmp_path: Path, database_url: str) -> None:
    server = HullscanServer(tmp_path / "data", database_url,
                            env={**REGISTRY_ONLY, "HULLSCAN_METRICS_AGGREGATE_SECONDS": "1"}).start()
    try:
        empty = _until(server, 0, 0)
        assert 0 <= empty["hullscan_metrics_aggregates_age_seconds"] < 5
        with server.client() as client:
            keep, drop, config = os.urandom(3000), os.urandom(4000), b'{"os":"linux"}'
            push_image(client, "team/gc", "keep", keep, config)
            _until(server, 2, len(keep) + len(config))  # manifests are not blobs
            dropped = push_image(client, "team/gc", "drop", drop, config)  # the config is stored once
            stray = push_blob(client, "team/gc", os.urandom(500))
            _until(server, 4, len(keep) + len(config) + len(drop) + 500)
            assert client.delete(f"/v2/team/gc/manifests/{dropped}").status_code == 202
        proc = subprocess.run([sys.executable, "-m", "hullscan", "registry", "gc", "--grace", "0"], env=server.env(),
                              capture_output=True, text=True, timeout=120, cwd=server.data_dir)
        assert proc.returncode == 0 and sha256(drop) in proc.stdout and stray in proc.stdout, proc.stdout
        _until(server, 2, len(keep) + len(config))
    finally:
        server.stop()


def test_aggregates_are_cached_for_the_interval(migrated_settings: Settings) -> None:
    """Within the interval a scrape serves the figures it computed (no full-table query); the indexed queue
    figures stay live; once the interval has passed the next scrape recomputes them."""
    from sqlalchemy import event

    from hullscan.db.models.registry import RegistryBlob

    db = Database(migrated_settings)
    metrics = Metrics(db, aggregate_seconds=3600)
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    first = _values(generate_latest(metrics.registry).decode())
    assert first["hullscan_registry_blobs"] == 0 and any("registry_blobs" in s for s in statements)
    with db.session() as s:
        s.add(RegistryBlob(digest=sha256(b"x"), size=1234))
    statements.clear()
    cached = _values(generate_latest(metrics.registry).decode())
    assert (cached["hullscan_registry_blobs"], cached["hullscan_registry_bytes"]) == (0, 0)  # stale, documented
    assert not any("registry_blobs" in s or "cs4r_dropped_pushes" in s for s in statements), statements
    assert any("container_registry_events" in s for s in statements)  # queue depths: every scrape
    metrics.database.aggregate_seconds = 0
    fresh = _values(generate_latest(metrics.registry).decode())
    assert (fresh["hullscan_registry_blobs"], fresh["hullscan_registry_bytes"]) == (1, 1234)
    db.dispose()
