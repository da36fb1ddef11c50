"""Remediation hints from a real server: images pushed through the embedded registry (so manifests, layers and
tags are the registry's own), findings recorded per digest as scans do."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from hullscan.auth import projects
from hullscan.db import Database
from hullscan.matching.finding import Finding, FindingPackage
from hullscan.settings import Settings
from hullscan.vulnerabilities import service as vulns
from tests.registry.support import OCI_MANIFEST, image_manifest, push_blob, sha256
from tests.support.auth import ADMIN, ADMIN_HTTP

CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}).encode()


def _finding(pkg: str, version: str, vid: str, severity: str, fixed: list[str], ptype: str = "deb") -> Finding:
    return Finding(package=FindingPackage(name=pkg, version=version, type=ptype), vulnerability_id=vid,
                   identifiers=[vid], advisory_ids=[vid], ecosystem="Debian:12", severity=severity,
                   fixed_versions=fixed)


def _push(client: httpx.Client, repo: str, tag: str, layers: list[bytes], **extra: object) -> str:
    push_blob(client, repo, CONFIG)
    for layer in layers:
        push_blob(client, repo, layer)
    body = image_manifest(CONFIG, layers, **extra)
    r = client.put(f"/v2/{repo}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201, r.text
    return sha256(body)


def seed_images(server) -> tuple[int, str, str, str, str]:
    """Project group/rem: base:12 (moved from old_base to new_base, which lacks the openssl finding), app:v1 on
    old_base's layers, other:v1 naming old_base in its annotations. (project id, app, old_base, new_base, other)"""
    db = Database(Settings(data_dir=server.data_dir, database_url=server.database_url))
    with db.session() as s:
        pid = projects.create_project(s, "group/rem").id
    with httpx.Client(base_url=server.url, auth=ADMIN, timeout=60) as client:
        old_base = _push(client, "group/rem/base", "12", [b"base-layer-1"])
        app = _push(client, "group/rem/app", "v1", [b"base-layer-1", b"app-layer"])
        new_base = _push(client, "group/rem/base", "12", [b"base-layer-2"])
        annotated = _push(client, "group/rem/other", "v1", [b"other-layer", b"other-app"],
                          annotations={"org.opencontainers.image.base.digest": old_base,
                                       "org.opencontainers.image.base.name": "registry.test/group/rem/base:12"})
    base_name, app_name = f"{server.host}/group/rem/base", f"{server.host}/group/rem/app"
    with db.session() as s:
        vulns.record_findings(s, vulns.ImageScope(pid, base_name, "12", old_base), [
            _finding("openssl", "3.0.11-1", "CVE-2024-0001", "critical", ["3.0.13-1"]),
            _finding("zlib", "1.2.13", "CVE-2024-0002", "high", [])])
        vulns.record_findings(s, vulns.ImageScope(pid, base_name, "12", new_base), [
            _finding("zlib", "1.2.13", "CVE-2024-0002", "high", [])])
        vulns.record_findings(s, vulns.ImageScope(pid, app_name, "v1", app), [
            _finding("openssl", "3.0.11-1", "CVE-2024-0001", "critical", ["3.0.13-1"]),
            _finding("openssl", "3.0.11-1", "CVE-2024-0003", "high", ["3.0.12-1", "3.0.9-1"]),
            _finding("zlib", "1.2.13", "CVE-2024-0002", "high", []),
            _finding("urllib3", "1.24.1", "CVE-2024-0004", "medium", ["1.24.10", "1.24.9"], ptype="python")])
    db.dispose()
    return pid, app, old_base, new_base, annotated


def test_package_base_and_rebuild_hints(server) -> None:
    pid, app, old_base, new_base, annotated = seed_images(server)
    base = f"{server.url}/api/v1/projects/{pid}/images"
    r = ADMIN_HTTP.get(f"{base}/{app}/remediation")
    assert r.status_code == 200, r.text
    body = r.json()
    openssl = body["packages"][0]
    assert (openssl["package"], openssl["upgrade_to"], openssl["fixes"], openssl["critical"]) == (
        "openssl", "3.0.13-1", 2, 1)
    assert openssl["hint"] == "upgrading openssl to 3.0.13-1 fixes 2 vulnerabilities (1 critical)"
    urllib3 = next(p for p in body["packages"] if p["package"] == "urllib3")
    assert urllib3["upgrade_to"] == "1.24.9"  # the smallest fixing version, compared as versions (not text)
    assert not any(p["package"] == "zlib" for p in body["packages"])  # no fix, no hint
    assert body["base"] == {"repository": "group/rem/base", "digest": old_base, "found_by": "layers", "tags": []}
    assert [(h["base"], h["digest"], h["fixes"]) for h in body["rebuild"]] == [("group/rem/base:12", new_base, 1)]

    other = ADMIN_HTTP.get(f"{base}/{annotated}/remediation").json()
    assert other["base"]["found_by"] == "annotation" and other["base"]["digest"] == old_base
    assert other["base_name_annotation"] == "registry.test/group/rem/base:12"
    assert ADMIN_HTTP.get(f"{base}/sha256:{'0' * 64}/remediation").status_code == 404
    assert ADMIN_HTTP.get(f"{base}/not-a-digest/remediation").status_code in (400, 422)


def test_the_cli_gives_the_same_hints(server) -> None:
    _, app, old_base, new_base, _ = seed_images(server)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hullscan", "remediation", *args], env=server.env(),
                              capture_output=True, text=True, timeout=120)

    text = run("group/rem", app)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == f"base image: group/rem/base@{old_base} (found by layers)"
    assert "upgrading openssl to 3.0.13-1 fixes 2 vulnerabilities (1 critical)" in lines
    as_json = run("group/rem", app, "--json")
    assert json.loads(as_json.stdout)["rebuild"][0]["digest"] == new_base
    missing = run("group/rem", "sha256:" + "0" * 64)
    assert missing.returncode == 1 and "not found in project group/rem" in missing.stderr
