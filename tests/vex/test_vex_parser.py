"""The VEX reader on untrusted input: any bytes give a document or a VexError, never another exception."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from hullscan.matching.vex import STATUSES, VexError, parse_vex

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                     max_leaves=30)
_statement = st.fixed_dictionaries({}, optional={
    "vulnerability": st.one_of(_json, st.fixed_dictionaries({"name": st.text(max_size=20)},
                                                             optional={"aliases": _json})),
    "products": st.one_of(_json, st.lists(st.one_of(st.text(max_size=30), st.fixed_dictionaries(
        {"@id": st.text(max_size=30)}, optional={"subcomponents": _json})), max_size=3)),
    "status": st.one_of(st.sampled_from(sorted(STATUSES)), _json),
    "justification": _json, "status_notes": _json})


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), _json.map(lambda v: json.dumps(v).encode()),
                 st.lists(_statement, max_size=5).map(lambda s: json.dumps({"statements": s}).encode()),
                 st.lists(_json, max_size=4).map(lambda v: json.dumps(
                     {"bomFormat": "CycloneDX", "vulnerabilities": v, "components": v}).encode())))
def test_any_input_is_a_document_or_a_clear_error(data: bytes) -> None:
    try:
        doc = parse_vex(data)
    except VexError as exc:
        assert str(exc)
        return
    assert doc.skipped + len(doc.statements) >= 0
    for stmt in doc.statements:
        assert stmt.status in STATUSES and stmt.vulnerabilities and stmt.products


def test_size_cap_and_deep_nesting() -> None:
    try:
        parse_vex(b"[" * 100_000 + b"]" * 100_000)
    except VexError as exc:
        assert "not valid JSON" in str(exc)
    else:
        raise AssertionError("deep nesting accepted")
    try:
        parse_vex(b"{}" + b" " * 2048, max_bytes=1024)
    except VexError as exc:
        assert "limit" in str(exc)
    else:
        raise AssertionError("size cap not applied")
