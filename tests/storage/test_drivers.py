"""One suite, both storage drivers: the filesystem driver and the S3 driver against a real S3 server (moto)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from hullscan.registry.driver import FilesystemDriver, StorageDriver, check_key
from hullscan.registry.errors import RegistryError
from hullscan.registry.names import parse_digest
from hullscan.registry.s3driver import MIN_PART_SIZE, S3Driver
from hullscan.registry.storage import BlobStore
from tests.support.s3 import S3Server

PART = MIN_PART_SIZE  # the smallest part S3 takes: multipart with little data


@pytest.fixture(params=["filesystem", "s3"])
def make_driver(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A factory of drivers on one storage: each call is a fresh instance, as another process would have."""
    if request.param == "filesystem":
        return lambda: FilesystemDriver(tmp_path / "store")
    server: S3Server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("bucket")
    return lambda: S3Driver(server.client(), bucket, "team/prefix", part_size=PART)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_content_stat_read_move_delete(make_driver) -> None:  # type: ignore[no-untyped-def]
    d: StorageDriver = make_driver()
    assert d.stat("a/b") is None
    with pytest.raises(FileNotFoundError):
        d.reader("a/b")
    d.put_content("a/b", b"hello world")
    assert d.get_content("a/b") == b"hello world"
    info = d.stat("a/b")
    assert info is not None and info.size == 11 and info.mtime > 0
    with d.reader("a/b", offset=6) as f:
        assert f.read() == b"world"
    d.move("a/b", "c/d/e")
    assert d.stat("a/b") is None and d.get_content("c/d/e") == b"hello world"
    d.put_content("c/d/f", b"x")
    assert sorted(k for k, _ in d.walk("c")) == ["c/d/e", "c/d/f"]
    assert d.list("c") == ["d"] and sorted(d.list("c/d")) == ["e", "f"]
    assert d.delete("c") is True
    assert list(d.walk("c")) == [] and d.stat("c/d/e") is None
    assert d.delete("c") is False


def test_writer_resumes_across_instances_and_parts(make_driver) -> None:  # type: ignore[no-untyped-def]
    """A chunked push: each request is a new writer (possibly on another node); parts of >= 5 MiB go up,
    the rest waits as a tail; the committed content is every byte in order."""
    data = os.urandom(2 * PART + 12345)
    pieces = [data[:1000], data[1000:PART + 7], data[PART + 7:PART + 9], data[PART + 9:]]
    w = make_driver().writer("up/data", append=False)
    w.close()
    for piece in pieces:
        w = make_driver().writer("up/data", append=True)
        before = w.size
        w.write_many([piece[:10], piece[10:]])
        assert w.size == before + len(piece)
        w.close()
    w = make_driver().writer("up/data", append=True)
    assert w.size == len(data)
    w.commit()
    d = make_driver()
    assert d.stat("up/data").size == len(data)  # type: ignore[union-attr]
    with d.reader("up/data") as f:
        assert hashlib.sha256(f.read()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert [k for k, _ in d.walk("up")] == ["up/data"]  # no tail left behind


def test_a_tail_of_the_same_length_as_before_is_still_rewritten(make_driver) -> None:  # type: ignore[no-untyped-def]
    """The bytes left after a part went up may be exactly as many as the tail the writer started from:
    they are new bytes all the same."""
    data = os.urandom(1000) + os.urandom(PART) + os.urandom(1000)
    w = make_driver().writer("t", append=False)
    w.write_many([data[:1000]])
    w.close()
    w = make_driver().writer("t", append=True)
    w.write_many([data[1000:PART + 1000]])
    w.write_many([data[PART + 1000:]])
    w.close()
    w = make_driver().writer("t", append=True)
    assert w.size == len(data)
    w.commit()
    assert make_driver().get_content("t") == data


def test_a_writer_killed_after_a_part_went_up_resumes_where_the_storage_stands(make_driver) -> None:  # type: ignore[no-untyped-def]
    """A process dies after its part (holding the previous tail's bytes) went up but before it closed: the
    next writer's size is what the storage holds, each byte once, and the upload continues from there."""
    data = os.urandom(3 * PART)
    w = make_driver().writer("k", append=False)
    w.write_many([data[:1000]])
    w.close()
    w = make_driver().writer("k", append=True)
    w.write_many([data[1000:PART + 2000]])  # one part of PART + 1000 bytes goes up; then no close
    w = make_driver().writer("k", append=True)
    stood = w.size
    assert PART + 1000 <= stood <= PART + 2000  # S3 loses the unclosed pending bytes, the filesystem not
    w.write_many([data[stood:]])
    w.commit()
    assert make_driver().get_content("k") == data


def test_new_writer_without_append_starts_empty(make_driver) -> None:  # type: ignore[no-untyped-def]
    w = make_driver().writer("k", append=False)
    w.write_many([os.urandom(PART + 1)])
    w.close()
    w = make_driver().writer("k", append=False)
    assert w.size == 0
    w.write_many([b"abc"])
    w.commit()
    assert make_driver().get_content("k") == b"abc"


def test_delete_drops_unfinished_writes(make_driver) -> None:  # type: ignore[no-untyped-def]
    w = make_driver().writer("session/data", append=True)
    w.write_many([os.urandom(PART + 3)])
    w.close()
    make_driver().put_content("session/info.json", b"{}")
    assert make_driver().delete("session")
    assert list(make_driver().walk("session")) == []
    assert make_driver().writer("session/data", append=True).size == 0


def test_empty_content_commits(make_driver) -> None:  # type: ignore[no-untyped-def]
    w = make_driver().writer("empty", append=False)
    w.commit()
    assert make_driver().stat("empty").size == 0  # type: ignore[union-attr]


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", ".hidden", "a/.x", "a b", "a/b\n", "x" * 300])
def test_keys_our_code_never_builds_are_refused(key: str) -> None:
    with pytest.raises(ValueError):
        check_key(key)


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=80))
def test_key_check_never_lets_a_path_escape(key: str) -> None:
    try:
        check_key(key)
    except ValueError:
        return
    parts = key.split("/")
    assert all(p and p not in (".", "..") and not p.startswith(".") for p in parts)


# -- content addressing and upload sessions over both drivers ---------------------------------------
def _store(make_driver) -> BlobStore:  # type: ignore[no-untyped-def]
    return BlobStore(make_driver())


def test_blob_upload_in_sessions_on_two_nodes(make_driver) -> None:  # type: ignore[no-untyped-def]
    """Half an upload through one store, the rest and the commit through another (no running hash there:
    the commit re-reads the upload to verify it)."""
    data = os.urandom(PART + 4321)
    first, second = _store(make_driver), _store(make_driver)
    upload_id = first.start_upload("team/app")
    w = first.open_writer(upload_id)
    w.write_many([data[:3000]])
    w.close()
    assert second.upload_info(upload_id).size == 3000  # type: ignore[union-attr]
    w = second.open_writer(upload_id)
    assert w.offset == 3000
    w.write_many([data[3000:]])
    w.close()
    assert [u.id for u in first.iter_uploads()] == [upload_id]
    assert second.stat(_digest(data)) is None
    assert second.commit_upload(upload_id, parse_digest(_digest(data))) == len(data)
    with first.open(_digest(data)) as f:
        assert f.read() == data
    assert [b[:2] for b in first.iter_blobs()] == [(_digest(data), len(data))]
    assert first.upload_info(upload_id) is None and list(first.iter_uploads()) == []


def test_wrong_digest_or_size_stores_nothing(make_driver) -> None:  # type: ignore[no-untyped-def]
    store = _store(make_driver)
    for digest, size, code in ((_digest(b"other"), None, "DIGEST_INVALID"), (_digest(b"payload"), 99, "SIZE_INVALID")):
        upload_id = store.start_upload("team/app")
        w = store.open_writer(upload_id)
        w.write(b"payload")
        w.close()
        with pytest.raises(RegistryError) as err:
            store.commit_upload(upload_id, parse_digest(digest), size=size)
        assert err.value.code == code
        assert store.upload_info(upload_id) is None
    assert list(store.iter_blobs()) == [] and list(store.iter_uploads()) == []


def test_cancel_and_unknown_sessions(make_driver) -> None:  # type: ignore[no-untyped-def]
    store = _store(make_driver)
    upload_id = store.start_upload("team/app")
    assert store.cancel_upload(upload_id)
    for bad in (upload_id, "../../etc", "A" * 32, ""):
        with pytest.raises(RegistryError):
            store.open_writer(bad)
    assert store.upload_info(upload_id) is None


def test_same_blob_twice_keeps_one_copy(make_driver) -> None:  # type: ignore[no-untyped-def]
    store = _store(make_driver)
    for _ in range(2):
        upload_id = store.start_upload("team/app")
        w = store.open_writer(upload_id)
        w.write(b"same bytes")
        w.close()
        store.commit_upload(upload_id, parse_digest(_digest(b"same bytes")))
    assert [b[0] for b in store.iter_blobs()] == [_digest(b"same bytes")]
    assert store.delete(_digest(b"same bytes")) and list(store.iter_blobs()) == []
