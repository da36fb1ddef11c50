"""The package record's codec (scanner/package_record.py): every ecosystem's package goes Package -> CycloneDX
SBOM -> occurrence rows (SQLite and PostgreSQL) -> rebuilt Package with nothing lost; Trivy's and syft's property
names are read into the same record; Go purls keep the full module path whatever form the producer wrote."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hullscan.auth import projects
from hullscan.db import Database
from hullscan.db.models.vulnerabilities import SbomOccurrence, SbomSource
from hullscan.ingestion.service import OCCURRENCE_COLUMNS, ingest_sbom, inventory_of_source
from hullscan.matching.ecosystems import language_name
from hullscan.matching.engine import lookup_keys
from hullscan.matching.sbom import read_sbom
from hullscan.scanner.image import finalize, os_purl
from hullscan.scanner.inventory import ImageInfo, Inventory, OperatingSystem, Package
from hullscan.scanner.package_record import component_properties, decode_component, package_from_row, row_of
from hullscan.scanner.purl import parse_purl
from hullscan.scanner.sbom import write_cyclonedx

ALMA = OperatingSystem(family="almalinux", version="9.4")
LAYER = "sha256:" + "1" * 64
DIFF = "sha256:" + "2" * 64


def _rpm(name: str, evr: str, arch: str, source: str, label: str | None = None) -> Package:
    epoch, _, vr = evr.rpartition(":")
    version, _, release = vr.rpartition("-")
    props = {"release": release, "rpm_version": version, "sourcerpm": f"{source}-{vr}.src.rpm"}
    if epoch:
        props["epoch"] = epoch
    if label:
        props["modularitylabel"] = label
    return Package(name=name, version=evr, type="rpm", source_name=source, source_version=evr, arch=arch,
                   licenses=["MIT"], path="/var/lib/rpm/rpmdb.sqlite", layer_digest=LAYER, layer_diff_id=DIFF,
                   properties=props)


def _lang(name: str, version: str, type_: str, purl: str, path: str, **props: str) -> Package:
    return Package(name=name, version=version, type=type_, purl=purl, licenses=["Apache-2.0"], path=path,
                   layer_digest=LAYER, layer_diff_id=DIFF, properties=dict(props))


def every_ecosystem() -> list[Package]:
    """One or more packages of every ecosystem hullscan reads, with the fields each analyzer fills."""
    packages = [
        # rpm: a modular package of two streams, epochs, one package installed for two arches
        _rpm("nodejs", "1:18.20.2-1.module_el9.4.0+3809+46f5e9d1", "x86_64", "nodejs",
             "nodejs:18:9040020240807144226:rhel9"),
        _rpm("npm", "1:10.5.0-1.18.20.2.1.module_el9.4.0+3809+46f5e9d1", "x86_64", "nodejs",
             "nodejs:18:9040020240807144226:rhel9"),
        _rpm("nginx", "1:1.24.0-4.module_el9.4.0+3808+7af3a1f5", "x86_64", "nginx",
             "nginx:1.24:9040020240506135813:rhel9"),
        _rpm("glibc", "2.34-100.el9_4.2", "x86_64", "glibc"),
        _rpm("glibc", "2.34-100.el9_4.2", "i686", "glibc"),
        Package(name="libc6", version="2.36-9+deb12u7", type="deb", source_name="glibc",
                source_version="2.36-9+deb12u7", arch="amd64", licenses=["LGPL-2.1-or-later"],
                path="/var/lib/dpkg/status", layer_digest=LAYER, layer_diff_id=DIFF),
        Package(name="perl-base", version="5.36.0-7+deb12u1", type="deb", source_name="perl",
                source_version="5.36.0-7+deb12u1", arch="amd64", path="/var/lib/dpkg/status",
                properties={}),
        Package(name="zlib1g", version="1:1.2.13.dfsg-1", type="deb", source_name="zlib",
                source_version="1:1.2.13.dfsg-1", arch="amd64", path="/var/lib/dpkg/status",
                properties={"epoch": "1"}),
        Package(name="busybox", version="1.36.1-r15", type="apk", source_name="busybox",
                source_version="1.36.1-r15", arch="x86_64", licenses=["GPL-2.0-only"], path="/lib/apk/db/installed",
                properties={"commit": "1c4a2f0b"}),
        _lang("requests", "2.31.0", "python", "pkg:pypi/requests@2.31.0",
              "/usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA"),
        _lang("@babel/core", "7.24.0", "npm", "pkg:npm/%40babel/core@7.24.0",
              "/app/node_modules/@babel/core/package.json"),
        _lang("stdlib", "go1.22.1", "go", "pkg:golang/stdlib@go1.22.1", "/app/bin/tool", kind="stdlib"),
        _lang("github.com/go-git/go-git/v5", "v5.12.0", "go", "pkg:golang/github.com/go-git/go-git/v5@v5.12.0",
              "/app/bin/tool", kind="dep"),
        _lang("golang.org/x/net", "v0.17.0", "go", "pkg:golang/golang.org/x/net@v0.17.0", "/app/bin/tool",
              kind="dep", replaced="true"),
        _lang("jackson-databind", "2.15.2", "java",
              "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.15.2", "/app/lib/app.jar",
              group="com.fasterxml.jackson.core"),
        _lang("rack", "3.0.8", "gem", "pkg:gem/rack@3.0.8", "/usr/lib/ruby/gems/3.1.0/specifications/rack.gemspec"),
        _lang("serde", "1.0.197", "cargo", "pkg:cargo/serde@1.0.197", "/usr/local/bin/rusty"),
        _lang("monolog/monolog", "3.5.0", "composer", "pkg:composer/monolog/monolog@3.5.0",
              "/var/www/composer.lock"),
        _lang("Newtonsoft.Json", "13.0.1", "nuget", "pkg:nuget/Newtonsoft.Json@13.0.1", "/app/app.deps.json"),
    ]
    finalize(packages, ALMA)  # OS purls as the scanner writes them (deb/apk named here under the same OS)
    return packages


def _inventory(packages: list[Package], os_info: OperatingSystem | None = ALMA) -> Inventory:
    return Inventory(image=ImageInfo(name="registry.test/group/app", tag="1.0", digest="sha256:" + "c" * 64,
                                     platform="linux/amd64"), os=os_info, packages=packages)


def test_finalize_keeps_one_package_per_arch() -> None:
    packages = every_ecosystem()
    assert sorted(p.arch for p in packages if p.name == "glibc") == ["i686", "x86_64"]


def test_sbom_round_trip_of_every_ecosystem(tmp_path: Path) -> None:
    original = every_ecosystem()
    assert {p.type for p in original} == {"rpm", "deb", "apk", "python", "npm", "go", "java", "gem", "cargo",
                                          "composer", "nuget"}
    path = tmp_path / "sbom.cdx.json"
    path.write_text(write_cyclonedx(_inventory([dataclasses.replace(p) for p in original])))
    read = read_sbom(path)
    assert read.os == ALMA and read.image.digest == "sha256:" + "c" * 64
    assert read.image.platform == "linux/amd64"
    assert _sorted(read.packages) == _sorted(original)
    # the contract with matching: the label, the epoch and the arch are where matching reads them
    nodejs = next(p for p in read.packages if p.name == "nodejs")
    assert nodejs.properties["modularitylabel"] == "nodejs:18:9040020240807144226:rhel9"
    assert nodejs.properties["epoch"] == "1" and nodejs.arch == "x86_64"


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_occurrence_rows_rebuild_the_package(migrated_settings, tmp_path: Path) -> None:
    """SBOM -> ingestion's rows -> the package re-matching rebuilds: equal to what the scanner found, and the
    lookup keys of the rebuilt inventory are the ones stored (re-matching finds what ingestion matched)."""
    original = every_ecosystem()
    inventory = _inventory([dataclasses.replace(p) for p in original])
    path = tmp_path / "sbom.cdx.json"
    path.write_text(write_cyclonedx(inventory, registry_triggered=True))
    db = Database(migrated_settings)
    try:
        with db.session() as s:
            pid = projects.create_project(s, "group/app").id
        with db.session() as s:
            assert ingest_sbom(s, pid, path).occurrences == len(original)
        with db.session() as s:
            source = s.scalars(select(SbomSource)).one()
            orm_rows = s.scalars(select(SbomOccurrence).order_by(SbomOccurrence.id)).all()
            plain_rows = s.execute(select(*OCCURRENCE_COLUMNS).order_by(SbomOccurrence.id)).all()
            for rows in (orm_rows, plain_rows):
                rebuilt = inventory_of_source(source, rows)
                assert rebuilt.os == ALMA
                assert _sorted(rebuilt.packages) == _sorted(original)
                stored = [[(r.ecosystem, k) for k in (r.package_key, r.alt_package_key) if k] for r in rows]
                assert [keys[:2] for keys in lookup_keys(rebuilt)] == stored
    finally:
        db.dispose()


def test_row_codec_is_its_own_inverse() -> None:
    for package in every_ecosystem():
        row = row_of(package)
        assert package_from_row(type("Row", (), row)) == package


def test_trivy_properties_are_read_into_the_contract() -> None:
    """A Trivy component of a modular rpm: epoch from the purl, label from `Modularitylabel`, source EVR."""
    props = {"aquasecurity:trivy:PkgType": "alma", "aquasecurity:trivy:SrcName": "nodejs",
             "aquasecurity:trivy:SrcVersion": "18.20.2", "aquasecurity:trivy:SrcRelease": "1.module_el9.4.0",
             "aquasecurity:trivy:SrcEpoch": "1", "aquasecurity:trivy:Modularitylabel": "nodejs:18:9040:rhel9",
             "aquasecurity:trivy:FilePath": "var/lib/rpm/rpmdb.sqlite",
             "aquasecurity:trivy:LayerDiffID": DIFF}
    pkg, why = decode_component(
        "pkg:rpm/alma/npm@10.5.0-1.module_el9.4.0?arch=aarch64&distro=alma-9.4&epoch=1", name="npm",
        version="10.5.0-1.module_el9.4.0", props=props)
    assert why is None and pkg is not None
    assert (pkg.version, pkg.arch, pkg.source_name, pkg.source_version) == (
        "1:10.5.0-1.module_el9.4.0", "aarch64", "nodejs", "1:18.20.2-1.module_el9.4.0")
    assert pkg.properties == {"epoch": "1", "modularitylabel": "nodejs:18:9040:rhel9"}
    assert (pkg.path, pkg.layer_diff_id) == ("/var/lib/rpm/rpmdb.sqlite", DIFF)


def test_syft_properties_are_read_into_the_contract() -> None:
    props = {"syft:package:type": "rpm", "syft:metadata:epoch": "1",
             "syft:metadata:modularityLabel": "nodejs:18:9040:rhel9",
             "syft:metadata:sourceRpm": "nodejs-18.20.2-1.module_el9.4.0.src.rpm",
             "syft:location:0:path": "/var/lib/rpm/rpmdb.sqlite", "syft:location:0:layerID": DIFF}
    pkg, _ = decode_component("pkg:rpm/almalinux/nodejs@18.20.2-1.module_el9.4.0?arch=x86_64&distro=almalinux-9.4",
                              name="nodejs", version="1:18.20.2-1.module_el9.4.0", props=props)
    assert pkg is not None
    assert (pkg.source_name, pkg.source_version, pkg.arch) == ("nodejs", "18.20.2-1.module_el9.4.0", "x86_64")
    assert pkg.properties == {"epoch": "1", "modularitylabel": "nodejs:18:9040:rhel9"}


@pytest.mark.parametrize(("purl", "name"), [
    ("pkg:golang/github.com/go-git/go-git@v5.12.0#v5", "github.com/go-git/go-git/v5"),  # syft
    ("pkg:golang/github.com/go-git/go-git@v5.12.0#v5", None),
    ("pkg:golang/github.com/go-git/go-git/v5@v5.12.0", "github.com/go-git/go-git/v5"),  # trivy, hullscan
    ("pkg:golang/github.com/go-git/go-git/v5@v5.12.0", None),
])
def test_go_purls_keep_the_full_module_path(purl: str, name: str | None) -> None:
    pkg, _ = decode_component(purl, name=name, version=None, props={})
    assert pkg is not None
    assert pkg.name == "github.com/go-git/go-git/v5" and pkg.version == "v5.12.0"
    assert language_name(pkg) == "github.com/go-git/go-git/v5"
    assert lookup_keys(_inventory([pkg], None)) == [[("Go", "github.com/go-git/go-git/v5")]]


def test_a_go_subpath_inside_a_module_is_not_the_module() -> None:
    """purl-spec's subpath is a path inside the package; only a major-version suffix belongs to the module."""
    pkg, _ = decode_component("pkg:golang/google.golang.org/genproto@v0.0.0-2024#googleapis/api/annotations",
                              name=None, version=None, props={})
    assert pkg is not None and language_name(pkg) == "google.golang.org/genproto"


_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(
    lambda t: t.strip() == t)  # SBOM readers strip fields: a name of blanks is no name


@settings(max_examples=200, deadline=None)
@given(name=_text.filter(lambda t: t.strip("/") == t),  # packageurl strips a name's slashes
       version=_text, arch=st.none() | _text, props=st.dictionaries(
    st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(
        lambda k: k not in ("type", "source_name", "source_version", "arch", "path")), _text, max_size=5))
def test_any_rpm_survives_the_component_codec(name: str, version: str, arch: str | None,
                                              props: dict[str, str]) -> None:
    package = Package(name=name, version=version, type="rpm", source_name=name, arch=arch,
                      properties=props)
    package.purl = os_purl(package, ALMA)
    pairs = dict(component_properties(package, "almalinux"))
    got, why = decode_component(package.purl, name=package.name, version=package.version, props=pairs,
                                )
    assert why is None and got == dataclasses.replace(package, source_version=None)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_purl_reader_never_raises(text: str) -> None:
    parsed = parse_purl(text)
    assert parsed is None or parsed.name


def _sorted(packages: list[Package]) -> list[str]:
    return sorted(json.dumps(dataclasses.asdict(p), sort_keys=True) for p in packages)
