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


def test_batched_writes_of_any_piece_sizes_keep_the_running_hash(tmp_path: Path) -> None:
    """Pieces as the ASGI server hands them (tiny to several MiB, more than one writev takes) across several
    sessions; the blob is finished from the running hash, and a large one passes the writeback mark."""
    storage = FilesystemBlobStorage(tmp_path)
    data = os.urandom((70 << 20) + 12345)
    upload_id = storage.start_upload("team/app")
    pieces = [data[i:i + 1] for i in range(2000)]  # 2000 one-byte pieces: more than IOV_MAX per call
    pieces += [data[2000 + i * (5 << 20):2000 + (i + 1) * (5 << 20)] for i in range(((len(data) - 2000) >> 20) // 5 + 1)]
    for start in range(0, len(pieces), 7):
        writer = storage.open_writer(upload_id)
        writer.write_many([p for p in pieces[start:start + 7] if p] or [b""])
        writer.close()
    assert storage._hashers[upload_id][0] == len(data)  # finishing will not re-read the file
    assert storage.commit_upload(upload_id, parse_digest(_digest(data))) == len(data)
    with storage.open(_digest(data)) as f:
        assert hashlib.sha256(f.read()).hexdigest() == _digest(data).split(":")[1]


def test_a_failed_write_never_leaves_a_wrong_running_hash(tmp_path: Path) -> None:
    """The hash of a batch runs beside its write: when the disk refuses part of the batch (here the file
    size limit, EFBIG), the hash that saw the whole batch is dropped and finishing re-reads the file."""
    import resource

    storage = FilesystemBlobStorage(tmp_path)
    data = os.urandom(3 << 20)
    upload_id = storage.start_upload("team/app")
    writer = storage.open_writer(upload_id)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, hard))  # Python ignores SIGXFSZ: writes fail with EFBIG
    try:
        with pytest.raises(OSError):
            writer.write_many([data[: 2 << 20]])  # large enough to hash on the side
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        writer.close()
    kept = storage.upload_info(upload_id).size
    assert 0 < kept < 2 << 20
    writer = storage.open_writer(upload_id)
    writer.write_many([data[kept:]])
    writer.close()
    assert storage.commit_upload(upload_id, parse_digest(_digest(data))) == len(data)
