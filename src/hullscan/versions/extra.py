"""Smaller schemes: pacman (Arch), Gentoo portage, JVM (JDK) versions, Bitnami and Microsoft KB ids."""

from __future__ import annotations

import re

from hullscan.versions import rpm, semver
from hullscan.versions.errors import InvalidVersion

# --- pacman: alpm's vercmp = epoch, then rpmvercmp of version, release only when both have one ---------


def parse_pacman(version: str) -> tuple:
    v = version.strip()
    if not v:
        raise InvalidVersion("pacman", version, "empty")
    epoch, ver, release = rpm.split_evr(v)
    return (int(epoch), rpm.vercmp_key(ver), rpm.vercmp_key(release) if release is not None else None)


def compare_pacman(a: tuple, b: tuple) -> int:
    left, right = a[:2], b[:2]
    if left != right:
        return -1 if left < right else 1
    if a[2] is None or b[2] is None or a[2] == b[2]:
        return 0
    return -1 if a[2] < b[2] else 1


# --- Gentoo portage (PMS "version comparison") -----------------------------------------------------------

_PORTAGE = re.compile(r"^(\d+(?:\.\d+)*)([a-z])?((?:_(?:alpha|beta|pre|rc|p)\d*)*)(?:-r(\d+))?$")
_SUFFIX_ORDER = {"alpha": 0, "beta": 1, "pre": 2, "rc": 3, "p": 5}


def parse_portage(version: str) -> tuple:
    m = _PORTAGE.match(version.strip())
    if not m:
        raise InvalidVersion("portage", version)
    numbers = m.group(1).split(".")
    suffixes = tuple(
        (_SUFFIX_ORDER[name], int(num or 0))
        for name, num in re.findall(r"_(alpha|beta|pre|rc|p)(\d*)", m.group(3) or "")
    )
    return (numbers, m.group(2) or "", suffixes, int(m.group(4) or 0))


def compare_portage(a: tuple, b: tuple) -> int:
    an, bn = a[0], b[0]
    if int(an[0]) != int(bn[0]):
        return -1 if int(an[0]) < int(bn[0]) else 1
    for x, y in zip(an[1:], bn[1:]):
        if x.startswith("0") or y.startswith("0"):  # fractional comparison, trailing zeros ignored
            xs, ys = x.rstrip("0"), y.rstrip("0")
        else:
            xs, ys = int(x), int(y)  # type: ignore[assignment]
        if xs != ys:
            return -1 if xs < ys else 1
    if len(an) != len(bn):
        return -1 if len(an) < len(bn) else 1
    if a[1] != b[1]:
        return -1 if a[1] < b[1] else 1
    for i in range(max(len(a[2]), len(b[2]))):
        x = a[2][i] if i < len(a[2]) else None
        y = b[2][i] if i < len(b[2]) else None
        if x == y:
            continue
        if x is None:  # only b has a suffix here: b is newer only when it is `_p`
            return -1 if y[0] == _SUFFIX_ORDER["p"] else 1  # type: ignore[index]
        if y is None:
            return 1 if x[0] == _SUFFIX_ORDER["p"] else -1
        return -1 if x < y else 1
    if a[3] != b[3]:
        return -1 if a[3] < b[3] else 1
    return 0


# --- JVM: `1.8.0_131-b11` (pre JEP 223) and `8.0.131+11` / `17.0.2` (JEP 223); build numbers ignored ----

_LEGACY = re.compile(r"^1\.(\d+)(?:\.(\d+))?(?:[_.](\d+)|-update_?(\d+))?(?:-(ea))?(?:-b\d+)?$", re.I)
_MODERN = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.\d+)*(?:-(ea))?(?:[+-]b?\d+)?$", re.I)


def parse_jvm(version: str) -> tuple:
    v = version.strip()
    m = _LEGACY.match(v)
    if m:
        update = m.group(3) or m.group(4) or 0
        return (int(m.group(1)), int(m.group(2) or 0), int(update), 0 if m.group(5) else 1)
    m = _MODERN.match(v)
    if m:
        return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0), 0 if m.group(4) else 1)
    raise InvalidVersion("jvm", version)


# --- Bitnami: semver plus a package revision `-N` that does not take part in comparisons ----------------


def parse_bitnami(version: str) -> tuple:
    v = re.sub(r"-\d+$", "", version.strip())
    return semver.parse_lenient(v, "bitnami")
