"""Trivy's ignore files (`.trivyignore`, `.trivyignore.yaml`) and Grype's `.grype.yaml` `ignore:` rules read as
each tool documents them, bounded, with clear errors; the parsers checked on any input by hypothesis."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hullscan.matching.finding import Finding, FindingPackage
from hullscan.matching.ignorefile import (MAX_BYTES, IgnoreFileError, IgnoreRule, default_ignorefile,
                                          grype_fix_state, load_ignorefile, parse_grype_yaml, parse_trivyignore,
                                          parse_trivyignore_yaml)

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


def _pkg_finding(vid: str, name: str, version: str, kind: str, *, fixed: list[str] | None = None,
                 fix_state: str = "fixed", path: str | None = None) -> Finding:
    package = FindingPackage(name=name, version=version, type=kind, path=path)
    return Finding(package=package, vulnerability_id=vid, identifiers=[vid], advisory_ids=[vid], ecosystem="x",
                   fixed_versions=fixed or [], fix_state=fix_state)


def test_grype_rules_match_every_field_they_name(tmp_path: Path) -> None:
    path = tmp_path / ".grype.yaml"
    path.write_text("""\
check-for-app-update: false     # grype's other settings are not ours: skipped
ignore:
  - vulnerability: CVE-2008-4318
    reason: not reachable
  - fix-state: wont-fix
  - package: {name: libcurl, version: 7.88.1-10}
  - package: {type: java-archive, location: "/opt/app/**"}
  - vulnerability: CVE-2020-1
    package: {name: openssl}
  - vulnerability: CVE-2024-9
    vex-status: not_affected      # a condition hullscan cannot judge: the rule matches nothing
""")
    rules = load_ignorefile(path)
    assert rules.rules[0].statement == "not reachable" and len(rules.rules) == 5
    findings = [
        _pkg_finding("CVE-2008-4318", "zlib", "1", "deb"),                                  # by id
        _pkg_finding("CVE-2023-1", "systemd", "252", "deb", fix_state="wont_fix"),          # wont-fix
        _pkg_finding("CVE-2023-2", "glibc", "2.36", "deb", fix_state="end_of_life"),        # wont-fix too
        _pkg_finding("CVE-2023-3", "libcurl", "7.88.1-10", "deb"),                          # name + version
        _pkg_finding("CVE-2023-4", "log4j", "2.0", "maven", path="/opt/app/lib/log4j.jar"),  # type + location
        _pkg_finding("CVE-2020-1", "openssl", "3.0", "deb"),                                 # id + name
        # kept:
        _pkg_finding("CVE-2023-5", "libcurl", "7.88.1-9", "deb"),       # another version
        _pkg_finding("CVE-2023-6", "log4j", "2.0", "maven", path="/usr/share/java/log4j.jar"),  # elsewhere
        _pkg_finding("CVE-2023-7", "log4j", "2.0", "npm", path="/opt/app/x.js"),   # another type
        _pkg_finding("CVE-2020-1", "openssl-dev", "3.0", "deb"),   # the id, but not that package
        _pkg_finding("CVE-2024-9", "zlib", "1", "deb"),            # only a vex-status rule names it
        _pkg_finding("CVE-2023-8", "bash", "5", "deb", fix_state="unfixed"),
    ]
    kept, ignored = rules.apply(findings, TODAY)
    assert len(ignored) == 6 and [f.vulnerability_id for f in kept] == [
        "CVE-2023-5", "CVE-2023-6", "CVE-2023-7", "CVE-2020-1", "CVE-2024-9", "CVE-2023-8"]


def test_grype_fix_states_from_ours() -> None:
    assert grype_fix_state(_pkg_finding("A", "p", "1", "deb", fixed=["2"])) == "fixed"
    assert grype_fix_state(_pkg_finding("A", "p", "1", "deb", fix_state="unfixed")) == "not-fixed"
    assert grype_fix_state(_pkg_finding("A", "p", "1", "deb", fix_state="wont_fix")) == "wont-fix"
    assert grype_fix_state(_pkg_finding("A", "p", "1", "deb")) == "unknown"  # no fixed version, no distro word
    rules = parse_trivyignore_yaml("ignore:\n  - fix-state: not-fixed\n  - fix-state: unknown\n")
    kept, ignored = rules.apply([_pkg_finding("A", "p", "1", "deb", fixed=["2"]),
                                 _pkg_finding("B", "p", "1", "deb", fix_state="unfixed"),
                                 _pkg_finding("C", "p", "1", "deb")], TODAY)
    assert [f.vulnerability_id for f in kept] == ["A"] and len(ignored) == 2


def test_grype_rules_refused_with_a_clear_error() -> None:
    for text, message in (("ignore: {vulnerability: CVE-1}", "`ignore` must be a list"),
                          ("ignore: [CVE-1]", "ignore rule 1: must be a mapping"),
                          ("ignore:\n  - reason: why\n", "names nothing to match"),
                          ("ignore:\n  - {}\n", "names nothing to match"),
                          ("ignore:\n  - fix-state: maybe\n", "fix-state 'maybe' is not one of"),
                          ("ignore:\n  - package: libcurl\n", "`package` must be a mapping"),
                          ("ignore:\n  - package: {name: [a]}\n", "`package.name` must be a non-empty string")):
        with pytest.raises(IgnoreFileError, match=message):
            parse_trivyignore_yaml(text)
    assert parse_trivyignore_yaml("ignore:\n  - package: {version: 1.5}\n").rules[0].package_version == "1.5"


def test_default_file_is_trivys_then_grypes(tmp_path: Path) -> None:
    assert default_ignorefile(tmp_path) is None
    (tmp_path / ".grype.yaml").write_text("ignore: []\n")
    assert default_ignorefile(tmp_path) == tmp_path / ".grype.yaml"
    (tmp_path / ".trivyignore").write_text("CVE-1\n")
    assert default_ignorefile(tmp_path) == tmp_path / ".trivyignore"


_yaml_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                                st.sampled_from(["vulnerability", "fix-state", "package", "name", "version", "type",
                                                 "location", "reason", "vex-status", "x"]), inner, max_size=4),
                            max_leaves=20)


@given(st.dictionaries(st.sampled_from(["ignore", "other"]), _yaml_values, max_size=2))
def test_any_grype_document_gives_rules_or_a_clear_error(doc: dict) -> None:
    try:
        rules = parse_grype_yaml(doc)
    except IgnoreFileError:
        return
    for rule in rules.rules:  # a rule that parsed names something to match
        assert rule.id or rule.fix_state or rule.package_name or rule.package_version or rule.package_types or rule.paths
