"""Filesystem blob storage: nothing becomes visible before its digest is verified, and concurrent
uploads of the same blob leave exactly one copy."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from hullscan.registry.errors import RegistryError
from hullscan.registry.names import parse_digest
from hullscan.registry.storage import FilesystemBlobStorage


def _digest(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def _upload(storage: FilesystemBlobStorage, data: bytes, pieces: int = 3) -> str:
    upload_id = storage.start_upload("team/app")
    step = max(1, len(data) // pieces)
    for i in range(0, len(data), step):
        writer = storage.open_writer(upload_id)
        writer.write(data[i:i + step])
        writer.close()
    return upload_id


def test_blob_is_invisible_until_committed(tmp_path: Path) -> None:
    storage = FilesystemBlobStorage(tmp_path)
    data = os.urandom(100_000)
    upload_id = _upload(storage, data)
    assert storage.stat(_digest(data)) is None
    assert storage.upload_info(upload_id).size == len(data)
    assert storage.commit_upload(upload_id, parse_digest(_digest(data))) == len(data)
    assert storage.stat(_digest(data)) == len(data)
    with storage.open(_digest(data)) as f:
        assert f.read() == data
    assert storage.upload_info(upload_id) is None
    assert list(storage.iter_blobs())[0][:2] == (_digest(data), len(data))


def test_wrong_digest_stores_nothing_and_ends_the_session(tmp_path: Path) -> None:
    storage = FilesystemBlobStorage(tmp_path)
    data = os.urandom(10_000)
    upload_id = _upload(storage, data)
    with pytest.raises(RegistryError) as err:
        storage.commit_upload(upload_id, parse_digest(_digest(b"other")))
    assert err.value.code == "DIGEST_INVALID"
    assert list(storage.iter_blobs()) == []
    assert storage.upload_info(upload_id) is None
    upload_id = _upload(storage, data)
    with pytest.raises(RegistryError) as err:
        storage.commit_upload(upload_id, parse_digest(_digest(data)), size=len(data) + 1)
    assert err.value.code == "SIZE_INVALID"
    assert list(storage.iter_blobs()) == []


def test_another_process_can_finish_an_upload(tmp_path: Path) -> None:
    """The running hash lives in one process; a different one (or a restart) re-reads the file."""
    data = os.urandom(3 << 20)
    upload_id = _upload(FilesystemBlobStorage(tmp_path), data)
    other = FilesystemBlobStorage(tmp_path)
    writer = other.open_writer(upload_id)
    writer.write(b"tail")
    writer.close()
    assert other.commit_upload(upload_id, parse_digest(_digest(data + b"tail"))) == len(data) + 4


def test_sha512(tmp_path: Path) -> None:
    storage = FilesystemBlobStorage(tmp_path)
    data = os.urandom(5000)
    storage.commit_upload(_upload(storage, data), parse_digest(_digest(data, "sha512")))
    assert storage.stat(_digest(data, "sha512")) == len(data)


def test_concurrent_uploads_of_the_same_blob_leave_one_copy(tmp_path: Path) -> None:
    storage = FilesystemBlobStorage(tmp_path)
    data = os.urandom(2 << 20)
    digest = parse_digest(_digest(data))
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def push() -> None:
        try:
            upload_id = _upload(storage, data, pieces=4)
            barrier.wait()
            storage.commit_upload(upload_id, digest)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=push) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [d for d, _, _ in storage.iter_blobs()] == [str(digest)]
    assert list(storage.iter_uploads()) == []
    with storage.open(str(digest)) as f:
        assert hashlib.sha256(f.read()).hexdigest() == digest.hex


def test_hostile_upload_ids_are_unknown(tmp_path: Path) -> None:
    storage = FilesystemBlobStorage(tmp_path)
    for bad in ("../x", "/etc/passwd", "", "a" * 32 + "/.."):
        with pytest.raises(RegistryError) as err:
            storage.open_writer(bad)
        assert err.value.code == "BLOB_UPLOAD_UNKNOWN"
