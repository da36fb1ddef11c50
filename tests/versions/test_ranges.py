"""The one OSV range evaluator (`hullscan.versions.ranges`): OSV's own semantics on hand-picked ranges, and the
compiled walk production uses agrees with a plain re-statement of OSV's algorithm on random ranges."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hullscan.advisories.types import AffectedPackage, AffectedRange, RangeEvent
from hullscan.versions import compare, parse
from hullscan.versions.ranges import BadRange, RangeEvaluator, UnparsableVersion


def _entry(*ranges: list[tuple[str, str]], versions: list[str] | None = None, kind: str = "ECOSYSTEM",
           state: str = "fixed") -> AffectedPackage:
    return AffectedPackage("TEST-1", "Debian:12", "pkg",
                           [AffectedRange(kind, tuple(RangeEvent(k, v) for k, v in r)) for r in ranges],
                           versions=versions or [], fix_state=state)


def _verdict(scheme: str, version: str, entry: AffectedPackage) -> tuple[bool, tuple[str, ...]]:
    ev = RangeEvaluator()
    v = ev.evaluate(scheme, version, ev.key(scheme, version), entry)
    return v.affected, v.fixed_versions


def test_osv_ranges() -> None:
    two = _entry([("introduced", "0"), ("fixed", "1.2.3-1"), ("introduced", "2.0-1"), ("last_affected", "2.1-1")])
    assert _verdict("deb", "1.0-1", two) == (True, ("1.2.3-1",))
    assert _verdict("deb", "1.2.3-1", two) == (False, ())
    assert _verdict("deb", "1.5-1", two) == (False, ())
    assert _verdict("deb", "2.1-1", two) == (True, ())
    assert _verdict("deb", "2.1-2", two) == (False, ())
    assert _verdict("pypi", "0.5", _entry(versions=["0.5"])) == (True, ())
    assert _verdict("pypi", "0.5", _entry([("introduced", "abc")], kind="GIT")) == (False, ())
    semver = _entry([("introduced", "1.0.0"), ("fixed", "1.2.1")], kind="SEMVER")
    assert _verdict("go", "v1.2.0", semver) == (True, ("1.2.1",))
    assert _verdict("go", "v1.2.1", semver) == (False, ())
    assert _verdict("npm", "3.0.0", _entry([("introduced", "0"), ("limit", "2.0.0")], kind="SEMVER"))[0] is False
    assert _verdict("npm", "1.0.0", _entry([("introduced", "0"), ("limit", "2.0.0")], kind="SEMVER"))[0] is True


def test_unreadable_inputs_are_told_apart() -> None:
    ev = RangeEvaluator()
    with pytest.raises(BadRange):
        ev.evaluate("deb", "1.0", ev.key("deb", "1.0"), _entry([("introduced", "0"), ("fixed", "bad version!")]))
    with pytest.raises(UnparsableVersion):
        ev.key("pypi", "not a version")
    with pytest.raises(UnparsableVersion):
        ev.key("deb", "  ")


def test_fix_states() -> None:
    assert _verdict("deb", "1.0", _entry([("introduced", "0")], state="not_affected")) == (False, ())
    assert _verdict("deb", "1.0", _entry(state="unfixed")) == (True, ())
    assert _verdict("deb", "1.0", _entry(state="wont_fix")) == (True, ())
    assert _verdict("deb", "1.0", _entry(state="fixed")) == (False, ())
    # listed explicitly though outside every range: affected, with the nearest fix above it
    listed = _entry([("introduced", "2.0"), ("fixed", "2.1")], [("introduced", "3.0"), ("fixed", "3.1")],
                    versions=["1.5"])
    assert _verdict("deb", "1.5", listed) == (True, ("2.1",))


# --- the compiled walk against OSV's algorithm stated plainly (https://ossf.github.io/osv-schema/#evaluation) --


def _reference(scheme: str, version: str, events: list[tuple[str, str]]) -> bool:
    """OSV's pseudo-code: sort events by version (introduced 0 first), walk, `limit`s cap."""
    key = parse(scheme, version)
    for kind, v in events:
        if kind == "limit" and key >= parse(scheme, v):
            return False
    ordered = sorted(((0 if v == "0" and kind == "introduced" else 1, v, kind) for kind, v in events if kind != "limit"),
                     key=_Cmp.of(scheme))
    affected = False
    for _, v, kind in ordered:
        if kind == "introduced" and (v == "0" or key >= parse(scheme, v)):
            affected = True
        elif (kind == "fixed" and key >= parse(scheme, v)) or (kind == "last_affected" and key > parse(scheme, v)):
            affected = False
    return affected


@dataclass
class _Cmp:
    scheme: str
    item: tuple[int, str, str] = field(default=(0, "", ""))

    @staticmethod
    def of(scheme: str) -> Any:
        return lambda item: _Cmp(scheme, item)

    def __lt__(self, other: _Cmp) -> bool:
        a, b = self.item, other.item
        if a[0] != b[0]:
            return a[0] < b[0]
        if a[0] == 0:
            return False
        c = compare(self.scheme, a[1], b[1])
        if c:
            return c < 0
        return _ORDER[a[2]] < _ORDER[b[2]]


_ORDER = {"introduced": 0, "last_affected": 1, "fixed": 2}
_VERSIONS = st.builds(lambda a, b, c: f"{a}.{b}.{c}", st.integers(0, 4), st.integers(0, 4), st.integers(0, 4))
_EVENTS = st.lists(st.tuples(st.sampled_from(["introduced", "fixed", "last_affected", "limit"]),
                             st.one_of(_VERSIONS, st.just("0"))), min_size=1, max_size=8)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["npm", "deb", "pypi", "go"]), _VERSIONS, _EVENTS)
def test_compiled_walk_agrees_with_osv_algorithm(scheme: str, version: str, events: list[tuple[str, str]]) -> None:
    events = [(k, v) for k, v in events if not (v == "0" and k != "introduced")]
    if any(k == "fixed" for k, _ in events):  # OSV: a range has `fixed` or `last_affected` events, never both
        events = [(k, v) for k, v in events if k != "last_affected"]
    if not events:
        return
    got, fixed = _verdict(scheme, version, _entry(events))
    assert got == _reference(scheme, version, events)
    for fix in fixed:  # a reported fix is above the installed version and closes a range
        assert compare(scheme, fix, version) > 0 and ("fixed", fix) in events
