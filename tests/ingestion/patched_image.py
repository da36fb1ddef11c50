"""Build a 'patched' OCI layout from a test image: one extra layer that upgrades a Python package
(whiteout of the old dist-info, a new dist-info), as `pip install -U` in a Dockerfile step would leave it."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1747699200
    tar.addfile(info, io.BytesIO(data))


def _blob(layout: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}"


def upgrade_python_package(src: Path, dest: Path, site_packages: str, old_dist_info: str, name: str,
                           version: str) -> str:
    """Copy layout `src` to `dest` with one more layer; returns the new manifest digest."""
    shutil.copytree(src, dest)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        _add(tar, f"{site_packages}/.wh.{old_dist_info}", b"")
        meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
        _add(tar, f"{site_packages}/{name}-{version}.dist-info/METADATA", meta)
    uncompressed = raw.getvalue()
    layer = gzip.compress(uncompressed, mtime=0)
    layer_digest = _blob(dest, layer)

    index = json.loads((dest / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    manifest = json.loads((dest / "blobs" / "sha256" / manifest_digest.split(":")[1]).read_bytes())
    config = json.loads((dest / "blobs" / "sha256" / manifest["config"]["digest"].split(":")[1]).read_bytes())
    config["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(uncompressed).hexdigest())
    config.setdefault("history", []).append({"created_by": f"pip install {name}=={version}"})
    config_bytes = json.dumps(config).encode()
    manifest["config"] = {**manifest["config"], "digest": _blob(dest, config_bytes), "size": len(config_bytes)}
    manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                               "digest": layer_digest, "size": len(layer)})
    manifest_bytes = json.dumps(manifest).encode()
    new_digest = _blob(dest, manifest_bytes)
    index["manifests"][0].update(digest=new_digest, size=len(manifest_bytes))
    (dest / "index.json").write_text(json.dumps(index))
    (dest / "manifest.json").unlink(missing_ok=True)  # the docker-archive view would be stale
    return new_digest
