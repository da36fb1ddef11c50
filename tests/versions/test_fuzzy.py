"""The fuzzy scheme (grype's fallback order) against a literal string formulation of the same rules.

`hullscan.versions.fuzzy` turns a version into parsed parts once (so comparisons can be cached); the reference
below walks the two strings side by side, zero-padding numbers and comparing text, as the rule is written.
Random strings over the characters that matter must get the same answer from both.
"""

from __future__ import annotations

import random
import string

import pytest

from hullscan.versions import InvalidVersion, compare, parse, satisfies

PUNCT = set(string.punctuation)


def _split(s: str) -> tuple[int, int, int]:
    """(digits at the start, end of the compared text, start of the next part)."""
    digits = len(s) - len(s.lstrip("0123456789"))
    if digits == len(s):
        return digits, digits, digits
    for i, c in enumerate(s):
        if c in PUNCT:
            return digits, i, i + 1
    return digits, len(s), len(s)


def _patch_split(text: str) -> int:
    for i in range(len(text) - 1):
        if text[i].isascii() and text[i].isalpha() and text[i + 1] in "0123456789":
            return i + 1
    return -1


def _cmp(x: object, y: object) -> int:
    return (x > y) - (x < y)  # type: ignore[operator]


def _reference(a: str, b: str) -> int:
    a, b = a.removeprefix("v"), b.removeprefix("v")
    s1, s2 = a, b
    while s1 and s2:
        n1, end1, skip1 = _split(s1)
        n2, end2, skip2 = _split(s2)
        t1, t2 = "0" * max(0, n2 - n1) + s1[:end1], "0" * max(0, n1 - n2) + s2[:end2]
        p1, p2 = _patch_split(t1), _patch_split(t2)
        if p1 > 0 and p2 > 0:
            if t1[:p1] != t2[:p2]:
                return _cmp(t1[:p1], t2[:p2])
            r1, r2 = t1[p1:], t2[p2:]
            if r1.isdigit() and r2.isdigit() and int(r1) != int(r2):
                return _cmp(int(r1), int(r2))
        if t1 != t2:
            return _cmp(t1, t2)
        s1, s2 = s1[skip1:], s2[skip2:]
    return _cmp(len(a.encode()), len(b.encode()))


def test_fuzzy_order_equals_the_string_rules_on_random_versions() -> None:
    rng = random.Random(11)
    alphabet = "0123456789" * 3 + "..--_+~pPrcab" + "v"
    versions = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9))) for _ in range(1500)]
    versions += ["1.0", "1.00", "1.0.0", "1.0.0-post1", "4.2.8p9", "4.2.8p15", "1.0.2k", "1.0.2zh", "95SE", "98SP1",
                 "v1.0", "1..2", "1.", "08.0", "5.0", "1.0rc01", "1.0rc1", "1.0rc1a", "ä1", "a1", "1.000", "1.0.ä"]
    wrong = []
    for _ in range(20000):
        a, b = rng.choice(versions), rng.choice(versions)
        if compare("fuzzy", a, b) != _reference(a, b):
            wrong.append((a, b, _reference(a, b), compare("fuzzy", a, b)))
    assert not wrong, wrong[:10]


def test_fuzzy_is_antisymmetric_and_reads_anything_but_empty() -> None:
    assert compare("fuzzy", "4.2.8p9", "4.2.8p15") == -1 and compare("fuzzy", "4.2.8p15", "4.2.8p9") == 1
    assert compare("fuzzy", "1.02", "1.2") == 1  # equal parts, the longer string wins
    assert compare("fuzzy", "1.000", "1.0.ä") == -1  # lengths in bytes, like the Go original
    assert parse("fuzzy", "anything goes") is not None
    with pytest.raises(InvalidVersion):
        parse("fuzzy", "")


def test_fuzzy_constraints_use_semver_only_when_everything_looks_like_semver() -> None:
    # 1.0.0 is above 1.0.0-rc1 as semver; 1.0.2k is not semver-like, so the fuzzy order puts it above 1.0.2.
    assert satisfies("fuzzy", "1.0.0", "> 1.0.0-rc1")
    assert satisfies("fuzzy", "1.0.2k", ">= 1.0.2, < 1.0.2m")
    # The fuzzy order alone would call 1.0.0 older than 1.0.0-rc1 (shorter string): semver decides here.
    assert compare("fuzzy", "1.0.0", "1.0.0-rc1") == -1
    with pytest.raises(InvalidVersion):
        satisfies("fuzzy", "1.0", "~> 1.0")
