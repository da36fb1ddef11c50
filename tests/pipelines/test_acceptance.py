"""Acceptance of issue 6 with real components: skopeo pushes to `hullscan serve` (embedded registry) and to
Debian's docker-registry (CNCF Distribution) notifying hullscan; real runner processes over HTTP."""

from __future__ import annotations

import hashlib
import json
import signal
import time
import uuid
from pathlib import Path

import pytest

from hullscan.scanner import write_cyclonedx
from hullscan.scanner.inventory import ImageInfo, Inventory, OperatingSystem, Package
from tests.pipelines.e2e import (REGISTRATION_TOKEN, drops, finished_pipelines, hullscan_cli, make_server,
                                 manifest_digest, pipelines, push, sbom_of, sbom_properties, start_runner,
                                 start_server, wait_for)
from tests.registry.support import Distribution
from tests.support.auth import ADMIN_HTTP, remember_secret

pytestmark = pytest.mark.slow
WEBHOOK_SECRET = remember_secret("test-webhook-secret")
ENVELOPE = "application/vnd.docker.distribution.events.v1+json"


def test_push_to_serve_is_scanned_into_a_cs4r_sbom(tmp_path: Path, database_url: str) -> None:
    server = start_server(tmp_path / "data", database_url)
    try:
        started = time.monotonic()
        push("debian-python-app", f"{server.host}/group/app/web:latest")
        (pipeline,) = finished_pipelines(server, "group/app", 1, timeout=120)
        elapsed = time.monotonic() - started
        assert pipeline["status"] == "success", pipeline
        assert pipeline["source"] == "container_registry_push" and pipeline["user"] == "security-bot:group/app"
        (job,) = pipeline["jobs"]
        variables = {v["key"]: v["value"] for v in job["variables"]}
        assert variables["REGISTRY_TRIGGERED"] == "true"
        assert variables["CS_IMAGE"] == f"{server.host}/group/app/web:latest"
        assert job["digest"] == manifest_digest("debian-python-app") and job["attempts"] == 1
        assert job["artifacts"][0]["name"].startswith("gl-sbom-") and job["artifacts"][0]["name"].endswith(".cdx.json")
        sbom = sbom_of(server, "group/app", job)
        assert sbom["bomFormat"] == "CycloneDX"
        props = sbom_properties(sbom)
        assert props["gitlab:meta:schema_version"] == "1"
        assert props["gitlab:container_scanning_for_registry:image:name"] == f"{server.host}/group/app/web"
        assert props["gitlab:container_scanning_for_registry:image:tag"] == "latest"
        assert props["gitlab:container_scanning_for_registry:operating_system:name"] == "debian"
        assert props["gitlab:container_scanning_for_registry:operating_system:version"].startswith("12")
        assert not any(k.startswith("gitlab:container_scanning:") for k in props)
        names = {c["name"] for c in sbom["components"]}
        assert {"libc6", "Django", "requests"} <= names
        trace = ADMIN_HTTP.get(f"{server.url}/api/v1/projects/group%2Fapp/jobs/{job['id']}/trace").text
        assert "uploading gl-sbom-" in trace and "job succeeded" in trace
        listed = hullscan_cli(server, "pipelines", "list", "group/app")
        assert "success" in listed and str(pipeline["id"]) in listed
        assert elapsed < 120
    finally:
        server.stop()


def test_tag_patterns_setting_and_dropped_pushes(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", f"sqlite:///{tmp_path / 'hs.db'}")
    try:
        push("distroless-style", f"{server.host}/group/app/svc:v1")
        wait_for(lambda: drops(server, "group/app"), 30, "a dropped push", server)
        (drop,) = drops(server, "group/app")
        assert (drop["reason"], drop["tag"]) == ("tag not matched", "v1")
        assert pipelines(server, "group/app") == []

        out = hullscan_cli(server, "project", "set", "group/app", "--tags", "latest,v*")
        assert "latest,v*" in out
        push("distroless-style", f"{server.host}/group/app/svc:v2")
        (pipeline,) = finished_pipelines(server, "group/app", 1, timeout=90)
        assert pipeline["status"] == "success" and pipeline["jobs"][0]["tag"] == "v2"

        r = ADMIN_HTTP.put(f"{server.url}/api/v1/projects/group%2Fapp/security_settings",
                      json={"container_scanning_for_registry_enabled": False})
        assert r.status_code == 200 and r.json()["container_scanning_for_registry_enabled"] is False
        push("go-binary", f"{server.host}/group/app/svc:latest")
        wait_for(lambda: len(drops(server, "group/app")) == 2, 30, "a second dropped push", server)
        assert drops(server, "group/app")[0]["reason"] == "setting off"
        assert len(pipelines(server, "group/app")) == 1
        bad = ADMIN_HTTP.put(f"{server.url}/api/v1/projects/group%2Fapp/security_settings", json={"cs4r_tag_patterns": []})
        assert bad.status_code == 400
    finally:
        server.stop()


def _external(registry: Distribution) -> str:
    return json.dumps([{"host": registry.host, "url": f"http://{registry.host}"}])


def test_external_distribution_webhook_runner_pulls_and_a_re_reported_push_is_one_pipeline(tmp_path: Path) -> None:
    server = make_server(tmp_path / "data", f"sqlite:///{tmp_path / 'hs.db'}",
                         HULLSCAN_REGISTRY_WEBHOOK_SECRET=WEBHOOK_SECRET)
    registry = Distribution(notify_url=f"{server.url}/api/v1/registry/events", secret=WEBHOOK_SECRET)
    server.extra_env["HULLSCAN_EXTERNAL_REGISTRIES"] = _external(registry)
    hullscan_cli(server, "project", "create", "team/api", "--cs4r", "on")
    server.start()
    registry.start()
    try:
        push("distroless-style", f"{registry.host}/team/api/svc:latest")
        (pipeline,) = finished_pipelines(server, "team/api", 1, timeout=90)
        assert pipeline["status"] == "success", pipeline
        job = pipeline["jobs"][0]
        assert job["image"] == f"{registry.host}/team/api/svc:latest"
        assert job["digest"] == manifest_digest("distroless-style")
        props = sbom_properties(sbom_of(server, "team/api", job))
        assert props["gitlab:container_scanning_for_registry:image:name"] == f"{registry.host}/team/api/svc"
        # The runner pulled from Distribution: hullscan's own registry never held this repository.
        assert ADMIN_HTTP.get(f"{server.url}/v2/team/api/svc/tags/list").status_code == 404

        event = {"id": str(uuid.uuid4()), "timestamp": "2026-11-28T21:20:50.123456789Z", "action": "push",
                 "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": manifest_digest("distroless-style"), "size": 100,
                            "repository": "team/api/svc", "tag": "latest"},
                 "request": {"id": "r1", "addr": "10.0.0.1:5555", "host": registry.host, "method": "PUT"},
                 "actor": {"name": "alice"}, "source": {"addr": "reg-1:5000", "instanceID": "i-1"}}
        for _ in range(3):  # a slow answer makes Distribution redeliver the same envelope
            r = ADMIN_HTTP.post(f"{server.url}/api/v1/registry/events", content=json.dumps({"events": [event]}),
                           headers={"Content-Type": ENVELOPE, "Authorization": WEBHOOK_SECRET})
            assert r.status_code < 300, r.text
        # The same push under another event id (and redelivered twice): one scan, the report a recorded duplicate.
        wait_for(lambda: [d for d in drops(server, "team/api") if d["reason"] == "duplicate"], 30,
                 "the re-reported push dropped as a duplicate", server)
        time.sleep(2)  # give a wrongly queued second pipeline the time to appear
        assert len(pipelines(server, "team/api")) == 1
    finally:
        registry.stop()
        server.stop()


def test_reconciliation_scans_pushes_made_while_hullscan_was_down(tmp_path: Path) -> None:
    registry = Distribution()  # notifications nowhere: the pushes below reach hullscan by no event
    registry.start()
    try:
        push("go-binary", f"{registry.host}/team/api/tool:latest")
        push("go-binary", f"{registry.host}/team/api/tool:v9")  # tag not matched: not a catch-up scan
        push("go-binary", f"{registry.host}/elsewhere/x/tool:latest")  # no project: ignored
        server = make_server(tmp_path / "data", f"sqlite:///{tmp_path / 'hs.db'}",
                             HULLSCAN_EXTERNAL_REGISTRIES=_external(registry))
        hullscan_cli(server, "project", "create", "team/api", "--cs4r", "on")
        server.start()
        try:
            (pipeline,) = finished_pipelines(server, "team/api", 1, timeout=90)
            assert pipeline["status"] == "success", pipeline
            assert pipeline["jobs"][0]["tag"] == "latest"
            assert pipeline["jobs"][0]["digest"] == manifest_digest("go-binary")
        finally:
            server.stop()
        server = start_server(server.data_dir, f"sqlite:///{tmp_path / 'hs.db'}",
                              HULLSCAN_EXTERNAL_REGISTRIES=_external(registry))
        try:  # reconciling again finds the digest scanned: nothing new
            time.sleep(3)
            assert len(pipelines(server, "team/api")) == 1
        finally:
            server.stop()
    finally:
        registry.stop()


def _job_runner(server, project: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    found = pipelines(server, project)
    if found and found[0]["jobs"][0]["status"] == "running":
        return found[0]["jobs"][0]["id"], found[0]["jobs"][0]["runner_id"]
    return None  # type: ignore[return-value]


def test_runner_killed_mid_scan_the_job_is_requeued_and_completed_by_another(tmp_path: Path, postgres) -> None:
    """The scaled mode: PostgreSQL (FOR UPDATE SKIP LOCKED) and two remote runner processes."""
    server = start_server(tmp_path / "data", postgres.create_database(), HULLSCAN_RUNNER_POOL_SIZE="0",
                          HULLSCAN_JOB_LEASE_SECONDS="5")
    runners = {}
    try:
        for name in ("alpha", "beta"):
            (tmp_path / name).mkdir()
            runners[name] = start_runner(server, name, tmp_path / name)
        wait_for(lambda: len(ADMIN_HTTP.get(f"{server.url}/api/v1/runners").json()) == 2, 60, "two runners", server)
        by_id = {r["id"]: r["description"] for r in ADMIN_HTTP.get(f"{server.url}/api/v1/runners").json()}
        push("debian-python-app", f"{server.host}/group/app/web:latest")
        job_id, runner_id = wait_for(lambda: _job_runner(server, "group/app"), 60, "a running job", server)
        victim = by_id[runner_id]
        runners[victim].kill()  # SIGKILL: no release, no goodbye
        runners[victim].wait()
        (pipeline,) = finished_pipelines(server, "group/app", 1, timeout=180)
        job = pipeline["jobs"][0]
        assert pipeline["status"] == "success" and job["id"] == job_id, pipeline
        assert job["attempts"] == 2 and by_id[job["runner_id"]] != victim
        trace = ADMIN_HTTP.get(f"{server.url}/api/v1/projects/group%2Fapp/jobs/{job_id}/trace").text
        assert "lease expired" in trace and "job succeeded" in trace
    finally:
        for proc in runners.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        server.stop()


def test_sigterm_releases_the_running_job_to_another_runner(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", f"sqlite:///{tmp_path / 'hs.db'}", HULLSCAN_RUNNER_POOL_SIZE="0")
    procs = []
    try:
        (tmp_path / "one").mkdir()
        procs.append(start_runner(server, "one", tmp_path / "one", "--grace", "0"))
        push("debian-python-app", f"{server.host}/group/app/web:latest")
        job_id, _ = wait_for(lambda: _job_runner(server, "group/app"), 60, "a running job", server)
        procs[0].send_signal(signal.SIGTERM)
        assert procs[0].wait(timeout=60) == 0
        (pipeline,) = pipelines(server, "group/app")
        job = pipeline["jobs"][0]
        assert (job["status"], job["attempts"], job["runner_id"]) == ("pending", 0, None), job
        (tmp_path / "two").mkdir()
        procs.append(start_runner(server, "two", tmp_path / "two"))
        (pipeline,) = finished_pipelines(server, "group/app", 1, timeout=180)
        assert pipeline["status"] == "success" and pipeline["jobs"][0]["attempts"] == 1
        trace = ADMIN_HTTP.get(f"{server.url}/api/v1/projects/group%2Fapp/jobs/{job_id}/trace").text
        assert "released" in trace and "job succeeded" in trace
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        server.stop()


def test_pending_jobs_survive_a_server_crash(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hs.db'}"
    server = start_server(tmp_path / "data", url, HULLSCAN_RUNNER_POOL_SIZE="0")
    try:
        push("distroless-style", f"{server.host}/group/app/a:latest")
        push("go-binary", f"{server.host}/group/app/b:latest")
        wait_for(lambda: len(pipelines(server, "group/app")) == 2, 30, "two pending pipelines", server)
        assert {p["status"] for p in pipelines(server, "group/app")} == {"pending"}
    finally:
        server.kill()
    server = start_server(server.data_dir, url)
    try:
        done = finished_pipelines(server, "group/app", 2, timeout=120)
        assert [p["status"] for p in done] == ["success", "success"]
    finally:
        server.stop()


def test_runner_api_refuses_bad_tokens_and_input(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", f"sqlite:///{tmp_path / 'hs.db'}", HULLSCAN_RUNNER_POOL_SIZE="0")
    try:
        api = f"{server.url}/api/v1"
        assert ADMIN_HTTP.post(f"{api}/runners", json={"token": "wrong"}).status_code == 403
        assert ADMIN_HTTP.post(f"{api}/jobs/request?wait=0", headers={"RUNNER-TOKEN": "hsrt_nope"}).status_code == 401
        reg = ADMIN_HTTP.post(f"{api}/runners", json={"token": REGISTRATION_TOKEN, "description": "t"})
        assert reg.status_code == 201
        token = reg.json()["token"]
        assert ADMIN_HTTP.post(f"{api}/jobs/request?wait=0", headers={"RUNNER-TOKEN": token}).status_code == 204
        push("go-binary", f"{server.host}/group/app/b:latest")
        claim = wait_for(lambda: (r := ADMIN_HTTP.post(f"{api}/jobs/request?wait=5", headers={"RUNNER-TOKEN": token},
                                                   timeout=30)).status_code == 201 and r.json(), 30, "a job", server)
        # the embedded registry is pulled with the job token itself (GitLab's gitlab-ci-token convention)
        assert claim["registry"]["url"] == server.url and claim["registry"]["username"] == "gitlab-ci-token"
        assert claim["registry"]["password"] == claim["token"]
        assert {"key": "REGISTRY_TRIGGERED", "value": "true"} in claim["variables"]
        jid, jt = claim["id"], {"JOB-TOKEN": claim["token"]}
        assert ADMIN_HTTP.put(f"{api}/jobs/{jid}", json={"state": "running"},
                         headers={"JOB-TOKEN": "hsjt_forged"}).status_code == 401
        assert ADMIN_HTTP.put(f"{api}/jobs/{jid + 1000}", json={"state": "running"}, headers=jt).status_code == 401
        assert ADMIN_HTTP.put(f"{api}/jobs/{jid}", json={"state": "running"}, headers=jt).status_code == 200
        assert ADMIN_HTTP.put(f"{api}/jobs/{jid}", json={"state": "bogus"}, headers=jt).status_code == 409
        assert ADMIN_HTTP.patch(f"{api}/jobs/{jid}/trace?offset=0", content=b"one\n", headers=jt).json()["size"] == 4
        assert ADMIN_HTTP.patch(f"{api}/jobs/{jid}/trace?offset=0", content=b"one\n", headers=jt).json()["size"] == 4
        gap = ADMIN_HTTP.patch(f"{api}/jobs/{jid}/trace?offset=99", content=b"x", headers=jt)
        assert gap.status_code == 416 and gap.json()["size"] == 4
        bad_name = ADMIN_HTTP.post(f"{api}/jobs/{jid}/artifacts?name=../../etc/passwd", content=b"{}", headers=jt)
        assert bad_name.status_code == 400
        assert ADMIN_HTTP.post(f"{api}/jobs/{jid}/artifacts?name=gl-sbom-report.cdx.json", content=b"",
                          headers=jt).status_code == 400
        assert ADMIN_HTTP.put(f"{api}/jobs/{jid}", json={"state": "success"}, headers=jt).status_code == 409  # no SBOM
        for bad, why in ((b'{"bomFormat": 1}', "CycloneDX"), (b"\x00{garbage", "JSON")):
            refused = ADMIN_HTTP.post(f"{api}/jobs/{jid}/artifacts?name=gl-sbom-report.cdx.json", content=bad, headers=jt,
                                 timeout=60)
            assert refused.status_code == 422 and "SBOM refused" in refused.text and why in refused.text
        assert pipelines(server, "group/app")[0]["jobs"][0]["artifacts"] == []  # nothing recorded
        sbom = write_cyclonedx(Inventory(ImageInfo(name=f"{server.host}/group/app/b", tag="latest"),
                                         OperatingSystem("debian", "12.15"),
                                         [Package("zlib1g", "1:1.2.13.dfsg-1", "deb", source_name="zlib")]),
                               registry_triggered=True).encode()
        for _ in range(2):  # a retried upload is accepted once more
            up = ADMIN_HTTP.post(f"{api}/jobs/{jid}/artifacts?name=gl-sbom-report.cdx.json", content=sbom, headers=jt,
                            timeout=60)
            assert up.status_code == 201, up.text
        assert ADMIN_HTTP.put(f"{api}/jobs/{jid}", json={"state": "success"}, headers=jt).status_code == 200
        assert ADMIN_HTTP.put(f"{api}/jobs/{jid}", json={"state": "success"}, headers=jt).status_code == 200  # retry
        assert ADMIN_HTTP.put(f"{api}/jobs/{jid}", json={"state": "running"}, headers=jt).status_code == 409
        stored = {p.name: p.read_bytes() for p in (server.data_dir / "artifacts" / "sha256").glob("*/*")}
        assert hashlib.sha256(sbom).hexdigest() in stored and stored[hashlib.sha256(sbom).hexdigest()] == sbom
        assert not list((server.data_dir / "artifacts" / "tmp").iterdir())
        (job,) = pipelines(server, "group/app")[0]["jobs"]
        assert [a["name"] for a in job["artifacts"]] == ["gl-sbom-report.cdx.json"]
        ingested = wait_for(lambda: pipelines(server, "group/app")[0]["jobs"][0]["artifacts"][0]["ingested_at"],
                            30, "the SBOM ingested", server)
        assert ingested and pipelines(server, "group/app")[0]["jobs"][0]["artifacts"][0]["ingest_error"] is None
        retry = ADMIN_HTTP.post(f"{api}/projects/group%2Fapp/jobs/{jid}/retry")
        assert retry.status_code == 201 and retry.json()["status"] == "pending"
        cancel = ADMIN_HTTP.post(f"{api}/projects/group%2Fapp/jobs/{retry.json()['id']}/cancel")
        assert cancel.status_code == 200 and cancel.json()["status"] == "canceled"
        assert ADMIN_HTTP.get(f"{api}/projects/nobody%2Fhere/pipelines").status_code == 404
    finally:
        server.stop()
