"""hullscan.versions against the real tools: dpkg, rpm (python3-rpm of the system Python), packaging."""

from __future__ import annotations

import json
import random
import shutil
import subprocess

import packaging.version
import pytest

from hullscan.versions import InvalidVersion, compare, parse, scheme_for_ecosystem

DEB_BASES = [
    "1:2.38-4+deb12u1", "3.0.11-1~deb12u2", "2.36.1-8+deb11u1", "1.2.3-1ubuntu0.1", "7u151-2.6.11",
    "1.10.0~rc1", "2.9.14+dfsg", "0.9.8A-2build1", "2:1.20.11-1+deb11u6", "102.9.0esr-1~deb11u1",
    "5.0.0+ds1-1+deb11u2", "1.0", "1.0-0", "0", "20230101", "2.4.56-1~deb11u1", "1:0.1.2+git20200101.abc-3",
]
RPM_BASES = [
    "2.17-326.el7_9.3", "1.1.1k-12.el8_10", "3.0.7-2.module+el8.7.0+1234+abcd1234", "1.0^20230101git1a2b3c",
    "1.0~rc1", "150400.3.8.1", "2.0.1-1.amzn2023", "1.2.3-4.cm2", "1:4.19.0-1.el7_5", "9.16.23-26.el8_6",
    "0.9.8zb-1", "1.0a", "2.5.5-1.el9_3.1", "20101121", "5.2", "1.0-1", "1.0^git1~pre",
]


def _mutate(rng: random.Random, v: str, extra: str) -> str:
    ops = [
        lambda s: s.replace(str(d), str(d + rng.choice([-1, 1, 10])), 1) if (d := rng.randint(0, 9)) and str(d) in s else s + ".1",
        lambda s: s + rng.choice(["~", "~rc1", "+b1", "a", ".0", "-1", "-0", "+dfsg", "~beta2", extra]),
        lambda s: s.split("-")[0] if "-" in s else s + "-" + str(rng.randint(0, 12)),
        lambda s: (str(rng.randint(0, 3)) + ":" + s.split(":", 1)[-1]) if rng.random() < 0.5 else s.split(":", 1)[-1],
        lambda s: s.replace(".", ".0", 1),
        lambda s: s.replace("1", "01", 1),
        lambda s: s[:-1] if len(s) > 1 and s[-1].isalnum() else s,
    ]
    for _ in range(rng.randint(1, 3)):
        v = rng.choice(ops)(v)
    return v


def _pairs(bases: list[str], extra: str, n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        a = _mutate(rng, rng.choice(bases), extra)
        b = a if rng.random() < 0.15 else _mutate(rng, rng.choice([a, rng.choice(bases)]), extra)
        out.append((a, b))
    return out


def _deb_valid(v: str) -> bool:
    try:
        parse("deb", v)
    except InvalidVersion:
        return False
    up = v.split(":", 1)[-1]
    return "_" not in v and not up.startswith("-") and not up.endswith("-")


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs dpkg")  # dpkg is installed on the test host
def test_deb_matches_dpkg_on_2500_pairs() -> None:
    pairs = [(a, b) for a, b in _pairs(DEB_BASES, "+deb12u1", 3200, 4) if _deb_valid(a) and _deb_valid(b)][:2500]
    assert len(pairs) >= 2000
    edge = [("1.0", "1.0~"), ("1.0~~", "1.0~"), ("1.0", "1.0+"), ("1.0-0", "1.0"), ("0:1.0", "1.0"),
            ("1.0a", "1.0-"), ("1:0", "0:9"), ("1.0.0", "1.0"), ("1.001", "1.1"), ("2.0~rc1-1", "2.0-1~bpo1")]
    pairs += [(a, b) for a, b in edge if _deb_valid(a) and _deb_valid(b)]
    # One shell per 400 pairs: each line prints lt/eq/gt as dpkg decides.
    expected = []
    for start in range(0, len(pairs), 400):
        chunk = pairs[start:start + 400]
        script = "\n".join(
            f"if dpkg --compare-versions '{a}' lt '{b}'; then echo -1; "
            f"elif dpkg --compare-versions '{a}' eq '{b}'; then echo 0; else echo 1; fi"
            for a, b in chunk
        )
        out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout.split()
        expected.extend(int(x) for x in out)
    assert len(expected) == len(pairs)
    wrong = [(a, b, e, compare("deb", a, b)) for (a, b), e in zip(pairs, expected) if compare("deb", a, b) != e]
    assert not wrong, f"{len(wrong)} of {len(pairs)} disagree with dpkg: {wrong[:10]}"
    assert {-1, 0, 1} <= set(expected)


RPM_ORACLE = """
import json, sys, rpm
def split(evr):
    i = 0
    while i < len(evr) and evr[i].isdigit():
        i += 1
    if i < len(evr) and evr[i] == ':':
        e, rest = evr[:i] or '0', evr[i + 1:]
    else:
        e, rest = '0', evr
    v, _, r = rest.rpartition('-') if '-' in rest else (rest, '', '')
    return (e, v, r)
pairs = json.load(sys.stdin)
print(json.dumps([rpm.labelCompare(split(a), split(b)) for a, b in pairs]))
"""


def test_rpm_matches_rpm_label_compare_on_2000_pairs() -> None:
    pairs = _pairs(RPM_BASES, ".el8_10", 2000, 7)
    pairs = [(a, b) for a, b in pairs if a and b and not a.startswith(("-", ":")) and not b.startswith(("-", ":"))
             and a.split(":", 1)[-1].rsplit("-", 1)[0] and b.split(":", 1)[-1].rsplit("-", 1)[0]]
    pairs += [("1.0^", "1.0"), ("1.0~rc1", "1.0"), ("1.0^git1", "1.0.1"), ("1.02", "1.2"), ("1.0a", "1.0.a"),
              ("1:1.0", "2.0"), ("1.0-1", "1.0"), ("2.0-1.el8", "2.0-1.el8_1")]
    proc = subprocess.run(["/usr/bin/python3", "-c", RPM_ORACLE], input=json.dumps(pairs),
                          capture_output=True, text=True, check=True)
    expected = json.loads(proc.stdout)
    assert len(pairs) >= 2000 and len(expected) == len(pairs)
    wrong = [(a, b, e, compare("rpm", a, b)) for (a, b), e in zip(pairs, expected) if compare("rpm", a, b) != e]
    assert not wrong, f"{len(wrong)} of {len(pairs)} disagree with rpm.labelCompare: {wrong[:10]}"


def test_pep440_matches_packaging() -> None:
    rng = random.Random(3)
    parts = ["1.0", "1.0.0", "1.0a1", "1.0b2", "1.0rc1", "1.0.post1", "1.0.dev3", "1!0.5", "1.0+local.7",
             "2.0", "0.9.9", "1.0.post1.dev2", "1.0a1.dev1", "1.1", "1.01", "1.0c1", "1.0-1", "1.0_rc2"]
    pairs = [(rng.choice(parts), rng.choice(parts)) for _ in range(1500)]
    for a, b in pairs:
        va, vb = packaging.version.Version(a), packaging.version.Version(b)
        assert compare("pypi", a, b) == (va > vb) - (va < vb), (a, b)
    with pytest.raises(InvalidVersion):
        compare("pypi", "not a version", "1.0")


def test_apk_rules() -> None:
    assert compare("apk", "1.02", "1.2") == -1  # a leading zero makes the group a fraction
    assert compare("apk", "1.010", "1.01") == 1
    assert compare("apk", "1.0_rc1", "1.0") == -1
    assert compare("apk", "1.0_alpha", "1.0_beta") == -1
    assert compare("apk", "1.0_p1", "1.0") == 1
    assert compare("apk", "1.0_git20200101", "1.0") == 1
    assert compare("apk", "1.2.3-r1", "1.2.3-r10") == -1
    assert compare("apk", "1.2.3a", "1.2.3") == 1
    assert compare("apk", "1.0.0", "1.0") == 1
    with pytest.raises(InvalidVersion):
        parse("apk", "not-a-version")


def test_scheme_for_ecosystem() -> None:
    assert scheme_for_ecosystem("Debian:12") == "deb"
    assert scheme_for_ecosystem("Ubuntu:24.04") == "deb"
    assert scheme_for_ecosystem("Alpine:v3.19") == "apk"
    assert scheme_for_ecosystem("Rocky Linux:9") == "rpm"
    assert scheme_for_ecosystem("PyPI") == "pypi"
    assert scheme_for_ecosystem("crates.io") == "cargo"
    with pytest.raises(ValueError):
        scheme_for_ecosystem("Nonsense")


def test_go_forms() -> None:
    assert compare("go", "go1.21.3", "1.21.3") == 0
    assert compare("go", "go1.21rc1", "go1.21.0") == -1
    assert compare("go", "v2.0.0+incompatible", "v2.0.0") == 0
    assert compare("go", "v0.0.0-20180116102854-5a71ef0e047d", "v0.0.1") == -1
