"""Every comparison and constraint vector of ../shared/testdata/peer-vectors/versions (top-level files)."""

from __future__ import annotations

import json

import pytest

from hullscan.versions import InvalidVersion, compare, satisfies
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
    "versions-pacman.json": "pacman",
    "versions-portage.json": "portage",
    "versions-jvm.json": "jvm",
    "versions-fuzzy.json": "fuzzy",
}
CONSTRAINT_FILES = {
    "constraints-deb.json": "deb",
    "constraints-rpm.json": "rpm",
    "constraints-apk.json": "apk",
    "constraints-pep440.json": "pypi",
    "constraints-npm.json": "npm",
    "constraints-golang.json": "go",
    "constraints-maven.json": "maven",
    "constraints-gem.json": "gem",
    "constraints-semver.json": "semver",
    "constraints-portage.json": "portage",
    "constraints-jvm.json": "jvm",
    "constraints-bitnami.json": "bitnami",
    "constraints-kb.json": "kb",
    "constraints-fuzzy.json": "fuzzy",
}
VERCMP_FILE = "versions-rpm-vercmp.json"  # bare rpmvercmp strings, tested on their own below


def _load(name: str) -> list[dict]:
    return json.loads(data_path("peer-vectors", "versions", name).read_text())


def test_every_top_level_vector_file_is_tested() -> None:
    """A vector file added to the shared folder must not be skipped silently."""
    folder = data_path("peer-vectors", "versions")
    on_disk = {p.name for p in folder.iterdir() if p.is_file() and p.suffix == ".json"}
    assert on_disk == set(VERSION_FILES) | set(CONSTRAINT_FILES) | {VERCMP_FILE}


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


@pytest.mark.parametrize("name", sorted(CONSTRAINT_FILES))
def test_constraint_vectors(name: str) -> None:
    scheme = CONSTRAINT_FILES[name]
    wrong = []
    vectors = _load(name)
    for vec in vectors:
        try:
            got = satisfies(scheme, vec["version"], vec["constraint"], vec["syntax"])
        except InvalidVersion as exc:
            got = f"error: {exc}"
        if got != vec["satisfied"]:
            wrong.append((vec["version"], vec["constraint"], vec["satisfied"], got))
    assert vectors and not wrong, f"{len(wrong)}/{len(vectors)} disagree: {wrong[:20]}"


def test_compare_errors_are_typed() -> None:
    for vec in _load("extra/compare-errors.json"):
        with pytest.raises(InvalidVersion):
            compare(vec["scheme"], vec["a"], vec["b"])


PEER_SPECIFIC = {
    "deb-grype-missing-epoch-auto.json": "deb",
    "rpm-grype-missing-epoch-auto.json": "rpm",
    "oracle-disagreements-rpm.json": "rpm",
    "oracle-disagreements-maven.json": "maven",
    "oracle-disagreements-constraints-rpm.json": "rpm",
    "oracle-disagreements-constraints-pep440.json": "pypi",
    "oracle-disagreements-constraints-gem.json": "gem",
    "oracle-disagreements-constraints-npm.json": "npm",
}


@pytest.mark.parametrize("name", sorted(PEER_SPECIFIC))
def test_peer_specific_vectors_follow_the_real_tool(name: str) -> None:
    """Where a peer deviates from the reference tool, hullscan follows the tool."""
    scheme = PEER_SPECIFIC[name]
    wrong = []
    vectors = _load(f"peer-specific/{name}")
    for vec in vectors:
        oracle = vec.get("oracle") or vec.get("oracle_standard_semantics")
        expected = next(iter(oracle.values()))
        if "constraint" in vec:
            try:
                got = satisfies(scheme, vec["version"], vec["constraint"], vec["syntax"])
            except InvalidVersion:
                got = False  # node-semver rejects the syntax: nothing satisfies it
            key = (vec["version"], vec["constraint"])
        else:
            got = compare(scheme, vec["a"], vec["b"])
            key = (vec["a"], vec["b"])
        if scheme == "npm" and "," in vec["constraint"]:
            # Documented extension: comma = AND in npm ranges, as advisory feeds write them.
            expected = vec["satisfied"]
        if got != expected:
            wrong.append((key, expected, got, vec.get("cmp", vec.get("satisfied"))))
    assert vectors and not wrong, f"{len(wrong)}/{len(vectors)} differ from the tool: {wrong}"
