"""Semantic versions (SemVer 2.0 / node-semver ordering) and the lenient variants other ecosystems use.

`parse_strict` is node-semver's (a leading `v`/`=` is allowed); `parse_lenient` also takes missing minor or
patch, more than three numbers (NuGet, Composer), and a pre-release without the dash (`1.20rc1`).
Build metadata (`+...`, Go's `+incompatible`) never affects order.
"""

from __future__ import annotations

import re
from typing import Any

from hullscan.versions.errors import InvalidVersion

_STRICT = re.compile(
    r"^[v=\s]*(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_LENIENT = re.compile(
    r"^[vV=\s]*(\d+(?:\.\d+)*)"
    r"(?:[-.~_]?((?:[0-9A-Za-z-]+)(?:\.[0-9A-Za-z-]+)*))??"
    r"(?:\+([0-9A-Za-z.-]+))?$"
)
RELEASE = (1,)


def pre_key(pre: str | None, fold_case: bool = False) -> tuple[Any, ...]:
    """Pre-release identifiers: numeric ones sort below alphanumeric ones; none at all sorts last."""
    if not pre:
        return RELEASE
    ids = []
    for part in pre.split("."):
        if part.isdigit():
            ids.append((0, int(part), ""))
        else:
            ids.append((1, 0, part.lower() if fold_case else part))
    return (0, tuple(ids))


def parse_strict(version: str, scheme: str = "semver") -> tuple[Any, ...]:
    m = _STRICT.match(version.strip())
    if not m:
        raise InvalidVersion(scheme, version)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), pre_key(m.group(4)))


def parse_lenient(version: str, scheme: str = "semver", width: int = 3, fold_case: bool = False) -> tuple[Any, ...]:
    m = _LENIENT.match(version.strip())
    if not m:
        raise InvalidVersion(scheme, version)
    pre = m.group(2).replace("-", ".") if m.group(2) else None
    nums = [int(x) for x in m.group(1).split(".")]
    while len(nums) > width and nums[-1] == 0:
        nums.pop()
    nums += [0] * (width - len(nums))
    return (tuple(nums), pre_key(pre, fold_case))


def parse_go(version: str) -> tuple[Any, ...]:
    """Go module versions (`v1.2.3`, pseudo-versions, `+incompatible`) and toolchain `go1.21.3`/`go1.21rc1`."""
    v = version.strip()
    if v.startswith("go"):
        m = re.match(r"^go(\d+)(?:\.(\d+))?(?:\.(\d+))?((?:rc|beta|alpha)\d+)?$", v)
        if not m:
            raise InvalidVersion("go", version)
        pre = m.group(4)
        if pre:
            pre = re.sub(r"^([a-z]+)(\d+)$", r"\1.\2", pre)
        return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0), pre_key(pre))
    v = v.removeprefix("v")
    m = re.match(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$", v)
    if not m:
        raise InvalidVersion("go", version)
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0), pre_key(m.group(4)))
