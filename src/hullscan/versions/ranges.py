"""Is one installed version inside an advisory's affected entry? The one OSV range evaluator.

Events of a range are put in version order and walked: `introduced` opens, `fixed` closes at that version,
`last_affected` closes after it, `limit` caps. Explicit `versions` are matched as written. Matching needs the
fix that closes the range the version is in, and must tell an unreadable installed version (counted) from an
unreadable advisory range (skipped). Entries and ranges are read by shape (`hullscan.advisories.types` has the
dataclasses), so this library stays at the bottom of the house.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hullscan.versions.errors import InvalidVersion
from hullscan.versions.schemes import parse


class RangeEvent(Protocol):
    @property
    def kind(self) -> str: ...  # introduced | fixed | last_affected | limit

    @property
    def version(self) -> str: ...


class AffectedRange(Protocol):
    @property
    def type(self) -> str: ...  # ECOSYSTEM | SEMVER | GIT

    @property
    def events(self) -> Sequence[RangeEvent]: ...


class AffectedPackage(Protocol):
    """One advisory's statement about one package (`hullscan.advisories.types.AffectedPackage`)."""

    @property
    def advisory_id(self) -> str: ...

    @property
    def package(self) -> str: ...

    @property
    def ranges(self) -> Sequence[AffectedRange]: ...

    @property
    def versions(self) -> Sequence[str]: ...

    @property
    def fix_state(self) -> str: ...


class UnparsableVersion(ValueError):
    """The installed version cannot be read in the ecosystem's scheme: counted, treated as not affected."""


class BadRange(ValueError):
    """An advisory range holds a version the scheme cannot read: that range is skipped and counted."""


@dataclass(frozen=True)
class Verdict:
    affected: bool
    fixed_versions: tuple[str, ...] = ()


NOT_AFFECTED = Verdict(False)
AFFECTED_NO_FIX = Verdict(True)
_KIND_ORDER = {"introduced": 0, "last_affected": 1, "fixed": 2, "limit": 3}
_INTRODUCED, _LAST_AFFECTED, _FIXED = 0, 1, 2

# A range compiled for one scheme: keys of its `limit` events, then its other events in version order as
# (kind, parsed version or None for "introduced 0", version as written). None: the range cannot be read.
_Compiled = tuple[tuple[Any, ...], tuple[tuple[int, Any, str], ...]]


# Compiled ranges by (range object, scheme), kept across matches: a compiled range depends on nothing else, and
# the store hands every row with the same stored ranges the same (immutable) objects. Bounded by clearing.
_COMPILED: dict[tuple[int, str], tuple[AffectedRange, _Compiled | None]] = {}
_COMPILED_MAX = 200_000


class RangeEvaluator:
    """Evaluates affected entries; parsed versions are cached by the version library, compiled ranges here."""

    def key(self, scheme: str, version: str) -> Any:
        """Orderable key of an installed version; UnparsableVersion when the scheme cannot read it."""
        if not version or not version.strip():
            raise UnparsableVersion("empty version")
        try:
            return parse(scheme, version)
        except (InvalidVersion, ValueError, TypeError) as exc:
            raise UnparsableVersion(str(exc)) from exc

    def cmp(self, scheme: str, a: str, b: str) -> int:
        ka, kb = parse(scheme, a), parse(scheme, b)
        return -1 if ka < kb else (0 if ka == kb else 1)

    def evaluate(self, scheme: str, version: str, key: Any, entry: AffectedPackage) -> Verdict:
        """Verdict for an installed version (and its key from `key`).

        Raises BadRange when no range of the entry could be read and nothing else decided."""
        if entry.fix_state == "not_affected":
            return NOT_AFFECTED
        bad = usable = 0
        for rng in entry.ranges:
            if rng.type == "GIT" or rng.type.upper() == "GIT":
                continue
            usable += 1
            cached = _COMPILED.get((id(rng), scheme))
            if cached is None or cached[0] is not rng:
                if len(_COMPILED) >= _COMPILED_MAX:
                    _COMPILED.clear()
                cached = _COMPILED[(id(rng), scheme)] = (rng, self._compile(scheme, rng))
            compiled = cached[1]
            if compiled is None:
                bad += 1
                continue
            verdict = _walk(key, compiled)
            if verdict.affected:
                return verdict
        listed = version in entry.versions if entry.versions else False
        if not usable:
            if entry.versions:
                return Verdict(True, self._fixed_after(scheme, key, entry.ranges)) if listed else NOT_AFFECTED
            # No range and no version list: the source states "all versions" (unfixed / won't fix distro rows).
            return Verdict(entry.fix_state in ("unfixed", "wont_fix", "end_of_life"))
        if listed:  # listed explicitly but outside every range: the nearest fix above it
            return Verdict(True, self._fixed_after(scheme, key, entry.ranges)[:1])
        if bad == usable:
            raise BadRange(f"{entry.advisory_id}: no readable range for {entry.package}")
        return NOT_AFFECTED

    def _compile(self, scheme: str, rng: AffectedRange) -> _Compiled | None:
        """Events of a range parsed and put in version order (once per range and scheme); None if unreadable."""
        keyed: list[tuple[int, Any, int, str, str]] = []
        try:
            for event in rng.events:
                if event.kind not in _KIND_ORDER:
                    continue
                if event.kind == "introduced" and event.version in ("0", "*", ""):
                    keyed.append((0, None, 0, event.kind, event.version))
                elif event.kind == "limit" and event.version == "*":
                    continue
                else:
                    keyed.append((1, parse(scheme, event.version), _KIND_ORDER[event.kind], event.kind, event.version))
        except (InvalidVersion, ValueError, TypeError):
            return None
        keyed.sort(key=_Order)
        limits = tuple(k[1] for k in keyed if k[3] == "limit")
        return limits, tuple((k[2], k[1], k[4]) for k in keyed if k[3] != "limit")

    def _fixed_after(self, scheme: str, key: Any, ranges: Sequence[AffectedRange]) -> tuple[str, ...]:
        out: list[tuple[Any, str]] = []
        for rng in ranges:
            for event in rng.events:
                if event.kind != "fixed":
                    continue
                try:
                    fix_key = parse(scheme, event.version)
                except (InvalidVersion, ValueError, TypeError):
                    continue
                if fix_key > key:
                    out.append((fix_key, event.version))
        out.sort(key=lambda pair: _Order((1, pair[0], 0, "", "")))
        return tuple(v for _, v in out)


def _walk(key: Any, compiled: _Compiled) -> Verdict:
    """OSV event walk: `introduced` opens, `fixed` closes at its version, `last_affected` after it, a `limit`
    at or below the version rules it out; the fix that closes the open range is reported."""
    limits, events = compiled
    for limit in limits:
        if key >= limit:
            return NOT_AFFECTED
    affected = False
    for kind, ev_key, raw in events:
        if kind == _INTRODUCED:
            if ev_key is None or key >= ev_key:
                affected = True
        elif kind == _FIXED:
            if key >= ev_key:
                affected = False
            elif affected:
                return Verdict(True, (raw,))
        elif key > ev_key:  # last_affected
            affected = False
        elif affected:
            break
    return AFFECTED_NO_FIX if affected else NOT_AFFECTED


class _Order:
    """Sort key for (group, version key, kind order, ...) tuples whose version keys only support `<`/`==`."""

    __slots__ = ("item",)

    def __init__(self, item: tuple[int, Any, int, str, str]) -> None:
        self.item = item

    def __lt__(self, other: _Order) -> bool:
        a, b = self.item, other.item
        if a[0] != b[0]:
            return a[0] < b[0]
        if a[1] is not None and b[1] is not None and not (a[1] == b[1]):
            return bool(a[1] < b[1])
        return a[2] < b[2]
