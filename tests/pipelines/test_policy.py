"""Events policy: which registry events become scan pipelines, and why the others were dropped."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from hullscan.auth import projects
from hullscan.db import Database
from hullscan.db.models.pipelines import DroppedPush, Job, Pipeline
from hullscan.events import service as events
from hullscan.events import types as reasons
from hullscan.pipelines import service as pipelines
from tests.pipelines.helpers import add_event, digest_n

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def _reasons(session) -> list[str]:
    return [d.reason for d in session.scalars(select(DroppedPush).order_by(DroppedPush.id))]


def test_policy_reasons_and_pipeline_shape(migrated_settings) -> None:
    db = Database(migrated_settings)
    with db.session() as s:
        on = projects.create_project(s, "group/app", cs4r_enabled=True)
        off = projects.create_project(s, "group/off")
        e_latest = add_event(s, "group/app/web", "latest", digest=digest_n(1))
        add_event(s, "group/app/web", "v1")
        add_event(s, "group/app/web", None)
        add_event(s, "group/app/web", "latest", action="delete")
        add_event(s, "group/app/web", "latest", media_type="application/vnd.oci.image.layer.v1.tar+gzip")
        add_event(s, "nobody/here/x", "latest")
        add_event(s, "group/off", "latest")
        add_event(s, "group/app/web", "latest", digest=digest_n(1))  # same digest, same tag, pending
    with db.session() as s:
        result = events.process_pending_events(s, migrated_settings, now=T0)
        assert result.processed == 8 and len(result.jobs) == 1
    with db.session() as s:
        assert _reasons(s) == [reasons.TAG_NOT_MATCHED, reasons.UNTAGGED, reasons.NOT_A_PUSH, reasons.NOT_A_PUSH,
                               reasons.PROJECT_UNKNOWN, reasons.SETTING_OFF, reasons.DUPLICATE]
        assert [d.project_id for d in events.list_dropped_pushes(s, off.id)] == [off.id]
        pipeline = s.scalars(select(Pipeline)).one()
        assert (pipeline.source, pipeline.status, pipeline.project_id) == ("container_registry_push", "pending", on.id)
        assert pipeline.run_as == "security-bot:group/app" and pipeline.registry_event_id == e_latest.id
        job = s.scalars(select(Job)).one()
        assert job.name == "container_scanning" and job.digest == digest_n(1)
        assert job.variables["REGISTRY_TRIGGERED"] == "true"
        assert job.variables["CS_IMAGE"] == "registry.test:5000/group/app/web:latest"
        # Nothing left unprocessed: a second pass is a no-op.
        assert events.process_pending_events(s, migrated_settings, now=T0).processed == 0

        projects.update_project_settings(s, projects.get_project(s, on.id), tag_patterns=["latest", "v*"])
        add_event(s, "group/app/web", "v1")
        assert len(events.process_pending_events(s, migrated_settings, now=T0).jobs) == 1
    db.dispose()


def test_feature_switch_off(migrated_settings) -> None:
    settings = migrated_settings.model_copy(update={"feature_container_scanning_for_registry": False})
    db = Database(settings)
    with db.session() as s:
        projects.create_project(s, "group/app", cs4r_enabled=True)
        add_event(s, "group/app", "latest")
        assert events.process_pending_events(s, settings, now=T0).jobs == []
        assert _reasons(s) == [reasons.FEATURE_OFF]
    db.dispose()


def test_rate_limit_fixed_window_from_first_scan(migrated_settings) -> None:
    db = Database(migrated_settings)
    with db.session() as s:
        project = projects.create_project(s, "group/app", cs4r_enabled=True)
        projects.update_project_settings(s, project, tag_patterns=["*"])
        for i in range(50):
            add_event(s, "group/app", f"t{i}")
        assert len(events.process_pending_events(s, migrated_settings, now=T0).jobs) == 50
    with db.session() as s:
        add_event(s, "group/app", "t50")  # the 51st qualifying push, 23 h 59 min after the first
        r = events.process_pending_events(s, migrated_settings, now=T0 + timedelta(hours=23, minutes=59))
        assert r.jobs == [] and dict(r.dropped) == {reasons.RATE_LIMITED: 1}
        add_event(s, "group/app", "t51")  # the window is fixed: it started at the first scan
        assert len(events.process_pending_events(s, migrated_settings, now=T0 + timedelta(hours=24)).jobs) == 1
    with db.session() as s:
        projects.update_project_settings(s, projects.get_project(s, "group/app"), daily_limit=1)
        add_event(s, "group/app", "t52")
        r = events.process_pending_events(s, migrated_settings, now=T0 + timedelta(hours=25))
        assert dict(r.dropped) == {reasons.RATE_LIMITED: 1}
        assert s.scalar(select(func.count()).select_from(Job)) == 51
    db.dispose()


def test_coalescing_delay_scans_the_last_digest(migrated_settings) -> None:
    settings = migrated_settings.model_copy(update={"cs4r_coalesce_seconds": 60.0})
    db = Database(settings)
    with db.session() as s:
        projects.create_project(s, "group/app", cs4r_enabled=True)
        add_event(s, "group/app", "latest", digest=digest_n(1))
        add_event(s, "group/app", "latest", digest=digest_n(2))  # same batch
        events.process_pending_events(s, settings, now=T0)
        add_event(s, "group/app", "latest", digest=digest_n(3))  # later batch, still inside the delay
        events.process_pending_events(s, settings, now=T0 + timedelta(seconds=30))
    with db.session() as s:
        job = s.scalars(select(Job)).one()
        assert job.status == "created" and job.digest == digest_n(3)
        assert [(d.reason, d.digest) for d in s.scalars(select(DroppedPush).order_by(DroppedPush.id))] == [
            (reasons.DUPLICATE, digest_n(1)), (reasons.DUPLICATE, digest_n(2))]
        runner, _ = pipelines.register_runner(s, "r", now=T0)
        assert pipelines.claim_job(s, runner, now=T0 + timedelta(seconds=60), lease_seconds=30) is None
        claimed = pipelines.claim_job(s, runner, now=T0 + timedelta(seconds=91), lease_seconds=30)
        assert claimed is not None and claimed.digest == digest_n(3)
        assert claimed.variables["CS_IMAGE_DIGEST"] == digest_n(3)
    db.dispose()
