"""The `fuzzy` scheme: grype's fallback for versions of no known format (e.g. CPE-matched binaries).

Ordering (nvdtools' "smart" comparison, as grype uses it): a version is split at every ASCII punctuation mark
into parts; each part is its leading number (compared by value) followed by the rest up to the next
punctuation (compared as text, except that when both parts have a letter followed by digits, like `8p9` and
`8p15`, the text up to those digits and then the digits as a number decide first). The first differing part
decides; when one version runs out of parts first, the longer string is the newer one (`1.0.0` <
`1.0.0-post1`). A leading `v` is ignored.

Constraints (`> 1.0, < 2.0 || 3.1`) compare as semantic versions when the version and every bound look like
semver (`1.2`, `v1.2.3-rc1`, `1.20rc1`, `+build` ignored), and with the fuzzy order otherwise.
"""

from __future__ import annotations

import re

from hullscan.versions.errors import InvalidVersion
from hullscan.versions.semver import pre_key

# A part: leading ASCII digits, then everything up to the next ASCII punctuation mark (which is skipped).
_PART = re.compile(r"([0-9]*)([^!-/:-@\[-`{-~]*)[!-/:-@\[-`{-~]?")

# A letter followed by a digit inside a part's text: `p9`, `rc10` (a "patch number").
_PATCH = re.compile(r"[A-Za-z](?=[0-9])")
_INT64_MAX = 2**63 - 1

# "Looks like semver": up to three numbers without leading zeros, an optional pre-release introduced by `-`,
# `alpha`, `beta` or `rc`, optional build metadata; a leading `v` is allowed.
_NUM = r"(?:0|[1-9][0-9]*)"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
_PSEUDO_SEMVER = re.compile(
    rf"v?({_NUM})(?:\.({_NUM}))?(?:\.({_NUM}))?"
    rf"(?:(-|alpha|beta|rc)({_PRE_ID}(?:\.{_PRE_ID})*))?"
    r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?",
    re.ASCII,
)


def _part(number: int, text: str) -> tuple[int, str, str | None, int | None]:
    """(number, text, text up to a patch number, the patch number): the last two are None without one."""
    m = _PATCH.search(text)
    if m is None:
        return (number, text, None, None)
    tail = text[m.end():]
    patch = int(tail) if tail.isascii() and tail.isdigit() and int(tail) <= _INT64_MAX else None
    return (number, text, text[:m.end()], patch)


def parse(version: str) -> tuple[tuple[tuple[int, str, str | None, int | None], ...], int]:
    """(parts, length in bytes); only the empty string is unreadable."""
    if not isinstance(version, str) or not version:
        raise InvalidVersion("fuzzy", repr(version), "empty")
    v = version[1:] if version.startswith("v") else version
    parts = []
    pos, n = 0, len(v)
    while pos < n:
        m = _PART.match(v, pos)
        assert m is not None  # every group is optional; a match always advances because pos < n
        digits, rest = m.group(1), m.group(2)
        parts.append(_part(int(digits) if digits else 0, rest))
        pos = m.end()
    return tuple(parts), len(v.encode("utf-8"))


def _compare_part(a: tuple, b: tuple) -> int:
    if a[0] != b[0]:
        return -1 if a[0] < b[0] else 1
    if a[2] is not None and b[2] is not None:
        if a[2] != b[2]:
            return -1 if a[2] < b[2] else 1
        if a[3] is not None and b[3] is not None and a[3] != b[3]:
            return -1 if a[3] < b[3] else 1
    if a[1] != b[1]:
        return -1 if a[1] < b[1] else 1
    return 0


def compare_parsed(a: tuple, b: tuple) -> int:
    """-1, 0 or 1: the first differing part decides, else the longer version string is newer."""
    for pa, pb in zip(a[0], b[0]):
        if pa != pb:
            return _compare_part(pa, pb)
    if a[1] != b[1]:
        return -1 if a[1] < b[1] else 1
    return 0


def compare(a: str, b: str) -> int:
    return compare_parsed(parse(a), parse(b))


def semver_key(version: str) -> tuple | None:
    """A semantic-version sort key when `version` looks like semver (see module doc), else None."""
    m = _PSEUDO_SEMVER.fullmatch(version.strip())
    if not m:
        return None
    major, minor, patch, sep, pre = m.groups()
    if pre is not None and sep != "-":
        pre = sep + pre  # `1.20rc1` is 1.20.0 with pre-release `rc1`
    return (int(major), int(minor or 0), int(patch or 0), pre_key(pre))
