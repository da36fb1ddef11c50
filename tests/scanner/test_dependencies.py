"""The dependency graph (CycloneDX `dependencies`, SPDX `DEPENDS_ON`) from what each package database says:
dpkg Depends/Pre-Depends with alternatives and virtual packages, Python Requires-Dist within one site
directory, npm package-lock nesting, the modules of a Go binary, rpm requires through provides (a real
CBL-Mariner rpmdb). Ambiguous names draw no edge; every package hangs below the image."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from hullscan.scanner import analyze, write_cyclonedx, write_spdx
from hullscan.scanner.inventory import ImageInfo, Inventory, OperatingSystem, Package, dependency_graph
from tests.conftest import DATA
from tests.scanner.conftest import cyclonedx_edges
from tests.scanner.layouts import Entry, layer, write_layout
from tests.scanner.test_language_analyzers import _go_binary
from tests.scanner.test_language_analyzers import _jar as _zip

STATUS = """\
Package: app
Status: install ok installed
Version: 1.0
Pre-Depends: libc6 (>= 2.36)
Depends: mawk | gawk, mail-transport-agent, www-browser, libfoo:any (>= 1) [amd64], not-installed | dash

Package: mawk
Status: install ok installed
Version: 1.3.4
Provides: awk

Package: exim4
Status: install ok installed
Version: 4.96
Provides: mail-transport-agent

Package: lynx
Status: install ok installed
Version: 2.9
Provides: www-browser

Package: w3m
Status: install ok installed
Version: 0.5.3
Provides: www-browser

Package: libfoo
Status: install ok installed
Version: 1.2
Depends: libc6

Package: dash
Status: install ok installed
Version: 0.5.12

Package: libc6
Status: install ok installed
Version: 2.36
Architecture: amd64
Depends: libgcc-s1

Package: libgcc-s1
Status: install ok installed
Version: 12.2
Depends: libc6

Package: gone
Status: deinstall ok config-files
Version: 1
"""


def _metadata(name: str, version: str, *requires: str) -> bytes:
    return (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            + "".join(f"Requires-Dist: {r}\n" for r in requires)).encode()


LOCK = {
    "name": "web", "version": "1.0.0", "lockfileVersion": 3,
    "packages": {
        "": {"name": "web", "version": "1.0.0", "dependencies": {"debug": "^2", "express": "^4"}},
        "node_modules/debug": {"version": "2.6.9", "dependencies": {"ms": "2.0.0"}},
        "node_modules/ms": {"version": "2.0.0"},
        "node_modules/express": {"version": "4.17.1", "dependencies": {"debug": "^2", "ms": "^2.1"},
                                 "optionalDependencies": {"missing": "*"}},
        "node_modules/express/node_modules/ms": {"version": "2.1.3"},
    },
}


def _image(tmp_path: Path) -> Inventory:
    site, venv = "usr/lib/python3/dist-packages", "opt/venv/lib/python3.11/site-packages"
    modinfo = ("path\texample.com/tool\nmod\texample.com/tool\tv1.0.0\t\n"
               "dep\tgolang.org/x/text\tv0.3.8\th1:y=\n")
    entries = [
        Entry("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
        Entry("var/lib/dpkg/status", STATUS.encode()),
        Entry(f"{site}/Requests-2.31.0.dist-info/METADATA", _metadata(
            "Requests", "2.31.0", "urllib3 (<3,>=1.21.1)", "charset_normalizer<4,>=2",
            'PySocks!=1.5.7,>=1.5.6; extra == "socks"', 'idna>=2.5; python_version >= "3"')),
        Entry(f"{site}/urllib3-2.0.7.dist-info/METADATA", _metadata("urllib3", "2.0.7")),
        Entry(f"{site}/charset_normalizer-3.3.0.dist-info/METADATA", _metadata("charset-normalizer", "3.3.0")),
        Entry(f"{site}/PySocks-1.7.1.dist-info/METADATA", _metadata("PySocks", "1.7.1")),
        Entry(f"{venv}/idna-3.4.dist-info/METADATA", _metadata("idna", "3.4")),  # another site dir
        Entry(f"{site}/Old_Lib-0.9-py3.11.egg", _zip({
            "EGG-INFO/PKG-INFO": _metadata("Old_Lib", "0.9"),
            "EGG-INFO/requires.txt": b"urllib3>=1.0\n\n[socks]\nPySocks\n\n[:python_version < '3.12']\nCharset_Normalizer\n"})),
        Entry("srv/web/package-lock.json", json.dumps(LOCK).encode()),
        Entry("usr/local/bin/tool", _go_binary("go1.21.5", modinfo), mode=0o755),
    ]
    return analyze(f"oci-dir:{write_layout(tmp_path / 'img', [layer(entries)])}")


def test_graph_of_every_format(tmp_path: Path) -> None:
    inventory = _image(tmp_path)
    text = write_cyclonedx(inventory)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    edges = cyclonedx_edges(json.loads(text))
    below: dict[str, set[str]] = {}
    for a, b in edges:
        below.setdefault(a.rpartition("@")[0] or a, set()).add(b.rpartition("@")[0] or b)
    # dpkg: every installed alternative; a virtual name with one provider; with two (www-browser) none;
    # `:any` and `[arch]` dropped; a missing first alternative leaves the installed second
    assert below["app"] == {"libc6", "mawk", "exim4", "libfoo", "dash"}
    assert below["libc6"] == {"libgcc-s1"} and below["libgcc-s1"] == {"libc6"}  # a cycle
    # the OS over the dpkg packages nothing depends on
    assert below["OS"] == {"app", "lynx", "w3m"}
    # Python: normalised names, extras-only requirements skipped, only the same site directory
    assert below["Requests"] == {"urllib3", "charset-normalizer"}
    assert below["Old_Lib"] == {"urllib3", "charset-normalizer"}  # a zipped egg's requires.txt, [extra] skipped
    # npm: Node's lookup, nearest node_modules first; the project at the top of its lock
    assert below["web"] == {"debug", "express"}
    assert ("debug@2.6.9", "ms@2.0.0") in edges and ("express@4.17.1", "ms@2.1.3") in edges
    assert ("express@4.17.1", "debug@2.6.9") in edges
    # Go: the main module over the binary's other modules
    assert below["example.com/tool"] == {"stdlib", "golang.org/x/text"}
    assert below["IMAGE"] == {"OS", "Requests", "Old_Lib", "PySocks", "idna", "web", "example.com/tool"}
    # SPDX: the same edges below the image
    doc = json.loads(write_spdx(inventory))
    label = {p["SPDXID"]: "OS" if p.get("primaryPackagePurpose") == "OPERATING_SYSTEM"
             else f"{p['name']}@{p['versionInfo']}" for p in doc["packages"]}
    assert {(label[r["spdxElementId"]], label[r["relatedSpdxElement"]]) for r in doc["relationships"]
            if r["relationshipType"] == "DEPENDS_ON"} == {(a, b) for a, b in edges if a != "IMAGE"}


def test_a_cycle_nothing_else_reaches_still_hangs_below_the_image() -> None:
    packages = [Package(name="a", version="1", type="deb", path="/s", depends=["b"]),
                Package(name="b", version="1", type="deb", path="/s", depends=["a"]),
                Package(name="c", version="1", type="python", path="/x/c.dist-info/METADATA", depends=["c"])]
    for os_info in (OperatingSystem("debian", "12"), None):
        doc = json.loads(write_cyclonedx(Inventory(ImageInfo(name="img"), os_info, packages)))
        edges = cyclonedx_edges(doc)
        top = "OS" if os_info else "IMAGE"
        assert (top, "a@1") in edges and ("a@1", "b@1") in edges and ("b@1", "a@1") in edges
        assert ("IMAGE", "c@1") in edges and ("c@1", "c@1") not in edges  # no self edge


def test_rpm_requires_resolve_through_provides(tmp_path: Path) -> None:
    """A real CBL-Mariner 2.0 rpmdb.sqlite (go-rpmdb's fixture): sonames, `/bin/sh` and package names."""
    root = tmp_path / "rootfs" / "var" / "lib" / "rpm"
    root.mkdir(parents=True)
    shutil.copy(DATA / "peer-vectors/fixtures/rpm/go-rpmdb-cbl-mariner-2.0-sqlite/input/rpmdb.sqlite",
                root / "rpmdb.sqlite")
    packages = analyze(f"dir:{tmp_path / 'rootfs'}").packages
    graph = dependency_graph(packages)
    names = {packages[i].name: {packages[j].name for j in targets} for i, targets in graph.items()}
    assert {"glibc", "readline"} <= names["bash"]  # libc.so.6()(64bit), libreadline.so.8()(64bit)
    assert names["glibc"] == {"filesystem"}
    assert not any(d.startswith("rpmlib(") for p in packages for d in p.depends)  # rpm's own features
    assert sum(len(targets) for targets in graph.values()) == 495  # bounded: direct edges only


def _spdx_depends_on(document: str) -> set[tuple[str, str]]:
    doc = json.loads(document)
    label = {p["SPDXID"]: "OS" if p.get("primaryPackagePurpose") == "OPERATING_SYSTEM"
             else f"{p['name']}@{p['versionInfo']}" for p in doc["packages"]}
    return {(label[r["spdxElementId"]], label[r["relatedSpdxElement"]]) for r in doc["relationships"]
            if r["relationshipType"] == "DEPENDS_ON"}


def test_a_stored_sbom_converted_to_spdx_keeps_its_graph(tmp_path: Path) -> None:
    """The server keeps CycloneDX and converts to SPDX on download: the graph read back from the stored
    document is the one the scan drew (it is not recomputed from package databases the SBOM does not hold)."""
    from hullscan.matching.sbom import read_sbom

    inventory = _image(tmp_path)
    stored = tmp_path / "sbom.cdx.json"
    stored.write_text(write_cyclonedx(inventory))
    expected = _spdx_depends_on(write_spdx(inventory))
    assert len(expected) > 20
    assert _spdx_depends_on(write_spdx(read_sbom(stored, with_dependencies=True))) == expected
    assert _spdx_depends_on(write_spdx(read_sbom(stored))) != expected  # without it: the OS over every package


def test_a_hostile_dependency_graph_is_read_within_bounds(tmp_path: Path) -> None:
    from hullscan.matching.sbom import MAX_EDGES_PER_PACKAGE, read_sbom

    components = [{"bom-ref": f"r{i}", "type": "library", "name": f"p{i}", "version": "1",
                   "purl": f"pkg:pypi/p{i}@1"} for i in range(3)]
    fanout = ["r0", "r1", "r2", "missing", 7, "r0"] * (MAX_EDGES_PER_PACKAGE * 3)
    document = {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": components,
                "dependencies": [{"ref": "r0", "dependsOn": ["r1", "r1", "r0", "nope"]}, {"ref": "r1"},
                                 {"ref": 5, "dependsOn": ["r2"]}, {"ref": "r2", "dependsOn": fanout}]}
    path = tmp_path / "hostile.cdx.json"
    path.write_text(json.dumps(document))
    inventory = read_sbom(path, with_dependencies=True)
    assert inventory.dependencies == {0: [1]}  # duplicates, self edges, unknown refs dropped; r2 over budget
    assert any("dependency graph is larger" in w for w in inventory.warnings)
