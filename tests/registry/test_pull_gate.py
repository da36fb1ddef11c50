"""Issue 19 item 1, acceptance with real skopeo against `hullscan serve`: a pull of an image breaking the
project's policy fails with DENIED naming the identifiers; an exception in scope lets it through, an expired
one blocks again; an unscanned image is blocked only when fail-closed is on; scan jobs' tokens always pull;
every refusal is in the audit log and the project's blocked-pull list."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from hullscan.db import Database
from hullscan.db.models.vulnerabilities import SbomSource
from hullscan.settings import Settings
from hullscan.vulnerabilities import service as vulns
from tests.conftest import image_layout
from tests.pipelines.e2e import REGISTRATION_TOKEN, hullscan_cli, make_server, wait_for
from tests.registry.support import OCI_MANIFEST, skopeo
from tests.support.auth import ADMIN_CREDS, ADMIN_HTTP
from tests.support.server import HullscanServer
from tests.ui.seed import finding

PROJECT = "group/gate"
REPO = f"{PROJECT}/app"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def gate_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HullscanServer]:
    """A real server with registry-triggered scans on (so pushes make scan jobs) and no local runner (the test
    claims the job itself, as a remote runner)."""
    tmp = tmp_path_factory.mktemp(f"gate-{request.param}")
    url = f"sqlite:///{tmp / 'hs.db'}" if request.param == "sqlite" else \
        request.getfixturevalue("postgres").create_database()
    srv = make_server(tmp / "data", url, HULLSCAN_RUNNER_POOL_SIZE="0").start()
    yield srv
    srv.stop()


def _db(srv: HullscanServer) -> Database:
    return Database(Settings(data_dir=srv.data_dir, database_url=srv.database_url))


def pull(srv: HullscanServer, ref: str, dest: Path, creds: str = ADMIN_CREDS) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["skopeo", "copy", "--src-creds", creds, "--src-tls-verify=false",
                           f"docker://{srv.host}/{ref}", f"oci:{dest}:x"], capture_output=True, text=True, timeout=120)


def _policy(srv: HullscanServer, **fields: object) -> None:
    body = {"gate_enabled": True, "min_severity": "high", **fields}
    r = ADMIN_HTTP.put(f"{srv.url}/api/v1/projects/{PROJECT}/policy", json=body)
    assert r.status_code == 200, r.text


def _exception(srv: HullscanServer, identifier: str, expires_at: datetime, **scope: str) -> dict:
    r = ADMIN_HTTP.post(f"{srv.url}/api/v1/projects/{PROJECT}/policy/exceptions", json={
        "identifier": identifier, "reason": "vendor patch next sprint", "expires_at": expires_at.isoformat(),
        **scope})
    assert r.status_code == 201, r.text
    return r.json()


def scanned(srv: HullscanServer, digest: str, project_path: str = PROJECT, repo: str = REPO) -> None:
    """What ingestion writes for a scan of the image: its SBOM source and its findings (seen in the digest)."""
    db = _db(srv)
    try:
        with db.session() as s:
            from hullscan.auth.projects import get_project

            project = get_project(s, project_path)
            assert project is not None
            name = f"{srv.host}/{repo}"
            s.add(SbomSource(project_id=project.id, source_type=2, image_name=name, image_tag="v1",
                             image_digest=digest, os_name="debian", os_version="12"))
            old = datetime(2024, 1, 20, tzinfo=UTC)
            found = [finding("openssl", "3.0.11-1", "CVE-2024-0727", "high", ["3.0.13-1"], kev=True),
                     finding("zlib1g", "1:1.2.13", "CVE-2023-45853", "critical"),
                     finding("curl", "7.88.1", "CVE-2023-38545", "low")]
            for f in found:
                f.published = old
            fresh = finding("libxml2", "2.9.14", "CVE-2026-9999", "critical", ["2.9.15"])
            fresh.published = datetime.now(UTC) - timedelta(days=2)
            vulns.record_findings(s, vulns.ImageScope(project.id, name, "v1", digest, "debian 12"), [*found, fresh])
    finally:
        db.dispose()


def test_pull_gate_acceptance_with_skopeo(gate_server: HullscanServer, tmp_path: Path) -> None:
    srv = gate_server
    layout = image_layout("go-binary")
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:latest", f"docker://{srv.host}/{REPO}:v1")
    digest = skopeo("inspect", "--tls-verify=false", "--format", "{{.Digest}}",
                    f"docker://{srv.host}/{REPO}:v1").stdout.strip()

    # Unscanned: allowed while fail-closed is off, DENIED when it is on.
    _policy(srv)
    assert pull(srv, f"{REPO}:v1", tmp_path / "a").returncode == 0
    _policy(srv, fail_closed=True)
    refused = pull(srv, f"{REPO}:v1", tmp_path / "b")
    assert refused.returncode != 0 and "denied" in refused.stderr.lower()
    assert "has not been scanned" in refused.stderr

    # Scanned with findings: high and critical block (low does not; the 2-day-old advisory is in its grace).
    scanned(srv, digest)
    _policy(srv, grace_days=7)
    for ref in (f"{REPO}:v1", f"{REPO}@{digest}"):
        refused = pull(srv, ref, tmp_path / "c")
        assert refused.returncode != 0 and "denied" in refused.stderr.lower(), refused.stderr
        assert "CVE-2023-45853" in refused.stderr and "CVE-2024-0727" in refused.stderr
        assert "CVE-2023-38545" not in refused.stderr and "CVE-2026-9999" not in refused.stderr
        assert "block high or above" in refused.stderr
    with httpx.Client(base_url=srv.url, auth=srv.auth, timeout=30) as c:
        for method in ("GET", "HEAD"):
            r = c.request(method, f"/v2/{REPO}/manifests/v1", headers={"Accept": OCI_MANIFEST})
            assert r.status_code == 403, (method, r.status_code)
        body = c.get(f"/v2/{REPO}/manifests/{digest}").json()["errors"][0]
        assert body["code"] == "DENIED"
        assert body["detail"]["identifiers"] == ["CVE-2023-45853", "CVE-2024-0727"]
    # Without the grace period the fresh critical advisory blocks too; KEV-only leaves only the KEV one.
    _policy(srv)
    assert "CVE-2026-9999" in pull(srv, f"{REPO}:v1", tmp_path / "d").stderr
    _policy(srv, kev_only=True, grace_days=7)
    stderr = pull(srv, f"{REPO}:v1", tmp_path / "e").stderr
    assert "CVE-2024-0727" in stderr and "CVE-2023-45853" not in stderr
    _policy(srv, fixable_only=True, grace_days=7)  # zlib1g has no fix: only openssl blocks
    stderr = pull(srv, f"{REPO}:v1", tmp_path / "f").stderr
    assert "CVE-2024-0727" in stderr and "CVE-2023-45853" not in stderr

    # Exceptions in scope (one for the project, one for this image) let the pull through.
    _policy(srv, grace_days=7)
    later = datetime.now(UTC) + timedelta(days=30)
    _exception(srv, "CVE-2023-45853", later, repository=REPO)
    elsewhere = _exception(srv, "CVE-2024-0727", later, image_digest="sha256:" + "0" * 64)
    stderr = pull(srv, f"{REPO}:v1", tmp_path / "g").stderr
    assert "CVE-2024-0727" in stderr and "CVE-2023-45853" not in stderr  # the other image's exception: not here
    assert ADMIN_HTTP.delete(f"{srv.url}/api/v1/projects/{PROJECT}/policy/exceptions/{elsewhere['id']}"
                             ).status_code == 204
    soon = _exception(srv, "CVE-2024-0727", datetime.now(UTC) + timedelta(seconds=3), image_digest=digest)
    pulled = pull(srv, f"{REPO}:v1", tmp_path / "h")
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "h" / "index.json").is_file()
    # ... until it expires.
    time.sleep(max(0.0, (datetime.fromisoformat(soon["expires_at"]) - datetime.now(UTC)).total_seconds()) + 0.5)
    refused = pull(srv, f"{REPO}:v1", tmp_path / "i")
    assert refused.returncode != 0 and "CVE-2024-0727" in refused.stderr
    listed = ADMIN_HTTP.get(f"{srv.url}/api/v1/projects/{PROJECT}/policy/exceptions").json()
    assert [e["expired"] for e in listed if e["id"] == soon["id"]] == [True]

    # Every refusal is audited and listed for the project, newest first.
    blocked = ADMIN_HTTP.get(f"{srv.url}/api/v1/projects/{PROJECT}/policy/blocked_pulls").json()
    assert blocked[0]["identifiers"] == ["CVE-2024-0727"] and blocked[0]["digest"] == digest
    assert any(b["unscanned"] for b in blocked) and all(b["actor"] == "admin" for b in blocked)
    audit = ADMIN_HTTP.get(f"{srv.url}/api/v1/audit_events", params={"action": "pull_blocked"}).json()
    assert len(audit) == len(blocked)


def test_scan_job_tokens_are_never_blocked(gate_server: HullscanServer, tmp_path: Path) -> None:
    srv = gate_server
    api = f"{srv.url}/api/v1"
    runner = ADMIN_HTTP.post(f"{api}/runners", json={"token": REGISTRATION_TOKEN, "description": "gate"}).json()
    layout = image_layout("distroless-style")
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:latest", f"docker://{srv.host}/{PROJECT}/fresh:latest")
    _policy(srv, fail_closed=True)  # after the push, which makes the project when this test runs first
    claim = wait_for(lambda: (r := ADMIN_HTTP.post(f"{api}/jobs/request?wait=5", headers={
        "RUNNER-TOKEN": runner["token"]}, timeout=30)).status_code == 201 and r.json(), 60, "a scan job", srv)
    assert claim["registry"]["username"] == "gitlab-ci-token"
    job = {"JOB-TOKEN": claim["token"]}
    assert ADMIN_HTTP.put(f"{api}/jobs/{claim['id']}", json={"state": "running"}, headers=job).status_code == 200
    refused = pull(srv, f"{PROJECT}/fresh:latest", tmp_path / "user")  # never scanned, fail-closed: a user waits
    assert refused.returncode != 0 and "has not been scanned" in refused.stderr
    pulled = pull(srv, f"{PROJECT}/fresh:latest", tmp_path / "job", creds=f"gitlab-ci-token:{claim['token']}")
    assert pulled.returncode == 0, pulled.stderr


def test_policy_from_the_cli(gate_server: HullscanServer, tmp_path: Path) -> None:
    srv, project, repo = gate_server, "group/gatecli", "group/gatecli/app"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{image_layout('go-binary')}:latest",
           f"docker://{srv.host}/{repo}:v1")
    digest = skopeo("inspect", "--tls-verify=false", "--format", "{{.Digest}}",
                    f"docker://{srv.host}/{repo}:v1").stdout.strip()
    scanned(srv, digest, project, repo)
    shown = json.loads(hullscan_cli(srv, "policy", "set", project, "--gate", "--min-severity", "critical",
                                    "--grace-days", "7"))
    assert shown["gate_enabled"] and shown["min_severity"] == "critical" and not shown["fail_closed"]
    stderr = pull(srv, f"{repo}:v1", tmp_path / "a").stderr
    assert "CVE-2023-45853" in stderr and "CVE-2026-9999" not in stderr and "CVE-2024-0727" not in stderr
    hullscan_cli(srv, "policy", "set", project, "--grace-days", "0")  # the other options keep their values
    assert json.loads(hullscan_cli(srv, "policy", "show", project))["min_severity"] == "critical"
    assert "CVE-2026-9999" in pull(srv, f"{repo}:v1", tmp_path / "b").stderr
    for identifier, scope in (("CVE-2023-45853", ["--repository", repo]), ("CVE-2026-9999", ["--digest", digest])):
        made = json.loads(hullscan_cli(srv, "policy", "exception", "add", project, identifier, "--reason",
                                       "base image rebuild pending", "--expires", "2d", *scope, "--author", "alice"))
        assert made["author"] == "alice" and made["scope"] == ("image" if identifier.endswith("9999") else "repository")
    pulled = pull(srv, f"{repo}:v1", tmp_path / "c")
    assert pulled.returncode == 0, pulled.stderr
    listed = [json.loads(line) for line in hullscan_cli(srv, "policy", "exception", "list", project).splitlines()]
    assert sorted(e["identifier"] for e in listed) == ["CVE-2023-45853", "CVE-2026-9999"]
    hullscan_cli(srv, "policy", "exception", "delete", project, str(listed[0]["id"]))
    assert pull(srv, f"{repo}:v1", tmp_path / "d").returncode != 0
    blocked = [json.loads(line) for line in hullscan_cli(srv, "policy", "blocked", project).splitlines()]
    assert blocked[0]["repository"] == repo and blocked[0]["identifiers"] == [listed[0]["identifier"]]
    bad = subprocess.run([sys.executable, "-m", "hullscan", "policy", "set", project, "--min-severity", "bogus"],
                         env=srv.env(), capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "min_severity must be one of" in bad.stderr
