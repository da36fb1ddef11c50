"""Property tests for the parsers of untrusted documents outside the scanner (which has its own in
tests/scanner/test_properties.py): OSV records and JSON lines, Alpine secdb, the Debian tracker, Ubuntu OVAL,
OCI/Docker manifests and the SBOMs that ingestion and `hullscan scan` read.

Each property is the same contract: any input either parses or is refused with the parser's own error (or a
counted skip) — never another exception, so a hostile feed or upload is never a crash or a 5xx."""

from __future__ import annotations

import io
import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from hullscan.advisories.parsers import alpine, debian, osv, ubuntu
from hullscan.advisories.parsers.base import Tally
from hullscan.ingestion.validation import InvalidSbom, validate_sbom
from hullscan.matching.sbom import SbomError, read_sbom
from hullscan.registry.errors import RegistryError
from hullscan.registry.manifests import parse_manifest

from tests.scanner.fuzzing import PROFILE  # short budget in `make test`, long in `make fuzz`

scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=5), max_leaves=30)


def _osv_like() -> st.SearchStrategy[dict]:
    """Objects shaped like OSV records with hostile values in every field the parser reads."""
    event = st.dictionaries(st.sampled_from(["introduced", "fixed", "last_affected", "limit"]), json_values, max_size=2)
    rng = st.fixed_dictionaries({"type": st.sampled_from(["ECOSYSTEM", "SEMVER", "GIT", "x"]) | json_values,
                                 "events": st.lists(event, max_size=4) | json_values})
    package = st.fixed_dictionaries({"ecosystem": st.sampled_from(["PyPI", "Debian:12", "AlmaLinux:9", "Go", "npm",
                                                                    "Alpine:v3.19", "??"]) | json_values,
                                     "name": st.text(max_size=30) | json_values})
    affected = st.fixed_dictionaries({"package": package | json_values, "ranges": st.lists(rng, max_size=3),
                                      "versions": st.lists(st.text(max_size=10), max_size=3) | json_values})
    return st.fixed_dictionaries({
        "id": st.text(max_size=40) | json_values,
        "summary": st.text(max_size=60) | json_values,
        "aliases": st.lists(st.text(max_size=20), max_size=3) | json_values,
        "severity": st.lists(st.dictionaries(st.sampled_from(["type", "score"]),
                                             st.sampled_from(["CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                                                              "CVSS:4.0/AV:N", "garbage"]) | json_values), max_size=2),
        "affected": st.lists(affected, max_size=3) | json_values,
        "database_specific": json_values,
        "withdrawn": st.sampled_from(["2024-01-01T00:00:00Z", "not a date"]) | json_values,
    })


@PROFILE
@given(_osv_like() | json_values)
def test_osv_record_parses_or_is_skipped(record: object) -> None:
    tally = Tally()
    osv.parse_record(record, tally)
    assert tally.records == 1


@PROFILE
@given(st.lists(st.binary(max_size=200) | _osv_like().map(lambda r: json.dumps(r).encode()), max_size=5))
def test_osv_json_lines_parse_or_are_skipped(lines: list[bytes]) -> None:
    tally = Tally()
    try:  # a stream that starts with gzip's magic bytes but is cut is the parser's own error
        list(osv.iter_jsonl(io.BytesIO(b"\n".join(line.replace(b"\n", b" ") for line in lines)), tally))
    except osv.CorruptArchive:
        pass


@PROFILE
@given(json_values | st.fixed_dictionaries({
    "distroversion": st.sampled_from(["v3.19", "edge", "v9"]) | json_values,
    "packages": st.lists(st.fixed_dictionaries({"pkg": st.fixed_dictionaries({
        "name": st.text(max_size=20) | json_values,
        "secfixes": st.dictionaries(st.text(max_size=12), st.lists(st.text(max_size=20), max_size=3) | json_values,
                                    max_size=3) | json_values})}), max_size=3) | json_values}))
def test_alpine_secdb_parses_or_is_skipped(document: object) -> None:
    list(alpine.iter_documents([("main.json", json.dumps(document).encode())], Tally()))


@PROFILE
@given(json_values | st.dictionaries(st.text(max_size=10), st.dictionaries(
    st.sampled_from(["CVE-2024-1", "TEMP-1", "x"]), st.fixed_dictionaries({
        "releases": st.dictionaries(st.sampled_from(["bookworm", "trixie", "sid", "?"]), json_values, max_size=2)
        | json_values, "description": json_values}), max_size=2), max_size=2))
def test_debian_tracker_parses_or_is_skipped(document: object) -> None:
    list(debian.iter_tracker_json(json.dumps(document).encode(), Tally()))


@PROFILE
@given(st.binary(max_size=300) | st.text(max_size=300).map(lambda t: (
    '<?xml version="1.0"?><oval_definitions><generator><product_name>' + t
    + '</product_name></generator><definitions><definition id="oval:com.ubuntu.noble:def:1">' + t
    + '</definition></definitions></oval_definitions>').encode()))
def test_ubuntu_oval_parses_or_is_skipped(data: bytes) -> None:
    list(ubuntu.iter_oval(io.BytesIO(data), Tally()))


@PROFILE
@given(json_values | st.fixed_dictionaries({
    "schemaVersion": st.sampled_from([2, 1, "2"]) | json_values,
    "mediaType": st.sampled_from(["application/vnd.oci.image.manifest.v1+json",
                                  "application/vnd.oci.image.index.v1+json"]) | json_values,
    "config": json_values, "layers": st.lists(json_values, max_size=3) | json_values,
    "manifests": st.lists(json_values, max_size=3) | json_values, "subject": json_values}),
       st.sampled_from(["application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
                        "application/vnd.docker.distribution.manifest.v2+json", "", "text/plain"]))
def test_manifest_parses_or_is_refused(body: object, content_type: str) -> None:
    try:
        parse_manifest(json.dumps(body).encode(), content_type)
    except RegistryError:
        pass


sbom_documents = json_values | st.fixed_dictionaries({
    "bomFormat": st.sampled_from(["CycloneDX", "x"]) | json_values,
    "specVersion": st.sampled_from(["1.4", "1.5", "1.6", "9"]) | json_values,
    "metadata": json_values,
    "components": st.lists(st.fixed_dictionaries({
        "type": st.sampled_from(["library", "operating-system", "container"]) | json_values,
        "name": st.text(max_size=20) | json_values, "version": st.text(max_size=10) | json_values,
        "purl": st.sampled_from(["pkg:pypi/django@4.2", "pkg:golang/github.com/a/b@v5.1.0#v5",
                                 "pkg:rpm/almalinux/nodejs@18.1-1?arch=x86_64&epoch=1", "pkg:", "nonsense"])
        | json_values,
        "properties": st.lists(st.fixed_dictionaries({"name": json_values, "value": json_values}), max_size=3)
        | json_values}), max_size=4) | json_values,
}) | st.fixed_dictionaries({"spdxVersion": st.sampled_from(["SPDX-2.3", "SPDX-2.2"]) | json_values,
                            "packages": st.lists(json_values, max_size=3) | json_values})


@PROFILE
@given(sbom_documents)
def test_sbom_reads_or_is_refused(tmp_path_factory, document: object) -> None:  # type: ignore[no-untyped-def]
    path: Path = tmp_path_factory.mktemp("sbom") / "sbom.json"
    path.write_text(json.dumps(document))
    try:
        read_sbom(path)
    except SbomError:
        pass
    try:
        validate_sbom(path)
    except InvalidSbom:
        pass
