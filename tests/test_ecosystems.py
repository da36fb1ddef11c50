"""The one ecosystem table: an image's release and an advisory's release normalise to the same key, every row
is consistent with the version library, and hostile ecosystem strings give a key or UnknownEcosystem."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hullscan import ecosystems as table
from hullscan.ecosystems import (
    DISTROS,
    ECOSYSTEMS,
    KINDS,
    UnknownEcosystem,
    UnsupportedRelease,
    canonical_family,
    normalize_ecosystem,
    normalize_name,
    os_ecosystem,
    scheme_for_ecosystem,
)
from hullscan.versions.schemes import PARSERS
from tests.conftest import data_path

# (image family, image version) and how feeds write the same release (OSV names where OSV has the distro).
SAME_RELEASE = [
    ("debian", "12.15", "Debian:bookworm", "Debian:12"),
    ("debian", "11", "Debian:11.9", "Debian:11"),
    ("ubuntu", "22.04", "Ubuntu:22.04:LTS", "Ubuntu:22.04"),
    ("ubuntu", "16.04-ESM", "Ubuntu:xenial", "Ubuntu:16.04"),
    ("alpine", "3.19.1", "Alpine:v3.19", "Alpine:v3.19"),
    ("alpine", "3.21_alpha20240807", "Alpine:edge", "Alpine:edge"),
    ("almalinux", "9.4", "AlmaLinux:9", "AlmaLinux:9"),
    ("rocky", "8.9", "Rocky Linux:8", "Rocky Linux:8"),
    ("rhel", "9.4", "Red Hat:enterprise_linux:9::appstream", "Red Hat:9"),
    ("oracle", "8.10", "Oracle Linux:8", "Oracle Linux:8"),
    ("amazon", "2", "Amazon Linux:2", "Amazon Linux:2"),
    ("amazon", "2018.03", "Amazon Linux:1", "Amazon Linux:1"),
    ("amazon", "2023", "Amazon Linux:2023", "Amazon Linux:2023"),
    ("centos", "7.9.2009", "CentOS:7", "CentOS:7"),
    ("fedora", "40", "Fedora:40", "Fedora:40"),
    ("sles", "15.5", "SUSE:Linux Enterprise Server 15 SP5", "SUSE:Linux Enterprise 15.5"),
    ("sles", "15.5", "SUSE:Linux Enterprise Module for Basesystem 15 SP5-LTSS", "SUSE:Linux Enterprise 15.5"),
    ("sles", "12.5", "SUSE:Linux Enterprise Module for Python 3 12 SP5", "SUSE:Linux Enterprise 12.5"),
    ("sle-micro", "5.5", "SUSE:Linux Enterprise Micro 5.5", "SUSE:Linux Enterprise Micro 5.5"),
    ("opensuse-leap", "15.5", "openSUSE:Leap 15.5", "openSUSE:Leap 15.5"),
    ("opensuse-tumbleweed", "20240101", "openSUSE:Tumbleweed", "openSUSE:Tumbleweed"),
    ("photon", "5.0", "Photon OS:5.0", "Photon OS:5.0"),
    ("azurelinux", "3.0", "Azure Linux:3.0", "Azure Linux:3.0"),
    ("mariner", "2.0", "Mariner:2", "Mariner:2.0"),
    ("wolfi", "20230201", "Wolfi:rolling", "Wolfi"),
    ("chainguard", "20230214", "Chainguard", "Chainguard"),
]


@pytest.mark.parametrize(("family", "version", "advisory", "key"), SAME_RELEASE)
def test_image_and_advisory_release_agree(family: str, version: str, advisory: str, key: str) -> None:
    assert os_ecosystem(family, version) == key
    assert normalize_ecosystem(advisory) == key
    assert normalize_ecosystem(key) == key  # a stored key normalises to itself


def test_minor_release_streams_stay_apart_from_the_main_stream() -> None:
    """A fix published for RHEL 8.6 EUS must not be applied to RHEL 8 images (and vice versa)."""
    assert normalize_ecosystem("Red Hat:rhel_eus:8.6::baseos") == "Red Hat:8.6+eus"
    assert normalize_ecosystem("Red Hat:8.6+eus") == "Red Hat:8.6+eus"
    assert os_ecosystem("rhel", "8.6") == "Red Hat:8"


def test_other_feed_spellings() -> None:
    assert normalize_ecosystem("Ubuntu:Pro:18.04:LTS") == "Ubuntu:Pro:18.04"
    assert normalize_ecosystem("pypi") == "PyPI"
    assert normalize_ecosystem("bitnami") == "Bitnami"
    assert normalize_ecosystem("Alpine:3.19") == "Alpine:v3.19"
    assert normalize_ecosystem("Debian:sid") == "Debian:unstable"
    assert normalize_ecosystem("Debian:3.1") == "Debian:3.1"
    assert normalize_ecosystem("AlmaLinux:not-a-release") == "AlmaLinux:not-a-release"  # kept; matches nothing
    with pytest.raises(UnknownEcosystem):
        normalize_ecosystem("Nonsense:1")


def test_unsupported_image_releases() -> None:
    with pytest.raises(UnsupportedRelease, match="no ESM"):
        os_ecosystem("ubuntu", "23.10-ESM")
    with pytest.raises(UnsupportedRelease):
        os_ecosystem("ubuntu", "jammy jellyfish")
    with pytest.raises(UnsupportedRelease):
        os_ecosystem("debian", "trixie/sid")
    with pytest.raises(UnsupportedRelease):
        os_ecosystem("gentoo", "2.15")
    assert os_ecosystem("alpine", "3.20.0", repository_release="edge") == "Alpine:edge"


def test_family_names_other_tools_write() -> None:
    assert canonical_family("amzn") == "amazon"
    assert canonical_family("ol") == "oracle"
    assert canonical_family("Red Hat Enterprise Linux") == "rhel"
    assert canonical_family("Debian GNU/Linux") == "debian"
    assert canonical_family("cbl-mariner") == "mariner"
    assert canonical_family("Something Else") == "something"


def test_rows_are_consistent() -> None:
    """Every distro's ecosystem has a row whose scheme is its package type's; every scheme is a real parser."""
    names = {e.name for e in ECOSYSTEMS}
    for row in DISTROS:
        assert row.ecosystem in names, row
        assert scheme_for_ecosystem(row.ecosystem) == KINDS[row.package_type].scheme, row
    for kind in KINDS.values():
        assert kind.scheme in PARSERS, kind
        if kind.ecosystem:
            assert scheme_for_ecosystem(kind.ecosystem) == kind.scheme, kind
    for eco in ECOSYSTEMS:
        assert eco.scheme in PARSERS, eco
    assert len({k.trivy_type for k in KINDS.values()}) == len(KINDS)
    assert len(table.KIND_BY_PURL_TYPE) == sum(len(k.purl_types) for k in KINDS.values())


def test_every_ecosystem_the_sample_feeds_name_has_a_row() -> None:
    """The OSV records of the shared feed samples and advisory copies use only ecosystems the table knows."""
    seen: set[str] = set()
    pattern = re.compile(rb'"ecosystem"\s*:\s*"([^"]{1,100})"')
    for root in (data_path("feeds-samples"), data_path("advisories")):
        for path in Path(root).rglob("*.json"):
            if path.stat().st_size < 4 << 20:
                seen.update(m.decode() for m in pattern.findall(path.read_bytes()))
    assert {"AlmaLinux:9", "Rocky Linux:9", "Ubuntu:22.04:LTS", "Wolfi", "Chainguard", "Go"} <= seen
    unknown = set()
    for name in seen:
        try:
            normalize_ecosystem(name)
        except UnknownEcosystem:
            unknown.add(name)
    # Trivy's own test data writes a package type ("java") where OSV writes an ecosystem.
    assert unknown <= {"java"}, unknown


@pytest.mark.parametrize(("eco", "name", "key"), [
    ("PyPI", "Django_REST.framework", "django-rest-framework"),
    ("crates.io", "Serde_JSON", "serde-json"),
    ("npm", "@Babel/Core", "@babel/core"),
    ("Go", "github.com/BurntSushi/toml", "github.com/BurntSushi/toml"),
    ("Maven", "org.Apache:Log4j", "org.Apache:Log4j"),
    ("Debian:12", "OpenSSL", "openssl"),
])
def test_package_name_keys(eco: str, name: str, key: str) -> None:
    assert normalize_name(eco, name) == key


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(DISTROS), st.from_regex(r"[0-9]{1,4}(\.[0-9]{1,3}){0,3}(-ESM)?|[a-z0-9._:-]{0,20}",
                                                fullmatch=True))
def test_an_image_key_is_a_stored_key(row: table.Distro, version: str) -> None:
    """Whatever release an image states, its key (when it has one) is a fixed point of the advisory side's
    normaliser, and names an ecosystem of the image's package scheme."""
    try:
        key = os_ecosystem(row.family, version)
    except UnsupportedRelease:
        return
    assert normalize_ecosystem(key) == key
    assert scheme_for_ecosystem(key) == KINDS[row.package_type].scheme


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_hostile_ecosystem_strings(text: str) -> None:
    try:
        key = normalize_ecosystem(text)
    except UnknownEcosystem:
        return
    assert normalize_ecosystem(key) == key


def test_long_hostile_release_is_linear() -> None:
    """An image's os-release (read up to 64 KiB) goes through every release rule without backtracking blow-up;
    advisory ecosystems that long are refused outright."""
    import time

    start = time.perf_counter()
    for row in DISTROS:
        for text in ("1 SP" * 16_000, "a:" * 32_000, "9." * 32_000, "Leap " + "1" * 64_000):
            try:
                os_ecosystem(row.family, text)
            except UnsupportedRelease:
                pass
    assert time.perf_counter() - start < 5
    for base in ("SUSE", "openSUSE", "Ubuntu", "Red Hat", "Debian", "Alpine"):
        with pytest.raises(UnknownEcosystem):
            normalize_ecosystem(f"{base}:" + "1 SP" * 250_000)


def test_sample_osv_feed_names_parse_to_json() -> None:
    """Sanity of the fixture folder this file reads (a moved folder must fail loudly, not pass vacuously)."""
    assert any(json.loads(p.read_text()) for p in Path(data_path("feeds-samples")).glob("rocky/**/RLSA-*.json"))


@pytest.mark.parametrize(("text", "family"), [
    ("AlmaLinux release 9.4 (Seafoam Ocelot)", "almalinux"),
    ("Rocky Linux release 8.9 (Green Obsidian)", "rocky"),
    ("CentOS Linux release 7.9.2009 (Core)", "centos"),
    ("CentOS Stream release 9", "centos"),
    ("Red Hat Enterprise Linux release 9.4 (Plow)", "rhel"),
    ("Fedora release 40 (Forty)", "fedora"),
    ("Amazon Linux release 2 (Karoo)", "amazon"),
    ("Scientific Linux release 7.9 (Nitrogen)", "rhel"),  # an unknown rebuild: treated as RHEL, as before
])
def test_release_files_name_families_through_the_table(text: str, family: str) -> None:
    from hullscan.scanner.osdetect import detect

    detected = detect({"/etc/redhat-release": text}, [])
    assert detected is not None and detected.family == family


def test_hostile_lengths_are_refused_or_not_cached() -> None:
    with pytest.raises(UnknownEcosystem):
        normalize_ecosystem("Debian:" + "1" * 10_000)
    long_name = "A" * 100_000
    assert normalize_name("npm", long_name) == long_name.lower()
    assert table._cached_name.cache_info().currsize < 65536


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000), st.lists(st.text(max_size=60), max_size=4))
def test_modular_names_from_hostile_advisories(summary: str, fixed: list[str]) -> None:
    """Whatever an advisory's summary and fixed versions say, its entries get the plain name or
    `module:stream::name` keys whose stream the summary names, never more than its first 512 characters hold."""
    names = table.advisory_package_names("AlmaLinux:9", "nodejs", summary, fixed)
    assert names
    streams = table.summary_streams(summary)
    for name in names:
        assert name == "nodejs" or (name.endswith("::nodejs") and name[: -len("::nodejs")] in streams)
    assert all(s.count(":") == 1 and s in summary[: table.MAX_SUMMARY] for s in streams)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_module_stream_of_any_label(label: str) -> None:
    stream = table.module_stream(label)
    assert stream is None or (stream.count(":") >= 1 and label.startswith(stream))
