"""Build small OCI layouts in a temp dir from in-memory layer trees (for hostile-input tests)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Entry:
    name: str
    data: bytes = b""
    kind: str = "file"  # file, dir, symlink, hardlink
    target: str = ""
    mode: int = 0o644


def tar_bytes(entries: list[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.mode = e.mode
            if e.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif e.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, e.target
                tar.addfile(info)
            elif e.kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, e.target
                tar.addfile(info)
            else:
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
    return buf.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def write_layout(root: Path, layers: list[tuple[bytes, bytes]]) -> Path:
    """`layers`: (blob as stored, uncompressed tar) pairs. Returns the layout dir."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return "sha256:" + digest

    descs = [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(blob), "size": len(blob)}
             for blob, _ in layers]
    config = json.dumps({"os": "linux", "architecture": "amd64", "rootfs": {
        "type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest() for _, raw in layers]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": put(config), "size": len(config)},
                           "layers": descs}).encode()
    mdigest = put(manifest)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest, "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))
    return root


def layer(entries: list[Entry]) -> tuple[bytes, bytes]:
    raw = tar_bytes(entries)
    return gz(raw), raw


STATUS = b"""Package: good-pkg
Status: install ok installed
Version: 1.0-1
Architecture: amd64
Source: good-src (1.0-0)

Package: removed-pkg
Status: deinstall ok config-files
Version: 2.0

"""
METADATA = b"Metadata-Version: 2.1\nName: goodlib\nVersion: 1.2.3\nLicense: MIT\n\n"
PACKAGE_JSON = b'{"name": "good-npm", "version": "4.5.6", "license": "ISC"}'
OS_RELEASE = b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'


def good_layer_entries() -> list[Entry]:
    return [
        Entry("var/lib/dpkg/status", STATUS),
        Entry("usr/lib/os-release", OS_RELEASE),
        Entry("etc/os-release", kind="symlink", target="../usr/lib/os-release"),
        Entry("usr/lib/python3/dist-packages/goodlib-1.2.3.dist-info/METADATA", METADATA),
        Entry("app/node_modules/good-npm/package.json", PACKAGE_JSON),
    ]
