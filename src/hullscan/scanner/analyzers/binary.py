"""Helpers for executables: cheap format sniffing and ELF section lookup (bounds-checked, no dependencies)."""

from __future__ import annotations

import mmap
import struct
from typing import BinaryIO, TypeAlias

ELF, PE, MACHO = "elf", "pe", "macho"
_MACHO_MAGICS = {b"\xfe\xed\xfa\xce", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xcf\xfa\xed\xfe",
                 b"\xca\xfe\xba\xbe"}


def sniff(head: bytes) -> str | None:
    if head[:4] == b"\x7fELF":
        return ELF
    if head[:2] == b"MZ":
        return PE
    if head[:4] in _MACHO_MAGICS:
        return MACHO
    return None


Buf: TypeAlias = "bytes | mmap.mmap"


def view(fh: BinaryIO, data: bytes | None) -> Buf:
    """The whole file as a buffer: the in-memory bytes, or a read-only mmap of the spooled file."""
    if data is not None:
        return data
    return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)


def elf_section(buf: Buf, wanted: str) -> bytes | None:
    """Content of the ELF section named `wanted`, or None (also on any inconsistency)."""
    if len(buf) < 64 or buf[:4] != b"\x7fELF":
        return None
    is64, endian = buf[4] == 2, "<" if buf[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(endian + "Q", buf, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(endian + "HHH", buf, 0x3A)
    else:
        shoff, = struct.unpack_from(endian + "I", buf, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(endian + "HHH", buf, 0x2E)
    if shnum == 0 or shnum > 4096 or shstrndx >= shnum or shoff + shnum * shentsize > len(buf):
        return None

    def section(i: int) -> tuple[int, int, int]:
        base = shoff + i * shentsize
        if is64:
            name, _type, _flags, _addr, offset, size = struct.unpack_from(endian + "IIQQQQ", buf, base)
        else:
            name, _type, _flags, _addr, offset, size = struct.unpack_from(endian + "IIIIII", buf, base)
        return name, offset, size

    _, str_off, str_size = section(shstrndx)
    if str_off + str_size > len(buf):
        return None
    names = bytes(buf[str_off : str_off + str_size])
    target = wanted.encode()
    for i in range(shnum):
        name_off, offset, size = section(i)
        end = names.find(b"\0", name_off)
        if end >= 0 and names[name_off:end] == target:
            if offset + size > len(buf) or _type_is_nobits(buf, shoff + i * shentsize, endian):
                return None
            return bytes(buf[offset : offset + size])
    return None


def _type_is_nobits(buf: Buf, base: int, endian: str) -> bool:
    return int(struct.unpack_from(endian + "I", buf, base + 4)[0]) == 8  # SHT_NOBITS
