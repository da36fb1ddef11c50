"""Proves hullscan's container image works (`make image-smoke`; build it first with deploy/build-image.sh).

a. The embedded default: `db upgrade`, `project create` and `advisories import` run in containers with no
   network at all (`--network none`) on one volume; then `serve` on it; a tiny image pushed with skopeo is
   scanned by the server's own runner and its vulnerability shows through the API; the image's HEALTHCHECK
   passes (`podman healthcheck run`); `hullscan sbom` of that image's OCI layout works offline too.
b. deploy/compose.yaml's topology without Docker Hub's images: PostgreSQL and moto's S3 server on the host
   (tests/support), one `db upgrade` container first, two `serve --no-runner` containers (public URL: node 1
   at this machine's address), three `runner` containers on podman's bridge network reaching the nodes as
   `host.containers.internal`; a push through node 1 and one through node 2 are scanned by the runners and
   visible through node 2 under the public URL's name.

The other containers use host networking (every service they talk to is on this machine; advisory sync is
off), all run as the image's own user (uid 10001), with `deploy/podman-flags.sh`'s runtime flags. Prints timings as
JSON; exits non-zero naming the first step that failed. Removes every container and volume it made."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

import httpx  # noqa: E402

from tests.support.auth import ADMIN_CREDS, ADMIN_HTTP, ADMIN_PASSWORD  # noqa: E402
from tests.support.images import PACKAGE, advisory, tiny_image  # noqa: E402
from tests.support.net import free_port  # noqa: E402
from tests.support.postgres import PostgresCluster  # noqa: E402
from tests.support.s3 import S3Server  # noqa: E402
from tests.support.server import REGISTRATION_TOKEN, shared_secrets_env  # noqa: E402

ADVISORY = "HULLSCAN-IMAGE-SMOKE-0001"
RUN_FLAGS = subprocess.run(["sh", str(ROOT / "deploy" / "podman-flags.sh")], capture_output=True, text=True,
                           check=True).stdout.split()


class Smoke:
    def __init__(self, image: str, work: Path) -> None:
        self.image, self.work = image, work
        self.tag = uuid.uuid4().hex[:8]
        self.containers: list[str] = []
        self.volumes: list[str] = []
        self.timings: dict[str, float] = {}

    # --- podman ----------------------------------------------------------------------------------------
    def podman(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"podman {' '.join(args[:6])} ... failed ({proc.returncode}): "
                                 f"{proc.stdout[-1500:]}{proc.stderr[-3000:]}")
        return proc

    def _run_args(self, env: dict[str, str], network: str, mounts: tuple[str, ...]) -> list[str]:
        args = [*RUN_FLAGS, f"--network={network}"]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        for mount in mounts:
            args += ["-v", mount]
        return args

    def once(self, env: dict[str, str], *command: str, network: str = "host", mounts: tuple[str, ...] = ()) -> str:
        """`podman run --rm IMAGE command`: a one-shot container (its output, or a failure with it)."""
        return self.podman("run", "--rm", "--no-healthcheck", *self._run_args(env, network, mounts), self.image,
                           *command).stdout

    def start(self, name: str, env: dict[str, str], *command: str, mounts: tuple[str, ...] = (),
              health: bool = False, network: str = "host") -> str:
        """A detached container (removed at the end)."""
        name = f"hullscan-smoke-{self.tag}-{name}"
        self.containers.append(name)
        self.podman("run", "-d", "--name", name, *([] if health else ["--no-healthcheck"]),
                    *self._run_args(env, network, mounts), self.image, *command)
        return name

    def volume(self) -> str:
        name = f"hullscan-smoke-{self.tag}-{len(self.volumes)}"
        self.podman("volume", "create", name)
        self.volumes.append(name)
        return name

    def logs(self, name: str) -> str:
        proc = self.podman("logs", name, check=False)
        return proc.stdout + proc.stderr

    def cleanup(self) -> None:
        for name in reversed(self.containers):
            self.podman("rm", "-f", "-v", "-t", "10", name, check=False, timeout=60)  # with its anonymous volume
        for name in self.volumes:
            self.podman("volume", "rm", "-f", name, check=False, timeout=60)

    # --- hullscan --------------------------------------------------------------------------------------
    def wait_ready(self, name: str, url: str, timeout: float = 120) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            state = self.podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
            if state not in ("running", "created", "configured"):
                raise AssertionError(f"{name} is {state}: {self.logs(name)[-3000:]}")
            try:
                if httpx.get(url + "/-/ready", timeout=2).status_code == 200:
                    return time.monotonic() - start
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"{name} not ready after {timeout} s: {self.logs(name)[-3000:]}")

    def push(self, host: str, repository: str, marker: str) -> str:
        layout = self.work / "images" / marker
        digest = tiny_image(layout, marker)
        subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", ADMIN_CREDS, "--retry-times", "0",
                        f"oci:{layout}:latest", f"docker://{host}/{repository}"], check=True, capture_output=True,
                       timeout=120)
        return digest

    def wait_vulnerabilities(self, url: str, project: str, images: set[str], timeout: float = 90) -> list[dict]:
        """Until the advisory's vulnerability is listed for each of `images` (name:tag) through `url`."""
        start = time.monotonic()
        found: list[dict[str, Any]] = []
        while time.monotonic() - start < timeout:
            r = ADMIN_HTTP.get(f"{url}/api/v1/projects/{project.replace('/', '%2F')}/vulnerabilities",
                               params={"per_page": 100}, timeout=30)
            assert r.status_code == 200, r.text
            found = [v for v in r.json()["vulnerabilities"] if v["identifier"] == ADVISORY]
            if {v["image"] for v in found} >= images:
                return found
            time.sleep(0.5)
        raise AssertionError(f"no vulnerability for {images} through {url} after {timeout} s: {found}")

    def healthy(self, name: str) -> None:
        """The image's own HEALTHCHECK command, run once (no systemd timers here to run it periodically)."""
        proc = self.podman("healthcheck", "run", name, check=False)
        assert proc.returncode == 0 and "unhealthy" not in proc.stdout, (proc.stdout, proc.stderr)

    def timed(self, key: str, step: Callable[[], Any]) -> Any:
        start = time.monotonic()
        value = step()
        self.timings[key] = round(time.monotonic() - start, 1)
        return value


def _base_env(port: int, public_port: int) -> dict[str, str]:
    return {"HULLSCAN_PORT": str(port), "HULLSCAN_HOST": "127.0.0.1",
            "HULLSCAN_PUBLIC_URL": f"http://127.0.0.1:{public_port}", "HULLSCAN_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "HULLSCAN_ADVISORIES_SYNC_INTERVAL": "0", "HULLSCAN_LOG_JSON": "true"}


def _host_address() -> str:
    """This machine's address on its default route: reached by the host's clients and, through podman's
    bridge, by containers alike (a public URL on 127.0.0.1 would be each runner container's own loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 1))  # UDP: nothing is sent, the kernel only picks a route
        return probe.getsockname()[0]


def _feed(work: Path) -> str:
    """The advisory as an OSV JSON-lines file the container user (uid 10001) can read; its mount spec."""
    path = work / "feed" / "advisory.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(advisory(ADVISORY)) + "\n")
    path.parent.chmod(0o755)
    path.chmod(0o644)
    return f"{path.parent}:/feed:ro"


def _security(url: str, project: str) -> None:
    r = ADMIN_HTTP.put(f"{url}/api/v1/projects/{project.replace('/', '%2F')}/security_settings",
                       json={"cs4r_tag_patterns": ["*"]})
    assert r.status_code == 200, r.text


def embedded(smoke: Smoke) -> None:
    """a. One container, SQLite and the filesystem in its volume, its own runner."""
    port, project = free_port(), "team/smoke"
    env = _base_env(port, port)
    data = f"{smoke.volume()}:/var/lib/hullscan"
    feed = _feed(smoke.work)
    smoke.timed("a_cli_steps_s", lambda: [
        smoke.once(env, "db", "upgrade", network="none", mounts=(data,)),
        smoke.once(env, "project", "create", project, "--cs4r", "on", network="none", mounts=(data,)),
        smoke.once(env, "advisories", "import", "/feed/advisory.jsonl", "--format", "osv", "--source", "image-smoke",
                   network="none", mounts=(data, feed))])
    url = f"http://127.0.0.1:{port}"
    name = smoke.start("embedded", env, "serve", mounts=(data,), health=True)
    smoke.timings["a_serve_ready_s"] = round(smoke.wait_ready(name, url), 1)
    _security(url, project)
    image = f"127.0.0.1:{port}/{project}/app:v1"
    marker = f"embedded-{smoke.tag}"
    smoke.timed("a_push_s", lambda: smoke.push(f"127.0.0.1:{port}", f"{project}/app:v1", marker))
    smoke.timed("a_push_to_vulnerability_s", lambda: smoke.wait_vulnerabilities(url, project, {image}))
    smoke.healthy(name)
    # the standalone scanner (`hullscan sbom`, as in CI jobs) in the same image, offline, on the pushed layout
    sbom = smoke.timed("a_sbom_offline_s", lambda: json.loads(smoke.once(
        {}, "sbom", "oci-dir:/image", network="none", mounts=(f"{smoke.work / 'images' / marker}:/image:ro",))))
    assert PACKAGE in {c.get("name") for c in sbom.get("components", [])}, sbom
    smoke.podman("stop", "-t", "20", name)
    logs = smoke.logs(name)
    assert "Traceback" not in logs, logs[-3000:]


def cluster(smoke: Smoke) -> None:
    """b. compose.yaml's topology: PostgreSQL + S3 on the host, migrations once, 2 API nodes, 3 runners."""
    pg = PostgresCluster().start()
    s3 = S3Server(smoke.work).start()
    try:
        database = pg.create_database()
        ports, project = [free_port(), free_port()], "team/fleet"
        public = f"{_host_address()}:{ports[0]}"  # node 1, as compose.yaml's HULLSCAN_PUBLIC_URL names the lb
        secrets = shared_secrets_env()
        key = smoke.work / "secrets" / "registry-token.pem"  # as deploy/make-secrets.sh leaves it: 0644 in a dir
        key.parent.mkdir()
        shutil.copyfile(secrets["HULLSCAN_REGISTRY_TOKEN_KEY_FILE"], key)
        key.chmod(0o644)
        env = {**_base_env(ports[0], ports[0]), "HULLSCAN_PUBLIC_URL": f"http://{public}",
               **s3.env(s3.create_bucket("hullscan")),
               "HULLSCAN_DATABASE_URL": database, **secrets,
               "HULLSCAN_REGISTRY_TOKEN_KEY_FILE": "/run/secrets/registry-token.pem", "HULLSCAN_RUNNER_POOL_SIZE": "0"}
        mounts = (f"{key}:/run/secrets/registry-token.pem:ro",)
        smoke.timed("b_migrate_s", lambda: smoke.once(env, "db", "upgrade", mounts=mounts))
        smoke.once(env, "project", "create", project, "--cs4r", "on", mounts=mounts)
        smoke.once(env, "advisories", "import", "/feed/advisory.jsonl", "--format", "osv", "--source", "image-smoke",
                   mounts=(*mounts, _feed(smoke.work / "b")))
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        nodes = [smoke.start(f"api-{i + 1}", {**env, "HULLSCAN_PORT": str(p), "HULLSCAN_HOST": "0.0.0.0"}, "serve",
                             "--no-runner", mounts=mounts, health=True) for i, p in enumerate(ports)]
        smoke.timings["b_api_ready_s"] = round(max(smoke.wait_ready(n, u) for n, u in zip(nodes, urls)), 1)
        _security(urls[1], project)
        for i in range(3):  # runners need only a server's URL and the registration token
            # As in compose.yaml, on a network of their own, reaching the API nodes by another name than the public
            # URL's (there `lb`, here the host on podman's bridge); the registry's token realm is the public URL.
            smoke.start(f"runner-{i + 1}", {"HULLSCAN_RUNNER_TOKEN": REGISTRATION_TOKEN, "HULLSCAN_LOG_JSON": "true"},
                        "runner", "--url", f"http://host.containers.internal:{ports[i % 2]}", "--concurrency", "1",
                        "--name", f"smoke-runner-{i + 1}", network="bridge")
        # a push through node 1 and one through node 2 (another repository: findings are per image name)
        first = smoke.timed("b_push_node1_s", lambda: smoke.push(public, f"{project}/app:v1", f"node1-{smoke.tag}"))
        second = smoke.push(f"127.0.0.1:{ports[1]}", f"{project}/web:v1", f"node2-{smoke.tag}")
        found = smoke.timed("b_pushes_to_vulnerabilities_s", lambda: smoke.wait_vulnerabilities(
            urls[1], project, {f"{public}/{project}/app:v1", f"{public}/{project}/web:v1"}))
        # both scanned, both named after the public URL (node 1's), never after the Host header of node 2
        assert {v["image_digest"] for v in found} == {first, second}, found
        assert len(found) == 2, found
        ran = [n for n in smoke.containers if "-runner-" in n and "job" in smoke.logs(n)]
        smoke.timings["b_runner_containers_that_logged_jobs"] = len(ran)
        for node in nodes:
            smoke.healthy(node)
        for name in smoke.containers:
            if "api-" in name or "runner-" in name:
                assert "Traceback" not in smoke.logs(name), (name, smoke.logs(name)[-3000:])
    finally:
        s3.stop()
        pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="localhost/hullscan:latest")
    parser.add_argument("--only", choices=["embedded", "cluster"])
    args = parser.parse_args()
    for tool in ("podman", "skopeo"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed: run `make system-deps`")
    size = subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}", args.image], capture_output=True,
                          text=True)
    if size.returncode != 0:
        sys.exit(f"no image {args.image}: build it with deploy/build-image.sh")
    work = Path(tempfile.mkdtemp(prefix="hullscan-image-smoke-"))
    work.chmod(0o755)
    smoke = Smoke(args.image, work)
    smoke.timings["image_mb"] = round(int(size.stdout.strip()) / 1e6)
    start = time.monotonic()
    try:
        for name, step in (("embedded", embedded), ("cluster", cluster)):
            if args.only in (None, name):
                step(smoke)
                print(f"image smoke: {name} ok", file=sys.stderr)
    except BaseException:
        for container in smoke.containers:  # what each container said, for the failure's cause
            print(f"--- {container}\n{smoke.logs(container)[-1500:]}", file=sys.stderr)
        raise
    finally:
        smoke.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    smoke.timings["total_s"] = round(time.monotonic() - start, 1)
    print(json.dumps(smoke.timings))


if __name__ == "__main__":
    os.umask(0o022)
    main()
