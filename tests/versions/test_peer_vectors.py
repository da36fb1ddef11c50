"""Every comparison vector of ../shared/testdata/peer-vectors/versions (top-level files) for the schemes the
ecosystem table uses. Constraint-string vectors (`>= 1.2, < 2.0`) and the pacman/portage/JVM/fuzzy schemes are
not tested: no advisory source hullscan reads is written that way (OSV ranges only), so their code was removed."""

from __future__ import annotations

import json

import pytest

from hullscan.versions import InvalidVersion, compare
from hullscan.versions.rpm import vercmp_key
from tests.conftest import data_path

VERSION_FILES = {
    "versions-deb.json": "deb",
    "versions-rpm.json": "rpm",
    "versions-apk.json": "apk",
    "versions-pep440.json": "pypi",
    "versions-npm.json": "npm",
    "versions-golang.json": "go",
    "versions-maven.json": "maven",
    "versions-gem.json": "gem",
}
NOT_TESTED = {
    "versions-pacman.json", "versions-portage.json", "versions-jvm.json", "versions-fuzzy.json",
    "constraints-deb.json", "constraints-rpm.json", "constraints-apk.json", "constraints-pep440.json",
    "constraints-npm.json", "constraints-golang.json", "constraints-maven.json", "constraints-gem.json",
    "constraints-semver.json", "constraints-portage.json", "constraints-jvm.json", "constraints-bitnami.json",
    "constraints-kb.json", "constraints-fuzzy.json",
}
VERCMP_FILE = "versions-rpm-vercmp.json"  # bare rpmvercmp strings, tested on their own below


def _load(name: str) -> list[dict]:
    return json.loads(data_path("peer-vectors", "versions", name).read_text())


def test_every_top_level_vector_file_is_tested() -> None:
    """A vector file added to the shared folder must not be skipped silently."""
    folder = data_path("peer-vectors", "versions")
    on_disk = {p.name for p in folder.iterdir() if p.is_file() and p.suffix == ".json"}
    assert on_disk == set(VERSION_FILES) | NOT_TESTED | {VERCMP_FILE}


@pytest.mark.parametrize("name", sorted(VERSION_FILES))
def test_version_vectors(name: str) -> None:
    scheme = VERSION_FILES[name]
    wrong = []
    vectors = _load(name)
    for vec in vectors:
        try:
            got = compare(scheme, vec["a"], vec["b"])
        except InvalidVersion as exc:
            got = f"error: {exc}"
        if got != vec["cmp"]:
            wrong.append((vec["a"], vec["b"], vec["cmp"], got))
    assert vectors and not wrong, f"{len(wrong)}/{len(vectors)} disagree: {wrong[:20]}"


def test_rpm_vercmp_vectors() -> None:
    vectors = _load(VERCMP_FILE)
    wrong = []
    for vec in vectors:
        ka, kb = vercmp_key(vec["a"]), vercmp_key(vec["b"])
        got = -1 if ka < kb else (0 if ka == kb else 1)
        if got != vec["cmp"]:
            wrong.append((vec["a"], vec["b"], vec["cmp"], got))
    assert len(vectors) > 4000 and not wrong, f"{len(wrong)} disagree: {wrong[:20]}"


def test_compare_errors_are_typed() -> None:
    for vec in _load("extra/compare-errors.json"):
        with pytest.raises(InvalidVersion):
            compare(vec["scheme"], vec["a"], vec["b"])


PEER_SPECIFIC = {
    "deb-grype-missing-epoch-auto.json": "deb",
    "rpm-grype-missing-epoch-auto.json": "rpm",
    "oracle-disagreements-rpm.json": "rpm",
    "oracle-disagreements-maven.json": "maven",
}  # the oracle-disagreements-constraints-* files are constraint strings (see the module docstring)


@pytest.mark.parametrize("name", sorted(PEER_SPECIFIC))
def test_peer_specific_vectors_follow_the_real_tool(name: str) -> None:
    """Where a peer deviates from the reference tool, hullscan follows the tool."""
    scheme = PEER_SPECIFIC[name]
    wrong = []
    vectors = _load(f"peer-specific/{name}")
    for vec in vectors:
        oracle = vec.get("oracle") or vec.get("oracle_standard_semantics")
        expected = next(iter(oracle.values()))
        got = compare(scheme, vec["a"], vec["b"])
        if got != expected:
            wrong.append(((vec["a"], vec["b"]), expected, got, vec.get("cmp")))
    assert vectors and not wrong, f"{len(wrong)}/{len(vectors)} differ from the tool: {wrong}"
