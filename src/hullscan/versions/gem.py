"""RubyGems versions, ordered like `Gem::Version#<=>` (a `-` means `.pre.`; trailing zeros do not count)."""

from __future__ import annotations

import re
from typing import Any

from hullscan.versions.errors import InvalidVersion

_PATTERN = re.compile(r"^[0-9]+(?:\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$")
_SEGMENT = re.compile(r"[0-9]+|[a-z]+", re.IGNORECASE)


def segments(version: str) -> list[Any]:
    v = version.strip()
    if not v:
        v = "0"
    if not _PATTERN.match(v):
        # `1.2.0-x86_64-linux`: a platform gem's file version; the platform is not part of the version.
        head = v.split("-", 1)[0]
        if "-" not in v or not _PATTERN.match(head):
            raise InvalidVersion("gem", version)
        v = head
    v = v.replace("-", ".pre.")
    return [int(s) if s.isdigit() else s for s in _SEGMENT.findall(v)]


def parse(version: str) -> tuple[Any, ...]:
    segs = segments(version)
    first_str = next((i for i, s in enumerate(segs) if isinstance(s, str)), len(segs))
    numeric, strings = segs[:first_str], segs[first_str:]
    while numeric and numeric[-1] == 0:
        numeric.pop()
    while strings and strings[-1] == 0:
        strings.pop()
    canon = numeric + strings
    # Encode so tuple order equals <=>: strings sort below numbers; a missing segment counts as 0.
    return tuple((0, 0, s) if isinstance(s, str) else (1, s, "") for s in canon)


def compare_parsed(a: tuple[Any, ...], b: tuple[Any, ...]) -> int:
    zero = (1, 0, "")
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else zero
        y = b[i] if i < len(b) else zero
        if x != y:
            return -1 if x < y else 1
    return 0


def release(version: str) -> tuple[Any, ...]:
    """`Gem::Version#release`: the version without its pre-release (string) segments."""
    segs = segments(version)
    while any(isinstance(s, str) for s in segs):
        segs.pop()
    return parse(".".join(str(s) for s in segs) or "0")


def bump(version: str) -> tuple[Any, ...]:
    """`Gem::Version#bump`, for `~>`: drop string segments, drop the last, increment the new last."""
    segs = segments(version)
    while any(isinstance(s, str) for s in segs):
        segs.pop()
    if len(segs) > 1:
        segs.pop()
    segs[-1] = segs[-1] + 1
    return parse(".".join(str(s) for s in segs))
