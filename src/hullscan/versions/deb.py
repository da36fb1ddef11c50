"""Debian (dpkg) versions: `[epoch:]upstream[-revision]`, ordered exactly like `dpkg --compare-versions`.

A version is turned into a flat tuple of ints once, so comparing two versions is one tuple comparison done
in C (fast, cacheable). The oracle tests check the order against dpkg itself.
"""

from __future__ import annotations

import re
from typing import Any

from hullscan.versions.errors import InvalidVersion

_ALLOWED = re.compile(r"^[A-Za-z0-9.+~:_\-]+$")
# dpkg's verrevcmp alternates a non-digit run and a digit run. Non-digit characters are ranked `~` first, then
# the end of the run, then letters, then everything else; each run ends in its end mark 0 (no character ranks
# 0), so runs of different lengths stay aligned when the key is one flat tuple.
_RUNS = re.compile(r"(\D*)(\d*)")


def _rank(c: str) -> int:
    if c == "~":
        return -1
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


_RUN_KEYS: dict[str, tuple[int, ...]] = {}  # non-digit run → its ranks and end mark (few distinct runs exist)
# dpkg pads the shorter string with (empty run, 0) pairs forever. Only a string's first pair can equal that
# pad, so ending every part with two pad pairs makes plain tuple order equal dpkg's order.
_PAD = (0, 0, 0, 0)


def _run_key(run: str) -> tuple[int, ...]:
    key = _RUN_KEYS.get(run)
    if key is None:
        key = tuple(_rank(c) for c in run) + (0,)
        if len(_RUN_KEYS) < 4096:
            _RUN_KEYS[run] = key
    return key


def _part_key(s: str, out: list[int]) -> None:
    """Append the key of an upstream or revision string (dpkg's verrevcmp) to `out`."""
    pairs = [(nondigit, int(digits) if digits else 0) for nondigit, digits in _RUNS.findall(s) if nondigit or digits]
    while pairs and pairs[-1] == ("", 0):  # equal to the padding dpkg compares with
        pairs.pop()
    for nondigit, number in pairs:
        out.extend(_run_key(nondigit))
        out.append(number)
    out.extend(_PAD)


def parse(version: str) -> tuple[Any, ...]:
    """The flat sort key of a dpkg version; raises InvalidVersion for what dpkg refuses."""
    v = version.strip()
    if not v or not _ALLOWED.match(v):
        raise InvalidVersion("deb", version, "empty or contains characters dpkg does not allow")
    epoch = 0
    if ":" in v:
        e, v = v.split(":", 1)
        if not e.isdigit():
            raise InvalidVersion("deb", version, "epoch is not a number")
        epoch = int(e)
    upstream, sep, revision = v.rpartition("-")
    if not sep:
        upstream, revision = v, ""
    if not upstream:
        raise InvalidVersion("deb", version, "empty upstream version")
    if ":" in upstream or ":" in revision:
        raise InvalidVersion("deb", version, "colon outside the epoch")
    if not upstream[0].isdigit():
        raise InvalidVersion("deb", version, "upstream version does not start with a digit")
    out = [epoch]
    _part_key(upstream, out)
    _part_key(revision, out)
    return tuple(out)
