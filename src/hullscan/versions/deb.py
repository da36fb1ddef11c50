"""Debian (dpkg) versions: `[epoch:]upstream[-revision]`, ordered exactly like `dpkg --compare-versions`.

A version is turned into a tuple key once, so comparing is a plain tuple comparison (fast, cacheable).
"""

from __future__ import annotations

import re

from hullscan.versions.errors import InvalidVersion

_ALLOWED = re.compile(r"^[A-Za-z0-9.+~:_\-]+$")
# dpkg pads the shorter string with (empty non-digit part, 0) pairs forever. Only a string's first pair can
# equal that pad, so ending every key with two pad pairs makes plain tuple order equal dpkg's order.
_PAD = ((0,), 0, (0,), 0)


def _order(c: str) -> int:
    if c == "~":
        return -1
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _part_key(s: str) -> tuple:
    """Key of an upstream or revision string following dpkg's verrevcmp."""
    out: list = []
    i, n = 0, len(s)
    while i < n:
        j = i
        while j < n and not s[j].isdigit():
            j += 1
        nondigit = tuple(_order(c) for c in s[i:j]) + (0,)
        k = j
        while k < n and s[k].isdigit():
            k += 1
        out.append(nondigit)
        out.append(int(s[j:k]) if k > j else 0)
        i = k
    while len(out) >= 2 and out[-2] == (0,) and out[-1] == 0:
        del out[-2:]
    return tuple(out) + _PAD


def parse(version: str) -> tuple:
    v = version.strip()
    if not v or not _ALLOWED.match(v):
        raise InvalidVersion("deb", version, "empty or contains characters dpkg does not allow")
    epoch = 0
    if ":" in v:
        e, v = v.split(":", 1)
        if not e.isdigit():
            raise InvalidVersion("deb", version, "epoch is not a number")
        epoch = int(e)
    if "-" in v:
        upstream, revision = v.rsplit("-", 1)
    else:
        upstream, revision = v, ""
    if not upstream:
        raise InvalidVersion("deb", version, "empty upstream version")
    if ":" in upstream or ":" in revision:
        raise InvalidVersion("deb", version, "colon outside the epoch")
    if not upstream[0].isdigit():
        raise InvalidVersion("deb", version, "upstream version does not start with a digit")
    # One flat tuple of ints: non-digit runs end in 0 (no other element is 0), so the flattening keeps the
    # nested order exactly while comparing much faster (verified against dpkg in the oracle tests).
    out = [epoch]
    for part in (_part_key(upstream), _part_key(revision)):
        for item in part:
            if isinstance(item, tuple):
                out.extend(item)
            else:
                out.append(item)
    return tuple(out)
