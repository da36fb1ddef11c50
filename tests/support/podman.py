"""Real podman and buildah (Debian packages, installed by scripts/system-deps.sh) with storage of the test's
own: a vfs store in a temp dir (no overlay mounts, no containers run), its own runtime dir and config, so
tests neither see nor change the machine's images. `service()` runs `podman system service` on a private unix
socket: the Docker-compatible engine API that `docker-daemon:`/`podman:` sources read."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest


def tool(name: str) -> str:
    """The path of a Debian tool the tests drive, or a failure naming the package."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make system-deps` (scripts/system-deps.sh installs {name})")
    return path


class Podman:
    """podman/buildah on a private vfs store under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("storage", "runroot", "run", "config", "data", "home"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "run").chmod(0o700)
        (root / "storage.conf").write_text(
            f'[storage]\ndriver = "vfs"\ngraphroot = "{root / "storage"}"\nrunroot = "{root / "runroot"}"\n')
        # No journald here: events go to a file; no default registries for short names.
        (root / "containers.conf").write_text('[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\n')
        (root / "registries.conf").write_text("unqualified-search-registries = []\n")
        (root / "auth.json").write_text('{"auths": {}}\n')  # no login of the machine's user is used
        self.env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(root / "storage.conf"),
                    "CONTAINERS_CONF": str(root / "containers.conf"),
                    "CONTAINERS_REGISTRIES_CONF": str(root / "registries.conf"),
                    "XDG_RUNTIME_DIR": str(root / "run"), "XDG_CONFIG_HOME": str(root / "config"),
                    "XDG_DATA_HOME": str(root / "data"), "REGISTRY_AUTH_FILE": str(root / "auth.json")}
        self.env.pop("CONTAINER_HOST", None)
        self.env.pop("DOCKER_HOST", None)
        self.service_proc: subprocess.Popen[bytes] | None = None

    def run(self, program: str, *args: str, timeout: float = 300, check: bool = True,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """`podman ARGS` or `buildah ARGS` on this store; a failure shows its stderr."""
        proc = subprocess.run([tool(program), *args], capture_output=True, text=True, timeout=timeout,
                              env=self.env, input=input)
        if check and proc.returncode != 0:
            raise AssertionError(f"{program} {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-3000:]}")
        return proc

    def podman(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return self.run("podman", *args, **kwargs)  # type: ignore[arg-type]

    def buildah(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return self.run("buildah", *args, **kwargs)  # type: ignore[arg-type]

    def service(self) -> str:
        """Start `podman system service` on a private socket; returns its `unix://` address."""
        sock = self.root / "run" / "api.sock"
        self.service_proc = subprocess.Popen(
            [tool("podman"), "system", "service", "--time", "0", f"unix://{sock}"], env=self.env,
            stdout=subprocess.DEVNULL, stderr=(self.root / "service.log").open("wb"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.service_proc.poll() is not None:
                raise AssertionError(f"podman system service exited: {(self.root / 'service.log').read_text()[-2000:]}")
            if sock.exists() and _ping(str(sock)):
                return f"unix://{sock}"
            time.sleep(0.1)
        raise AssertionError("podman system service did not answer /_ping within 30 s")

    def stop(self) -> None:
        if self.service_proc is not None and self.service_proc.poll() is None:
            self.service_proc.terminate()
            try:
                self.service_proc.wait(10)
            except subprocess.TimeoutExpired:
                self.service_proc.kill()
                self.service_proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def _ping(path: str) -> bool:
    class Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(5)
            self.sock.connect(path)

    conn = Conn("localhost")
    try:
        conn.request("GET", "/_ping")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()
