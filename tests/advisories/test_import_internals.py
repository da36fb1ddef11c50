"""Pieces of the fast import path whose mistakes would not show as wrong counts: the stored-content hash must
keep its format (a change would rewrite every record once), the range memo must never hand out another
range's text, and the garbage-collector setting must always be restored."""

from __future__ import annotations

import gc
import hashlib
import json
import threading
from datetime import datetime, timezone

import pytest

from hullscan.advisories import service
from hullscan.advisories.parsers import alpine
from hullscan.advisories.parsers.base import Parsed, Tally, fixed_range
from hullscan.advisories.store import RangeMemo, content_hash
from hullscan.advisories.types import Advisory, AffectedPackage, AffectedRange, RangeEvent


def _parsed() -> Parsed:
    adv = Advisory(id="GHSA-x", source="osv", aliases=["CVE-2024-1"], summary="s", details="d\u00e9tails",
                   published=datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc), cvss_vectors={"3": "CVSS:3.1/AV:N"},
                   references=["https://example.test/a"])
    ranges = [AffectedRange("ECOSYSTEM", (RangeEvent("introduced", "0"), RangeEvent("fixed", "2.0")))]
    affected = [
        AffectedPackage("GHSA-x", "PyPI", "zeta", ranges, ["1.0", "1.5"], "fixed"),
        AffectedPackage("GHSA-x", "PyPI", "alpha", [], [], "unfixed", "high"),
    ]
    return Parsed(adv, affected)


def test_content_hash_keeps_the_documented_format() -> None:
    p = _parsed()
    a = p.advisory
    head = [a.id, a.aliases, a.summary, a.details, str(a.published), None, None, None, None, None,
            [["3", "CVSS:3.1/AV:N"]], a.references]
    affected = [["PyPI", "alpha", [], [], "unfixed", "high"],
                ["PyPI", "zeta", [["ECOSYSTEM", [["introduced", "0"], ["fixed", "2.0"]]]], ["1.0", "1.5"], "fixed", ""]]
    text = json.dumps([head, affected], separators=(",", ":"))
    assert content_hash(p) == hashlib.sha256(text.encode()).hexdigest()
    assert content_hash(p, RangeMemo()) == content_hash(p)


def test_range_memo_texts_follow_each_range_object() -> None:
    memo = RangeMemo()
    shared = fixed_range("1.2.3-r0")
    other = [AffectedRange("ECOSYSTEM", (RangeEvent("introduced", "1.0"), RangeEvent("last_affected", "1.4")))]
    assert memo.text(shared) == memo.text(fixed_range("1.2.3-r0"))  # one cached object, one text
    assert json.loads(memo.text(shared)) == [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2.3-r0"}]}]
    assert json.loads(memo.text(other + shared)) == [
        {"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"last_affected": "1.4"}]},
        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2.3-r0"}]},
    ]
    # Many short-lived ranges: a memo entry keeps its range alive, so a recycled id never returns a stale text.
    for i in range(2000):
        rng = AffectedRange("ECOSYSTEM", (RangeEvent("fixed", f"{i}.0"),))
        assert json.loads(memo.text([rng]))[0]["events"] == [{"fixed": f"{i}.0"}]
    assert memo.text([]) == "[]"


def test_bulk_allocation_restores_gc_thresholds_even_on_errors_and_when_nested() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError):
        with service._bulk_allocation():
            assert gc.get_threshold() == service._IMPORT_GC_THRESHOLDS
            with service._bulk_allocation():
                pass
            assert gc.get_threshold() == service._IMPORT_GC_THRESHOLDS  # the inner exit must not restore yet
            raise RuntimeError("source failed")
    assert gc.get_threshold() == before

    inside = threading.Event()
    release = threading.Event()

    def other_import() -> None:
        with service._bulk_allocation():
            inside.set()
            release.wait(10)

    worker = threading.Thread(target=other_import)
    worker.start()
    assert inside.wait(10)
    with service._bulk_allocation():
        pass
    assert gc.get_threshold() == service._IMPORT_GC_THRESHOLDS  # the other import is still running
    release.set()
    worker.join(10)
    assert gc.get_threshold() == before


def test_alpine_ids_sharing_a_fixed_version_are_separate_entries_and_separately_counted() -> None:
    doc = {"distroversion": "v3.19", "packages": [
        {"pkg": {"name": "openssl", "secfixes": {"3.1.4-r1": ["CVE-2023-1 CVE-2023-2", "CVE-2023-3 (see notes)"],
                                                 "not a version!": ["CVE-2023-4", "CVE-2023-5"]}}},
    ]}
    tally = Tally()
    parsed = {p.advisory.id: p for p in alpine.iter_documents([("main.json", json.dumps(doc).encode())], tally)}
    assert sorted(parsed) == ["ALPINE-CVE-2023-1", "ALPINE-CVE-2023-2", "ALPINE-CVE-2023-3"]
    entries = [e for p in parsed.values() for e in p.affected]
    assert [e.advisory_id for e in entries] == sorted(parsed)
    assert all(e.ecosystem == "Alpine:v3.19" and e.package == "openssl" and e.fix_state == "fixed" for e in entries)
    assert len({id(e.ranges) for e in entries}) == 3  # no list shared between entries
    assert tally.skipped["invalid_version"] == 2  # both ids under the unreadable version
