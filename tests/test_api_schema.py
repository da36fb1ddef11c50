"""The API against its own OpenAPI schema, fuzzed by schemathesis: a real `hullscan serve` (tests/support), an
administrator's token, every operation, a fixed seed and a bounded budget. Zero 5xx, zero responses that break
the schema, every status code documented, Allow headers that list what the path answers, and data the schema
calls valid not refused as invalid (nor invalid data accepted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.auth import remember_secret
from tests.support.server import HullscanServer

ROOT = Path(__file__).resolve().parents[1]
SEED = 20
EXAMPLES = 8  # per operation and phase: ~60 s on 2 cores for the whole API
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
          "response_headers_conformance,positive_data_acceptance,negative_data_rejection,unsupported_method,"
          "allow_header_conformance")


def _seed(data_dir: Path) -> None:
    """Project 1 (team/app) with vulnerability 1 and webhook 1, for the ids of tests/schemathesis.toml."""
    from hullscan.auth import service as auth
    from hullscan.db import Database, upgrade
    from hullscan.settings import Settings
    from hullscan.vulnerabilities import notifications
    from hullscan.vulnerabilities import service as vulns
    from tests.ui.seed import finding

    settings = Settings(data_dir=data_dir)
    upgrade(settings)
    db = Database(settings)
    with db.session() as s:
        project = auth.create_project(s, "team/app")
        vulns.record_findings(s, vulns.ImageScope(project.id, "registry.test/team/app/web", "latest",
                                                  "sha256:" + "1" * 64, "debian 12"),
                              [finding("openssl", "3.0.11-1", "CVE-2024-0727")])
        notifications.create_webhook(s, project.id, "http://127.0.0.1:9/hook")
    db.dispose()


def test_every_operation_conforms_to_the_schema(tmp_path: Path) -> None:
    _seed(tmp_path / "data")
    server = HullscanServer(tmp_path / "data", env={"HULLSCAN_RUNNER_POOL_SIZE": "0"}).start()
    try:
        with server.client() as admin:
            # decoys first: the fuzzer revokes small token ids, which then are not the one it runs with
            for i in range(40):
                admin.post("/api/v1/user/personal_access_tokens", json={"name": f"decoy{i}", "scopes": ["read_api"]})
            made = admin.post("/api/v1/user/personal_access_tokens", json={"name": "schemathesis", "scopes": ["api"]})
            token = remember_secret(made.json()["token"])
        report = tmp_path / "report.json"
        run = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "--config-file", str(ROOT / "tests" / "schemathesis.toml"),
             "--no-color", "run", f"{server.url}/api/v1/openapi.json", "-H", f"Authorization: Bearer {token}",
             "--seed", str(SEED), "--max-examples", str(EXAMPLES), "--workers", "1", "--checks", CHECKS,
             "--phases", "examples,coverage,fuzzing", "--generation-database", "none", "--request-timeout", "30",
             "--suppress-health-check", "all", "--report", "json", "--report-json-path", str(report)],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        output = run.stdout + run.stderr
        print(output[-6000:])  # the warnings and summary, shown with -s or on failure
        assert "Tested: " in output and "Selected: " in output, output[-3000:]
        tested = output.split("Tested: ")[1].split()[0]
        assert run.returncode == 0, f"schemathesis found failures ({tested} operations):\n{output[-12000:]}"
        assert json.loads(report.read_text()) is not None
        with httpx.Client(base_url=server.url, timeout=30) as anyone:
            operations = sum(len(ops) for ops in anyone.get("/api/v1/openapi.json").json()["paths"].values())
        assert tested == str(operations), (tested, operations)  # every operation, none skipped
    finally:
        server.stop()
