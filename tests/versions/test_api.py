"""The public entry points: scheme names and aliases, typed errors for bad input, and parse/compare agreement."""

from __future__ import annotations

import pytest

from hullscan.versions import InvalidVersion, compare, parse
from tests.versions.test_oracles import DEB_BASES, RPM_BASES, _pairs


@pytest.mark.parametrize("scheme", ["deb", "rpm", "pypi", "apk", "gem", "maven"])
@pytest.mark.parametrize("bad", [None, 5, ["1.0"], {"v": 1}, b"1.0"])
def test_non_strings_raise_the_typed_error(scheme: str, bad: object) -> None:
    with pytest.raises(InvalidVersion):
        parse(scheme, bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidVersion):
        compare(scheme, "1.0", bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidVersion):
        compare(scheme, bad, "1.0")  # type: ignore[arg-type]


def test_scheme_names_are_case_insensitive_and_aliases_work() -> None:
    assert compare("DPKG", "1:0", "2") == compare("debian", "1:0", "2") == compare("deb", "1:0", "2") == 1
    assert compare("PEP440", "1.0rc1", "1.0") == compare("pypi", "1.0rc1", "1.0") == -1
    with pytest.raises(ValueError, match="unknown version scheme"):
        compare("nonsense", "1", "2")
    with pytest.raises(ValueError, match="unknown version scheme"):
        parse("nonsense", "1")


@pytest.mark.parametrize(("scheme", "bases", "extra"), [("deb", DEB_BASES, "+deb12u1"), ("rpm", RPM_BASES, ".el8")])
def test_parse_keys_order_like_compare(scheme: str, bases: list[str], extra: str) -> None:
    """Matching sorts parse() keys; they must order exactly as compare() does."""
    checked = 0
    for a, b in _pairs(bases, extra, 3000, 21):
        try:
            ka, kb = parse(scheme, a), parse(scheme, b)
        except InvalidVersion:
            continue
        assert ((ka > kb) - (ka < kb)) == compare(scheme, a, b), (a, b)
        checked += 1
    assert checked > 2000
