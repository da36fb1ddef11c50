"""VEX round trip against a real server: OpenVEX and CycloneDX VEX import (API and CLI), all-or-nothing refusal,
and export -> import into a fresh project reproducing every triage state."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hullscan.auth import projects
from hullscan.db import Database
from hullscan.matching.finding import Finding, FindingPackage
from hullscan.settings import Settings
from hullscan.vulnerabilities import service as vulns
from tests.support.auth import ADMIN_HTTP

DIGEST = "sha256:" + "ab" * 32


def _finding(pkg: str, version: str, vid: str, aliases: tuple[str, ...] = (), ptype: str = "deb") -> Finding:
    return Finding(package=FindingPackage(name=pkg, version=version, type=ptype), vulnerability_id=vid,
                   identifiers=[vid, *aliases], advisory_ids=[vid], ecosystem="Debian:12", severity="high",
                   fixed_versions=[])


FINDINGS = [_finding("openssl", "3.0.11-1", "CVE-2024-0001"), _finding("zlib", "1.2.13", "CVE-2024-0002"),
            _finding("curl", "7.88.1", "CVE-2024-0003", ("GHSA-aaaa-bbbb-cccc",)),
            _finding("urllib3", "1.24.1", "CVE-2024-0004", ptype="python"),
            _finding("bash", "5.2", "CVE-2024-0005")]


def seed(server, path: str) -> int:
    db = Database(Settings(data_dir=server.data_dir, database_url=server.database_url))
    with db.session() as s:
        pid = projects.create_project(s, path).id
        scope = vulns.ImageScope(pid, f"reg.example/{path}/app", "latest", DIGEST, "debian 12")
        vulns.record_findings(s, scope, FINDINGS)
    db.dispose()
    return pid


def states(server, pid: int) -> dict[str, tuple[str, str | None]]:
    rows = ADMIN_HTTP.get(f"{server.url}/api/v1/projects/{pid}/vulnerabilities", params={"per_page": 100}).json()
    return {v["identifier"]: (v["state"], v["dismissal_reason"]) for v in rows["vulnerabilities"]}


def ids(server, pid: int) -> dict[str, int]:
    rows = ADMIN_HTTP.get(f"{server.url}/api/v1/projects/{pid}/vulnerabilities", params={"per_page": 100}).json()
    return {v["identifier"]: v["id"] for v in rows["vulnerabilities"]}


def openvex(*statements: dict) -> bytes:
    return json.dumps({"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.com/vex/app-1",
                       "author": "Example Security", "timestamp": "2026-01-01T00:00:00Z", "version": 1,
                       "statements": list(statements)}).encode()


def test_openvex_not_affected_dismisses_with_the_justification(server) -> None:
    pid = seed(server, "group/vexa")
    doc = openvex(
        {"vulnerability": {"name": "CVE-2024-0001"}, "products": [{"@id": "pkg:deb/debian/openssl@3.0.11-1?arch=amd64"}],
         "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
        {"vulnerability": {"name": "GHSA-aaaa-bbbb-cccc"},  # an alias, on the image with the package inside
         "products": [{"@id": f"reg.example/group/vexa/app@{DIGEST}", "subcomponents": [{"@id": "pkg:deb/curl"}]}],
         "status": "fixed"},
        {"vulnerability": {"name": "CVE-2024-0002"}, "products": [{"@id": "pkg:deb/zlib@9.9"}],  # other version
         "status": "not_affected", "justification": "component_not_present"},
        {"vulnerability": {"name": "CVE-2024-0004"}, "products": [{"@id": "pkg:pypi/urllib3"}],
         "status": "under_investigation"},
    )
    r = ADMIN_HTTP.post(f"{server.url}/api/v1/projects/{pid}/vex", content=doc,
                        headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["changed"] == {"dismissed": 1, "resolved": 1, "confirmed": 1}
    assert r.json()["unmatched_statements"] == 1
    got = states(server, pid)
    assert got["CVE-2024-0001"] == ("dismissed", "not_applicable")
    assert got["CVE-2024-0003"] == ("resolved", None)
    assert got["CVE-2024-0002"] == ("detected", None)
    assert got["CVE-2024-0004"] == ("confirmed", None)
    detail = ADMIN_HTTP.get(f"{server.url}/api/v1/vulnerabilities/{ids(server, pid)['CVE-2024-0001']}").json()
    last = detail["history"][-1]
    assert last["author"] == "vex:https://example.com/vex/app-1"
    assert "justification: vulnerable_code_not_in_execute_path" in last["comment"]
    audit = ADMIN_HTTP.get(f"{server.url}/api/v1/audit_events", params={"action": "vex_imported"})
    if audit.status_code == 200:
        assert any(e.get("details", {}).get("document") == "vex:https://example.com/vex/app-1"
                   for e in audit.json() if isinstance(e, dict)) or audit.json()


def test_a_bad_statement_refuses_the_whole_document(server) -> None:
    pid = seed(server, "group/vexb")
    before = states(server, pid)
    doc = openvex(
        {"vulnerability": {"name": "CVE-2024-0001"}, "products": [{"@id": "pkg:deb/openssl"}], "status": "fixed"},
        {"vulnerability": {"name": "CVE-2024-0002"}, "products": [{"@id": "pkg:deb/zlib"}], "status": "maybe"},
    )
    r = ADMIN_HTTP.post(f"{server.url}/api/v1/projects/{pid}/vex", content=doc)
    assert r.status_code == 400 and "statement 1" in r.text and "nothing was imported" in r.text
    assert states(server, pid) == before
    for body in (b"{not json", b"[]", b'{"statements": 3}', b'{"bomFormat": "CycloneDX"}', b"\xff\xfe"):
        bad = ADMIN_HTTP.post(f"{server.url}/api/v1/projects/{pid}/vex", content=body)
        assert bad.status_code == 400, (body, bad.text)
    big = ADMIN_HTTP.post(f"{server.url}/api/v1/projects/{pid}/vex", content=b" " * (16 * 1024 * 1024 + 1))
    assert big.status_code == 413
    assert ADMIN_HTTP.post(f"{server.url}/api/v1/projects/nope%2Fnope/vex", content=doc).status_code == 404
    assert states(server, pid) == before


def test_cyclonedx_vex_import(server) -> None:
    pid = seed(server, "group/vexc")
    bom = {"bomFormat": "CycloneDX", "specVersion": "1.5", "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
           "version": 1, "components": [{"type": "library", "name": "bash", "version": "5.2", "bom-ref": "b1",
                                         "purl": "pkg:deb/debian/bash@5.2"}],
           "vulnerabilities": [
               {"id": "CVE-2024-0005", "analysis": {"state": "not_affected", "justification": "code_not_reachable",
                                                    "detail": "bash is only used at build time"},
                "affects": [{"ref": "b1"}]},
               {"id": "CVE-2024-0002", "analysis": {"state": "exploitable"}, "affects": [{"ref": "pkg:deb/zlib@1.2.13"}]}]}
    r = ADMIN_HTTP.post(f"{server.url}/api/v1/projects/{pid}/vex", content=json.dumps(bom).encode())
    assert r.status_code == 200, r.text
    got = states(server, pid)
    assert got["CVE-2024-0005"] == ("dismissed", "not_applicable")
    assert got["CVE-2024-0002"] == ("confirmed", None)
    detail = ADMIN_HTTP.get(f"{server.url}/api/v1/vulnerabilities/{ids(server, pid)['CVE-2024-0005']}").json()
    assert detail["history"][-1]["author"] == "vex:urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79"
    assert "bash is only used at build time" in detail["history"][-1]["comment"]


def test_export_then_import_into_a_fresh_project_round_trips_every_state(server, tmp_path: Path) -> None:
    pid = seed(server, "group/origin")
    base = f"{server.url}/api/v1"
    by_id = ids(server, pid)
    for vid, body in ((by_id["CVE-2024-0001"], {"state": "dismissed", "dismissal_reason": "false_positive",
                                                "comment": "not our openssl"}),
                      (by_id["CVE-2024-0002"], {"state": "dismissed", "dismissal_reason": "mitigating_control"}),
                      (by_id["CVE-2024-0003"], {"state": "resolved"}),
                      (by_id["CVE-2024-0004"], {"state": "confirmed", "comment": "upgrade next sprint"})):
        assert ADMIN_HTTP.post(f"{base}/vulnerabilities/{vid}/state", json=body).status_code == 200
    exported = ADMIN_HTTP.get(f"{base}/projects/{pid}/vex")
    assert exported.status_code == 200
    doc = exported.json()
    assert doc["@context"] == "https://openvex.dev/ns/v0.2.0" and len(doc["statements"]) == 4
    for stmt in doc["statements"]:
        if stmt["status"] == "not_affected":
            assert stmt.get("justification") or stmt.get("impact_statement")
        if stmt["status"] == "affected":
            assert stmt["action_statement"]

    fresh = seed(server, "other/copy")  # the same image (digest), under another project's path
    assert set(states(server, fresh).values()) == {("detected", None)}
    r = ADMIN_HTTP.post(f"{base}/projects/{fresh}/vex", content=exported.content)
    assert r.status_code == 200, r.text
    assert states(server, fresh) == states(server, pid)

    # the same through the CLI: export to a file, import into a third project
    out = tmp_path / "triage.openvex.json"
    run = subprocess.run([sys.executable, "-m", "hullscan", "vex", "export", "group/origin", "-o", str(out)],
                         env=server.env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    third = seed(server, "third/copy")
    run = subprocess.run([sys.executable, "-m", "hullscan", "vex", "import", "third/copy", str(out)],
                         env=server.env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["matched"] == 4
    assert states(server, third) == states(server, pid)
    bad = tmp_path / "bad.json"
    bad.write_text('{"statements": [{"status": "fixed"}]}')
    run = subprocess.run([sys.executable, "-m", "hullscan", "vex", "import", "third/copy", str(bad)],
                         env=server.env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "not understood" in run.stderr
