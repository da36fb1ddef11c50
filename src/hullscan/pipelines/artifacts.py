"""Job artifacts, content-addressed at `sha256/<ab>/<hex>` in the artifact storage (a storage driver: the
filesystem under `<data_dir>/artifacts`, or the same S3 bucket as the registry's blobs).

Uploads stream to a temporary file while hashing, then are put into place under their digest, so a reader
never sees a partial artifact and identical SBOMs are stored once. With object storage the local file stays
as a cache: validation, ingestion and downloads read local files (`path`), fetched again when evicted.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import AsyncIterable
from pathlib import Path

from hullscan.registry.driver import FilesystemDriver, StorageDriver

SBOM_NAME = re.compile(r"^gl-sbom-[A-Za-z0-9._-]{1,180}\.cdx\.json$")
CACHE_SECONDS = 3600.0  # a cached copy of an object-stored artifact unused this long is removed
COPY_CHUNK = 8 << 20
_last_sweep: dict[Path, float] = {}  # per cache directory (stores are made per request)


class ArtifactError(ValueError):
    """An upload that is refused (bad name, too large, empty)."""


class ArtifactStore:
    def __init__(self, driver: StorageDriver, cache_dir: Path) -> None:
        self.driver = driver
        # The filesystem driver's files are the artifacts themselves; object storage gets a local cache.
        self.local = driver.root if isinstance(driver, FilesystemDriver) else cache_dir

    @staticmethod
    def key(sha256: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ArtifactError("bad artifact digest")
        return f"sha256/{sha256[:2]}/{sha256}"

    def path(self, sha256: str) -> Path:
        """A local file with the artifact's bytes (fetched from object storage when needed); a path that
        does not exist when the artifact is not stored."""
        path = self.local / self.key(sha256)
        if self.local is not getattr(self.driver, "root", None) and not path.is_file():
            self._fetch(sha256, path)
        return path

    def _fetch(self, sha256: str, path: Path) -> None:
        try:
            source = self.driver.reader(self.key(sha256))
        except FileNotFoundError:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".fetch-")
        try:
            with source, os.fdopen(fd, "wb") as out:
                while chunk := source.read(COPY_CHUNK):
                    out.write(chunk)
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        self._sweep()

    async def write(self, chunks: AsyncIterable[bytes], *, max_bytes: int) -> tuple[str, int]:
        """Stream `chunks` into the store; returns (sha256 hex, size). Nothing is left behind on error."""
        from starlette.concurrency import run_in_threadpool

        tmp_dir = self.local / "tmp"
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
            if self.local is not getattr(self.driver, "root", None):
                await run_in_threadpool(self._put, sha, Path(tmp_name))
            final = self.local / self.key(sha)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, final)
            return sha, size
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def _put(self, sha256: str, source: Path) -> None:
        """Stream a local file into object storage (in parts: never the whole artifact in memory)."""
        writer = self.driver.writer(self.key(sha256), append=False)
        try:
            with source.open("rb") as f:
                while chunk := f.read(COPY_CHUNK):
                    writer.write_many([chunk])
            writer.commit()
        except BaseException:
            writer.cancel()
            raise
        self._sweep()

    def _sweep(self) -> None:
        """Drop cached copies unused for CACHE_SECONDS (at most one pass every ten minutes)."""
        now = time.time()
        if now - _last_sweep.get(self.local, 0.0) < 600:
            return
        _last_sweep[self.local] = now
        for directory, _dirs, files in os.walk(self.local / "sha256"):
            for name in files:
                path = Path(directory) / name
                try:
                    st = path.stat()
                    if max(st.st_atime, st.st_mtime) < now - CACHE_SECONDS:
                        path.unlink()
                except FileNotFoundError:
                    pass


def check_sbom_name(name: str) -> str:
    if not SBOM_NAME.match(name):
        raise ArtifactError("artifact name must look like gl-sbom-<name>.cdx.json")
    return name
