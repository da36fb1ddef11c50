"""Acceptance: real images and package databases, real advisory files imported by the real importer into
SQLite and PostgreSQL, expected findings computed here straight from the advisory files."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.version import Version

from hullscan.advisories.service import SqlAdvisoryStore, import_path
from hullscan.db import Database, upgrade
from hullscan.matching import match
from hullscan.settings import Settings
from tests.conftest import data_path, image_layout

IMPORTS = [
    ("osv", "pypi.jsonl.gz"),
    ("osv", "go.jsonl.gz"),
    ("alpine-secdb", "v3.19"),
    ("debian", "DSA", "list"),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def imported(request, tmp_path_factory) -> Iterator[Settings]:
    """One database per backend with the advisory files the cases need, imported once per module."""
    tmp = tmp_path_factory.mktemp(f"acceptance-{request.param}")
    url = f"sqlite:///{tmp / 'hullscan.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres").create_database()
    settings = Settings(data_dir=tmp, database_url=url)
    upgrade(settings)
    db = Database(settings)
    for parts in IMPORTS:
        for result in import_path(db, settings, str(data_path("advisories", *parts))):
            assert result.ok, result
    db.dispose()
    yield settings


@pytest.fixture
def store(imported) -> Iterator[SqlAdvisoryStore]:
    db = Database(imported)
    with db.session() as session:
        yield SqlAdvisoryStore(session)
    db.dispose()


# --- ground truth straight from OSV records ----------------------------------------------------------------


def _osv_records(name: str) -> Iterator[dict]:
    with gzip.open(data_path("advisories", "osv", name), "rt") as fh:
        for line in fh:
            record = json.loads(line)
            if not record.get("withdrawn"):
                yield record


def _walk(events: list[dict], key, parse) -> tuple[bool, str | None]:
    """OSV's algorithm with the ecosystem's own ordering: (affected?, the fix closing the range)."""
    ordered = sorted(
        ((0 if k == "introduced" and v == "0" else 1, None if v == "0" else parse(v), k, v) for e in events for k, v in e.items()
         if k in ("introduced", "fixed", "last_affected")),
        key=lambda t: (t[0], t[1], {"introduced": 0, "last_affected": 1, "fixed": 2}[t[2]]),
    )
    affected, fix = False, None
    for _, ev_key, kind, raw in ordered:
        if kind == "introduced" and (ev_key is None or key >= ev_key):
            affected = True
        elif kind == "fixed":
            if key >= ev_key:
                affected = False
            elif affected:
                return True, raw
        elif kind == "last_affected" and key > ev_key:
            affected = False
    return affected, fix


def _expected(records, ecosystem: str, packages: dict[str, str], parse, norm) -> dict[str, dict[frozenset, set]]:
    """package -> {ids of one vulnerability (aliases merged) -> fixed versions} for the affected records."""
    hits: dict[str, list[tuple[dict, str | None]]] = defaultdict(list)
    for record in records:
        for aff in record.get("affected", []):
            pkg = aff.get("package", {})
            name = norm(pkg.get("name", ""))
            if pkg.get("ecosystem") != ecosystem or name not in packages:
                continue
            version = packages[name]
            key = parse(version)
            verdict = (version in aff.get("versions", []), None)
            for rng in aff.get("ranges", []):
                if rng["type"] in ("ECOSYSTEM", "SEMVER"):
                    got = _walk(rng["events"], key, parse)
                    if got[0]:
                        verdict = got
                        break
            if verdict[0]:
                hits[name].append((record, verdict[1]))
    out: dict[str, dict[frozenset, set]] = {}
    for name, found in hits.items():
        groups: list[tuple[set, set, set]] = []  # (ids+aliases, record ids, fixes)
        for record, fix in found:
            ids = {record["id"], *record.get("aliases", [])}
            merged = [g for g in groups if g[0] & ids]
            group = (ids, {record["id"]}, {fix} if fix else set())
            for g in merged:
                groups.remove(g)
                group = (group[0] | g[0], group[1] | g[1], group[2] | g[2])
            groups.append(group)
        out[name] = {frozenset(g[1]): g[2] for g in groups}
    return out


def _got(findings, package_type: str, norm) -> dict[str, dict[frozenset, set]]:
    out: dict[str, dict[frozenset, set]] = defaultdict(dict)
    for f in findings:
        if f.package.type == package_type:
            out[norm(f.package.name)][frozenset(f.advisory_ids)] = set(f.fixed_versions)
    return dict(out)


def _pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_app_image_against_real_pypi_osv(store, app_inventory) -> None:
    python = {_pep503(p.name): p.version for p in app_inventory.packages if p.type == "python"}
    assert len(python) == 6 and "pyyaml" not in python  # whited-out PyYAML must not be matched

    def parse(v: str) -> Version:
        return Version(v)

    expected = _expected(_osv_records("pypi.jsonl.gz"), "PyPI", python, parse, _pep503)
    result = match(app_inventory, store)
    got = _got(result.findings, "python", _pep503)
    assert got == expected
    # the known ones, as a readable anchor: urllib3 1.24.1, requests 2.19.1, jinja2 2.10
    ids = {i for f in result.findings for i in f.identifiers}
    assert {"CVE-2019-11324", "CVE-2020-26137", "CVE-2018-18074", "CVE-2023-32681", "CVE-2019-10906"} <= ids
    assert sum(len(v) for v in expected.values()) == len([f for f in result.findings if f.package.type == "python"])


_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+.*)?$")


def _go_semver(v: str):
    """Go's semver ordering (the stdlib's `go1.19.8` form too): release above its pre-releases; numeric
    identifiers numerically and below alphanumeric ones."""
    v = v.removeprefix("go")
    if re.fullmatch(r"\d+\.\d+", v):
        v += ".0"
    m = _SEMVER.match(v)
    if not m:
        raise ValueError(v)
    pre = m.group(4)
    pre_key = (1,) if pre is None else (0, *[(0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")])
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), pre_key)


def test_go_binary_image_against_real_go_osv(store) -> None:
    from hullscan.scanner import analyze

    inventory = analyze(f"oci-dir:{image_layout('go-binary')}")
    stdlib = {p.name: p.version for p in inventory.packages if p.name == "stdlib"}
    assert stdlib == {"stdlib": "go1.19.8"}
    expected = _expected(_osv_records("go.jsonl.gz"), "Go", stdlib, _go_semver, lambda n: n)
    result = match(inventory, store)
    got = _got(result.findings, "go", lambda n: n)
    assert got == expected
    assert len(expected["stdlib"]) > 50  # go1.19.8 is old: many standard library vulnerabilities
    assert {f.package.name for f in result.findings} == {"stdlib"}  # the "(devel)" main module has no advisories
    assert all(f.fixed_versions for f in result.findings)


# --- Alpine: an apk installed database against the real secdb ----------------------------------------------

APK_INSTALLED = """\
P:zlib
V:1.2.12-r1
A:x86_64
o:zlib
T:A compression/decompression Library
L:Zlib

P:libcrypto3
V:3.1.4-r1
A:x86_64
o:openssl
T:Crypto library from openssl
L:Apache-2.0

P:busybox
V:1.36.1-r15
A:x86_64
o:busybox
L:GPL-2.0-only

P:musl
V:1.2.4_git20230717-r4
A:x86_64
o:musl
L:MIT
"""


def _rootfs(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "rootfs"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_alpine_apk_database_against_real_secdb(store, tmp_path) -> None:
    from hullscan.scanner import analyze
    from hullscan.versions import compare

    root = _rootfs(tmp_path, {
        "etc/alpine-release": "3.19.1\n",
        "etc/os-release": 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\n',
        "lib/apk/db/installed": APK_INSTALLED,
    })
    inventory = analyze(f"dir:{root}")
    installed = {p.source_name: p.version for p in inventory.packages}
    assert installed["openssl"] == "3.1.4-r1"
    expected: dict[str, dict[str, str]] = defaultdict(dict)
    for repo in ("main", "community"):
        doc = json.loads(data_path("advisories", "alpine-secdb", "v3.19", f"{repo}.json").read_text())
        for entry in doc["packages"]:
            origin = entry["pkg"]["name"]
            if origin not in installed:
                continue
            for fixed, ids in entry["pkg"]["secfixes"].items():
                if fixed == "0":  # "never affected" in secdb
                    continue
                if compare("apk", installed[origin], fixed) < 0:
                    for ident in ids:
                        cve = ident.split()[0]
                        expected[origin][cve] = fixed
    result = match(inventory, store)
    got: dict[str, dict[str, str]] = defaultdict(dict)
    for f in result.findings:
        got[f.package.source_name][f.vulnerability_id] = f.fixed_versions[0]
        assert f.ecosystem == "Alpine:v3.19"
    assert dict(got) == dict(expected)
    assert "CVE-2022-37434" in got["zlib"] and got["zlib"]["CVE-2022-37434"] == "1.2.12-r2"
    assert "CVE-2018-25032" not in got["zlib"]  # fixed in 1.2.11-r4, older than installed
    assert "CVE-2023-45853" not in got["zlib"]  # secfixes "0": not affected
    assert "CVE-2023-42366" in got["busybox"]


# --- Debian: a dpkg status file against the real DSA list --------------------------------------------------

DPKG_STATUS = """\
Package: libaprutil1
Status: install ok installed
Architecture: amd64
Source: apr-util
Version: 1.6.1-5+deb11u1

Package: curl
Status: install ok installed
Architecture: amd64
Version: 7.74.0-1.3+deb11u3

Package: libssl1.1
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 1.1.1n-0+deb11u3

Package: php7.4-cli
Status: install ok installed
Architecture: amd64
Source: php7.4 (7.4.33-1+deb11u1)
Version: 7.4.33-1+deb11u1

Package: removed-thing
Status: deinstall ok config-files
Architecture: amd64
Source: openssl
Version: 1.0.0-1
"""


def _dsa_fixes(source_names: set[str]) -> dict[str, dict[str, set[str]]]:
    """source -> CVE -> fixed versions for bullseye, parsed here from the DSA list."""
    out: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    cves: list[str] = []
    for line in data_path("advisories", "debian", "DSA", "list").read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("["):
            cves = []
        elif line.strip().startswith("{"):
            cves = line.strip().strip("{}").split()
        else:
            m = re.match(r"^\s+\[bullseye\]\s+-\s+(\S+)\s+(\S+)", line)
            if m and m.group(1) in source_names and not m.group(2).startswith("<"):
                for cve in cves:
                    out[m.group(1)][cve].add(m.group(2))
    return out


def _dpkg_lt(a: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0


def test_debian_dpkg_status_against_real_dsa_list(store, tmp_path) -> None:
    from hullscan.scanner import analyze

    root = _rootfs(tmp_path, {
        "etc/os-release": 'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nID=debian\nVERSION_ID="11"\nVERSION_CODENAME=bullseye\n',
        "etc/debian_version": "11.6\n",
        "var/lib/dpkg/status": DPKG_STATUS,
    })
    inventory = analyze(f"dir:{root}")
    sources = {(p.source_name or p.name): p for p in inventory.packages}
    assert set(sources) == {"apr-util", "curl", "openssl", "php7.4"}
    fixes = _dsa_fixes(set(sources))
    expected: dict[str, set[str]] = defaultdict(set)
    for source, cves in fixes.items():
        for cve, versions in cves.items():
            if any(_dpkg_lt(sources[source].source_version or sources[source].version, v) for v in versions):
                expected[source].add(cve)
    result = match(inventory, store)
    got: dict[str, set[str]] = defaultdict(set)
    for f in result.findings:
        source = f.package.source_name or f.package.name
        got[source].add(f.vulnerability_id)
        assert f.ecosystem == "Debian:11"
        assert f.fix_state == "fixed" and f.fixed_versions[0] in fixes[source][f.vulnerability_id]
        assert _dpkg_lt(f.package.source_version or f.package.version, f.fixed_versions[0])
        assert any(i.startswith("DSA-") for i in f.identifiers)
    assert dict(got) == dict(expected)
    assert "apr-util" not in got  # 1.6.1-5+deb11u1 is the backported fix of DSA-5364-1
    assert "CVE-2022-25147" in fixes["apr-util"]
    assert got["curl"] and got["openssl"]
