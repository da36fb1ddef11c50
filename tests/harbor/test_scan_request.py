"""Harbor's ScanRequest is untrusted input: whatever the body, parse_scan_request returns a request or raises
ScanRequestError with one of the spec's statuses (never another exception), and what it returns is safe to
pull (an http(s) host, a valid repository, a sha256 digest, a type we scan)."""

from __future__ import annotations

import base64
import json
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from hullscan.harbor.service import CONSUMES, HarborScanRequest, ScanRequestError, parse_scan_request

DIGEST = "sha256:" + "a" * 64
GOOD = {"registry": {"url": "https://core.harbor.domain", "authorization": "Basic " + base64.b64encode(
    b"robot$scanner:s3cret:with:colons").decode()},
        "artifact": {"repository": "library/mongo", "digest": DIGEST, "tag": "7",
                     "mime_type": "application/vnd.docker.distribution.manifest.v2+json"}}
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                        max_size=4), max_leaves=12)


def _outcome(body: bytes) -> HarborScanRequest | int:
    try:
        return parse_scan_request(body)
    except ScanRequestError as exc:
        assert exc.status in (400, 422, 501)
        return exc.status


def test_a_good_request() -> None:
    parsed = parse_scan_request(json.dumps(GOOD).encode())
    assert parsed.reference == f"core.harbor.domain/library/mongo@{DIGEST}"
    assert (parsed.username, parsed.password, parsed.insecure) == ("robot$scanner", "s3cret:with:colons", False)
    assert parsed.artifact() == GOOD["artifact"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes(body: bytes) -> None:
    _outcome(body)


@settings(max_examples=300, deadline=None)
@given(json_values, json_values, st.sampled_from(["registry", "artifact"]), st.sampled_from(
    ["url", "authorization", "repository", "digest", "mime_type", "tag"]))
def test_any_json_in_any_field(whole: object, value: object, part: str, key: str) -> None:
    _outcome(json.dumps(whole).encode())
    doc = json.loads(json.dumps(GOOD))
    doc[part][key] = value
    got = _outcome(json.dumps(doc).encode())
    if isinstance(got, HarborScanRequest):
        assert got.digest.startswith("sha256:") and len(got.digest) == 71
        assert got.mime_type in CONSUMES and "/" in got.reference and " " not in got.reference


def test_large_inputs_are_refused_quickly() -> None:
    started = time.monotonic()
    assert _outcome(b"[" * 60_000) == 400
    long_name = json.loads(json.dumps(GOOD))
    long_name["artifact"]["repository"] = "a-" * 30_000 + "!"
    assert _outcome(json.dumps(long_name).encode()) in (400, 422)
    assert time.monotonic() - started < 2
