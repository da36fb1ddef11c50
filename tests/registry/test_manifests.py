"""Manifest parsing: what a manifest references, and refusal of what is not a supported manifest."""

from __future__ import annotations

import json

import pytest

from hullscan.registry.errors import RegistryError
from hullscan.mediatypes import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from hullscan.registry.manifests import parse_manifest
from tests.conftest import image_layout

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def _code(body: object, content_type: str | None) -> str:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(RegistryError) as err:
        parse_manifest(raw, content_type)
    return err.value.code


def test_image_manifest_lists_config_and_layers_but_not_foreign_layers() -> None:
    doc = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
           "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": D1, "size": 10},
           "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": D2, "size": 5},
                      {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                       "digest": "sha256:" + "3" * 64, "size": 7, "urls": ["https://example.invalid/x"]}]}
    parsed = parse_manifest(json.dumps(doc).encode(), DOCKER_MANIFEST)
    assert parsed.media_type == DOCKER_MANIFEST
    assert [d.digest for d in parsed.blobs] == [D1, D2]
    assert parsed.artifact_type is None


def test_real_index_from_test_images() -> None:
    layout = image_layout("multiarch-index")
    top = json.loads((layout / "index.json").read_text())["manifests"][0]
    blob = layout / "blobs" / "sha256" / top["digest"].split(":")[1]
    parsed = parse_manifest(blob.read_bytes(), top["mediaType"])
    assert parsed.media_type == OCI_INDEX
    assert len(parsed.manifests) == 2 and parsed.blobs == []


def test_media_type_is_inferred_without_header_or_field() -> None:
    doc = {"schemaVersion": 2, "manifests": [{"mediaType": OCI_MANIFEST, "digest": D1, "size": 3}]}
    assert parse_manifest(json.dumps(doc).encode(), None).media_type == OCI_INDEX


@pytest.mark.parametrize(("body", "content_type", "code"), [
    ({"schemaVersion": 1, "fsLayers": []}, "application/vnd.docker.distribution.manifest.v1+json", "UNSUPPORTED"),
    ({"schemaVersion": 1, "fsLayers": []}, None, "UNSUPPORTED"),
    (b"\xff\xfe", OCI_MANIFEST, "MANIFEST_INVALID"),
    (b"1e999999", OCI_MANIFEST, "MANIFEST_INVALID"),
    ({"schemaVersion": 3}, OCI_MANIFEST, "MANIFEST_INVALID"),
    ({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": None, "layers": []}, OCI_MANIFEST, "MANIFEST_INVALID"),
    ({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"mediaType": "x", "digest": D1, "size": True},
      "layers": []}, OCI_MANIFEST, "MANIFEST_INVALID"),
    ({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"mediaType": "x", "digest": D1, "size": 1},
      "layers": {}}, OCI_MANIFEST, "MANIFEST_INVALID"),
    ({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": "x"}, DOCKER_LIST, "MANIFEST_INVALID"),
    ({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}, OCI_MANIFEST, "MANIFEST_INVALID"),
    ({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"mediaType": "x", "digest": "sha256:abc", "size": 1},
      "layers": []}, OCI_MANIFEST, "MANIFEST_INVALID"),
    ({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"mediaType": "x", "digest": D1, "size": 1},
      "layers": [], "annotations": {"a": 1}}, OCI_MANIFEST, "MANIFEST_INVALID"),
    ({"schemaVersion": 2, "mediaType": "text/plain"}, "text/plain", "UNSUPPORTED"),
])
def test_refused(body: object, content_type: str | None, code: str) -> None:
    assert _code(body, content_type) == code


def test_deeply_nested_json_is_refused_not_crashing() -> None:
    assert _code(b"[" * 100_000 + b"]" * 100_000, OCI_MANIFEST) == "MANIFEST_INVALID"
