"""The S3-compatible storage driver (boto3), for AWS S3, MinIO, Ceph RGW and other servers of the plain S3 API.

Used calls only: GetObject (with Range), PutObject, HeadObject, CopyObject / UploadPartCopy (through boto3's
managed copy), DeleteObject(s), ListObjectsV2, CreateMultipartUpload, UploadPart, ListParts,
ListMultipartUploads, CompleteMultipartUpload, AbortMultipartUpload and pre-signed GetObject URLs.

Writers are resumable across requests and processes, as a chunked registry push needs (each PATCH may
reach another node): bytes go up as multipart-upload parts of at least `part_size`; what is left below that
when a request ends is kept as a small `<key>.tail.<n>` object (the bytes after part n) and taken back by
the next writer (S3 refuses parts under 5 MiB except the last one). The state of a write is therefore
entirely in the bucket: the multipart upload (found with ListMultipartUploads), its parts (ListParts) and
the tail that follows the last part -- a tail whose bytes went up in a later part (a process killed before
it removed the tail) names an earlier part and is ignored. Memory per writer is bounded by `part_size`
plus one incoming batch.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from hullscan.batches import chunks
from hullscan.registry.driver import DriverWriter, FileInfo, check_key

MIN_PART_SIZE = 5 << 20  # S3's smallest part but the last
MAX_PARTS = 10000  # S3's most parts in one upload
TAIL = ".tail."  # `<key>.tail.<n>`: the bytes that follow part n (n = 0: no part yet)


def _missing(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in ("404", "NoSuchKey", "NotFound", "NoSuchUpload")


class _Body(io.RawIOBase):
    """A GetObject body as a readable binary stream (read in pieces: never the whole object in memory)."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._body.read(None if size is None or size < 0 else size)

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class _S3Writer:
    def __init__(self, driver: S3Driver, key: str, append: bool) -> None:
        self._d = driver
        self._key = key
        self._append = append
        self._loaded = False
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []  # {PartNumber, ETag, Size}
        self._pending: list[bytes | bytearray | memoryview] = []
        self._pending_len = 0
        self._tail_key: str | None = None  # the tail object loaded into _pending, if any
        self._dirty = False  # written since loading: the tail object must be rewritten (or removed)

    # -- state from the bucket ---------------------------------------------------------------------
    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        self._tail_key = None
        client, bucket = self._d.client, self._d.bucket
        uploads = self._d.multipart_uploads(self._key)
        if not self._append:
            for upload in uploads:
                self._d.abort(self._key, upload)
            self._d.delete_tails(self._key)
            return
        if uploads:
            self._upload_id = uploads[-1]  # the newest; older ones are leftovers of a crash
            for stale in uploads[:-1]:
                self._d.abort(self._key, stale)
            for page in client.get_paginator("list_parts").paginate(Bucket=bucket, Key=self._key,
                                                                    UploadId=self._upload_id):
                self._parts += [{"PartNumber": p["PartNumber"], "ETag": p["ETag"], "Size": p["Size"]}
                                for p in page.get("Parts", [])]
        tail_key = f"{self._key}{TAIL}{self._last_part()}"
        try:
            tail = client.get_object(Bucket=bucket, Key=tail_key)["Body"].read(self._d.part_size + 1)
        except client.exceptions.ClientError as exc:
            if not _missing(exc):
                raise
        else:
            self._pending, self._pending_len, self._tail_key = [tail], len(tail), tail_key

    def _last_part(self) -> int:
        return int(self._parts[-1]["PartNumber"]) if self._parts else 0

    @property
    def size(self) -> int:
        self._load()
        return sum(p["Size"] for p in self._parts) + self._pending_len

    # -- writing -----------------------------------------------------------------------------------
    def write_many(self, chunks: Sequence[bytes | bytearray | memoryview]) -> None:
        self._load()
        for chunk in chunks:
            if len(chunk):
                self._pending.append(chunk)
                self._pending_len += len(chunk)
                self._dirty = True
        if self._pending_len >= self._d.part_size:
            self._flush_part()

    def _flush_part(self) -> None:
        client, bucket = self._d.client, self._d.bucket
        if self._upload_id is None:
            self._upload_id = client.create_multipart_upload(Bucket=bucket, Key=self._key)["UploadId"]
        number = self._last_part() + 1
        if number > MAX_PARTS:
            raise ValueError(f"more than {MAX_PARTS} parts of {self._d.part_size} bytes")
        body = b"".join(self._pending)
        self._pending, self._pending_len = [], 0
        etag = client.upload_part(Bucket=bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number,
                                  Body=body)["ETag"]
        self._parts.append({"PartNumber": number, "ETag": etag, "Size": len(body)})

    def close(self) -> None:
        """Keep what is pending (< part_size) as the tail object, for the next writer."""
        if not self._loaded:
            return
        if self._dirty:
            tail_key = f"{self._key}{TAIL}{self._last_part()}"
            if self._pending_len:
                self._d.client.put_object(Bucket=self._d.bucket, Key=tail_key, Body=b"".join(self._pending))
            if self._tail_key is not None and (self._tail_key != tail_key or not self._pending_len):
                self._d.delete_object(self._tail_key)
        self._loaded = self._dirty = False
        self._pending, self._pending_len, self._parts, self._upload_id = [], 0, [], None

    def commit(self) -> None:
        self._load()
        client, bucket = self._d.client, self._d.bucket
        if self._upload_id is None:
            client.put_object(Bucket=bucket, Key=self._key, Body=b"".join(self._pending))
        else:
            if self._pending_len:
                self._flush_part()
            parts = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in self._parts]
            client.complete_multipart_upload(Bucket=bucket, Key=self._key, UploadId=self._upload_id,
                                             MultipartUpload={"Parts": parts})
        self._d.delete_tails(self._key)
        self._loaded = self._dirty = False
        self._pending, self._pending_len, self._parts, self._upload_id = [], 0, [], None

    def cancel(self) -> None:
        self._d.delete(self._key)


class S3Driver:
    """Keys are objects under `prefix` in one bucket (see the module docstring for the calls used)."""

    def __init__(self, client: Any, bucket: str, prefix: str = "", *, part_size: int = 16 << 20) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.part_size = part_size

    @classmethod
    def from_settings(cls, settings: Any, area: str) -> S3Driver:
        """The driver for `area` ("blobs", "artifacts") under the configured prefix."""
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]

        if not settings.storage_s3_bucket:
            raise ValueError("storage_driver is s3 but storage_s3_bucket is not set")
        secret = settings.storage_s3_secret_access_key
        client = boto3.session.Session().client(
            "s3", endpoint_url=settings.storage_s3_endpoint_url or None, region_name=settings.storage_s3_region,
            aws_access_key_id=settings.storage_s3_access_key_id or None,
            aws_secret_access_key=secret.get_secret_value() if secret is not None else None,
            config=Config(s3={"addressing_style": "path" if settings.storage_s3_path_style else "auto"},
                          signature_version="s3v4", retries={"max_attempts": 5, "mode": "standard"},
                          max_pool_connections=32))
        prefix = f"{settings.storage_s3_prefix.strip('/')}/{area}" if settings.storage_s3_prefix.strip("/") else area
        return cls(client, settings.storage_s3_bucket, prefix, part_size=settings.storage_s3_part_size)

    def _k(self, key: str) -> str:
        return self.prefix + check_key(key)

    # -- helpers the writer uses -------------------------------------------------------------------
    def multipart_uploads(self, full_key: str) -> list[str]:
        """Upload ids of unfinished multipart uploads of exactly `full_key`, oldest first."""
        found: list[tuple[Any, str]] = []
        for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket,
                                                                                 Prefix=full_key):
            found += [(u["Initiated"], u["UploadId"]) for u in page.get("Uploads", []) if u["Key"] == full_key]
        return [upload_id for _, upload_id in sorted(found, key=lambda f: f[0])]

    def abort(self, full_key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload_id)
        except self.client.exceptions.ClientError as exc:
            if not _missing(exc):
                raise

    def delete_object(self, full_key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=full_key)

    def delete_tails(self, full_key: str) -> None:
        """Remove every tail object of `full_key` (stale ones a killed writer left, too)."""
        tails = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full_key + TAIL):
            tails += [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if tails:
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": tails, "Quiet": True})

    # -- the driver ----------------------------------------------------------------------------------
    def stat(self, key: str) -> FileInfo | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._k(key))
        except self.client.exceptions.ClientError as exc:
            if _missing(exc):
                return None
            raise
        return FileInfo(head["ContentLength"], head["LastModified"].timestamp())

    def reader(self, key: str, offset: int = 0) -> BinaryIO:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._k(key)}
        if offset:
            args["Range"] = f"bytes={offset}-"
        try:
            body = self.client.get_object(**args)["Body"]
        except self.client.exceptions.ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(key) from None
            raise
        return io.BufferedReader(_Body(body), buffer_size=1 << 20)  # type: ignore[return-value]

    def local_path(self, key: str) -> Path | None:
        return None

    def get_content(self, key: str) -> bytes:
        with self.reader(key) as handle:
            return handle.read()

    def put_content(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._k(key), Body=data)

    def writer(self, key: str, append: bool) -> DriverWriter:
        return _S3Writer(self, self._k(key), append)

    def move(self, source: str, target: str) -> None:
        from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped]

        # CopyObject up to 1 GiB, UploadPartCopy beyond (S3 refuses CopyObject above 5 GiB); no bytes pass here.
        self.client.copy({"Bucket": self.bucket, "Key": self._k(source)}, self.bucket, self._k(target),
                         Config=TransferConfig(multipart_threshold=1 << 30, multipart_chunksize=256 << 20,
                                               max_concurrency=4))
        self.delete_object(self._k(source))

    def delete(self, key: str) -> bool:
        full = self._k(key)
        keys = [full]
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            keys += [o["Key"] for o in page.get("Contents", [])
                     if o["Key"].startswith((full + "/", full + TAIL))]
        for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=full):
            for upload in page.get("Uploads", []):
                if upload["Key"] == full or upload["Key"].startswith(full + "/"):
                    self.abort(upload["Key"], upload["UploadId"])
        existed = len(keys) > 1 or self.stat(key) is not None
        for batch in chunks(keys, 1000):  # DeleteObjects takes at most 1,000 keys
            self.client.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": k} for k in batch], "Quiet": True})
        return existed

    def walk(self, prefix: str) -> Iterator[tuple[str, FileInfo]]:
        base = self._k(prefix) + "/" if prefix else self.prefix
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base):
            for o in page.get("Contents", []):
                if TAIL not in o["Key"].rsplit("/", 1)[-1]:
                    yield o["Key"][len(self.prefix):], FileInfo(o["Size"], o["LastModified"].timestamp())

    def list(self, prefix: str) -> list[str]:
        base = self._k(prefix) + "/" if prefix else self.prefix
        names: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base,
                                                                          Delimiter="/"):
            names += [p["Prefix"][len(base):].rstrip("/") for p in page.get("CommonPrefixes", [])]
            names += [o["Key"][len(base):] for o in page.get("Contents", [])]
        return names

    def url_for(self, key: str, expires_seconds: int) -> str | None:
        return str(self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._k(key)}, ExpiresIn=expires_seconds))
