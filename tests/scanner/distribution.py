"""A real CNCF Distribution (Debian `docker-registry`) on a free port, with its access log captured."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from tests.support.net import free_port

CONFIG = """version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
{auth}"""


class Distribution:
    def __init__(self, workdir: Path, auth: str = "") -> None:
        self.workdir = workdir
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.log_path = workdir / "registry.log"
        config = workdir / "registry.yml"
        config.write_text(CONFIG.format(root=workdir / "storage", port=self.port, auth=auth))
        self.config = config
        self.process: subprocess.Popen | None = None

    def start(self) -> Distribution:
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(["docker-registry", "serve", str(self.config)], stdout=self.log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://{self.host}/v2/", timeout=1).status_code in (200, 401):
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"docker-registry did not start: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(10)
        self.log.close()

    def push(self, layout: Path, repository: str, tag: str = "latest", all_platforms: bool = False,
             creds: str | None = None) -> None:
        cmd = ["skopeo", "copy", "--dest-tls-verify=false"]
        if all_platforms:
            cmd.append("--all")
        if creds:
            cmd += ["--dest-creds", creds]
        cmd += [f"oci:{layout}:latest", f"docker://{self.host}/{repository}:{tag}"]
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)

    def blob_gets(self, repository: str) -> list[str]:
        """Access-log lines of blob downloads (GET, not HEAD) for `repository`."""
        self.log.flush()
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [line for line in lines if f'"GET /v2/{repository}/blobs/' in line]
