"""The cost of one /metrics scrape against large tables on PostgreSQL: every figure read at scrape time (what
each scrape cost before `metrics_aggregate_seconds`) against a scrape that serves the cached full-table
aggregates. Usage: PYTHONPATH=src:. python bench/metrics/bench_metrics.py [blobs] [dropped pushes]."""

from __future__ import annotations

import statistics
import sys
import time

from prometheus_client import generate_latest
from sqlalchemy import text

from hullscan.db import Database, upgrade
from hullscan.settings import Settings
from hullscan.workers.metrics import Metrics
from tests.support.postgres import PostgresCluster


def _fill(db: Database, blobs: int, drops: int) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO registry_blobs (digest, size, created_at) SELECT 'sha256:' || "
                          "lpad(to_hex(n), 64, '0'), 1000 + n % 5000000, now() FROM generate_series(1, :n) n"),
                     {"n": blobs})
        conn.execute(text("INSERT INTO cs4r_dropped_pushes (action, repository, reason, created_at) SELECT 'push', "
                          "'team/app', (ARRAY['untagged','tag_filter','rate_limited'])[1 + n % 3], now() "
                          "FROM generate_series(1, :n) n"), {"n": drops})
        conn.execute(text("ANALYZE"))


def _scrape_ms(metrics: Metrics, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        generate_latest(metrics.registry)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    blobs = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
    drops = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    cluster = PostgresCluster().start()
    try:
        settings = Settings(database_url=cluster.create_database(), data_dir="/tmp/hullscan-bench-metrics")
        upgrade(settings)
        db = Database(settings)
        _fill(db, blobs, drops)
        every = _scrape_ms(Metrics(db, aggregate_seconds=0), 7)
        cached = Metrics(db, aggregate_seconds=300)
        generate_latest(cached.registry)  # the one scrape per interval that computes them
        print(f"registry_blobs={blobs} cs4r_dropped_pushes={drops}: scrape computing every figure "
              f"{every:.1f} ms (median of 7); scrape with cached aggregates {_scrape_ms(cached, 7):.1f} ms")
        db.dispose()
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
