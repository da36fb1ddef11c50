"""OSV range evaluation: is a version inside any `introduced`/`fixed`/`last_affected`/`limit` range?"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hullscan.versions.schemes import parse


def _event_pairs(range_: Any) -> tuple[str, Sequence[Any]]:
    if isinstance(range_, dict):
        rtype = str(range_.get("type", "ECOSYSTEM"))
        events = []
        for ev in range_.get("events", []):
            for kind, version in ev.items():
                events.append((kind, str(version)))
        return rtype, events
    return range_.type, [(e.kind, e.version) for e in range_.events]


def _range_affected(scheme: str, key: Any, events: Sequence[tuple[str, str]]) -> bool:
    """OSV's algorithm: walk events in version order; introduced opens, fixed/last_affected close."""
    limits = [parse(scheme, v) for k, v in events if k == "limit" and v != "*"]
    if any(key >= lim for lim in limits):
        return False
    keyed = []
    for kind, version in events:
        if kind == "limit":
            continue
        if kind == "introduced" and version in ("0", "*", ""):
            keyed.append((0, None, kind))
        else:
            keyed.append((1, parse(scheme, version), kind))
    keyed.sort(key=_SortKey)
    affected = False
    for _, ev_key, kind in keyed:
        if kind == "introduced":
            if ev_key is None or key >= ev_key:
                affected = True
        elif kind == "fixed":
            if key >= ev_key:
                affected = False
        elif kind == "last_affected":
            if key > ev_key:
                affected = False
    return affected


class _SortKey:
    __slots__ = ("item",)

    def __init__(self, item: tuple) -> None:
        self.item = item

    def __lt__(self, other: "_SortKey") -> bool:
        a, b = self.item, other.item
        if a[0] != b[0]:
            return a[0] < b[0]
        if a[1] is None:
            return False
        return bool(a[1] < b[1])


def is_affected(scheme: str, version: str, ranges: Iterable[Any], versions: Iterable[str] = ()) -> bool:
    """True when `version` is listed explicitly or falls inside an ECOSYSTEM/SEMVER range.

    Ranges may be `AffectedRange` objects or OSV JSON dicts; GIT ranges cannot be evaluated on a package
    version and are ignored. Raises InvalidVersion when the version or an event cannot be parsed.
    """
    if version in set(versions):
        return True
    key = parse(scheme, version)
    for range_ in ranges:
        rtype, events = _event_pairs(range_)
        if rtype.upper() == "GIT":
            continue
        if _range_affected(scheme, key, events):
            return True
    return False
