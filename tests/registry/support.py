"""Helpers for registry tests: a raw OCI client over httpx, skopeo, and a real CNCF Distribution registry."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx

from tests.support.auth import ADMIN_CREDS
from tests.support.net import answers, free_port, stop_process, wait_ready

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(client: httpx.Client, repo: str, data: bytes) -> str:
    digest = sha256(data)
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data,
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    return digest


def image_manifest(config: bytes, layers: list[bytes], **extra: Any) -> bytes:
    doc: dict[str, Any] = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": sha256(b), "size": len(b)} for b in layers],
    }
    doc.update(extra)
    return json.dumps(doc).encode()


def push_image(client: httpx.Client, repo: str, tag: str, layer: bytes, config: bytes | None = None) -> str:
    config = config or json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}).encode()
    push_blob(client, repo, config)
    push_blob(client, repo, layer)
    body = image_manifest(config, [layer])
    r = client.put(f"/v2/{repo}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201, r.text
    return sha256(body)


def error_code(r: httpx.Response) -> str:
    return r.json()["errors"][0]["code"]


def with_creds(args: tuple[str, ...], creds: str = ADMIN_CREDS) -> list[str]:
    """skopeo arguments with credentials for every docker:// reference (registries without auth ignore them),
    unless the caller chose credentials itself."""
    command, rest = args[0], list(args[1:])
    if any(a.endswith("creds") or a.startswith("--creds") or "-creds=" in a for a in rest):
        return [command, *rest]
    extra: list[str] = []
    if command == "copy" and len(rest) >= 2:
        extra += ["--src-creds", creds] if rest[-2].startswith("docker://") else []
        extra += ["--dest-creds", creds] if rest[-1].startswith("docker://") else []
    elif command in ("inspect", "list-tags", "delete"):
        extra = ["--creds", creds]
    return [command, *extra, *rest]


def skopeo(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run skopeo as the test admin; fail with its stderr."""
    proc = subprocess.run(["skopeo", *with_creds(args)], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)} failed: {proc.stderr[-3000:]}")
    return proc


def oci_layout_digests(layout: Path) -> set[str]:
    """Every blob digest in an OCI layout directory."""
    return {f"{p.parent.name}:{p.name}" for p in (layout / "blobs").glob("*/*")}


class Distribution:
    """The real CNCF Distribution registry (Debian `docker-registry`) on a free loopback port."""

    def __init__(self, notify_url: str | None = None, secret: str | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="hullscan-distribution-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        config = [
            "version: 0.1",
            "log:", "  level: info", "  accesslog:", "    disabled: true",
            "storage:", "  filesystem:", f"    rootdirectory: {self.dir / 'data'}", "  delete:", "    enabled: true",
            "http:", f"  addr: 127.0.0.1:{self.port}",
        ]
        if notify_url:
            config += [
                "notifications:", "  events:", "    includereferences: true", "  endpoints:",
                "    - name: hullscan", f"      url: {notify_url}",
                "      headers:", f"        Authorization: [{json.dumps(secret or '')}]",
                "      timeout: 2s", "      threshold: 3", "      backoff: 500ms",
            ]
        (self.dir / "config.yml").write_text("\n".join(config) + "\n")

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "Distribution":
        binary = shutil.which("docker-registry")
        if binary is None:
            raise RuntimeError("Debian package 'docker-registry' is not installed")
        self.log = open(self.dir / "log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([binary, "serve", str(self.dir / "config.yml")], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        wait_ready(self.proc, answers(f"http://{self.host}/v2/", 200), "docker-registry", self.dir / "log", 30)
        return self

    def stop(self) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)
