"""Maven versions, ordered like maven-artifact's `ComparableVersion` (3.8.x).

Items are ints, qualifier strings (alpha < beta < milestone < rc < snapshot < "" (release) < sp < others) and
nested lists (started by `-` or a digit/letter change); trailing null items are dropped.
"""

from __future__ import annotations

from functools import cmp_to_key
from typing import Any

from hullscan.versions.errors import InvalidVersion

_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_RELEASE_INDEX = "5"

INT, STR, LIST = 0, 1, 2


def _qualifier(value: str) -> str:
    try:
        return str(_QUALIFIERS.index(value))
    except ValueError:
        return f"{len(_QUALIFIERS)}-{value}"


def _string_item(value: str, followed_by_digit: bool) -> tuple[Any, ...]:
    if followed_by_digit and len(value) == 1:
        value = {"a": "alpha", "b": "beta", "m": "milestone"}.get(value, value)
    value = _ALIASES.get(value, value)
    return (STR, _qualifier(value))


def _parse_item(is_digit: bool, buf: str) -> tuple[Any, ...]:
    if is_digit:
        return (INT, int(buf))
    return _string_item(buf, False)


def _is_null(item: tuple[Any, ...]) -> bool:
    kind, value = item
    if kind == INT:
        return bool(value == 0)
    if kind == STR:
        return bool(value == _RELEASE_INDEX)
    return len(value) == 0


def _normalize(items: list[Any]) -> None:
    for i in range(len(items) - 1, -1, -1):
        if _is_null(items[i]):
            del items[i]
        elif items[i][0] != LIST:
            break


def parse(version: str) -> tuple[Any, ...]:
    if not version or not version.strip():
        raise InvalidVersion("maven", version, "empty")
    v = version.strip().lower()
    root: list[Any] = []
    lst = root
    stack = [root]
    is_digit = False
    start = 0
    for i, c in enumerate(v):
        if c in ".-":
            lst.append((INT, 0) if i == start else _parse_item(is_digit, v[start:i]))
            start = i + 1
            if c == "-":
                new: list[Any] = []
                lst.append((LIST, new))
                lst = new
                stack.append(new)
        elif c.isdigit():
            if not is_digit and i > start:
                if lst:
                    new = []
                    lst.append((LIST, new))
                    lst = new
                    stack.append(new)
                lst.append(_string_item(v[start:i], True))
                start = i
                new = []
                lst.append((LIST, new))
                lst = new
                stack.append(new)
            is_digit = True
        else:
            if is_digit and i > start:
                lst.append(_parse_item(True, v[start:i]))
                start = i
                new = []
                lst.append((LIST, new))
                lst = new
                stack.append(new)
            is_digit = False
    if len(v) > start:
        if not is_digit and lst:
            new = []
            lst.append((LIST, new))
            lst = new
            stack.append(new)
        lst.append(_parse_item(is_digit, v[start:]))
    while stack:
        _normalize(stack.pop())
    return _freeze((LIST, root))


def _freeze(item: tuple[Any, ...]) -> tuple[Any, ...]:
    if item[0] == LIST:
        return (LIST, tuple(_freeze(x) for x in item[1]))
    return item


def _cmp(a: tuple[Any, ...] | None, b: tuple[Any, ...] | None) -> int:
    if a is None:
        if b is None:
            return 0
        return -_cmp(b, None)
    kind, value = a
    if kind == INT:
        if b is None:
            return 0 if value == 0 else 1
        if b[0] == INT:
            return int(value > b[1]) - int(value < b[1])
        return 1
    if kind == STR:
        if b is None:
            return int(value > _RELEASE_INDEX) - int(value < _RELEASE_INDEX)
        if b[0] == STR:
            return int(value > b[1]) - int(value < b[1])
        return -1
    # list
    if b is None:
        for item in value:  # MNG-6964: the whole list against null, not only its first item
            r = _cmp(item, None)
            if r:
                return r
        return 0
    if b[0] == INT:
        return -1
    if b[0] == STR:
        return 1
    other = b[1]
    for i in range(max(len(value), len(other))):
        left = value[i] if i < len(value) else None
        right = other[i] if i < len(other) else None
        r = _cmp(left, right)
        if r:
            return r
    return 0


class MavenKey:
    """Orderable wrapper so parsed Maven versions sort and compare with `<`."""

    __slots__ = ("item",)

    def __init__(self, item: tuple[Any, ...]) -> None:
        self.item = item

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MavenKey) and _cmp(self.item, other.item) == 0

    def __lt__(self, other: MavenKey) -> bool:
        return _cmp(self.item, other.item) < 0

    def __le__(self, other: MavenKey) -> bool:
        return _cmp(self.item, other.item) <= 0

    def __gt__(self, other: MavenKey) -> bool:
        return _cmp(self.item, other.item) > 0

    def __ge__(self, other: MavenKey) -> bool:
        return _cmp(self.item, other.item) >= 0

    def __hash__(self) -> int:
        return hash(self.item)


def key(version: str) -> MavenKey:
    return MavenKey(parse(version))


sort_key = cmp_to_key(_cmp)
