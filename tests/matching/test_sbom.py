"""Reading other tools' SBOMs (real Trivy and Syft output), and hostile or broken SBOMs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from hullscan.matching.sbom import SbomError, read_sbom
from tests.conftest import image_layout

BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert path, f"{name} is missing: install the test extra (pip install -e '.[test]')"
    return path


@pytest.fixture(scope="session")
def peer_sboms(tmp_path_factory) -> dict[str, Path]:
    """SBOMs of the app image written by Trivy (CycloneDX) and Syft (CycloneDX, SPDX), run for real."""
    image = image_layout("debian-python-app")
    out = tmp_path_factory.mktemp("peer-sboms")
    trivy = [_tool("trivy"), "image", "--cache-dir", str(out / "cache"), "--skip-db-update", "--offline-scan", "--quiet",
             "--input", str(image)]
    subprocess.run([*trivy, "--format", "cyclonedx", "--output", str(out / "trivy.cdx.json")], check=True, timeout=300)
    subprocess.run(
        [_tool("syft"), "scan", f"oci-dir:{image}", "-q",
         "-o", f"cyclonedx-json={out / 'syft.cdx.json'}", "-o", f"spdx-json={out / 'syft.spdx.json'}"],
        check=True, timeout=300,
    )
    return {p.stem: p for p in out.glob("*.json")}


@pytest.mark.parametrize("name", ["trivy.cdx", "syft.cdx", "syft.spdx"])
def test_peer_sboms_give_the_same_packages_as_the_scanner(peer_sboms, app_inventory, name: str) -> None:
    inv = read_sbom(peer_sboms[name])
    assert Counter(p.type for p in inv.packages) == {"deb": 88, "python": 6, "npm": 53}
    assert inv.os is not None and inv.os.family == "debian" and inv.os.version.startswith("12")
    ours = {(p.type, p.name.lower() if p.type == "python" else p.name, p.version) for p in app_inventory.packages}
    theirs = {(p.type, p.name.lower() if p.type == "python" else p.name, p.version) for p in inv.packages}
    assert theirs == ours
    zlib = next(p for p in inv.packages if p.name == "zlib1g")
    assert (zlib.source_name, zlib.version) == ("zlib", "1:1.2.13.dfsg-1")
    libc = next(p for p in inv.packages if p.name == "libc6")
    assert libc.source_name == "glibc"


def _cdx(components, **extra) -> dict:
    return {"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": components, **extra}


def _write(tmp_path: Path, doc, name: str = "sbom.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def test_missing_purls_versions_and_unknown_types_are_warnings(tmp_path) -> None:
    doc = _cdx(
        [
            {"type": "library", "name": "ok", "version": "1.0", "purl": "pkg:pypi/ok@1.0"},
            {"type": "library", "name": "nopurl", "version": "1.0"},
            {"type": "library", "name": "noversion", "purl": "pkg:npm/noversion"},
            {"type": "library", "name": "conda", "version": "1", "purl": "pkg:conda/numpy@1"},
            {"type": "library", "name": "junk", "version": "1", "purl": "pkg:::not-a-purl"},
            {"type": "library", "name": 7, "version": None, "purl": ["x"]},
            "not an object",
            {"type": "library", "name": "nested", "version": "2", "purl": "pkg:npm/nested@2",
             "components": [{"type": "library", "name": "child", "version": "3", "purl": "pkg:npm/child@3"}]},
        ],
        metadata={"component": {"type": "container", "name": "registry.example/app"},
                  "properties": [{"name": "gitlab:container_scanning:operating_system:name", "value": "alpine"},
                                 {"name": "gitlab:container_scanning:operating_system:version", "value": "3.19.1"}]},
    )
    inv = read_sbom(_write(tmp_path, doc))
    assert sorted(p.name for p in inv.packages) == ["child", "nested", "ok"]
    assert inv.image.name == "registry.example/app"
    assert (inv.os.family, inv.os.version) == ("alpine", "3.19.1")
    text = "\n".join(inv.warnings)
    assert "2 component(s) skipped: no purl" in text
    assert "1 component(s) skipped: no version" in text
    assert "purl type 'conda'" in text
    assert "unreadable purl" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"bomFormat": "CycloneDX", "components": [{"name": "a"', "not valid JSON"),
        ("[1, 2, 3]", "not a JSON object"),
        ('{"bomFormat": "SomethingElse"}', "unsupported bomFormat"),
        ('{"hello": "world"}', "neither a CycloneDX nor an SPDX"),
        ("", "not valid JSON"),
        ("\x00\x01garbage", "not valid JSON"),
    ],
)
def test_unreadable_documents_are_clear_errors(tmp_path, content: str, message: str) -> None:
    with pytest.raises(SbomError, match=message):
        read_sbom(_write(tmp_path, content))


def test_spdx_with_broken_packages(tmp_path) -> None:
    doc = {
        "spdxVersion": "SPDX-2.3",
        "name": "img",
        "packages": [
            {"name": "debian", "versionInfo": "11.6", "primaryPackagePurpose": "OPERATING-SYSTEM"},
            {"name": "openssl", "versionInfo": "1.1.1n-0+deb11u3",
             "externalRefs": [{"referenceType": "purl", "referenceLocator": "pkg:deb/debian/libssl1.1@1.1.1n-0+deb11u3?upstream=openssl"}]},
            {"name": "nothing"},
            {"name": "refs-not-a-list", "externalRefs": "nope"},
            None,
        ],
    }
    inv = read_sbom(_write(tmp_path, doc))
    assert [(p.name, p.source_name) for p in inv.packages] == [("openssl", "openssl")]
    assert (inv.os.family, inv.os.version) == ("debian", "11.6")
    assert any("no purl" in w for w in inv.warnings)


def test_component_cap_and_deep_nesting(tmp_path) -> None:
    comps = [{"type": "library", "name": f"p{i}", "version": "1", "purl": f"pkg:npm/p{i}@1"} for i in range(50)]
    inv = read_sbom(_write(tmp_path, _cdx(comps)), max_components=10)
    assert len(inv.packages) == 10 and any("more than 10" in w for w in inv.warnings)
    depth = 5000
    node = '{"type": "library", "name": "n", "version": "1", "purl": "pkg:npm/n@1", "components": ['
    deep = '{"bomFormat": "CycloneDX", "components": [' + node * depth + "]}" * depth + "]}"
    inv = read_sbom(_write(tmp_path, deep, "deep.json"))
    assert 1 <= len(inv.packages) <= 20  # nesting past the cap is not followed


def test_50_mb_sbom_streams_in_bounded_memory(tmp_path) -> None:
    """A 50 MB CycloneDX file: read in a child process whose peak RSS must stay far below loading it whole."""
    path = tmp_path / "big.cdx.json"
    pad = "x" * 200
    template = '{"type": "library", "name": "pkg%d", "version": "1.0.0", "purl": "pkg:npm/pkg%d@1.0.0", "description": "' + pad + '"}'
    size = 0
    i = 0
    with path.open("w") as fh:
        fh.write('{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [')
        while size < 50 * 1024 * 1024:
            chunk = ",".join(template % (n, n) for n in range(i, i + 1000))
            fh.write(("," if i else "") + chunk)
            size += len(chunk) + 1
            i += 1000
        fh.write("]}")
    assert path.stat().st_size >= 50 * 1024 * 1024
    # VmHWM (not ru_maxrss, which Linux carries over from the forking parent across exec)
    script = (
        "import re, sys\n"
        "from hullscan.matching.sbom import read_sbom\n"
        "inv = read_sbom(sys.argv[1])\n"
        "hwm = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
        "print(len(inv.packages), hwm // 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=300, check=True)
    count, peak_mb = map(int, out.stdout.split())
    assert count == i
    # json.load of this file alone needs several hundred MB; streaming keeps one component at a time, so the
    # peak is the interpreter plus the (small) Package objects kept for matching.
    assert peak_mb < 300, f"peak RSS {peak_mb} MB for {count} components"
