"""Faults a multi-node instance must survive. This file: what one job's log keeps across a re-lease (in
process, on both databases). tests/test_faults_cluster.py: the cluster under kill -9 and a database outage."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr

from hullscan.auth import projects
from hullscan.db import Database, upgrade
from hullscan.db.base import utcnow
from hullscan.events import service as events
from hullscan.pipelines import service as pipelines
from hullscan.settings import Settings
from tests.pipelines.helpers import add_event
from tests.support.auth import ADMIN_PASSWORD, ADMIN_USER
from tests.support.server import REGISTRATION_TOKEN


def test_a_re_leased_job_keeps_the_first_attempts_log_lines(tmp_path: Path, database_url: str) -> None:
    """The runner that takes a re-leased job continues the log at the server's offset: the first attempt's
    lines, the lease-expiry marker and the second attempt's lines, in that order, none lost."""
    from fastapi.testclient import TestClient

    from hullscan.runner.client import RunnerAPI
    from hullscan.runner.worker import JobLog
    from hullscan.web.app import create_app

    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, runner_pool_size=0,
                        runner_registration_token=REGISTRATION_TOKEN, admin_password=SecretStr(ADMIN_PASSWORD),
                        advisories_sync_interval=0)
    upgrade(settings)
    db = Database(settings)
    with db.session() as s:
        project = projects.create_project(s, "group/app", cs4r_enabled=True)
        projects.update_project_settings(s, project, tag_patterns=["*"])
        add_event(s, "group/app", "v1")
        assert len(events.process_pending_events(s, settings, now=utcnow()).jobs) == 1
    with TestClient(create_app(settings)) as client:
        api = RunnerAPI("http://testserver", REGISTRATION_TOKEN)
        api.http = client  # the runner's own client code, against the app in process
        api.ensure_runner_token("faults")
        first = api.request_job(0)
        assert first is not None and first["attempt"] == 1 and first["log_offset"] == 0
        log1 = JobLog(api, first)
        log1.write("attempt one: pulling the image")
        log1.write("attempt one: layer 1 of 3")
        log1.flush()
        with db.session() as s:  # the runner was killed: its lease runs out
            assert pipelines.expire_leases(s, now=utcnow() + timedelta(minutes=5)) == [first["id"]]
        second = api.request_job(0)
        assert second is not None and second["id"] == first["id"] and second["attempt"] == 2
        assert second["log_offset"] > log1.offset  # the expiry marker follows the first attempt's lines
        log2 = JobLog(api, second)
        log2.write("attempt two: pulling the image")
        log2.flush()
        assert log2.offset > second["log_offset"]

        # A runner whose offset is stale (a lost append answer) is told the size and still appends its lines.
        log2.offset -= 5
        log2.write("attempt two: done")
        log2.flush()
        trace = client.get(f"/api/v1/projects/group%2Fapp/jobs/{first['id']}/trace",
                           auth=(ADMIN_USER, ADMIN_PASSWORD))
        assert trace.status_code == 200, trace.text
        text = trace.text
        order = ["attempt one: pulling the image", "attempt one: layer 1 of 3", "lease expired",
                 "attempt two: pulling the image", "attempt two: done"]
        positions = [text.find(line) for line in order]
        assert -1 not in positions and positions == sorted(positions), text
        assert text.count("attempt one: pulling the image") == 1
    db.dispose()


def test_a_briefly_unavailable_registry_is_pulled_again_a_refusal_is_not() -> None:
    """The runner pulls again (keeping the job) when the registry answered as a restarting server or one whose
    database is down does; a refusal or a bad image fails the job at once."""
    from hullscan.runner.scan import TRANSIENT

    for error in ("RegistryClientError: manifest team/app:v1: HTTP 503",
                  "RegistryClientError: token endpoint http://a/jwt/auth answered 502",
                  "RegistryClientError: http://127.0.0.1:1/v2/: ConnectError: [Errno 111] Connection refused",
                  "RegistryClientError: GET http://h/v2/x/blobs/sha256:00: RemoteProtocolError: peer closed"):
        assert TRANSIENT.search(error), error
    for error in ("RegistryClientError: manifest team/app:v1: HTTP 404",
                  "RegistryClientError: token endpoint http://a/jwt/auth answered 401",
                  "RegistryClientError: blob sha256:00: content does not match its digest",
                  "ValueError: HTTP 5030 is not a status"):
        assert not TRANSIENT.search(error), error
