"""Scheme registry: one parse function per scheme, each returning an orderable key."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import packaging.version

from hullscan.versions import apk, deb, gem, maven, rpm, semver
from hullscan.versions.errors import InvalidVersion


class CmpKey:
    """Orderable key for schemes whose order is a comparison function, not a tuple order."""

    __slots__ = ("cmp", "value")

    def __init__(self, value: Any, cmp: Callable[[Any, Any], int]) -> None:
        self.value = value
        self.cmp = cmp

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CmpKey) and self.cmp(self.value, other.value) == 0

    def __lt__(self, other: CmpKey) -> bool:
        return self.cmp(self.value, other.value) < 0

    def __le__(self, other: CmpKey) -> bool:
        return self.cmp(self.value, other.value) <= 0

    def __gt__(self, other: CmpKey) -> bool:
        return self.cmp(self.value, other.value) > 0

    def __ge__(self, other: CmpKey) -> bool:
        return self.cmp(self.value, other.value) >= 0

    def __hash__(self) -> int:
        return 0


def _pypi(v: str) -> packaging.version.Version:
    try:
        return packaging.version.Version(v)
    except packaging.version.InvalidVersion as exc:
        raise InvalidVersion("pypi", v) from exc


def _apk(v: str) -> CmpKey:
    return CmpKey(apk.parse(v), apk.compare_parsed)


def _gem(v: str) -> CmpKey:
    return CmpKey(gem.parse(v), gem.compare_parsed)


def _maven(v: str) -> maven.MavenKey:
    return maven.key(v)


def _nuget(v: str) -> tuple[Any, ...]:
    return semver.parse_lenient(v, "nuget", width=4, fold_case=True)


def _composer(v: str) -> tuple[Any, ...]:
    return semver.parse_lenient(v, "composer", width=4)


def _generic(v: str) -> tuple[Any, ...]:
    return semver.parse_lenient(v, "generic")


def _npm(v: str) -> tuple[Any, ...]:
    return semver.parse_strict(v, "npm")


def _cargo(v: str) -> tuple[Any, ...]:
    return semver.parse_strict(v, "cargo")


def _semver(v: str) -> tuple[Any, ...]:
    return semver.parse_lenient(v, "semver")


PARSERS: dict[str, Callable[[str], Any]] = {
    "deb": deb.parse,
    "rpm": rpm.parse,
    "apk": _apk,
    "pypi": _pypi,
    "npm": _npm,
    "semver": _semver,
    "go": semver.parse_go,
    "maven": _maven,
    "gem": _gem,
    "nuget": _nuget,
    "cargo": _cargo,
    "composer": _composer,
    "generic": _generic,
}
ALIASES = {"pep440": "pypi", "golang": "go", "rubygems": "gem", "dpkg": "deb", "debian": "deb", "alpine": "apk"}


def canonical_scheme(scheme: str) -> str:
    s = ALIASES.get(scheme.lower(), scheme.lower())
    if s not in PARSERS:
        raise ValueError(f"unknown version scheme {scheme!r}; known: {', '.join(sorted(PARSERS))}")
    return s


CACHE_SIZE = 200_000  # parsed versions kept per scheme


def _checked(scheme: str, parse_fn: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse_fn` behind a per-scheme cache, refusing non-strings with the typed error."""

    def parse_one(version: str) -> Any:
        if not isinstance(version, str):
            raise InvalidVersion(scheme, repr(version), "not a string")
        return parse_fn(version)

    return lru_cache(maxsize=CACHE_SIZE)(parse_one)


# One cached parser per scheme, reachable under its aliases too, so `parse` is a dict look-up and a cache hit.
_PARSE: dict[str, Callable[[str], Any]] = {name: _checked(name, fn) for name, fn in PARSERS.items()}
_PARSE.update({alias: _PARSE[target] for alias, target in ALIASES.items()})


def parse(scheme: str, version: str) -> Any:
    """An orderable key for `version` (cached); raises InvalidVersion when the scheme cannot read it."""
    fn = _PARSE.get(scheme)
    if fn is None:
        fn = _PARSE[canonical_scheme(scheme)]  # ValueError for an unknown scheme
    try:
        return fn(version)
    except TypeError:
        if isinstance(version, str):
            raise  # a parser bug, not bad input
        raise InvalidVersion(scheme, repr(version), "not a string") from None  # unhashable: the cache refused it


def _pypi_order_key(v: str) -> Any:
    """packaging's own sort key of a Version (a plain tuple compares without Python-level dunder calls)."""
    parsed = _pypi(v)
    return getattr(parsed, "_key", parsed)


# For comparing: (cached key function, comparison of two keys or None for plain `<`/`==`). Tuple keys (deb, rpm,
# semver, ...) share the parse cache; schemes ordered by a function compare their raw parsed values directly.
_BY_FUNCTION: dict[str, tuple[Callable[[str], Any], Callable[[Any, Any], int]]] = {
    "apk": (apk.parse, apk.compare_parsed),
    "gem": (gem.parse, gem.compare_parsed),
}
_COMPARE: dict[str, tuple[Callable[[str], Any], Callable[[Any, Any], int] | None]] = {}
for _name in PARSERS:
    if _name in _BY_FUNCTION:
        _fn, _cmp = _BY_FUNCTION[_name]
        _COMPARE[_name] = (_checked(_name, _fn), _cmp)
    elif _name == "pypi":
        _COMPARE[_name] = (_checked(_name, _pypi_order_key), None)
    else:
        _COMPARE[_name] = (_PARSE[_name], None)
_COMPARE.update({alias: _COMPARE[target] for alias, target in ALIASES.items()})


def compare(scheme: str, a: str, b: str) -> int:
    """-1, 0 or 1 as `a` is older than, equal to, or newer than `b` (parsed versions are cached)."""
    entry = _COMPARE.get(scheme)
    if entry is None:
        entry = _COMPARE[canonical_scheme(scheme)]  # ValueError for an unknown scheme
    key, cmp = entry
    try:
        ka = key(a)
        kb = key(b)
    except TypeError:
        if isinstance(a, str) and isinstance(b, str):
            raise  # a parser bug, not bad input
        raise InvalidVersion(scheme, f"{a!r} / {b!r}", "not a string") from None  # unhashable: the cache refused it
    if cmp is not None:
        return cmp(ka, kb)
    if ka < kb:
        return -1
    return 0 if ka == kb else 1
