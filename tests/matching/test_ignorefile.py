"""Trivy's ignore files (`.trivyignore`, `.trivyignore.yaml`) read as Trivy documents them, bounded, with
clear errors; the plain format's parser checked on any text by hypothesis."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hullscan.matching.finding import Finding, FindingPackage
from hullscan.matching.ignorefile import (MAX_BYTES, IgnoreFileError, IgnoreRule, load_ignorefile,
                                          parse_trivyignore, parse_trivyignore_yaml)

TODAY = date(2026, 6, 1)


def _finding(vid: str, *aliases: str, purl: str = "pkg:pypi/urllib3@1.24.1", path: str | None = None) -> Finding:
    package = FindingPackage(name="urllib3", version="1.24.1", type="pypi", purl=purl, path=path)
    return Finding(package=package, vulnerability_id=vid, identifiers=[vid, *aliases], advisory_ids=[vid],
                   ecosystem="PyPI")


def test_plain_format_ids_comments_and_expiry() -> None:
    rules = parse_trivyignore("# accepted risks\n\nCVE-2021-1 \n  GHSA-aaaa-bbbb-cccc exp:2026-12-31 # until Q4\n"
                              "CVE-2020-9 exp:2025-01-01\n")
    assert [r.id for r in rules.rules] == ["CVE-2021-1", "GHSA-aaaa-bbbb-cccc", "CVE-2020-9"]
    findings = [_finding("CVE-2021-1"), _finding("CVE-2022-5", "GHSA-aaaa-bbbb-cccc"), _finding("CVE-2020-9"),
                _finding("CVE-2023-7")]
    kept, ignored = rules.apply(findings, TODAY)
    assert [f.vulnerability_id for f in ignored] == ["CVE-2021-1", "CVE-2022-5"]  # an alias names it too
    assert [f.vulnerability_id for f in kept] == ["CVE-2020-9", "CVE-2023-7"]  # expired: applies no more
    for bad, message in (("CVE-1 exp:2026-13-01", "line 1: '2026-13-01' is not a date"),
                         ("\nCVE-1 because", "line 2: unexpected 'because'")):
        with pytest.raises(IgnoreFileError, match=message):
            parse_trivyignore(bad)


def test_yaml_format_paths_purls_expiry_statement(tmp_path: Path) -> None:
    path = tmp_path / ".trivyignore.yaml"
    path.write_text("""
vulnerabilities:
  - id: CVE-2021-1
    paths: ["usr/lib/python3/dist-packages/*"]
    statement: not reachable
  - id: CVE-2021-2
    purls: ["pkg:pypi/urllib3"]
    expired_at: 2027-01-01
  - id: CVE-2021-3
    purls: ["pkg:pypi/urllib3@9.9"]
  - id: CVE-2021-4
    expired_at: 2020-01-01
misconfigurations:
  - id: AVD-DS-0001
""")
    rules = load_ignorefile(path)
    assert rules.rules[0] == IgnoreRule(id="CVE-2021-1", paths=("usr/lib/python3/dist-packages/*",),
                                        statement="not reachable")
    findings = [_finding("CVE-2021-1", path="/usr/lib/python3/dist-packages/urllib3/__init__.py"),
                _finding("CVE-2021-1", path="/app/venv/urllib3/__init__.py"), _finding("CVE-2021-2"),
                _finding("CVE-2021-3"), _finding("CVE-2021-4")]
    kept, ignored = rules.apply(findings, TODAY)
    assert [(f.vulnerability_id, f.package.path) for f in ignored] == [
        ("CVE-2021-1", "/usr/lib/python3/dist-packages/urllib3/__init__.py"), ("CVE-2021-2", None)]
    assert [f.vulnerability_id for f in kept] == ["CVE-2021-1", "CVE-2021-3", "CVE-2021-4"]
    for text, message in (("- a", "a mapping"), ("vulnerabilities: {id: x}", "must be a list"),
                          ("vulnerabilities: [{paths: [a]}]", "entry 1: needs an `id`"),
                          ("vulnerabilities: [{id: x, purls: a}]", "`purls` must be a list"),
                          ("vulnerabilities: [{id: x, expired_at: soon}]", "'soon' is not a date"),
                          ("vulnerabilities: [", "not YAML")):
        with pytest.raises(IgnoreFileError, match=message):
            parse_trivyignore_yaml(text)


def test_untrusted_files_are_bounded(tmp_path: Path) -> None:
    big = tmp_path / ".trivyignore"
    big.write_text("CVE-2021-1\n" * (MAX_BYTES // 11 + 1))
    with pytest.raises(IgnoreFileError, match="larger than"):
        load_ignorefile(big)
    bomb = tmp_path / "bomb.yaml"  # aliases repeat one list: counted as what they expand to
    bomb.write_text("a: &a [" + ",".join(["x"] * 1000) + "]\nvulnerabilities:\n"
                    + "".join("  - {id: CVE-1, paths: *a}\n" for _ in range(200)))
    with pytest.raises(IgnoreFileError, match="more than 100000"):
        load_ignorefile(bomb)
    binary = tmp_path / "bin"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(IgnoreFileError, match="not UTF-8"):
        load_ignorefile(binary)
    with pytest.raises(IgnoreFileError, match="cannot read"):
        load_ignorefile(tmp_path / "missing")


@given(st.text(max_size=300))
def test_any_text_parses_or_is_a_clear_error(text: str) -> None:
    try:
        rules = parse_trivyignore(text)
    except IgnoreFileError as exc:
        assert str(exc).startswith("line ")
        return
    assert all(rule.id and not rule.id.startswith("#") and " " not in rule.id for rule in rules.rules)


ids = st.from_regex(r"(CVE-20[0-9]{2}-[0-9]{4,7}|GHSA-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})", fullmatch=True)


@given(st.lists(st.tuples(ids, st.one_of(st.none(), st.dates())), max_size=20))
def test_written_rules_read_back(entries: list[tuple[str, date | None]]) -> None:
    text = "".join(f"{vid}{f' exp:{d.isoformat()}' if d else ''}  # note\n" for vid, d in entries)
    assert [(r.id, r.expires) for r in parse_trivyignore(text).rules] == entries
