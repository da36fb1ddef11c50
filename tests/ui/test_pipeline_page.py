"""The pipeline page (`/projects/<path>/-/pipelines/<id>`): its jobs, the current job's log, artifacts, Retry and
Cancel for those who may update pipelines (developer and up, as the API), with CSRF and a confirmation before
Cancel; the same actions in /api/v1; 404 for a project the viewer may not see. Then the page in Chromium as an
administrator, a developer and a reporter at 1366 and 390 px."""

from __future__ import annotations

import re
import warnings
from datetime import datetime, timezone
from pathlib import Path

from hullscan.auth import projects
from hullscan.auth import service as auth
from hullscan.db import Database
from hullscan.db.base import utcnow
from hullscan.db.models.pipelines import Job, JobArtifact
from hullscan.events import service as events
from hullscan.pipelines import service as pipelines
from hullscan.settings import Settings
from tests.pipelines.helpers import add_event
from tests.support.auth import ADMIN_PASSWORD, ADMIN_USER, sign_in
from tests.ui.browser import chromium_page, sign_in_as
from tests.ui.conftest import csrf_token

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
PAGE = "/projects/group/app/-/pipelines/{}"


def _pipeline(db: Database, settings: Settings, *, users: bool = True) -> tuple[int, int]:
    """A project with one pipeline whose job a runner claimed (running, with a log line); returns the pipeline
    and job ids. Users: dave (developer), rita (reporter), olga (member of another project only)."""
    with db.session() as s:
        project = projects.create_project(s, "group/app", cs4r_enabled=True)
        projects.update_project_settings(s, project, tag_patterns=["*"])
        add_event(s, "group/app", "v1")
        now = utcnow()  # a live server expires leases by the clock
        assert len(events.process_pending_events(s, settings, now=now).jobs) == 1
        runner, _ = pipelines.register_runner(s, "r", now=now)
        claimed = pipelines.claim_job(s, runner, now=now, lease_seconds=3600)
        running = pipelines.authenticate_job(s, claimed.job_id, claimed.token)
        pipelines.append_log(s, running, 0, "scanning <b>image</b>\n")
        if users:
            projects.create_project(s, "other/app")
            for name, path, role in (("dave", "group/app", auth.Role.DEVELOPER),
                                     ("rita", "group/app", auth.Role.REPORTER),
                                     ("olga", "other/app", auth.Role.MAINTAINER)):
                auth.create_user(s, name, f"{name}-password-1")
                auth.add_member(s, name, path, role)
        return running.pipeline_id, running.id


def api_headers(db: Database, user: str) -> dict[str, str]:
    """A personal access token (scope api) of `user`, as the API's Authorization header."""
    with db.session() as s:
        _row, token = auth.create_personal_access_token(s, auth.require_user(s, user), "t", ["api"])
    return {"Authorization": f"Bearer {token}"}


def _as(client: TestClient, user: str) -> TestClient:
    other = TestClient(client.app, follow_redirects=False)
    assert sign_in(other, user, f"{user}-password-1").status_code == 303
    return other


def test_pipeline_page_lists_jobs_log_and_cancel_then_retry(client, db, migrated_settings) -> None:
    pid, jid = _pipeline(db, migrated_settings)
    page = client.get(PAGE.format(pid))
    assert page.status_code == 200
    html = page.text
    assert f'data-job="{jid}"' in html and "running" in html
    assert 'data-log-url="/api/v1/projects/' in html and f"/jobs/{jid}/trace" in html
    # Cancel asks first (the red button sits inside a <details>), Retry is not offered while it runs
    assert re.search(r'<details class="confirm"><summary class="button danger-outline">Cancel pipeline</summary>\s*'
                     r'<form method="post" action="/projects/group/app/-/pipelines/\d+/cancel">', html)
    assert ">Retry</button>" not in html
    # the pipelines list links to the page, the job page back to its pipeline
    assert f'href="{PAGE.format(pid)}"' in client.get("/projects/group/app/-/pipelines").text
    assert f'href="{PAGE.format(pid)}"' in client.get(f"/projects/group/app/-/jobs/{jid}").text

    token = csrf_token(client, PAGE.format(pid))
    assert client.post(PAGE.format(pid) + "/cancel", data={}).status_code == 403  # no CSRF token: refused
    r = client.post(PAGE.format(pid) + "/cancel", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == PAGE.format(pid)
    with db.session() as s:
        job = s.get(Job, jid)
        assert job.status == "canceled" and job.token_hash is None  # the runner's next heartbeat is refused
        assert "[hullscan] canceled by admin" in "".join(pipelines.read_log(s, jid))
    html = client.get(PAGE.format(pid)).text
    assert 'data-testid="pipeline-status">canceled' in html and ">Retry</button>" in html
    again = client.post(PAGE.format(pid) + "/cancel", data={"csrf_token": token})
    assert again.status_code == 409 and "nothing to cancel" in again.text  # a clear page, not a bare error

    r = client.post(PAGE.format(pid) + "/retry", data={"csrf_token": token})
    assert r.status_code == 303
    with db.session() as s:
        jobs = pipelines.jobs_of(s, [pid])[pid]
        assert [j.status for j in jobs] == ["canceled", "pending"]
        assert jobs[1].digest == jobs[0].digest and jobs[1].variables == jobs[0].variables  # the same image
    html = client.get(PAGE.format(pid)).text
    assert html.count("data-job=") == 2 and 'data-testid="pipeline-status">pending' in html
    assert client.post(PAGE.format(pid) + "/retry", data={"csrf_token": token}).status_code == 409  # it runs
    assert client.post(PAGE.format(pid) + "/delete", data={"csrf_token": token}).status_code == 404
    assert client.get(PAGE.format(pid + 1000)).status_code == 404


def test_roles_see_and_act_as_the_api_allows(client, db, migrated_settings) -> None:
    pid, jid = _pipeline(db, migrated_settings)
    rita, dave, olga = _as(client, "rita"), _as(client, "dave"), _as(client, "olga")
    html = rita.get(PAGE.format(pid)).text
    assert "Cancel pipeline" not in html and "pipeline-actions" not in html  # a reporter reads, acts not
    token = csrf_token(rita, PAGE.format(pid))
    assert rita.post(PAGE.format(pid) + "/cancel", data={"csrf_token": token}).status_code == 403
    assert olga.get(PAGE.format(pid)).status_code == 404  # a project she may not see: as a missing one
    token = csrf_token(olga, "/projects")
    assert olga.post(PAGE.format(pid) + "/cancel", data={"csrf_token": token}).status_code == 404
    assert "Cancel pipeline" in dave.get(PAGE.format(pid)).text
    with db.session() as s:
        assert s.get(Job, jid).status == "running"  # nobody above changed it

    # the API: reporter 403, another project's member 404, developer cancels and retries
    api = f"/api/v1/projects/group%2Fapp/pipelines/{pid}"
    as_rita, as_dave, as_olga = (api_headers(db, u) for u in ("rita", "dave", "olga"))
    assert client.post(api + "/cancel", headers=as_rita).status_code == 403
    assert client.post(api + "/cancel", headers=as_olga).status_code == 404
    assert client.get(api, headers=as_olga).status_code == 404
    assert client.post(f"/api/v1/projects/group%2Fapp/pipelines/{pid + 1000}/cancel", headers=as_dave).status_code == 404
    r = client.post(api + "/cancel", headers=as_dave)
    assert r.status_code == 200 and r.json()["status"] == "canceled"
    assert client.post(api + "/cancel", headers=as_dave).status_code == 409
    r = client.post(api + "/retry", headers=as_dave)
    assert r.status_code == 201 and [j["status"] for j in r.json()["jobs"]] == ["canceled", "pending"]
    assert client.post(api + "/retry", headers=as_dave).status_code == 409  # the new job has not finished
    with db.session() as s:
        old = s.get(Job, jid)
        assert old.status == "canceled"
        try:
            pipelines.retry_job(s, old, now=T0)  # an old job of a retried pipeline is not retried twice
        except pipelines.JobError as exc:
            assert "already retried" in str(exc)
        else:
            raise AssertionError("a retried job was retried again")


def test_browser_pipeline_page_as_each_role_fits_390px(server, tmp_path: Path) -> None:
    db = Database(Settings(data_dir=server.data_dir, database_url=server.database_url))
    try:
        pid, jid = _pipeline(db, Settings(data_dir=server.data_dir, database_url=server.database_url))
        with db.session() as s:
            s.add(JobArtifact(job_id=jid, name="gl-sbom-report.cdx.json", file_type="cyclonedx", sha256="0" * 64,
                              size=12))
    finally:
        db.dispose()
    url = PAGE.format(pid)
    with chromium_page(server.url, tmp_path / "downloads") as (page, dialogs):
        for user, password, acts in ((ADMIN_USER, ADMIN_PASSWORD, True), ("dave", "dave-password-1", True),
                                     ("rita", "rita-password-1", False)):
            page.set_viewport_size({"width": 1366, "height": 768})
            sign_in_as(page, user, password)
            page.goto("/projects/group/app/-/pipelines")
            page.get_by_role("link", name=f"#{pid}").click()
            page.wait_for_url(f"**{url}")
            page.wait_for_function("() => document.querySelector('pre.log').textContent.length > 0")
            if acts:  # (by the reporter's turn the pipeline was retried: the log shown is the new job's)
                assert page.get_by_test_id("log").inner_text().startswith("scanning <b>image</b>"), user
            assert page.locator("pre.log b").count() == 0  # the log is text, never HTML
            assert page.get_by_test_id("artifact").inner_text() == "gl-sbom-report.cdx.json"
            for width in (1366, 390):
                page.set_viewport_size({"width": width, "height": 844})
                assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), (user, width)
            cancel = page.get_by_text("Cancel pipeline")
            assert cancel.count() == (1 if acts else 0), user
            if user == "dave":
                cancel.click()  # the first click only asks
                page.get_by_role("button", name="Cancel the scan").click()
                page.wait_for_url(f"**{url}")
                assert page.get_by_test_id("pipeline-status").inner_text() == "canceled"
                page.get_by_role("button", name="Retry").click()
                page.wait_for_url(f"**{url}")
                assert page.get_by_test_id("pipeline-status").inner_text() != "canceled"  # a local runner may take it
                assert page.locator("tr[data-job]").count() == 2
                assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
            page.locator("form.sign-out button").click()
            page.wait_for_url("**/users/sign_in")
        assert dialogs == []
