"""Property tests of every scanner parser of untrusted bytes: whatever the input, each one returns or raises
its own documented error (never anything else, never hangs), and what a well-formed input says is read back
exactly. Budget: `tests/scanner/fuzzing.py` (short here, long in `make fuzz`)."""

from __future__ import annotations

import io
import json
import struct
import tempfile
import zipfile
from pathlib import Path

import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

from hullscan.scanner.analyzers import (
    AnalysisContext,
    AnalysisResult,
    FileEntry,
    default_analyzers,
)
from hullscan.scanner.analyzers.apk import dependency_names, parse_installed
from hullscan.scanner.analyzers.dpkg import packages_from_control, relation_names
from hullscan.scanner.analyzers.golang import go_unquote, ldflags_version, read_buildinfo, split_flags
from hullscan.scanner.analyzers.java import MAVEN_ID, manifest_package, parse_manifest
from hullscan.scanner.analyzers.npm import (
    parse_package_json,
    parse_package_lock,
    parse_pnpm_lock,
    parse_yarn_lock,
)
from hullscan.scanner.analyzers.python import (
    egg_required_names,
    normalize_name,
    parse_egg,
    parse_metadata,
    required_names,
)
from hullscan.scanner.analyzers.rpmdb import (
    TAG_NAME,
    TAG_PROVIDENAME,
    TAG_RELEASE,
    TAG_REQUIRENAME,
    TAG_VERSION,
    TYPE_STRING,
    TYPE_STRING_ARRAY,
    RpmDBError,
    bdb_blobs,
    ndb_blobs,
    parse_header_blob,
)
from hullscan.scanner.inventory import ImageInfo, Inventory, OperatingSystem, Package, dependency_graph
from hullscan.scanner.sbom import graph_roots
from hullscan.scanner.source import SourceError, open_source
from hullscan.scanner.walker import LayerResult, Limits, walk_layer
from tests.scanner.fuzzing import PROFILE
from tests.scanner.layouts import Entry, gz, tar_bytes, write_layout

# names and versions as package databases spell them
NAME = st.from_regex(r"[a-z0-9][a-z0-9+.-]{0,30}", fullmatch=True)
VERSION = st.from_regex(r"[0-9][0-9A-Za-z.+~-]{0,20}", fullmatch=True)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner,
                                                                                 max_size=5), max_leaves=30)


# --- tar walker -----------------------------------------------------------------------------------------------

def _walk(blob: bytes) -> LayerResult:
    with tempfile.TemporaryDirectory() as tmp:
        result = walk_layer(io.BytesIO(blob), default_analyzers(), Limits(max_layer_bytes=64 << 20), tmp)
        assert list(Path(tmp).iterdir()) == []  # every spooled file removed when the layer ends
    return result


def _sane(result: LayerResult) -> None:
    for path in result.paths + result.whiteouts + result.opaque_dirs:
        assert path.startswith("/") and "/../" not in path + "/"
    assert result.complete == (not result.partial)  # damage is never a silent success, nor cached


@PROFILE
@given(st.binary(max_size=4096))
def test_walker_takes_any_bytes(blob: bytes) -> None:
    _sane(_walk(blob))
    _sane(_walk(gz(blob)))


FILES = st.lists(st.tuples(st.from_regex(r"[a-z]{1,8}(/[a-z.]{1,8}){0,3}", fullmatch=True), st.binary(max_size=300)),
                 max_size=6)


@PROFILE
@given(FILES, st.data())
def test_walker_survives_damaged_tars(files: list[tuple[str, bytes]], data: st.DataObject) -> None:
    raw = bytearray(tar_bytes([Entry(name, content) for name, content in files]))
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    result = _walk(gz(bytes(raw)))
    _sane(result)


@PROFILE
@given(st.lists(st.tuples(NAME, VERSION), min_size=1, max_size=20, unique_by=lambda p: p[0]))
def test_walker_and_dpkg_read_back_what_a_layer_holds(packages: list[tuple[str, str]]) -> None:
    status = "".join(f"Package: {n}\nStatus: install ok installed\nVersion: {v}\nDescription: d\n more\n\n"
                      for n, v in packages)
    result = _walk(gz(tar_bytes([Entry("var/lib/dpkg/status", status.encode())])))
    assert result.complete and {(p.name, p.version) for p in result.packages} == set(packages)


# --- OS package databases -----------------------------------------------------------------------------------

@PROFILE
@given(st.text(max_size=3000))
def test_dpkg_and_apk_take_any_text(text: str) -> None:
    for package in packages_from_control(text, "/var/lib/dpkg/status"):
        assert package.name and "\n" not in package.name
    for package in parse_installed(text, "/lib/apk/db/installed"):
        assert package.name and package.version


@PROFILE
@given(st.lists(st.tuples(NAME, VERSION, st.lists(st.text("abc xyz", min_size=1, max_size=10), max_size=4)),
                min_size=1, max_size=10, unique_by=lambda p: p[0]))
def test_dpkg_and_apk_round_trip(packages: list[tuple[str, str, list[str]]]) -> None:
    control = "".join(f"Package: {n}\nStatus: install ok installed\nVersion: {v}\nDescription: x\n"
                      + "".join(f" {line}\n" for line in folded) + "\n" for n, v, folded in packages)
    parsed = packages_from_control(control, "/var/lib/dpkg/status")
    assert [(p.name, p.version) for p in parsed] == [(n, v) for n, v, _ in packages]
    apk = "".join(f"C:Q1x=\nP:{n}\nV:{v}\nL:MIT\n\n" for n, v, _ in packages)
    assert [(p.name, p.version, p.licenses) for p in parse_installed(apk, "/lib/apk/db/installed")] == \
        [(n, v, ["MIT"]) for n, v, _ in packages]


def _rpm_header(tags: dict[int, str]) -> bytes:
    store, entries = b"", b""
    for tag, value in tags.items():
        entries += struct.pack(">IIII", tag, TYPE_STRING, len(store), 1)
        store += value.encode() + b"\0"
    return struct.pack(">II", len(tags), len(store)) + entries + store


@PROFILE
@given(st.binary(max_size=2048))
def test_rpm_containers_and_headers_raise_only_their_error(data: bytes) -> None:
    for parse in (lambda d: [parse_header_blob(d)], lambda d: list(bdb_blobs(d)), lambda d: list(ndb_blobs(d))):
        try:
            parse(data)
        except RpmDBError:
            pass


@PROFILE
@given(NAME, VERSION, VERSION, st.data())
def test_rpm_header_round_trip_and_damage(name: str, version: str, release: str, data: st.DataObject) -> None:
    blob = _rpm_header({TAG_NAME: name, TAG_VERSION: version, TAG_RELEASE: release})
    header = parse_header_blob(blob)
    assert (header.name, header.version, header.release) == (name, version, release)
    damaged = bytearray(blob)
    damaged[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    try:
        parse_header_blob(bytes(damaged))
    except RpmDBError:
        pass


# --- language packages ------------------------------------------------------------------------------------

@PROFILE
@given(st.binary(max_size=2000))
def test_metadata_takes_any_bytes(data: bytes) -> None:
    try:
        package = parse_metadata(data, "/x.dist-info/METADATA")
    except ValueError:
        return
    assert package is not None and package.name


@PROFILE
@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True), VERSION,
       st.lists(st.text("abc ", max_size=12), max_size=5))
def test_metadata_round_trip(name: str, version: str, folded: list[str]) -> None:
    text = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nLicense: MIT\nDescription: a\n"
    text += "".join(f"        {line}\n" for line in folded) + "\nbody Name: other\n"
    package = parse_metadata(text.encode(), "/x.dist-info/METADATA")
    assert package is not None and (package.name, package.version, package.licenses) == (name, version, ["MIT"])


@PROFILE
@given(JSON)
def test_npm_json_files_take_any_json(value: object) -> None:
    data = json.dumps(value).encode()
    for parse in (parse_package_json, parse_package_lock):
        try:
            parse(data, "/app/package.json")
        except ValueError:
            pass


@PROFILE
@given(st.text(max_size=2000))
def test_lock_text_formats_take_any_text(text: str) -> None:
    parse_yarn_lock(text.encode(), "/app/yarn.lock")
    try:
        parse_pnpm_lock(text.encode(), "/app/pnpm-lock.yaml")
    except (yaml.YAMLError, ValueError):
        pass


@PROFILE
@given(st.lists(st.tuples(NAME, VERSION), min_size=1, max_size=10, unique_by=lambda p: p[0]))
def test_lock_files_round_trip(packages: list[tuple[str, str]]) -> None:
    want = set(packages)
    lock = {"name": "app", "version": "0.0.0", "lockfileVersion": 3,
            "packages": {"": {"name": "app", "version": "0.0.0"},
                         **{f"node_modules/{n}": {"version": v} for n, v in packages}}}
    assert {(p.name, p.version) for p in parse_package_lock(json.dumps(lock).encode(), "/l")} == want | {("app", "0.0.0")}
    yarn = "".join(f'"{n}@^{v}":\n  version "{v}"\n  resolved "https://r.example/{n}/-/{n}-{v}.tgz"\n\n'
                   for n, v in packages)
    assert {(p.name, p.version) for p in parse_yarn_lock(yarn.encode(), "/yarn.lock")} == want
    pnpm = "lockfileVersion: '6.0'\npackages:\n" + "".join(f"  /{n}@{v}:\n    resolution: {{integrity: x}}\n"
                                                         for n, v in packages)
    assert {(p.name, p.version) for p in parse_pnpm_lock(pnpm.encode(), "/pnpm-lock.yaml")} == want


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out) + bytes([n])


def _buildinfo(version: str, modinfo: str) -> bytes:
    mod = ("0" * 16 + modinfo + "\n" + "0" * 16).encode() if modinfo else b""
    header = b"\xff Go buildinf:" + bytes([8, 2]) + b"\0" * 16
    return b"\x7fELF" + b"\0" * 12 + header + _uvarint(len(version)) + version.encode() + _uvarint(len(mod)) + mod


@PROFILE
@given(st.binary(max_size=2048), st.binary(max_size=64))
def test_go_buildinfo_takes_any_bytes(prefix: bytes, tail: bytes) -> None:
    for buf in (prefix, prefix[: len(prefix) // 16 * 16] + b"\xff Go buildinf:" + tail):
        try:
            read_buildinfo(buf)
        except ValueError:
            pass


@PROFILE
@given(st.from_regex(r"go1\.[0-9]{1,2}(\.[0-9]{1,2})?", fullmatch=True),
       st.lists(st.tuples(st.from_regex(r"[a-z]{1,10}\.(com|org)/[a-z]{1,10}", fullmatch=True),
                          st.from_regex(r"v[0-9]\.[0-9]\.[0-9]", fullmatch=True)), max_size=5))
def test_go_buildinfo_round_trip(version: str, deps: list[tuple[str, str]]) -> None:
    modinfo = "path\texample.com/app\nmod\texample.com/app\t(devel)\t\n" + "".join(
        f"dep\t{m}\t{v}\th1:x=\n" for m, v in deps)
    found = read_buildinfo(_buildinfo(version, modinfo))
    assert found is not None and found[0] == version
    assert [line for line in found[1].splitlines() if line.startswith("dep\t")] == \
        [f"dep\t{m}\t{v}\th1:x=" for m, v in deps]


@PROFILE
@given(st.text(max_size=2000))
def test_jar_manifest_takes_any_text(text: str) -> None:
    assert isinstance(parse_manifest(text), dict)


@PROFILE
@given(st.dictionaries(st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True),
                       st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=200),
                       max_size=6))
def test_jar_manifest_round_trip_with_72_byte_lines(attributes: dict[str, str]) -> None:
    lines = []
    for key, value in attributes.items():
        assume(value == value.strip() and not value.startswith(" "))
        line = f"{key}: {value}"
        lines.append(line[:72] + "".join("\n " + line[i:i + 71] for i in range(72, len(line), 71)))
    assert parse_manifest("\n".join(lines) + "\n") == attributes


MANIFEST_KEYS = ("Implementation-Title", "Implementation-Vendor-Id", "Implementation-Version", "Bundle-Version",
                 "Bundle-SymbolicName", "Automatic-Module-Name")


@PROFILE
@given(st.dictionaries(st.sampled_from(MANIFEST_KEYS), st.text(max_size=40)), st.text(max_size=40))
def test_manifest_coordinates_are_maven_identifiers_whatever_the_manifest(manifest: dict[str, str],
                                                                         name: str) -> None:
    package = manifest_package(manifest, f"/opt/{name}.jar")
    if package is None:
        return
    group = package.properties["group"]
    assert package.version and package.purl and package.purl.startswith("pkg:maven/")
    assert MAVEN_ID.match(group), group  # never a display name
    assert MAVEN_ID.match(package.name) or package.properties["coordinates"] == "manifest-file-name"


MAVEN_PART = st.from_regex(r"[a-z][a-z0-9]{0,8}(\.[a-z][a-z0-9]{0,8}){0,3}", fullmatch=True)


@PROFILE
@given(MAVEN_PART, st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True), VERSION,
       st.text("Ab c", min_size=1, max_size=20).filter(lambda t: " " in t))
def test_manifest_coordinates_round_trip(group: str, artifact: str, version: str, display: str) -> None:
    archiver = {"Implementation-Vendor-Id": group, "Implementation-Title": artifact, "Implementation-Version": version}
    osgi = {"Implementation-Title": display, "Bundle-SymbolicName": f"{group}.{artifact};singleton:=true",
            "Bundle-Version": version}
    for manifest in (archiver, osgi):
        package = manifest_package(manifest, "/opt/lib/renamed.jar")
        assert package is not None
        assert (package.properties["group"], package.name, package.version) == (group, artifact, version)
    package = manifest_package({"Implementation-Title": display, "Implementation-Version": version},
                               f"/opt/lib/{artifact}-{version}.jar" if version[0].isdigit() else "/opt/lib/x.jar")
    assert package is not None and package.properties["group"] == "unknown" and " " not in package.name


@PROFILE
@given(st.binary(max_size=2000))
def test_egg_takes_any_bytes(data: bytes) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("EGG-INFO/PKG-INFO", data)
    for blob in (data, buf.getvalue()):
        try:
            parse_egg(FileEntry(path="/x.egg", size=len(blob), data=blob))
        except (zipfile.BadZipFile, ValueError, EOFError, OSError, NotImplementedError):
            pass


@PROFILE
@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True), VERSION)
def test_egg_round_trip(name: str, version: str) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("EGG-INFO/PKG-INFO", f"Metadata-Version: 1.1\nName: {name}\nVersion: {version}\n")
        archive.writestr("pkg/__init__.py", b"")
    package = parse_egg(FileEntry(path="/x.egg", size=len(buf.getvalue()), data=buf.getvalue()))
    assert package is not None and (package.name, package.version, package.path) == (name, version, "/x.egg")


SEMVER = st.from_regex(r"v?(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})(-rc\.[0-9])?", fullmatch=True)
OTHER_FLAG = st.sampled_from(["-s", "-w", "-extldflags=-static", "-X main.commit=abc", "-X main.date=2024-01-01",
                              "-X main.version=dev", "-X example.com/x/cmd.version=1.0.0", "-buildid="])


@PROFILE
@given(st.text(max_size=300))
def test_ldflags_take_any_text(text: str) -> None:
    assert sum(len(field) for field in split_flags(text)) <= len(text)  # fields are pieces of the text
    version = ldflags_version(text)
    assert version is None or version.startswith("v")
    assert isinstance(go_unquote(text), str)


@PROFILE
@given(SEMVER, st.sampled_from(["main.version", "main.Version", "example.com/app/version.Version",
                                "example.com/app/internal/version.version"]),
       st.lists(OTHER_FLAG, max_size=5), st.integers(0, 5), st.sampled_from(["'", '"', ""]))
def test_ldflags_round_trip(version: str, key: str, others: list[str], at: int, quote: str) -> None:
    flags = list(others)
    flags.insert(min(at, len(flags)), f"-X {quote}{key}={version}{quote}")
    text = " ".join(flags)
    assert ldflags_version(text) == "v" + version.removeprefix("v")
    quoted = json.dumps(text)  # strconv.Quote's output for printable ASCII, as `go version -m` writes it
    assert go_unquote(quoted) == text
    assert ldflags_version(text + " -X main.version=1.0.0") is None  # two qualifying flags: none


# --- dependency fields ----------------------------------------------------------------------------------------

@PROFILE
@given(st.text(max_size=500))
def test_dependency_fields_take_any_text(text: str) -> None:
    for entry in relation_names(text):
        assert entry and all(name and "," not in name and " " not in name for name in entry.split("|"))
    assert all(name and not name.startswith("!") and " " not in name for name in dependency_names(text))
    assert all(name == normalize_name(name) for name in required_names(text.split("\n")))


RELATION = st.tuples(NAME, st.sampled_from(["", " (>= 1.0)", " (= 2:1.2-3)", ":any", ":amd64 (<< 3)", " [amd64]",
                                            " <!nocheck>"]))


@PROFILE
@given(st.lists(st.lists(RELATION, min_size=1, max_size=3), max_size=8), st.sampled_from([", ", ",\n ", " ,"]))
def test_dpkg_relations_round_trip(relations: list[list[tuple[str, str]]], comma: str) -> None:
    field = comma.join(" | ".join(name + suffix for name, suffix in alternatives) for alternatives in relations)
    assert relation_names(field) == ["|".join(name for name, _ in alternatives) for alternatives in relations]


@PROFILE
@given(st.lists(st.tuples(st.sampled_from(["", "so:", "cmd:", "pc:", "!"]), NAME,
                          st.sampled_from(["", ">=1.2", "=3.0-r1", "<2", "~1"])), max_size=10))
def test_apk_dependencies_round_trip(words: list[tuple[str, str, str]]) -> None:
    field = " ".join(prefix + name + constraint for prefix, name, constraint in words)
    assert dependency_names(field) == [prefix + name for prefix, name, _ in words if prefix != "!"]


PEP508_NAME = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,15}[A-Za-z0-9])?", fullmatch=True)
MARKER = st.sampled_from(["", 'python_version >= "3.8"', 'extra == "socks"', 'sys_platform == "win32" and extra == "x"',
                          'extra == "a" or python_version < "3"', "platform_machine != 'arm64'"])


@PROFILE
@given(st.lists(st.tuples(PEP508_NAME, st.sampled_from(["", "[security]", "[a,b]"]),
                          st.sampled_from(["", ">=1.0", " (<3,>=1.21.1)", "==2.*", " @ https://x.example/p.whl"]),
                          MARKER), max_size=6))
def test_requires_dist_agrees_with_packaging(requirements: list[tuple[str, str, str, str]]) -> None:
    """The hand-written reading of Requires-Dist against packaging's PEP 508 parser (not imported by scans)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    values = [f"{name}{extras}{spec}" + (f" ; {marker}" if marker else "") for name, extras, spec, marker in requirements]
    want: list[str] = []
    for value in values:
        parsed = Requirement(value)
        marker = str(parsed.marker) if parsed.marker else ""
        if "extra" in marker and " or " not in marker:
            continue
        if canonicalize_name(parsed.name) not in want:
            want.append(canonicalize_name(parsed.name))
    assert required_names(values) == want


@PROFILE
@given(st.lists(st.tuples(st.sampled_from(["", "[extra]", "[:python_version < '3']", "[extra:os_name == 'nt']"]),
                          st.lists(PEP508_NAME, max_size=3)), max_size=5), st.text(max_size=200))
def test_egg_requires_txt_round_trip(sections: list[tuple[str, list[str]]], noise: str) -> None:
    text = "\n".join(f"{header}\n" + "\n".join(f"{name}>=1" for name in names) for header, names in sections)
    needed = True
    want: dict[str, None] = {}
    for header, names in sections:
        needed = header.startswith("[:") if header else needed
        for name in names:
            if needed:
                want[normalize_name(name)] = None
    assert egg_required_names(text) == list(want)
    assert all(name == normalize_name(name) for name in egg_required_names(noise))


@PROFILE
@given(st.lists(st.tuples(NAME, VERSION, st.lists(st.integers(0, 9), max_size=4)), min_size=1, max_size=10,
                unique_by=lambda p: p[0]), st.lists(st.integers(0, 9), max_size=4))
def test_lock_dependencies_resolve_by_node_lookup(entries: list[tuple[str, str, list[int]]], nested: list[int]) -> None:
    """A flat lock resolves each name to `node_modules/<name>`; a copy nested below the first package wins for
    that package's own dependencies."""
    first = entries[0][0]
    packages: dict[str, dict] = {"": {"name": "root", "version": "0.0.0",
                                      "dependencies": {n: "*" for n, _, _ in entries}}}
    for name, version, deps in entries:
        packages[f"node_modules/{name}"] = {"version": version,
                                            "dependencies": {entries[i][0]: "*" for i in deps if i < len(entries)}}
    for i in nested:
        if i < len(entries):
            name = entries[i][0]
            packages[f"node_modules/{first}/node_modules/{name}"] = {"version": "0.0.1-nested"}
    found = parse_package_lock(json.dumps({"lockfileVersion": 3, "packages": packages}).encode(), "/l")
    by_name = {(p.name, p.version): p for p in found}
    assert by_name[("root", "0.0.0")].depends == [f"{n} {v}" for n, v, _ in entries]
    first_package = by_name[(first, entries[0][1])]
    nested_names = {entries[i][0] for i in nested if i < len(entries)}
    want = [f"{entries[i][0]} " + ("0.0.1-nested" if entries[i][0] in nested_names else entries[i][1])
            for i in dict.fromkeys(entries[0][2]) if i < len(entries)]
    assert first_package.depends == want
    # the same tree as lockfileVersion 1: nested `dependencies`, `requires` by name
    v1 = {name: {"version": version, "requires": {entries[i][0]: "*" for i in deps if i < len(entries)}}
          for name, version, deps in entries}
    if nested_names:
        v1[first]["dependencies"] = {name: {"version": "0.0.1-nested"} for name in nested_names}
    found = parse_package_lock(json.dumps({"lockfileVersion": 1, "dependencies": v1}).encode(), "/l")
    assert next(p for p in found if (p.name, p.version) == (first, entries[0][1])).depends == want


def _rpm_arrays(name: str, requires: list[str], provides: list[str]) -> bytes:
    store, entries = b"", b""
    for tag, typ, values in ((TAG_NAME, TYPE_STRING, [name]), (TAG_VERSION, TYPE_STRING, ["1"]),
                             (TAG_REQUIRENAME, TYPE_STRING_ARRAY, requires),
                             (TAG_PROVIDENAME, TYPE_STRING_ARRAY, provides)):
        entries += struct.pack(">IIII", tag, typ, len(store), len(values))
        store += b"".join(v.encode() + b"\0" for v in values)
    return struct.pack(">II", 4, len(store)) + entries + store


RPM_DEP = st.from_regex(r"[a-z/][a-z0-9./()_+-]{0,20}", fullmatch=True)


@PROFILE
@given(NAME, st.lists(RPM_DEP, min_size=1, max_size=8), st.lists(RPM_DEP, min_size=1, max_size=8), st.data())
def test_rpm_requires_and_provides_round_trip(name: str, requires: list[str], provides: list[str],
                                              data: st.DataObject) -> None:
    blob = _rpm_arrays(name, requires, provides)
    header = parse_header_blob(blob)
    assert (header.name, header.requires, header.provides) == (name, requires, provides)
    damaged = bytearray(blob)
    damaged[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    try:
        header = parse_header_blob(bytes(damaged))
    except RpmDBError:
        return
    assert len(header.requires) <= len(requires) + len(blob) and len(header.provides) <= len(blob)


GRAPH_PACKAGE = st.builds(
    lambda name, version, kind, path, depends, provides: Package(name=name, version=version, type=kind, path=path,
                                                                 depends=depends, provides=provides),
    st.sampled_from("abcdefg"), st.sampled_from(["1", "2"]), st.sampled_from(["deb", "python", "npm"]),
    st.sampled_from(["/s", "/t/x.dist-info/METADATA", "/t/y.dist-info/METADATA"]),
    st.lists(st.from_regex(r"[a-h]( [12])?(\|[a-h]){0,2}", fullmatch=True), max_size=4),
    st.lists(st.sampled_from("abcdefgh"), max_size=2))


@PROFILE
@given(st.lists(GRAPH_PACKAGE, max_size=25), st.booleans())
def test_graph_is_direct_bounded_and_hangs_below_the_image(packages: list[Package], has_os: bool) -> None:
    graph = dependency_graph(packages)
    for index, targets in graph.items():
        assert len(targets) == len(set(targets)) and index not in targets
        assert len(targets) <= sum(entry.count("|") + 1 for entry in packages[index].depends)
        assert all(packages[t].type == packages[index].type for t in targets)  # one database
    inventory = Inventory(ImageInfo(name="img"), OperatingSystem("debian", "12") if has_os else None, packages)
    os_roots, image_roots = graph_roots(inventory, graph)
    reached, stack = set(os_roots + image_roots), os_roots + image_roots
    while stack:
        for target in graph.get(stack.pop(), []):
            if target not in reached:
                reached.add(target)
                stack.append(target)
    assert reached == set(range(len(packages)))
    assert len(os_roots) + len(image_roots) == len(set(os_roots + image_roots))


# --- every analyzer, at its own paths -----------------------------------------------------------------------

ANALYZER_PATHS = ["/var/lib/dpkg/status", "/lib/apk/db/installed", "/var/lib/rpm/Packages",
                  "/var/lib/rpm/Packages.db", "/var/lib/rpm/rpmdb.sqlite", "/usr/lib/x-1.0.dist-info/METADATA",
                  "/app/package.json", "/app/package-lock.json", "/app/yarn.lock", "/app/pnpm-lock.yaml",
                  "/app/bin/tool", "/app/lib/a.jar", "/usr/lib/ruby/specifications/a-1.gemspec",
                  "/app/Gemfile.lock", "/app/vendor/composer/installed.json", "/app/Cargo.lock",
                  "/app/app.deps.json", "/usr/lib/python3/site-packages/x-1.egg"]


@PROFILE
@given(st.sampled_from(ANALYZER_PATHS), st.binary(max_size=3000) | JSON.map(lambda v: json.dumps(v).encode()))
def test_every_analyzer_turns_any_content_into_a_result(path: str, data: bytes) -> None:
    data = (b"\x7fELF" + data) if path.endswith("/tool") else data
    if path.endswith((".jar", ".egg")):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as archive:
            archive.writestr("META-INF/MANIFEST.MF", data)
            archive.writestr("META-INF/maven/g/a/pom.properties", data)
            archive.writestr("EGG-INFO/PKG-INFO", data)
        data = buf.getvalue()
    entry = FileEntry(path=path, size=len(data), mode=0o755, data=data)
    with tempfile.TemporaryDirectory() as tmp:
        for analyzer in default_analyzers():
            if analyzer.wants(path, max(len(data), 2048), 0o755):
                assert isinstance(analyzer.analyze([entry], AnalysisContext(tmp_dir=tmp)), AnalysisResult)


# --- image manifests ----------------------------------------------------------------------------------------

@PROFILE
@given(JSON, JSON)
def test_manifest_and_index_parsing_raise_only_source_errors(index: object, manifest: object) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = write_layout(Path(tmp) / "img", [(gz(tar_bytes([])), tar_bytes([]))])
        blobs = root / "blobs" / "sha256"
        data = json.dumps(manifest).encode()
        import hashlib

        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        pointed = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                                      "digest": f"sha256:{digest}", "size": len(data)}]}
        for top in (index, pointed):
            (root / "index.json").write_text(json.dumps(top))
            try:
                source = open_source(f"oci-dir:{root}")
                try:
                    source.platforms()
                    source.peek(None)
                    source.resolve(None)
                finally:
                    source.close()
            except SourceError:
                pass
