"""Is one installed version inside an advisory's affected entry? OSV range semantics over `hullscan.versions`.

Events of a range are put in version order and walked: `introduced` opens, `fixed` closes at that version,
`last_affected` closes after it; `limit` is ignored. Explicit `versions` are matched as written.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from hullscan.advisories.types import AffectedPackage, AffectedRange, RangeEvent


class UnparsableVersion(ValueError):
    """The installed version cannot be read in the ecosystem's scheme: counted, treated as not affected."""


class BadRange(ValueError):
    """An advisory range holds a version the scheme cannot read: that range is skipped and counted."""


@dataclass(frozen=True)
class Verdict:
    affected: bool
    fixed_versions: tuple[str, ...] = ()


NOT_AFFECTED = Verdict(False)


def _versions_api() -> tuple[Callable[[str, str, str], int], type[Exception]]:
    from hullscan import versions

    invalid = getattr(versions, "InvalidVersion", ValueError)
    return versions.compare, invalid


class RangeEvaluator:
    """Evaluates affected entries for one scheme; caches nothing itself (the version library caches parses)."""

    def __init__(self) -> None:
        self._compare, self._invalid = _versions_api()

    def cmp(self, scheme: str, a: str, b: str) -> int:
        return self._compare(scheme, a, b)

    def check_installed(self, scheme: str, version: str) -> None:
        """Raise UnparsableVersion when the scheme cannot read the installed version."""
        if not version or not version.strip():
            raise UnparsableVersion("empty version")
        try:
            self._compare(scheme, version, version)
        except self._invalid as exc:
            raise UnparsableVersion(str(exc)) from exc
        except (ValueError, TypeError) as exc:
            raise UnparsableVersion(str(exc)) from exc

    def evaluate(self, scheme: str, version: str, entry: AffectedPackage) -> Verdict:
        """Verdict for an installed version already checked with `check_installed`.

        Raises BadRange only when every range of the entry was unreadable and nothing else decided."""
        if entry.fix_state == "not_affected":
            return NOT_AFFECTED
        if version in entry.versions:
            return Verdict(True, self._fixed_after(scheme, version, entry.ranges))
        usable = [r for r in entry.ranges if r.type.upper() != "GIT"]
        if not usable:
            if entry.versions:
                return NOT_AFFECTED
            # No range and no version list: the source states "all versions" (unfixed / won't fix distro rows).
            return Verdict(entry.fix_state in ("unfixed", "wont_fix"))
        bad = 0
        for rng in usable:
            try:
                verdict = self._in_range(scheme, version, rng)
            except BadRange:
                bad += 1
                continue
            if verdict.affected:
                return verdict
        if bad == len(usable):
            raise BadRange(f"{entry.advisory_id}: no readable range for {entry.package}")
        return NOT_AFFECTED

    def _in_range(self, scheme: str, version: str, rng: AffectedRange) -> Verdict:
        events = [e for e in rng.events if e.kind in ("introduced", "fixed", "last_affected")]
        if not events:
            return NOT_AFFECTED
        try:
            ordered = sorted(events, key=functools.cmp_to_key(functools.partial(self._event_cmp, scheme)))
        except (ValueError, TypeError) as exc:
            raise BadRange(str(exc)) from exc
        except self._invalid as exc:
            raise BadRange(str(exc)) from exc
        affected = False
        fixed: list[str] = []
        try:
            for event in ordered:
                if event.kind == "introduced":
                    if event.version == "0" or self._compare(scheme, version, event.version) >= 0:
                        affected = True
                elif event.kind == "fixed":
                    if self._compare(scheme, version, event.version) >= 0:
                        affected = False
                    elif affected:
                        fixed.append(event.version)
                        break
                elif event.kind == "last_affected":
                    if self._compare(scheme, version, event.version) > 0:
                        affected = False
                    elif affected:
                        break
        except self._invalid as exc:
            raise BadRange(str(exc)) from exc
        return Verdict(affected, tuple(fixed)) if affected else NOT_AFFECTED

    def _event_cmp(self, scheme: str, a: RangeEvent, b: RangeEvent) -> int:
        if a.version == b.version:
            order = {"introduced": 0, "last_affected": 1, "fixed": 2}
            return order[a.kind] - order[b.kind]
        if a.kind == "introduced" and a.version == "0":
            return -1
        if b.kind == "introduced" and b.version == "0":
            return 1
        return self._compare(scheme, a.version, b.version)

    def _fixed_after(self, scheme: str, version: str, ranges: list[AffectedRange]) -> tuple[str, ...]:
        out: list[str] = []
        for rng in ranges:
            for event in rng.events:
                if event.kind != "fixed":
                    continue
                try:
                    if self._compare(scheme, event.version, version) > 0:
                        out.append(event.version)
                except (ValueError, TypeError, self._invalid):
                    continue
        return tuple(out)
