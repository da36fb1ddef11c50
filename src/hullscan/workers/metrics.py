"""Prometheus metrics of a node. What the database knows is reported by every node alike (cluster-wide figures):
queue depths and advisory ages are read at each scrape (indexed counts of the few rows waiting, and the small
source table); the full-table aggregates (scans by outcome, dropped pushes by reason, registry blobs and bytes)
are computed at most once per `metrics_aggregate_seconds` per node and served from memory in between, so a
scrape never scans those tables (`hullscan_metrics_aggregates_age_seconds` says how old they are). What happens
in a process (scan and ingestion durations, loop errors) is counted where it happens; Prometheus sums the nodes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from hullscan.db import Database
from hullscan.db.base import utcnow

DURATION_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
QUEUED_JOB_STATES = ("created", "pending", "running")
SCAN_OUTCOMES = ("success", "failed", "canceled")


@dataclass(frozen=True)
class Aggregates:
    """The full-table figures, as computed at `at` (time.monotonic())."""

    at: float
    outcomes: dict[str, int]
    drops: list[tuple[str, int]]
    blobs: int
    blob_bytes: int


class DatabaseCollector(Collector):
    """Figures read from the database: indexed counts on each scrape, full-table aggregates cached for
    `aggregate_seconds` (0: computed on every scrape)."""

    def __init__(self, db: Database, aggregate_seconds: float = 0.0) -> None:
        self.db = db
        self.aggregate_seconds = aggregate_seconds
        self._aggregates: Aggregates | None = None
        self._lock = threading.Lock()  # concurrent scrapes compute once; the others wait and reuse it

    def aggregates(self) -> Aggregates:
        """The cached aggregates, recomputed when older than `aggregate_seconds`."""
        with self._lock:
            cached = self._aggregates
            if cached is not None and time.monotonic() - cached.at < self.aggregate_seconds:
                return cached
            from hullscan.db.models.pipelines import DroppedPush, Job
            from hullscan.db.models.registry import RegistryBlob

            with self.db.read_session() as s:
                outcomes = dict(s.execute(select(Job.status, func.count()).where(Job.status.in_(SCAN_OUTCOMES))
                                          .group_by(Job.status)).all())
                drops = [(r, n) for r, n in s.execute(select(DroppedPush.reason, func.count())
                                                      .group_by(DroppedPush.reason)).all()]
                blobs = s.execute(select(func.count(), func.coalesce(func.sum(RegistryBlob.size), 0))).one()
            self._aggregates = Aggregates(time.monotonic(), outcomes, sorted(drops), int(blobs[0]), int(blobs[1]))
            return self._aggregates

    def collect(self) -> Iterator[Any]:
        from hullscan.db.models import ContainerRegistryEvent
        from hullscan.db.models.advisories import AdvisorySourceState
        from hullscan.db.models.pipelines import Job, JobArtifact
        from hullscan.db.models.vulnerabilities import WebhookDelivery

        totals = self.aggregates()
        with self.db.read_session() as s:
            jobs = dict(s.execute(select(Job.status, func.count()).where(Job.status.in_(QUEUED_JOB_STATES))
                                  .group_by(Job.status)).all())
            events = s.scalar(select(func.count()).select_from(ContainerRegistryEvent)
                              .where(ContainerRegistryEvent.processed_at.is_(None))) or 0
            sboms = s.scalar(select(func.count()).select_from(JobArtifact).join(Job, Job.id == JobArtifact.job_id)
                             .where(JobArtifact.ingested_at.is_(None), Job.status == "success")) or 0
            deliveries = s.scalar(select(func.count()).select_from(WebhookDelivery)
                                  .where(WebhookDelivery.status == "pending")) or 0
            sources = s.execute(select(AdvisorySourceState.name, AdvisorySourceState.last_success_at)).all()
        queue = GaugeMetricFamily("hullscan_queue_depth", "Work waiting, by queue.", labels=["queue"])
        for state in QUEUED_JOB_STATES:
            queue.add_metric([f"jobs_{state}"], jobs.get(state, 0))
        queue.add_metric(["registry_events"], events)
        queue.add_metric(["sbom_ingestion"], sboms)
        queue.add_metric(["webhook_deliveries"], deliveries)
        yield queue
        scans = CounterMetricFamily("hullscan_scans", "Scan jobs finished, by outcome.", labels=["outcome"])
        for outcome in SCAN_OUTCOMES:
            scans.add_metric([outcome], totals.outcomes.get(outcome, 0))
        yield scans
        dropped = CounterMetricFamily("hullscan_dropped_pushes", "Pushes that did not become a scan, by reason.",
                                      labels=["reason"])
        for reason, count in totals.drops:
            dropped.add_metric([reason], count)
        yield dropped
        age = GaugeMetricFamily("hullscan_advisory_age_seconds",
                                "Seconds since each advisory source last synced successfully.", labels=["source"])
        now = utcnow()
        for source, last in sorted(sources, key=lambda r: r[0]):
            if isinstance(last, datetime):
                age.add_metric([source], max(0.0, (now - last).total_seconds()))
        yield age
        stored = GaugeMetricFamily("hullscan_registry_bytes", "Bytes of blobs the embedded registry stores "
                                   "(each blob once, however many repositories share it).")
        stored.add_metric([], totals.blob_bytes)
        yield stored
        blob_count = GaugeMetricFamily("hullscan_registry_blobs", "Blobs the embedded registry stores.")
        blob_count.add_metric([], totals.blobs)
        yield blob_count
        age_of = GaugeMetricFamily("hullscan_metrics_aggregates_age_seconds",
                                   "Seconds since this node computed hullscan_scans_total, "
                                   "hullscan_dropped_pushes_total and hullscan_registry_blobs/bytes.")
        age_of.add_metric([], max(0.0, time.monotonic() - totals.at))
        yield age_of


class Metrics:
    """One registry per app (tests build many apps in one process)."""

    def __init__(self, db: Database, aggregate_seconds: float = 0.0) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.scan_seconds = Histogram("hullscan_scan_duration_seconds", "Scan jobs from start to result.",
                                      ["outcome"], buckets=DURATION_BUCKETS, registry=self.registry)
        self.ingestion_seconds = Histogram("hullscan_ingestion_duration_seconds", "Ingesting one SBOM.",
                                           buckets=DURATION_BUCKETS, registry=self.registry)
        self.loop_errors = Counter("hullscan_background_loop_errors", "Failed ticks of a background loop.",
                                   ["loop"], registry=self.registry)
        self.database = DatabaseCollector(db, aggregate_seconds)
        self.registry.register(self.database)

    def observe_scan(self, outcome: str, started_at: datetime | None, finished_at: datetime | None) -> None:
        if started_at is not None and finished_at is not None:
            self.scan_seconds.labels(outcome).observe(max(0.0, (finished_at - started_at).total_seconds()))
