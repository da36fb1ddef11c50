"""Every shared test image yields exactly its expected inventory, from every source form."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import pytest

from hullscan.scanner import analyze, analyze_all
from tests.scanner.conftest import IMAGES, expected_packages, image_layout


def _key(p) -> tuple:
    return (p["type"], p["name"], p["version"], p["path"])


def _found(inventory) -> set[tuple]:
    return {(p.type, p.name, p.version, p.path) for p in inventory.packages}


@pytest.mark.parametrize("name", [n for n in IMAGES if n != "multiarch-index"])
def test_image_inventory_equals_expected(name: str) -> None:
    expected = expected_packages(name)
    inventory = analyze(f"oci-dir:{image_layout(name)}")
    assert inventory.warnings == []
    assert _found(inventory) == {_key(p) for p in expected["packages"]}
    assert inventory.image.digest == expected["manifest"]
    for package in inventory.packages:
        assert package.layer_digest and package.layer_diff_id, package
        assert package.purl, package


def test_os_detection() -> None:
    minbase = analyze(f"oci-dir:{image_layout('debian-bookworm-minbase')}")
    assert (minbase.os.family, minbase.os.version, minbase.os.codename) == ("debian", "12.15", "bookworm")
    distroless = analyze(f"oci-dir:{image_layout('distroless-style')}")
    assert distroless.os.family == "debian" and distroless.os.version.startswith("12")
    assert analyze(f"oci-dir:{image_layout('go-binary')}").os is None


def test_deb_packages_carry_source_and_purl() -> None:
    inventory = analyze(f"oci-dir:{image_layout('debian-bookworm-minbase')}")
    by_name = {p.name: p for p in inventory.packages}
    libc = by_name["libc6"]
    version = next(p["version"] for p in expected_packages("debian-bookworm-minbase")["packages"] if p["name"] == "libc6")
    assert (libc.source_name, libc.source_version, libc.arch) == ("glibc", version, "amd64")
    assert libc.purl == f"pkg:deb/debian/libc6@{version.replace('+', '%2B')}?arch=amd64&distro=debian-12.15"
    assert by_name["zlib1g"].version == "1:1.2.13.dfsg-1"
    assert by_name["zlib1g"].source_name == "zlib"
    assert by_name["libc6"].licenses, "licenses come from /usr/share/doc/<pkg>/copyright"


def test_whiteout_removes_pyyaml_from_app_image() -> None:
    inventory = analyze(f"oci-dir:{image_layout('debian-python-app')}")
    python = {p.name.lower(): p for p in inventory.packages if p.type == "python"}
    assert "pyyaml" not in python
    assert set(python) == {"django", "jinja2", "pillow", "cryptography", "requests", "urllib3"}
    # the /app project and the nested ms@2.1.1 next to ms@2.0.0
    npm = {(p.name, p.version) for p in inventory.packages if p.type == "npm"}
    assert {("ms", "2.0.0"), ("ms", "2.1.1"), ("imglab-node-app", "1.0.0")} <= npm
    layers = {p.layer_diff_id for p in inventory.packages}
    assert len(layers) == 3


def test_multiarch_index_per_platform() -> None:
    amd64 = analyze(f"oci-dir:{image_layout('multiarch-index')}", platform="linux/amd64")
    arm64 = analyze(f"oci-dir:{image_layout('multiarch-index')}", platform="linux/arm64")
    for inventory, expected in ((amd64, "multiarch-index"), (arm64, "multiarch-index.arm64")):
        assert _found(inventory) == {_key(p) for p in expected_packages(expected)["packages"]}
    assert amd64.image.platform == "linux/amd64" and arm64.image.platform == "linux/arm64/v8"
    assert amd64.image.digest != arm64.image.digest
    everything = analyze_all(f"oci-dir:{image_layout('multiarch-index')}")
    assert sorted(i.image.platform for i in everything) == ["linux/amd64", "linux/arm64/v8"]


def test_unknown_platform_is_a_clear_error() -> None:
    from hullscan.scanner.source import SourceError

    with pytest.raises(SourceError, match="linux/s390x.*linux/amd64"):
        analyze(f"oci-dir:{image_layout('multiarch-index')}", platform="linux/s390x")


def _tar_dir(src: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w") as tar:
        for child in sorted(src.iterdir()):
            tar.add(child, arcname=child.name)
    return dest


def test_oci_archive_and_docker_archive_sources(tmp_path: Path) -> None:
    layout = image_layout("debian-python-app")
    archive = _tar_dir(layout, tmp_path / "app.tar")
    expected = {_key(p) for p in expected_packages("debian-python-app")["packages"]}
    oci = analyze(f"oci-archive:{archive}")
    assert _found(oci) == expected
    docker = analyze(f"docker-archive:{archive}")  # the layout also carries a docker-save manifest.json
    assert _found(docker) == expected


def test_dir_source(tmp_path: Path) -> None:
    """A root filesystem on disk: the distroless layer unpacked with tar into the test's temp dir."""
    layout = image_layout("distroless-style")
    import json

    manifest = json.loads((layout / "manifest.json").read_text())[0]
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    subprocess.run(["tar", "-xzf", str(layout / manifest["Layers"][0]), "-C", str(rootfs)], check=True)
    inventory = analyze(f"dir:{rootfs}")
    assert {(p.name, p.version) for p in inventory.packages} == {
        (p["name"], p["version"]) for p in expected_packages("distroless-style")["packages"]}
    assert inventory.os and inventory.os.family == "debian"
