"""Is one installed version inside an advisory's affected entry? OSV range semantics over `hullscan.versions`.

Events of a range are put in version order and walked: `introduced` opens, `fixed` closes at that version,
`last_affected` closes after it, `limit` caps. Explicit `versions` are matched as written. Besides the yes/no
that `hullscan.versions.is_affected` gives, matching needs the fix that closes the range the version is in,
and must tell an unreadable installed version (counted) from an unreadable advisory range (skipped).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hullscan.advisories.types import AffectedPackage, AffectedRange
from hullscan.versions import InvalidVersion, parse


class UnparsableVersion(ValueError):
    """The installed version cannot be read in the ecosystem's scheme: counted, treated as not affected."""


class BadRange(ValueError):
    """An advisory range holds a version the scheme cannot read: that range is skipped and counted."""


@dataclass(frozen=True)
class Verdict:
    affected: bool
    fixed_versions: tuple[str, ...] = ()


NOT_AFFECTED = Verdict(False)
_KIND_ORDER = {"introduced": 0, "last_affected": 1, "fixed": 2, "limit": 3}


class RangeEvaluator:
    """Evaluates affected entries; parsed versions are cached by the version library."""

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
        listed = version in entry.versions
        usable = [r for r in entry.ranges if r.type.upper() != "GIT"]
        if not usable:
            if entry.versions:
                return Verdict(True, self._fixed_after(scheme, key, entry.ranges)) if listed else NOT_AFFECTED
            # No range and no version list: the source states "all versions" (unfixed / won't fix distro rows).
            return Verdict(entry.fix_state in ("unfixed", "wont_fix"))
        bad = 0
        for rng in usable:
            try:
                verdict = self._in_range(scheme, key, rng)
            except BadRange:
                bad += 1
                continue
            if verdict.affected:
                return verdict
        if listed:  # listed explicitly but outside every range: the nearest fix above it
            return Verdict(True, self._fixed_after(scheme, key, entry.ranges)[:1])
        if bad == len(usable):
            raise BadRange(f"{entry.advisory_id}: no readable range for {entry.package}")
        return NOT_AFFECTED

    def __init__(self) -> None:
        self._ordered: dict[int, tuple[AffectedRange, str, list[tuple[int, Any, int, str, str]] | None]] = {}

    def _in_range(self, scheme: str, key: Any, rng: AffectedRange) -> Verdict:
        cached = self._ordered.get(id(rng))
        if cached is None or cached[0] is not rng or cached[1] != scheme:
            try:
                keyed = self._order(scheme, rng)
            except BadRange:
                self._ordered[id(rng)] = (rng, scheme, None)
                raise
            self._ordered[id(rng)] = (rng, scheme, keyed)
        else:
            keyed = cached[2]
            if keyed is None:
                raise BadRange(f"unreadable range {rng.events!r}")
        return self._walk(key, keyed)

    def _order(self, scheme: str, rng: AffectedRange) -> list[tuple[int, Any, int, str, str]]:
        """Events of a range as sortable tuples in version order (computed once per range and scheme)."""
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
        except (InvalidVersion, ValueError, TypeError) as exc:
            raise BadRange(str(exc)) from exc
        keyed.sort(key=_Order)
        return keyed

    def _walk(self, key: Any, keyed: list[tuple[int, Any, int, str, str]]) -> Verdict:
        if any(k == "limit" and key >= ek for _, ek, _, k, _ in keyed):
            return NOT_AFFECTED
        affected = False
        fixed: list[str] = []
        for _, ev_key, _, kind, raw in keyed:
            if kind == "introduced":
                if ev_key is None or key >= ev_key:
                    affected = True
            elif kind == "fixed":
                if key >= ev_key:
                    affected = False
                elif affected:
                    fixed.append(raw)
                    break
            elif kind == "last_affected":
                if key > ev_key:
                    affected = False
                elif affected:
                    break
        return Verdict(affected, tuple(fixed)) if affected else NOT_AFFECTED

    def _fixed_after(self, scheme: str, key: Any, ranges: list[AffectedRange]) -> tuple[str, ...]:
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
