"""rpm databases read in pure Python: the header blob format and its three containers.

- SQLite (`rpmdb.sqlite`, rpm >= 4.16): table `Packages(hnum, blob)`.
- Berkeley DB hash (`Packages`, legacy): header blobs live in overflow page chains referenced by hash entries.
- NDB (`Packages.db`, SUSE): a slot table pointing at `BlbS` blobs.

Every offset and length read from the file is bounds-checked: a hostile db yields an error, never a hang.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH = 1000, 1001, 1002, 1003
TAG_LICENSE, TAG_VENDOR, TAG_ARCH, TAG_SOURCERPM = 1014, 1011, 1022, 1044
TAG_MODULARITYLABEL = 5096
TAG_PROVIDENAME, TAG_REQUIRENAME = 1047, 1049
_ARRAYS = {TAG_PROVIDENAME, TAG_REQUIRENAME}  # every string of these is read, not only the first
_WANTED = {TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_LICENSE, TAG_VENDOR, TAG_ARCH, TAG_SOURCERPM,
           TAG_MODULARITYLABEL, *_ARRAYS}
TYPE_INT32, TYPE_STRING, TYPE_STRING_ARRAY, TYPE_I18NSTRING = 4, 6, 8, 9
MAX_INDEX_ENTRIES = 1 << 16


class RpmDBError(ValueError):
    """The file is not a readable rpm database (or is corrupt)."""


@dataclass
class RpmHeader:
    name: str
    version: str
    release: str
    epoch: int | None
    arch: str | None
    source_rpm: str | None
    license: str | None
    vendor: str | None
    modularity_label: str | None
    provides: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)


def parse_header_blob(blob: bytes) -> RpmHeader:
    """Decode the tags hullscan needs from one header blob (`il`, `dl`, index entries, data store)."""
    if len(blob) < 8:
        raise RpmDBError("header blob too short")
    il, dl = struct.unpack_from(">II", blob, 0)
    if il == 0 or il > MAX_INDEX_ENTRIES or 8 + il * 16 + dl > len(blob):
        raise RpmDBError(f"bad header sizes il={il} dl={dl} len={len(blob)}")
    data_start = 8 + il * 16
    store = blob[data_start : data_start + dl]
    values: dict[int, str | int] = {}
    arrays: dict[int, list[str]] = {}
    for i in range(il):
        tag, typ, offset, count = struct.unpack_from(">IIII", blob, 8 + i * 16)
        if tag not in _WANTED or tag in values or tag in arrays or offset >= dl:
            continue  # the first entry of a tag wins: a repeated tag could make each lookup scan the store
        if tag in _ARRAYS:
            if typ == TYPE_STRING_ARRAY:
                arrays[tag] = _strings(store, offset, count)
            continue
        if typ == TYPE_INT32:
            if offset + 4 <= dl and count >= 1:
                values[tag] = struct.unpack_from(">i", store, offset)[0]
        elif typ in (TYPE_STRING, TYPE_I18NSTRING, TYPE_STRING_ARRAY):
            end = store.find(b"\0", offset)
            if end < 0:
                raise RpmDBError(f"unterminated string for tag {tag}")
            values[tag] = store[offset:end].decode("utf-8", "replace")
    name, version = values.get(TAG_NAME), values.get(TAG_VERSION)
    if not isinstance(name, str) or not isinstance(version, str):
        raise RpmDBError("header without name or version")

    def text(tag: int) -> str | None:
        value = values.get(tag)
        return value if isinstance(value, str) and value else None

    epoch = values.get(TAG_EPOCH)
    return RpmHeader(name=name, version=version, release=text(TAG_RELEASE) or "",
                     epoch=epoch if isinstance(epoch, int) else None, arch=text(TAG_ARCH),
                     source_rpm=text(TAG_SOURCERPM), license=text(TAG_LICENSE), vendor=text(TAG_VENDOR),
                     modularity_label=text(TAG_MODULARITYLABEL), provides=arrays.get(TAG_PROVIDENAME, []),
                     requires=arrays.get(TAG_REQUIRENAME, []))


def _strings(store: bytes, offset: int, count: int) -> list[str]:
    """Up to `count` NUL-terminated strings from `offset`, stopping at the first unterminated one: each byte
    of the store is read once, and a damaged array costs the dependency data, never the package."""
    out: list[str] = []
    for _ in range(count):
        end = store.find(b"\0", offset)
        if end < 0:
            break
        out.append(store[offset:end].decode("utf-8", "replace"))
        offset = end + 1
    return out


def sqlite_blobs(path: str) -> Iterator[bytes]:
    """Header blobs of an rpm SQLite database, opened read-only and immutable (never modified)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        for (blob,) in conn.execute("SELECT blob FROM Packages ORDER BY hnum"):
            if isinstance(blob, bytes | memoryview):
                yield bytes(blob)
    except sqlite3.DatabaseError as exc:
        raise RpmDBError(f"sqlite: {exc}") from exc
    finally:
        conn.close()


# --- Berkeley DB hash -------------------------------------------------------------------------------------
_HASH_MAGIC = 0x061561
_P_HASH_UNSORTED, _P_OVERFLOW, _P_HASH = 2, 7, 13
_H_OFFPAGE = 3
_PAGE_HEADER = 26


def bdb_blobs(data: bytes) -> Iterator[bytes]:
    """Header blobs of a Berkeley DB hash file: every off-page value of every hash page, chains followed."""
    if len(data) < 512:
        raise RpmDBError("too small for a Berkeley DB file")
    for endian in ("<", ">"):
        if struct.unpack_from(endian + "I", data, 12)[0] == _HASH_MAGIC:
            break
    else:
        raise RpmDBError("not a Berkeley DB hash database (bad magic)")
    page_size, = struct.unpack_from(endian + "I", data, 20)
    last_pgno, = struct.unpack_from(endian + "I", data, 32)
    if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        raise RpmDBError(f"bad page size {page_size}")
    n_pages = min(last_pgno + 1, len(data) // page_size)

    def page(pgno: int) -> bytes:
        if pgno >= n_pages:
            raise RpmDBError(f"page {pgno} out of range")
        return data[pgno * page_size : (pgno + 1) * page_size]

    budget = len(data)  # blobs never share pages: all of them together fit in the file (no reuse blow-up)
    for pgno in range(1, n_pages):
        pg = page(pgno)
        if pg[25] not in (_P_HASH, _P_HASH_UNSORTED):
            continue
        entries, = struct.unpack_from(endian + "H", pg, 20)
        if _PAGE_HEADER + entries * 2 > page_size:
            raise RpmDBError(f"page {pgno}: bad entry count")
        for i in range(1, entries, 2):  # pairs (key, value): values at odd indexes
            offset, = struct.unpack_from(endian + "H", pg, _PAGE_HEADER + i * 2)
            if offset + 12 > page_size or pg[offset] != _H_OFFPAGE:
                continue
            next_pgno, total = struct.unpack_from(endian + "II", pg, offset + 4)
            blob = _overflow_chain(page, next_pgno, total, n_pages, endian)
            budget -= len(blob)
            if budget < 0:
                raise RpmDBError("overflow chains add up to more than the file: pages are reused")
            yield blob


def _overflow_chain(page: Callable[[int], bytes], pgno: int, total: int, n_pages: int, endian: str) -> bytes:
    out = bytearray()
    seen: set[int] = set()
    while pgno and len(out) < total:
        if pgno in seen:
            raise RpmDBError(f"overflow page loop at {pgno}")
        seen.add(pgno)
        pg = page(pgno)
        if pg[25] != _P_OVERFLOW:
            raise RpmDBError(f"page {pgno} is not an overflow page")
        next_pgno, = struct.unpack_from(endian + "I", pg, 16)
        length, = struct.unpack_from(endian + "H", pg, 22)
        out += pg[_PAGE_HEADER : _PAGE_HEADER + length]
        pgno = next_pgno
    return bytes(out[:total])


# --- NDB --------------------------------------------------------------------------------------------------
_NDB_MAGIC = int.from_bytes(b"RpmP", "little")
_SLOT_MAGIC = int.from_bytes(b"Slot", "little")
_BLOB_MAGIC = int.from_bytes(b"BlbS", "little")
_SLOTS_PER_PAGE = 4096 // 16


def ndb_blobs(data: bytes) -> Iterator[bytes]:
    """Header blobs of an NDB `Packages.db`: slots (after the 32-byte header) → `BlbS` blob headers."""
    if len(data) < 32:
        raise RpmDBError("too small for an NDB database")
    magic, version, _generation, slot_npages = struct.unpack_from("<IIII", data, 0)
    if magic != _NDB_MAGIC or version != 0:
        raise RpmDBError("not an NDB rpm database (bad magic)")
    n_slots = slot_npages * _SLOTS_PER_PAGE - 2
    if slot_npages == 0 or 32 + n_slots * 16 > len(data):
        raise RpmDBError(f"bad slot page count {slot_npages}")
    budget = len(data)  # blobs do not overlap: all of them together fit in the file
    for i in range(n_slots):
        slot_magic, pkg_index, blk_offset, _blk_count = struct.unpack_from("<IIII", data, 32 + i * 16)
        if slot_magic != _SLOT_MAGIC:
            raise RpmDBError(f"slot {i}: bad magic")
        if pkg_index == 0:
            continue
        offset = blk_offset * 16
        if offset + 16 > len(data):
            raise RpmDBError(f"slot {i}: blob offset out of range")
        blob_magic, blob_pkg, _cksum, blob_len = struct.unpack_from("<IIII", data, offset)
        if blob_magic != _BLOB_MAGIC or blob_pkg != pkg_index or offset + 16 + blob_len > len(data):
            raise RpmDBError(f"slot {i}: bad blob header")
        budget -= blob_len + 16
        if budget < 0:
            raise RpmDBError("blobs add up to more than the file: slots share or overlap blobs")
        yield data[offset + 16 : offset + 16 + blob_len]
