"""Formats without a peer fixture here: nested jars and MANIFEST.MF, cargo-auditable `.dep-v0` in an ELF,
.NET deps.json, gemspecs in an image, Go build info in a hand-made binary."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

from hullscan.scanner import analyze
from tests.scanner.layouts import Entry, layer, write_layout


def _jar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _elf_with_section(name: str, content: bytes) -> bytes:
    """A minimal ELF64 (little endian) with a null section, `name` and .shstrtab."""
    shstrtab = b"\0" + name.encode() + b"\0.shstrtab\0"
    header_size, sh_size = 64, 64
    content_off = header_size
    strtab_off = content_off + len(content)
    shoff = strtab_off + len(shstrtab)
    ident = b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9
    header = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, shoff, 0, header_size, 0, 0, sh_size, 3, 2)
    null = b"\0" * sh_size
    sect = struct.pack("<IIQQQQIIQQ", 1, 1, 0, 0, content_off, len(content), 0, 0, 1, 0)
    strs = struct.pack("<IIQQQQIIQQ", 2 + len(name), 3, 0, 0, strtab_off, len(shstrtab), 0, 0, 1, 0)
    body = header + content + shstrtab + null + sect + strs
    return body + b"\0" * (2048 - len(body) % 2048)


def _go_binary(version: str, modinfo: str) -> bytes:
    def uvarint(n: int) -> bytes:
        out = bytearray()
        while True:
            byte = n & 0x7F
            n >>= 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)

    sentinel = b"0" * 16
    mod = sentinel + modinfo.encode() + sentinel
    info = b"\xff Go buildinf:" + bytes([8, 2]) + b"\0" * 16
    payload = info + uvarint(len(version)) + version.encode() + uvarint(len(mod)) + mod
    head = b"\x7fELF" + b"\0" * (4096 - 4)
    return head + payload + b"\0" * 1024


def test_language_formats_in_an_image(tmp_path: Path) -> None:
    inner = _jar({"META-INF/maven/org.inner/inner-lib/pom.properties":
                  b"groupId=org.inner\nartifactId=inner-lib\nversion=2.0.1\n"})
    outer = _jar({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\nImplementation-Title: outer-app\n"
                                         b"Implementation-Version: 9.9\n",
                  "BOOT-INF/lib/inner-lib-2.0.1.jar": inner})
    dep_v0 = zlib.compress(json.dumps({"packages": [
        {"name": "my-bin", "version": "0.1.0", "source": "local", "kind": "runtime"},
        {"name": "serde", "version": "1.0.190", "source": "crates.io"}]}).encode())
    deps_json = json.dumps({"libraries": {"Newtonsoft.Json/13.0.1": {"type": "package"},
                                          "MyApp/1.0.0": {"type": "project"}}}).encode()
    modinfo = ("path\texample.com/tool\nmod\texample.com/tool\tv1.2.3\th1:x=\n"
               "dep\tgolang.org/x/text\tv0.3.0\th1:y=\n=>\tgolang.org/x/text\tv0.3.8\th1:z=\n"
               "dep\tgithub.com/pkg/errors\tv0.9.1\th1:w=\nbuild\tGOOS=linux\n")
    entries = [
        Entry("opt/app/app.jar", outer),
        Entry("usr/local/bin/my-bin", _elf_with_section(".dep-v0", dep_v0), mode=0o755),
        Entry("srv/app/MyApp.deps.json", deps_json),
        Entry("usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec",
              b'Gem::Specification.new do |s|\n  s.name = "rake".freeze\n  s.version = "13.0.6"\n'
              b'  s.licenses = ["MIT".freeze]\nend\n'),
        Entry("usr/local/bin/tool", _go_binary("go1.21.5", modinfo), mode=0o755),
    ]
    inventory = analyze(f"oci-dir:{write_layout(tmp_path / 'img', [layer(entries)])}")
    assert inventory.warnings == []
    found = {(p.type, p.name, p.version) for p in inventory.packages}
    assert {("java", "outer-app", "9.9"), ("java", "inner-lib", "2.0.1"),
            ("cargo", "my-bin", "0.1.0"), ("cargo", "serde", "1.0.190"),
            ("nuget", "Newtonsoft.Json", "13.0.1"), ("gem", "rake", "13.0.6"),
            ("go", "stdlib", "go1.21.5"), ("go", "example.com/tool", "v1.2.3"),
            ("go", "golang.org/x/text", "v0.3.8"), ("go", "github.com/pkg/errors", "v0.9.1")} <= found
    assert ("nuget", "MyApp", "1.0.0") not in found
    by_name = {p.name: p for p in inventory.packages}
    assert by_name["inner-lib"].purl == "pkg:maven/org.inner/inner-lib@2.0.1"
    assert by_name["inner-lib"].path == "/opt/app/app.jar!BOOT-INF/lib/inner-lib-2.0.1.jar"
    assert by_name["serde"].purl == "pkg:cargo/serde@1.0.190"
    assert by_name["rake"].licenses == ["MIT"]


def test_packages_inside_a_whited_out_archive_go_with_it(tmp_path: Path) -> None:
    inner = _jar({"META-INF/maven/org.inner/inner-lib/pom.properties":
                  b"groupId=org.inner\nartifactId=inner-lib\nversion=2.0.1\n"})
    outer = _jar({"BOOT-INF/lib/inner-lib-2.0.1.jar": inner,
                  "META-INF/maven/org.app/app/pom.properties": b"groupId=org.app\nartifactId=app\nversion=1\n"})
    base = layer([Entry("opt/app/app.jar", outer), Entry("opt/keep/keep.jar", _jar({
        "META-INF/maven/org.k/keep/pom.properties": b"groupId=org.k\nartifactId=keep\nversion=3\n"}))])
    top = layer([Entry("opt/.wh.app", b"")])  # the whole /opt/app directory is deleted
    inventory = analyze(f"oci-dir:{write_layout(tmp_path / 'img', [base, top])}")
    assert {p.name for p in inventory.packages} == {"keep"}


def _manifest(**attributes: str) -> bytes:
    return ("Manifest-Version: 1.0\n" + "".join(f"{k.replace('_', '-')}: {v}\n" for k, v in attributes.items())).encode()


def test_jars_known_only_by_their_manifest(tmp_path: Path) -> None:
    """The rule of docs/scanner.md: Maven archiver entries, else OSGi, else the module name, else group
    `unknown` and the file name (never a display name as the artifact id)."""
    jars = {
        # maven-archiver's default entries, with a display name as title: the bundle name gives the artifact
        "commons-lang3-3.12.0.jar": _manifest(Implementation_Title="Apache Commons Lang",
                                              Implementation_Vendor_Id="org.apache.commons",
                                              Implementation_Version="3.12.0",
                                              Bundle_SymbolicName="org.apache.commons.lang3;singleton:=true"),
        "renamed.jar": _manifest(Implementation_Vendor_Id="org.example", Implementation_Title="widget",
                                 Implementation_Version="2.0"),
        "x.jar": _manifest(Bundle_SymbolicName="com.fasterxml.jackson.core.jackson-databind",
                           Bundle_Version="2.15.2"),
        "mod-1.0.jar": _manifest(Automatic_Module_Name="org.example.mod", Implementation_Version="1.0"),
        "my-app-4.1.jar": _manifest(Implementation_Title="My Great App", Implementation_Version="4.1"),
        "noversion.jar": _manifest(Implementation_Title="nothing"),
    }
    entries = [Entry(f"opt/lib/{name}", _jar({"META-INF/MANIFEST.MF": data})) for name, data in jars.items()]
    inventory = analyze(f"oci-dir:{write_layout(tmp_path / 'img', [layer(entries)])}")
    by_path = {p.path.rpartition("/")[2]: p for p in inventory.packages}
    assert {name: by_path[name].purl for name in by_path} == {
        "commons-lang3-3.12.0.jar": "pkg:maven/org.apache.commons/commons-lang3@3.12.0",
        "renamed.jar": "pkg:maven/org.example/widget@2.0",
        "x.jar": "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.15.2",
        "mod-1.0.jar": "pkg:maven/org.example/mod@1.0",
        "my-app-4.1.jar": "pkg:maven/unknown/my-app@4.1",
    }
    assert by_path["my-app-4.1.jar"].properties == {"group": "unknown", "coordinates": "manifest-file-name"}
    assert by_path["x.jar"].properties["coordinates"] == "manifest-osgi"


def test_zipped_eggs(tmp_path: Path) -> None:
    egg = _jar({"EGG-INFO/PKG-INFO": b"Metadata-Version: 1.1\nName: Old_Lib\nVersion: 0.9.1\nLicense: BSD\n",
                "old_lib/__init__.py": b""})
    no_info = _jar({"thing/__init__.py": b""})
    huge_info = _jar({"EGG-INFO/PKG-INFO": b"Name: big\nVersion: 1\n" + b"x" * (2 << 20)})
    entries = [Entry("usr/lib/python3/site-packages/Old_Lib-0.9.1-py3.11.egg", egg),
               Entry("usr/lib/python3/site-packages/thing-1.0-py3.11.egg", no_info),
               Entry("usr/lib/python3/site-packages/big-1-py3.11.egg", huge_info),
               Entry("usr/lib/python3/site-packages/broken-1-py3.11.egg", b"not a zip")]
    inventory = analyze(f"oci-dir:{write_layout(tmp_path / 'img', [layer(entries)])}")
    assert [(p.name, p.version, p.purl, p.licenses) for p in inventory.packages] == [
        ("Old_Lib", "0.9.1", "pkg:pypi/old-lib@0.9.1", ["BSD"])]
    assert len(inventory.warnings) == 2
    assert "broken-1-py3.11.egg" in inventory.warnings[0] + inventory.warnings[1]
    assert any("big-1-py3.11.egg: " in w and "EGG-INFO/PKG-INFO: 2097173 bytes is over the 1048576 byte cap" in w
               for w in inventory.warnings)


_DEVEL_MODINFO = ("path\texample.com/app\nmod\texample.com/app\t(devel)\t\n"
                  "dep\tgolang.org/x/text\tv0.3.8\th1:y=\nbuild\t-compiler=gc\nbuild\t-ldflags={flags}\n"
                  "build\tGOOS=linux\n")


def test_go_main_module_version_from_ldflags(tmp_path: Path) -> None:
    """Build info as `go build -ldflags ...` of a module checkout writes it (checked against go1.19's own
    binary: the setting is Go-quoted when it holds blanks or quotes)."""
    cases = {
        "flagged": '"-s -w -X main.version=1.2.3"',
        "pathed": "\"-X 'example.com/app/internal/version.Version=v2.0.0-rc.1'\"",
        "bare": "-X=main.Version=0.4.0",
        "other-key": '"-X main.commit=1.2.3 -X example.com/app/cmd.version=1.2.3"',
        "not-semver": '"-X main.version=dev"',
        "two-flags": '"-X main.version=1.2.3 -X example.com/app/version.Version=1.2.3"',
        "none": '"-s -w"',
    }
    entries = [Entry(f"usr/bin/{name}", _go_binary("go1.21.5", _DEVEL_MODINFO.format(flags=flags)), mode=0o755)
               for name, flags in cases.items()]
    released = _go_binary("go1.21.5", _DEVEL_MODINFO.replace("(devel)", "v9.9.9").format(flags='"-X main.version=1.0.0"'))
    entries.append(Entry("usr/bin/released", released, mode=0o755))
    inventory = analyze(f"oci-dir:{write_layout(tmp_path / 'img', [layer(entries)])}")
    main = {p.path.rpartition("/")[2]: p for p in inventory.packages if p.properties.get("kind") == "mod"}
    assert {name: p.version for name, p in main.items()} == {
        "flagged": "v1.2.3", "pathed": "v2.0.0-rc.1", "bare": "v0.4.0", "other-key": "(devel)",
        "not-semver": "(devel)", "two-flags": "(devel)", "none": "(devel)", "released": "v9.9.9"}
    assert main["flagged"].purl == "pkg:golang/example.com/app@v1.2.3"
    assert main["flagged"].properties["version_from"] == "ldflags"
    assert "version_from" not in main["released"].properties
