"""Helpers for end-to-end tests: real `hullscan serve`, skopeo pushes, polling the pipelines API."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


from tests.conftest import image_layout
from tests.registry.support import skopeo
from tests.support.server import HullscanServer
from tests.support.auth import ADMIN_HTTP, remember_secret

REGISTRATION_TOKEN = remember_secret("hsreg_test-registration-token")
FINAL = ("success", "failed", "canceled")


def layout(name: str) -> Path:
    return image_layout(name)


def manifest_digest(name: str) -> str:
    return json.loads((layout(name) / "index.json").read_text())["manifests"][0]["digest"]


def push(image: str, dest: str) -> None:
    """skopeo copy of a test image layout to `HOST/REPO:TAG` over plain HTTP."""
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout(image)}:latest", f"docker://{dest}")


def make_server(data_dir: Path, database_url: str, **env: str) -> HullscanServer:
    """A server not started yet (its port is known, so a registry can be configured to notify it)."""
    base = {"HULLSCAN_RUNNER_REGISTRATION_TOKEN": REGISTRATION_TOKEN, "HULLSCAN_LOG_JSON": "false",
            "HULLSCAN_RUNNER_POOL_SIZE": "1"}
    data_dir.mkdir(parents=True, exist_ok=True)
    return HullscanServer(data_dir, database_url, env={**base, **env})


def start_server(data_dir: Path, database_url: str, **env: str) -> HullscanServer:
    return make_server(data_dir, database_url, **env).start()


def start_runner(server: HullscanServer, name: str, cache_dir: Path, *extra: str,
                 url: str | None = None) -> subprocess.Popen[bytes]:
    """A remote runner process (`hullscan runner`) registering with the registration token, at the server's own
    address or at `url` (a balancer in front of it)."""
    env = {k: v for k, v in server.env().items() if k not in ("HULLSCAN_DATABASE_URL",)}
    env["HULLSCAN_DATA_DIR"] = str(cache_dir)  # a runner has no database: it must not need one
    log = open(cache_dir.parent / f"runner-{name}.log", "ab")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "hullscan", "runner", "--url", url or server.url, "--token",
                             REGISTRATION_TOKEN, "--name", name, "--cache-dir", str(cache_dir), *extra],
                            env=env, stdout=log, stderr=subprocess.STDOUT)


def hullscan_cli(server: HullscanServer, *args: str) -> str:
    """Run a `hullscan` command against the server's database and data dir."""
    proc = subprocess.run([sys.executable, "-m", "hullscan", *args], env=server.env(), capture_output=True,
                          text=True, timeout=120, cwd=str(server.data_dir))
    assert proc.returncode == 0, f"hullscan {' '.join(args)} failed: {proc.stderr[-2000:]}"
    return proc.stdout


def pipelines(server: HullscanServer, project: str) -> list[dict[str, Any]]:
    r = ADMIN_HTTP.get(f"{server.url}/api/v1/projects/{project.replace('/', '%2F')}/pipelines", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def drops(server: HullscanServer, project: str) -> list[dict[str, Any]]:
    r = ADMIN_HTTP.get(f"{server.url}/api/v1/projects/{project.replace('/', '%2F')}/registry/dropped_pushes", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def wait_for(predicate, timeout: float, what: str, server: HullscanServer | None = None):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    log = server.log_path.read_text()[-4000:] if server else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{log}")


def finished_pipelines(server: HullscanServer, project: str, count: int, timeout: float = 120) -> list[dict]:
    def done() -> list[dict] | None:
        found = pipelines(server, project)
        return found if len(found) >= count and all(p["status"] in FINAL for p in found) else None

    return wait_for(done, timeout, f"{count} finished pipelines in {project}", server)


def sbom_of(server: HullscanServer, project: str, job: dict[str, Any]) -> dict[str, Any]:
    (artifact,) = job["artifacts"]
    r = ADMIN_HTTP.get(f"{server.url}/api/v1/projects/{project.replace('/', '%2F')}/jobs/{job['id']}/artifacts/"
                  f"{artifact['name']}", timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def sbom_properties(sbom: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in sbom["metadata"].get("properties", [])}
