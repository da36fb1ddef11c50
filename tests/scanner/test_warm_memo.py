"""The image-level SBOM memo behind a warm `hullscan sbom`: an image analysed completely before is written
from its manifest and config alone (no analyzer is even imported), with a fresh identity and the same
warnings; an image whose analysis was incomplete is analysed again; anything that changes the document
changes the key."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from hullscan.scanner.command import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_LAYER_BYTES
from hullscan.scanner.memo import image_key
from hullscan.scanner.source import open_source
from hullscan.scanner.walker import Limits
from tests.scanner.conftest import image_layout
from tests.scanner.layouts import Entry, good_layer_entries, layer, write_layout

# Runs `hullscan sbom` (the light entry's code) in a fresh interpreter and reports what it had to import.
SCAN = """
import json, sys
from pathlib import Path
from hullscan.scanner.command import run_sbom
code = run_sbom(sys.argv[1], output=Path(sys.argv[2]), cache_dir=Path(sys.argv[3]))
print(json.dumps({"code": code, "imported": sorted(m for m in sys.modules if m.startswith("hullscan.scanner."))}))
"""


def scan(image: str, out: Path, cache_dir: Path) -> tuple[dict, str, dict]:
    proc = subprocess.run([sys.executable, "-c", SCAN, image, str(out), str(cache_dir)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "REGISTRY_TRIGGERED": "true"})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr, json.loads(out.read_text())


def without_identity(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    doc.pop("serialNumber")
    doc["metadata"].pop("timestamp")
    return doc


def test_remembered_image_needs_only_manifest_and_config(tmp_path: Path) -> None:
    layout = tmp_path / "app"
    shutil.copytree(image_layout("debian-python-app"), layout)
    cache = tmp_path / "cache"
    first_run, _, first = scan(f"oci-dir:{layout}", tmp_path / "1.json", cache)
    assert "hullscan.scanner.analyzers" in first_run["imported"]
    manifest = json.loads((layout / "manifest.json").read_text())[0]
    for blob in [*manifest["Layers"], manifest["Config"]]:
        (layout / blob).unlink()  # only the index and the image manifest remain
    second_run, stderr, second = scan(f"oci-dir:{layout}", tmp_path / "2.json", cache)
    assert second_run["code"] == 0 and "warning" not in stderr
    for module in ("analyzers", "walker", "image", "osdetect"):
        assert f"hullscan.scanner.{module}" not in second_run["imported"]
    assert second["serialNumber"] != first["serialNumber"]
    assert without_identity(second) == without_identity(first)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str((tmp_path / "2.json").read_text()) is None


def test_warnings_of_a_complete_analysis_are_repeated(tmp_path: Path) -> None:
    broken = "usr/lib/python3/dist-packages/broken-1.0.dist-info/METADATA"
    path = write_layout(tmp_path / "img", [layer(good_layer_entries() + [Entry(broken, b"\x00\x01 no headers")])])
    _, first_err, _ = scan(f"oci-dir:{path}", tmp_path / "1.json", tmp_path / "cache")
    second_run, second_err, _ = scan(f"oci-dir:{path}", tmp_path / "2.json", tmp_path / "cache")
    assert "hullscan.scanner.analyzers" not in second_run["imported"]  # remembered
    named = [line for line in first_err.splitlines() if broken in line]
    assert named and named == [line for line in second_err.splitlines() if broken in line]


def test_incomplete_analysis_is_not_remembered(tmp_path: Path) -> None:
    late, late_raw = layer([Entry("usr/lib/python3/dist-packages/late-1.0.dist-info/METADATA",
                                  b"Name: late\nVersion: 1.0\n"), Entry("filler.bin", os.urandom(300_000))])
    path = write_layout(tmp_path / "img", [layer(good_layer_entries()), (late[: len(late) // 2], late_raw)])
    for name in ("1.json", "2.json"):
        run, stderr, _ = scan(f"oci-dir:{path}", tmp_path / name, tmp_path / "cache")
        assert "hullscan.scanner.analyzers" in run["imported"]  # analysed again: the broken layer is retried
        assert "layer 2" in stderr and "unreadable" in stderr


def test_remembered_image_from_a_registry_is_one_manifest_request(tmp_path: Path) -> None:
    from tests.scanner.test_registry_client import REPO, LayoutRegistry

    registry = LayoutRegistry(image_layout("distroless-style"))
    try:
        ref = f"docker://{registry.host}/{REPO}:latest"
        first = subprocess.run([sys.executable, "-m", "hullscan.scanner", ref, "--insecure", "-o",
                                str(tmp_path / "1.json")], env={**os.environ, "HULLSCAN_SCANNER_CACHE_DIR":
                                str(tmp_path / "cache")}, capture_output=True, text=True, timeout=300)
        assert first.returncode == 0, first.stderr
        registry.seen.clear()
        second = subprocess.run([sys.executable, "-m", "hullscan.scanner", ref, "--insecure", "-o",
                                 str(tmp_path / "2.json")], env={**os.environ, "HULLSCAN_SCANNER_CACHE_DIR":
                                 str(tmp_path / "cache")}, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stderr
        assert [s.path for s in registry.seen] == [f"/v2/{REPO}/manifests/latest"]
        assert without_identity(json.loads((tmp_path / "2.json").read_text())) == \
            without_identity(json.loads((tmp_path / "1.json").read_text()))
    finally:
        registry.stop()


def test_key_covers_what_the_document_depends_on(tmp_path: Path) -> None:
    assert Limits() == Limits(DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_LAYER_BYTES)  # the CLI's defaults are the walker's
    src = open_source(f"oci-dir:{image_layout('go-binary')}")
    peek = src.peek()
    limits = (DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_LAYER_BYTES)
    key = image_key(peek, True, limits)
    assert key and key == image_key(src.peek(), True, limits)
    assert key != image_key(peek, False, limits)
    assert key != image_key(peek, True, (1 << 20, limits[1]))
    import dataclasses

    for change in ({"tag": "other"}, {"digest": "sha256:" + "1" * 64}, {"platform": "linux/arm64"},
                   {"config_digest": "sha256:" + "2" * 64}, {"layer_digests": ("sha256:" + "3" * 64,)}):
        assert key != image_key(dataclasses.replace(peek, **change), True, limits), change
    assert open_source(f"dir:{tmp_path}").peek() is None  # a directory's content has no digest
