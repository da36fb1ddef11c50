"""Issue 16 "Lost SBOM": two servers ingest the SBOMs of two tags of a new image at the same moment. Both insert
the same vulnerability UUIDs; the one that loses the race must run again and land, and no artifact is marked
ingested unless its rows were committed. Two `Database` objects (two engines, two connection pools) play the
two servers, on PostgreSQL and on SQLite."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hullscan.advisories.service import import_path
from hullscan.auth import projects
from hullscan.db import Database
from hullscan.db.models.pipelines import Job, JobArtifact
from hullscan.db.models.vulnerabilities import SbomSource, Vulnerability
from hullscan.events import service as events
from hullscan.pipelines import service as pipelines
from hullscan.scanner import write_cyclonedx
from hullscan.scanner.inventory import ImageInfo, Inventory, OperatingSystem, Package
from tests.ingestion.test_ingestion import osv_record
from tests.pipelines.helpers import add_event

T0 = datetime(2026, 12, 1, tzinfo=UTC)
IMAGE = "registry.test:5000/group/app"


def _sbom(tmp_path: Path, tag: str) -> Path:
    packages = [Package("jinja2", "2.10", "python", purl="pkg:pypi/jinja2@2.10", path="/app/jinja2/METADATA"),
                Package("urllib3", "1.24", "python", purl="pkg:pypi/urllib3@1.24", path="/app/urllib3/METADATA")]
    path = tmp_path / f"{tag}.cdx.json"
    path.write_text(write_cyclonedx(Inventory(ImageInfo(name=IMAGE, tag=tag), OperatingSystem("debian", "12.15"),
                                              packages), registry_triggered=True))
    return path


def _two_finished_scans(db: Database, settings, tmp_path: Path) -> dict[str, Path]:
    feed = tmp_path / "advisories.jsonl"
    feed.write_text("".join(json.dumps(osv_record(f"HULLSCAN-RACE-{i}", name, "0", "99.0")) + "\n"
                            for i, name in enumerate(["jinja2", "urllib3"] * 3)))
    import_path(db, settings, str(feed), fmt="osv", source="test-race")
    files = {}
    with db.session() as s:
        project = projects.create_project(s, "group/app", cs4r_enabled=True)
        projects.update_project_settings(s, project, tag_patterns=["*"])
        for tag in ("t0", "t1"):
            add_event(s, "group/app", tag)
        assert len(events.process_pending_events(s, settings, now=T0).jobs) == 2
        runner, _ = pipelines.register_runner(s, "r", now=T0)
        for _ in range(2):
            claimed = pipelines.claim_job(s, runner, now=T0, lease_seconds=30)
            job = s.get(Job, claimed.job_id)
            files[job.tag] = _sbom(tmp_path, job.tag)
            s.add(JobArtifact(job_id=job.id, name="gl-sbom-report.cdx.json", file_type="cyclonedx", sha256=job.tag,
                              size=1))
            s.flush()
            pipelines.finish_job(s, job, "success", now=T0)
    return files


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_two_servers_ingesting_two_tags_of_a_new_image_at_once_both_land(migrated_settings, tmp_path) -> None:
    setup = Database(migrated_settings)
    files = _two_finished_scans(setup, migrated_settings, tmp_path)
    setup.dispose()
    server_a, server_b = Database(migrated_settings), Database(migrated_settings)
    a_ingested, a_may_commit = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:  # ingests, then holds its transaction open while the other server inserts
        try:
            with server_a.session() as s:
                outcome["a"] = pipelines.ingest_due_artifacts(s, lambda sha: files[sha], now=T0)
                a_ingested.set()
                a_may_commit.wait(30)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["a"] = exc
            a_ingested.set()

    def second() -> None:
        try:
            with server_b.session() as s:
                outcome["b"] = pipelines.ingest_due_artifacts(s, lambda sha: files[sha], now=T0)
        except BaseException as exc:  # noqa: BLE001
            outcome["b"] = exc

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert a_ingested.wait(60)
    threads[1].start()
    time.sleep(1.5)  # the second server is now inserting the same vulnerability UUIDs (waiting on A's)
    a_may_commit.set()
    for t in threads:
        t.join(60)
    assert outcome == {"a": 1, "b": 1}
    with server_a.session() as s:
        artifacts = s.scalars(select(JobArtifact)).all()
        assert [(a.ingested_at is not None, a.ingest_error) for a in artifacts] == [(True, None), (True, None)]
        assert sorted(s.scalars(select(SbomSource.image_tag))) == ["t0", "t1"]
        vulns = s.scalars(select(Vulnerability)).all()
        assert len(vulns) == 6 and len({v.uuid for v in vulns}) == 6
        assert s.scalar(select(func.count()).select_from(JobArtifact).where(JobArtifact.ingested_at.is_(None))) == 0
    server_a.dispose()
    server_b.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_artifact_whose_ingestion_failed_stays_due(migrated_settings, tmp_path) -> None:
    """An ingestion that fails (here: its file vanished from the artifact store after the job) writes nothing
    and leaves the artifact due, with the reason; once the file is back it is ingested."""
    db = Database(migrated_settings)
    files = _two_finished_scans(db, migrated_settings, tmp_path)
    moved = {tag: path.rename(path.with_suffix(".away")) for tag, path in files.items()}
    with db.session() as s:
        assert pipelines.ingest_due_artifacts(s, lambda sha: files[sha], now=T0, limit=10) == 0
    with db.session() as s:
        artifacts = s.scalars(select(JobArtifact)).all()
        assert all(a.ingested_at is None and "retried" in (a.ingest_error or "") for a in artifacts)
        assert s.scalar(select(func.count()).select_from(SbomSource)) == 0
    for tag, path in moved.items():
        path.rename(files[tag])
    with db.session() as s:
        assert pipelines.ingest_due_artifacts(s, lambda sha: files[sha], now=T0, limit=10) == 2
    with db.session() as s:
        assert all(a.ingested_at and a.ingest_error is None for a in s.scalars(select(JobArtifact)))
    db.dispose()
