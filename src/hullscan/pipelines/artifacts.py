"""Job artifacts stored content-addressed under `<data_dir>/artifacts/sha256/<ab>/<hex>`.

Uploads stream to a temporary file in the same directory while hashing, then are renamed into place, so a
reader never sees a partial file and identical SBOMs are stored once.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterable
from pathlib import Path

SBOM_NAME = re.compile(r"^gl-sbom-[A-Za-z0-9._-]{1,180}\.cdx\.json$")


class ArtifactError(ValueError):
    """An upload that is refused (bad name, too large, empty)."""


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ArtifactError("bad artifact digest")
        return self.root / "sha256" / sha256[:2] / sha256

    async def write(self, chunks: AsyncIterable[bytes], *, max_bytes: int) -> tuple[str, int]:
        """Stream `chunks` into the store; returns (sha256 hex, size). Nothing is left behind on error."""
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise ArtifactError(f"artifact larger than {max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
            if size == 0:
                raise ArtifactError("artifact is empty")
            sha = digest.hexdigest()
            final = self.path(sha)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, final)
            return sha, size
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise


def check_sbom_name(name: str) -> str:
    if not SBOM_NAME.match(name):
        raise ArtifactError("artifact name must look like gl-sbom-<name>.cdx.json")
    return name
