"""deploy/nginx.conf, the load balancer of deploy/compose.yaml, run for real (Debian's nginx, installed by
scripts/system-deps.sh) in front of two `hullscan serve --no-runner` nodes on PostgreSQL and the local S3 server,
with a remote runner that, as in compose.yaml, reaches the API only through the balancer.

Through the balancer: skopeo pushes a 58 MB image (its layers streamed: `proxy_request_buffering off`, S3
multipart behind), the push is scanned by the runner (its long poll and log and artifact uploads pass the
balancer), the finding is listed by the API, the image's name is the balancer's address (`public_url`) and the
image pulls back with its digest. Only the conf's upstream names and listen port are rewritten for loopback."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import image_layout
from tests.pipelines.e2e import finished_pipelines, hullscan_cli, make_server, start_runner, wait_for
from tests.registry.support import skopeo
from tests.support.auth import ADMIN_HTTP
from tests.support.net import answers, free_port, stop_process, wait_ready
from tests.support.postgres import PostgresCluster
from tests.support.s3 import S3Server
from tests.support.server import HullscanServer

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "team/balanced"
ADVISORY = {"id": "HULLSCAN-LB-0001", "modified": "2026-12-01T00:00:00Z", "published": "2026-12-01T00:00:00Z",
            "summary": "urllib3 before 1.24.2 (test advisory)", "database_specific": {"severity": "HIGH"},
            "affected": [{"package": {"ecosystem": "PyPI", "name": "urllib3"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.24.2"}]}]}]}


def _nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None)
    if found is None:
        pytest.fail("nginx is not installed: run `make system-deps` (Debian package nginx)")
    return found


def loopback_conf(text: str, listen: int, upstreams: list[int], prefix: Path) -> str:
    """deploy/nginx.conf with its compose service names and port swapped for loopback ports, and its files under
    `prefix` (pid, logs, temp); every other directive as shipped."""
    names = re.findall(r"server (api-\d+):8080;", text)
    assert len(names) == len(upstreams) == 2, f"nginx.conf's upstream is not the two API nodes: {names}"
    for name, port in zip(names, upstreams):
        text = text.replace(f"server {name}:8080;", f"server 127.0.0.1:{port};")
    assert "listen 8080;" in text
    text = text.replace("listen 8080;", f"listen 127.0.0.1:{listen};")
    return (f"pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n"
            + text.replace("http {", f"http {{\n  access_log {prefix}/access.log;", 1))


@dataclass
class Balanced:
    lb: str  # host:port of the balancer
    servers: list[HullscanServer]
    prefix: Path


@pytest.fixture(scope="module")
def balanced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Balanced]:
    nginx = _nginx()
    root = tmp_path_factory.mktemp("balanced")
    pg, s3 = PostgresCluster().start(), S3Server(root).start()
    servers: list[HullscanServer] = []
    proc: subprocess.Popen[bytes] | None = None
    runner: subprocess.Popen[bytes] | None = None
    try:
        database = pg.create_database()
        lb_port = free_port()
        env = {**s3.env(s3.create_bucket("balanced")), "HULLSCAN_RUNNER_POOL_SIZE": "0",
               "HULLSCAN_PUBLIC_URL": f"http://127.0.0.1:{lb_port}"}
        servers = [make_server(root / name, database, **env) for name in ("api-1", "api-2")]
        hullscan_cli(servers[0], "project", "create", PROJECT, "--cs4r", "on")
        feed = root / "advisory.jsonl"
        feed.write_text(json.dumps(ADVISORY) + "\n")
        hullscan_cli(servers[0], "advisories", "import", str(feed), "--format", "osv", "--source", "lb-test")
        for server in servers:
            server.start()
        prefix = root / "nginx"
        prefix.mkdir()
        conf = prefix / "nginx.conf"
        conf.write_text(loopback_conf((ROOT / "deploy" / "nginx.conf").read_text(), lb_port,
                                      [s.port for s in servers], prefix))
        log = prefix / "stdout.log"
        proc = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
                                stdout=open(log, "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115
        lb = f"127.0.0.1:{lb_port}"
        wait_ready(proc, answers(f"http://{lb}/-/ready", 200), "nginx", log, 30)
        cache = root / "runner" / "cache"
        cache.mkdir(parents=True)
        # the runner is given the balancer's address, as compose.yaml's runners are
        runner = start_runner(servers[0], "behind-lb", cache, url=f"http://{lb}")
        yield Balanced(lb, servers, prefix)
    finally:
        stop_process(runner)
        stop_process(proc)
        for server in servers:
            server.stop()
        s3.stop()
        pg.stop()


def test_a_push_through_the_balancer_is_scanned_listed_and_pulled_back(balanced: Balanced, tmp_path: Path) -> None:
    layout = image_layout("debian-python-app")
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:latest", f"docker://{balanced.lb}/{PROJECT}/app:latest")
    first = balanced.servers[0]
    [pipeline] = finished_pipelines(first, PROJECT, 1, timeout=240)
    assert pipeline["status"] == "success", pipeline

    def listed() -> list[dict] | None:
        r = ADMIN_HTTP.get(f"http://{balanced.lb}/api/v1/projects/{PROJECT.replace('/', '%2F')}/vulnerabilities",
                           params={"per_page": 100})
        assert r.status_code == 200, r.text
        return [v for v in r.json()["vulnerabilities"] if "HULLSCAN-LB-0001" in json.dumps(v)] or None

    [finding] = wait_for(listed, 120, "the finding through the balancer", first)
    # the image's name is the public address (the balancer), whichever node took the push
    assert json.dumps(finding).count(f"{balanced.lb}/{PROJECT}/app") >= 1, finding

    pulled = tmp_path / "pulled"
    skopeo("copy", "--src-tls-verify=false", f"docker://{balanced.lb}/{PROJECT}/app:latest", f"oci:{pulled}:latest")
    pushed_index = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    pulled_index = json.loads((pulled / "index.json").read_text())["manifests"][0]["digest"]
    assert pulled_index == pushed_index

    # both nodes served requests behind the balancer, and the balancer saw no upstream error
    access = (balanced.prefix / "access.log").read_text()
    assert "PATCH /v2/" in access and "/jobs/request" in access, access[-2000:]
    errors = (balanced.prefix / "error.log").read_text()
    assert "upstream" not in errors, errors[-2000:]
