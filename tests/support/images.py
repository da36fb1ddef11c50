"""Tiny distinct OCI images built on the fly: each push of a burst a new digest, small enough that thousands
cost nothing, with one Python distribution an advisory can match."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

PACKAGE = "hullscan-fault-demo"


def _blob(layout: Path, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}", len(data)


def tiny_image(layout: Path, marker: str) -> str:
    """An OCI layout of one small layer: a Python distribution the advisory below affects, and a file naming
    `marker` (so every image has its own digest). Returns the manifest digest."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, text in ((f"usr/lib/python3/site-packages/{PACKAGE.replace('-', '_')}-1.0.dist-info/METADATA",
                            f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: 1.0\n\n"),
                           ("etc/hullscan-push", marker + "\n")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
            tar.addfile(info, io.BytesIO(data))
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    layer, layer_size = _blob(layout, gzip.compress(raw.getvalue(), mtime=0))
    config, config_size = _blob(layout, json.dumps({
        "architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }).encode())
    manifest, manifest_size = _blob(layout, json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer,
                    "size": layer_size}],
    }).encode())
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest, "size": manifest_size,
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))
    return manifest


def advisory(identifier: str) -> dict:
    """An OSV record affecting every tiny image (PACKAGE < 2.0)."""
    return {"id": identifier, "modified": "2026-11-28T00:00:00Z", "published": "2026-11-28T00:00:00Z",
            "summary": "test advisory for tiny images", "aliases": [], "database_specific": {"severity": "HIGH"},
            "affected": [{"package": {"ecosystem": "PyPI", "name": PACKAGE},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}]}]}
