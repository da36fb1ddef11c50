"""Prometheus metrics of a node. What the database knows (queue depth, scans by outcome, advisory age, dropped
pushes) is read at scrape time, so every node reports the same cluster-wide figures; what happens in a process
(scan and ingestion durations, loop errors) is counted where it happens, and Prometheus sums the nodes."""

from __future__ import annotations

from collections.abc import Iterator
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


class DatabaseCollector(Collector):
    """Figures read from the database on each scrape (a handful of indexed COUNT queries)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Any]:
        from hullscan.db.models import ContainerRegistryEvent
        from hullscan.db.models.advisories import AdvisorySourceState
        from hullscan.db.models.pipelines import DroppedPush, Job, JobArtifact
        from hullscan.db.models.registry import RegistryBlob
        from hullscan.db.models.vulnerabilities import WebhookDelivery

        with self.db.read_session() as s:
            jobs = dict(s.execute(select(Job.status, func.count()).group_by(Job.status)).all())
            events = s.scalar(select(func.count()).select_from(ContainerRegistryEvent)
                              .where(ContainerRegistryEvent.processed_at.is_(None))) or 0
            sboms = s.scalar(select(func.count()).select_from(JobArtifact).join(Job, Job.id == JobArtifact.job_id)
                             .where(JobArtifact.ingested_at.is_(None), Job.status == "success")) or 0
            deliveries = s.scalar(select(func.count()).select_from(WebhookDelivery)
                                  .where(WebhookDelivery.status == "pending")) or 0
            drops = s.execute(select(DroppedPush.reason, func.count()).group_by(DroppedPush.reason)).all()
            sources = s.execute(select(AdvisorySourceState.name, AdvisorySourceState.last_success_at)).all()
            blobs = s.execute(select(func.count(), func.coalesce(func.sum(RegistryBlob.size), 0))).one()
        queue = GaugeMetricFamily("hullscan_queue_depth", "Work waiting, by queue.", labels=["queue"])
        for state in QUEUED_JOB_STATES:
            queue.add_metric([f"jobs_{state}"], jobs.get(state, 0))
        queue.add_metric(["registry_events"], events)
        queue.add_metric(["sbom_ingestion"], sboms)
        queue.add_metric(["webhook_deliveries"], deliveries)
        yield queue
        scans = CounterMetricFamily("hullscan_scans", "Scan jobs finished, by outcome.", labels=["outcome"])
        for outcome in SCAN_OUTCOMES:
            scans.add_metric([outcome], jobs.get(outcome, 0))
        yield scans
        dropped = CounterMetricFamily("hullscan_dropped_pushes", "Pushes that did not become a scan, by reason.",
                                      labels=["reason"])
        for reason, count in sorted(drops):
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
        stored.add_metric([], int(blobs[1]))
        yield stored
        blob_count = GaugeMetricFamily("hullscan_registry_blobs", "Blobs the embedded registry stores.")
        blob_count.add_metric([], int(blobs[0]))
        yield blob_count


class Metrics:
    """One registry per app (tests build many apps in one process)."""

    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.scan_seconds = Histogram("hullscan_scan_duration_seconds", "Scan jobs from start to result.",
                                      ["outcome"], buckets=DURATION_BUCKETS, registry=self.registry)
        self.ingestion_seconds = Histogram("hullscan_ingestion_duration_seconds", "Ingesting one SBOM.",
                                           buckets=DURATION_BUCKETS, registry=self.registry)
        self.loop_errors = Counter("hullscan_background_loop_errors", "Failed ticks of a background loop.",
                                   ["loop"], registry=self.registry)
        self.registry.register(DatabaseCollector(db))

    def observe_scan(self, outcome: str, started_at: datetime | None, finished_at: datetime | None) -> None:
        if started_at is not None and finished_at is not None:
            self.scan_seconds.labels(outcome).observe(max(0.0, (finished_at - started_at).total_seconds()))
