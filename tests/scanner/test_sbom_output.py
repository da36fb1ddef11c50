"""SBOM writers and the `hullscan sbom` / `hullscan cache prune` commands."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from typer.testing import CliRunner

from hullscan.cli import app
from hullscan.scanner import analyze, write_cyclonedx, write_spdx
from hullscan.scanner.cache import SqliteLayerCache
from hullscan.scanner.inventory import ImageInfo, Inventory, OperatingSystem, Package
from tests.conftest import image_manifest
from tests.scanner.conftest import expected_packages, image_layout

runner = CliRunner()


def _props(items: list[dict]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in items}


def test_cyclonedx_is_valid_and_carries_gitlab_properties() -> None:
    inventory = analyze(f"oci-dir:{image_layout('debian-bookworm-minbase')}")
    manifest, config = image_manifest("debian-bookworm-minbase")  # the build's digests (the mirror may move)
    libc_version = next(p["version"] for p in expected_packages("debian-bookworm-minbase")["packages"] if p["name"] == "libc6")
    for triggered, namespace in ((True, "gitlab:container_scanning_for_registry:"), (False, "gitlab:container_scanning:")):
        text = write_cyclonedx(inventory, registry_triggered=triggered)
        assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
        doc = json.loads(text)
        assert doc["specVersion"] == "1.6"
        meta = _props(doc["metadata"]["properties"])
        assert meta["gitlab:meta:schema_version"] == "1"
        assert meta[f"{namespace}image:name"] == "debian-bookworm-minbase"
        assert meta[f"{namespace}image:tag"] == "latest"
        assert (meta[f"{namespace}operating_system:name"], meta[f"{namespace}operating_system:version"]) == (
            "debian", "12.15")
        other = "gitlab:container_scanning:" if triggered else "gitlab:container_scanning_for_registry:"
        assert not any(k.startswith(other) for k in meta)
        assert doc["metadata"]["tools"]["components"][0]["name"] == "hullscan"
        assert doc["metadata"]["component"]["type"] == "container"
        libc = next(c for c in doc["components"] if c["name"] == "libc6")
        props = _props(libc["properties"])
        assert props["aquasecurity:trivy:SrcName"] == "glibc"
        assert props["aquasecurity:trivy:SrcVersion"] == libc_version
        assert props["aquasecurity:trivy:PkgType"] == "debian"
        assert props["aquasecurity:trivy:LayerDiffID"] == config["rootfs"]["diff_ids"][0]
        assert props["aquasecurity:trivy:LayerDigest"] == manifest["layers"][0]["digest"]
        assert props["hullscan:package:source_name"] == "glibc"
        assert libc["purl"].startswith("pkg:deb/debian/libc6@")
        assert any(c["type"] == "operating-system" for c in doc["components"])


def test_spdx_document() -> None:
    inventory = analyze(f"oci-dir:{image_layout('go-binary')}")
    doc = json.loads(write_spdx(inventory))
    assert doc["spdxVersion"] == "SPDX-2.3" and doc["dataLicense"] == "CC0-1.0"
    names = {p["name"]: p for p in doc["packages"]}
    assert names["stdlib"]["versionInfo"] == "go1.19.8"
    assert names["stdlib"]["externalRefs"][0]["referenceLocator"] == "pkg:golang/stdlib@go1.19.8"
    ids = {p["SPDXID"] for p in doc["packages"]}
    assert len(ids) == len(doc["packages"])
    assert all(r["relatedSpdxElement"] in ids for r in doc["relationships"])


def test_cli_outputs(scan_home: Path, tmp_path: Path) -> None:
    layout = image_layout("distroless-style")
    table = runner.invoke(app, ["sbom", f"oci-dir:{layout}", "-o", "table"])
    assert table.exit_code == 0, table.output
    for package in expected_packages("distroless-style")["packages"]:
        assert package["name"] in table.output
    out = tmp_path / "dl.spdx.json"
    spdx = runner.invoke(app, ["sbom", f"oci-dir:{layout}", "-o", "spdx-json", "--output", str(out)])
    assert spdx.exit_code == 0 and json.loads(out.read_text())["spdxVersion"] == "SPDX-2.3"
    missing = runner.invoke(app, ["sbom", f"oci-dir:{tmp_path / 'nope'}"])
    assert missing.exit_code == 2 and "not an OCI image layout" in missing.output
    bad = runner.invoke(app, ["sbom", "ftp://example"])
    assert bad.exit_code == 2


def test_cli_registry_triggered_from_environment(scan_home: Path, monkeypatch) -> None:
    monkeypatch.setenv("REGISTRY_TRIGGERED", "true")
    result = runner.invoke(app, ["sbom", f"oci-dir:{image_layout('go-binary')}"])
    meta = _props(json.loads(result.stdout)["metadata"]["properties"])
    assert "gitlab:container_scanning_for_registry:image:name" in meta
    assert "gitlab:container_scanning_for_registry:operating_system:name" not in meta  # scratch image: no OS
    monkeypatch.delenv("REGISTRY_TRIGGERED")
    plain = runner.invoke(app, ["sbom", f"oci-dir:{image_layout('go-binary')}"])
    assert "gitlab:container_scanning:image:name" in _props(json.loads(plain.stdout)["metadata"]["properties"])


def test_cached_layers_are_never_read_again(tmp_path: Path) -> None:
    layout = tmp_path / "app"
    shutil.copytree(image_layout("debian-python-app"), layout)
    cache = SqliteLayerCache(tmp_path / "cache" / "layers.sqlite")
    first = analyze(f"oci-dir:{layout}", cache=cache)
    assert cache.count() == 3
    manifest = json.loads((layout / "manifest.json").read_text())[0]
    for layer in manifest["Layers"]:
        (layout / layer).unlink()  # only manifest and config remain
    second = analyze(f"oci-dir:{layout}", cache=cache)
    assert second.warnings == []
    strip = lambda inv: sorted((p.type, p.name, p.version, p.path, p.layer_diff_id) for p in inv.packages)  # noqa: E731
    assert strip(first) == strip(second)


def test_cache_prune_command(scan_home: Path) -> None:
    result = runner.invoke(app, ["sbom", f"oci-dir:{image_layout('go-binary')}"])
    assert result.exit_code == 0
    cache = SqliteLayerCache.in_dir(scan_home / ".cache" / "hullscan")
    assert cache.count() == 1
    cache.put("sha256:stale", "old-analyzers", {"packages": []})
    pruned = runner.invoke(app, ["cache", "prune"])
    assert pruned.exit_code == 0 and "removed 1" in pruned.output
    assert cache.count() == 1
    assert "removed 1" in runner.invoke(app, ["cache", "prune", "--all"]).output
    assert cache.count() == 0


def _library_rendering(document: dict) -> dict:
    """What cyclonedx-python-lib itself writes for the document's content: read into its `Bom`, written again."""
    import warnings

    from cyclonedx.model.bom import Bom
    from cyclonedx.output.json import JsonV1Dot6

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return json.loads(JsonV1Dot6(Bom.from_json(document)).output_as_string())


def _without_identity(document: dict) -> dict:
    document.pop("serialNumber")
    document["metadata"].pop("timestamp")
    return document


@pytest.mark.parametrize("image", ["debian-python-app", "debian-bookworm-minbase", "distroless-style", "go-binary"])
def test_cyclonedx_is_what_the_library_writes(image: str) -> None:
    """hullscan writes the JSON itself (for speed); the library, given the same content, writes the same."""
    text = write_cyclonedx(analyze(f"oci-dir:{image_layout(image)}"), registry_triggered=True)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    ours = json.loads(text)
    assert _without_identity(_library_rendering(json.loads(text))) == _without_identity(ours)


def test_cyclonedx_of_hostile_package_data() -> None:
    """License texts that are ids, expressions, names, duplicates, blank or huge; odd names; a bad purl."""
    packages = [
        Package(name="a", version="1", type="python", purl="pkg:pypi/a@1", licenses=["MIT OR Apache-2.0"]),
        Package(name="b", version="", type="python", purl="not a purl", licenses=["mit", "Zlib", "MIT", "  "]),
        Package(name="c\u202e\"<script>", version="2", type="npm", licenses=["Custom (see LICENSE)", "x" * 900]),
        Package(name="d", version="3", type="deb", licenses=["GPL-2+", "(broken OR"], source_name="d-src",
                properties={"note": "line\nbreak"}),
    ]
    inventory = Inventory(ImageInfo(name="registry.test/grp/img", tag="t", digest="sha256:" + "a" * 64,
                                    platform="linux/arm64"), OperatingSystem("debian", "12"), packages)
    text = write_cyclonedx(inventory)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    ours = json.loads(text)
    assert _without_identity(_library_rendering(json.loads(text))) == _without_identity(json.loads(text))
    by_name = {c["name"]: c for c in ours["components"]}
    assert by_name["a"]["licenses"] == [{"expression": "MIT OR Apache-2.0"}]
    assert by_name["b"]["licenses"] == [{"license": {"id": "MIT"}}, {"license": {"id": "Zlib"}}]
    assert "purl" not in by_name["b"] and "version" not in by_name["b"]
    assert {"license": {"name": "x" * 500}} in by_name["c\u202e\"<script>"]["licenses"]
    assert ours["metadata"]["component"]["purl"].endswith("?arch=arm64&repository_url=registry.test/grp/img")

