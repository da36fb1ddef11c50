"""Acceptance: two `hullscan serve` processes on one PostgreSQL sharing one data directory. A burst of pushes
through both is scanned once per push, each new-vulnerability notification goes out once although both nodes
run the delivery loop, a push reported again by webhook (another event id) is no second scan, the same
repository pushed through either node has one name, and the elected loop runs on one node."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.pipelines.e2e import (
    drops,
    finished_pipelines,
    hullscan_cli,
    make_server,
    manifest_digest,
    pipelines,
    push,
    wait_for,
)
from tests.support.auth import ADMIN_HTTP, remember_secret
from tests.vulnerabilities.test_notifications import Receiver

PROJECT = "team/app"
WEBHOOK_SECRET = remember_secret("cluster-webhook-secret-0123456789")
ENVELOPE = "application/vnd.docker.distribution.events.v1+json"
REPOS = [f"svc{i}" for i in range(6)]  # one vulnerability each: findings are per repository, not tag


def _stdlib_advisory() -> dict:
    return {"id": "HULLSCAN-CLUSTER-0001", "modified": "2026-11-28T00:00:00Z", "published": "2026-11-28T00:00:00Z",
            "summary": "test advisory for the Go standard library", "aliases": [],
            "database_specific": {"severity": "CRITICAL"},
            "affected": [{"package": {"ecosystem": "Go", "name": "stdlib"},
                          "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.21.0"}]}]}]}


def _records(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def test_two_servers_one_database_each_push_scanned_once_and_notified_once(tmp_path: Path, postgres) -> None:
    url = postgres.create_database()
    data = tmp_path / "data"
    env = {"HULLSCAN_LOG_JSON": "true", "HULLSCAN_CONTINUOUS_SCAN_INTERVAL": "0.5", "HULLSCAN_WEBHOOK_DELIVERY_INTERVAL": "0.2",
           "HULLSCAN_REGISTRY_WEBHOOK_SECRET": WEBHOOK_SECRET}
    a = make_server(data, url, **env)
    b = make_server(data, url, **env)
    public = f"127.0.0.1:{a.port}"
    for server in (a, b):
        server.extra_env["HULLSCAN_PUBLIC_URL"] = f"http://{public}"
    b.log_path = data / "server-b.log"
    receiver = Receiver()
    hullscan_cli(a, "project", "create", PROJECT, "--cs4r", "on")
    feed = tmp_path / "stdlib.jsonl"
    feed.write_text(json.dumps(_stdlib_advisory()) + "\n")
    hullscan_cli(a, "advisories", "import", str(feed), "--format", "osv", "--source", "test-cluster")
    with ThreadPoolExecutor(2) as pool:  # both start (and migrate) at once
        list(pool.map(lambda s: s.start(), (a, b)))
    try:
        project = PROJECT.replace("/", "%2F")
        r = ADMIN_HTTP.put(f"{a.url}/api/v1/projects/{project}/security_settings", json={"cs4r_tag_patterns": ["*"]})
        assert r.status_code == 200, r.text
        r = ADMIN_HTTP.post(f"{b.url}/api/v1/projects/{project}/webhooks",
                            json={"url": receiver.url, "events": ["new_vulnerability"], "min_severity": "low"})
        assert r.status_code == 201, r.text
        hook_id = r.json()["id"]

        # The burst: every repository pushed through both nodes at once (the same push reported twice each).
        jobs = [(server, repo) for repo in REPOS for server in (a, b)]
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda job: push("go-binary", f"{job[0].host}/{PROJECT}/{job[1]}:latest"), jobs))
        done = finished_pipelines(a, PROJECT, len(REPOS), timeout=100)
        assert sorted(p["jobs"][0]["repository"] for p in done) == [f"{PROJECT}/{r}" for r in REPOS]
        assert {p["status"] for p in done} == {"success"}
        images = {p["jobs"][0]["image"] for p in done}
        assert images == {f"{public}/{PROJECT}/{r}:latest" for r in REPOS}  # one name through either node

        # A registry webhook reporting an already scanned push again (another event id): no second scan.
        digest = manifest_digest("go-binary")
        event = {"id": "late-webhook-1", "timestamp": "2026-11-28T21:20:50Z", "action": "push",
                 "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": 1,
                            "repository": f"{PROJECT}/{REPOS[0]}", "tag": "latest"},
                 "request": {"id": "r1", "addr": "10.0.0.1:5555", "host": public, "method": "PUT"},
                 "actor": {"name": "admin"}, "source": {"addr": "reg-1:5000", "instanceID": "i-1"}}
        for server in (a, b):  # delivered, then redelivered to the other node
            r = ADMIN_HTTP.post(f"{server.url}/api/v1/registry/events", content=json.dumps({"events": [event]}),
                                headers={"Content-Type": ENVELOPE, "Authorization": WEBHOOK_SECRET})
            assert r.status_code < 300, r.text
        duplicates = wait_for(lambda: [d for d in drops(a, PROJECT) if d["reason"] == "duplicate"
                                       and d["repository"] == f"{PROJECT}/{REPOS[0]}" and "pipeline" in (d["detail"] or "")
                                       and d["registry_event_id"]] or None, 30, "duplicate drops", a)
        assert duplicates

        # Every SBOM ingested once, on whichever node claimed it.
        def artifacts() -> list[dict]:
            return [x for p in pipelines(a, PROJECT) for j in p["jobs"] for x in j["artifacts"]]

        wait_for(lambda: all(x["ingested_at"] for x in artifacts()) or None, 60, "SBOMs ingested", a)
        assert not [x for x in artifacts() if x["ingest_error"]] and len(artifacts()) == len(REPOS)

        # One notification per image, each sent once although both nodes run the delivery loop.
        def sent() -> list[dict]:
            r = ADMIN_HTTP.get(f"{a.url}/api/v1/projects/{project}/webhooks/{hook_id}/deliveries")
            assert r.status_code == 200, r.text
            return r.json()

        try:
            wait_for(lambda: len(receiver.received) >= len(REPOS) or None, 30, "webhook deliveries", a)
        except AssertionError:
            raise AssertionError(f"deliveries: {sent()}") from None
        time.sleep(2)  # room for a wrongly repeated delivery to arrive
        ids = [h["X-Hullscan-Delivery"] for h, _ in receiver.received]
        assert len(ids) == len(set(ids)) == len(REPOS), ids
        notified = sorted({v["image"] for _, body in receiver.received for v in json.loads(body)["vulnerabilities"]})
        assert notified == sorted(images)
        assert len(pipelines(a, PROJECT)) == len(REPOS)

        # Either node's /metrics reports the cluster's figures (read from the shared database).
        for server in (a, b):
            text = ADMIN_HTTP.get(f"{server.url}/metrics").text
            assert f'hullscan_scans_total{{outcome="success"}} {float(len(REPOS))}' in text
            assert 'hullscan_queue_depth{queue="jobs_pending"} 0.0' in text
            stored = next(line for line in text.splitlines() if line.startswith("hullscan_registry_bytes "))
            assert float(stored.split()[1]) > 0
            assert 'hullscan_dropped_pushes_total{reason="duplicate"}' in text

        # Both nodes run the loops; the elected one (continuous scanning) was won by exactly one of them.
        records = [_records(s.log_path) for s in (a, b)]
        assert all(any(r.get("msg") == "background loops started" for r in rs) for rs in records)
        wins = [sum(r.get("msg") == "elected" and r.get("loop") == "continuous-scan" for r in rs) for rs in records]
        assert sorted(wins) == [0, 1], wins
    finally:
        receiver.close()
        for server in (a, b):
            server.stop()
        for server in (a, b):
            server.assert_no_secrets_logged()
