"""Parse and check pushed manifests: OCI image manifest and index, Docker v2 schema 2 manifest and list.

Manifests are untrusted input: anything unexpected is MANIFEST_INVALID naming the problem, schema 1 is
UNSUPPORTED. The result lists what the manifest references so the caller can check those exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hullscan.mediatypes import DOCKER_SCHEMA1, IMAGE_TYPES, MANIFEST_TYPES, OCI_INDEX, OCI_MANIFEST
from hullscan.registry.errors import RegistryError
from hullscan.registry.names import parse_digest

# Layers that live elsewhere (Windows base layers): their blobs need not be in the registry.
FOREIGN_LAYER_TYPES = (
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
)
OCI_EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int


@dataclass
class ParsedManifest:
    media_type: str
    blobs: list[Descriptor] = field(default_factory=list)  # config + layers that must be in the repository
    manifests: list[Descriptor] = field(default_factory=list)  # children of an index
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None


def _invalid(message: str) -> RegistryError:
    return RegistryError("MANIFEST_INVALID", message)


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise _invalid(f"{where} must be a descriptor object")
    media_type = value.get("mediaType")
    digest = value.get("digest")
    size = value.get("size")
    if not isinstance(media_type, str) or not media_type or len(media_type) > 255:
        raise _invalid(f"{where}.mediaType must be a non-empty string")
    if not isinstance(digest, str):
        raise _invalid(f"{where}.digest must be a string")
    try:
        parse_digest(digest)
    except RegistryError as exc:
        raise _invalid(f"{where}.digest: {exc.message}") from None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid(f"{where}.size must be a non-negative integer")
    return Descriptor(media_type, digest, size)


def _annotations(value: Any, where: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise _invalid(f"{where} must map strings to strings")
    return value


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    """Check a manifest body against its declared media type and list what it references."""
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared in DOCKER_SCHEMA1:
        raise RegistryError("UNSUPPORTED", "Docker schema 1 manifests are not supported; push schema 2 or OCI")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise _invalid(f"manifest is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict):
        raise _invalid("manifest must be a JSON object")
    if doc.get("schemaVersion") == 1:
        raise RegistryError("UNSUPPORTED", "Docker schema 1 manifests are not supported; push schema 2 or OCI")
    if doc.get("schemaVersion") != 2:
        raise _invalid("schemaVersion must be 2")
    field_type = doc.get("mediaType")
    if field_type is not None and not isinstance(field_type, str):
        raise _invalid("mediaType must be a string")
    media_type = field_type or declared
    if not media_type or media_type in ("application/json", "application/octet-stream"):
        # Without a mediaType field or header, infer OCI types from the shape, as the spec allows.
        media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if field_type and declared and declared not in ("application/json", "application/octet-stream") \
            and field_type != declared:
        raise _invalid(f"mediaType {field_type!r} does not match Content-Type {declared!r}")
    if media_type not in MANIFEST_TYPES:
        raise RegistryError("UNSUPPORTED", f"manifest media type {media_type[:200]!r} is not supported")

    parsed = ParsedManifest(media_type=media_type, annotations=_annotations(doc.get("annotations"), "annotations"))
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and (not isinstance(artifact_type, str) or len(artifact_type) > 255):
        raise _invalid("artifactType must be a string")
    if doc.get("subject") is not None:
        parsed.subject = _descriptor(doc["subject"], "subject")

    if media_type in IMAGE_TYPES:
        if "manifests" in doc:
            raise _invalid("an image manifest has no 'manifests' field")
        config = _descriptor(doc.get("config"), "config")
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise _invalid("layers must be a list")
        parsed.blobs.append(config)
        for i, layer in enumerate(layers):
            d = _descriptor(layer, f"layers[{i}]")
            if d.media_type not in FOREIGN_LAYER_TYPES:
                parsed.blobs.append(d)
        # OCI 1.1: an artifact's type is artifactType, else the config media type (unless it is the empty one).
        parsed.artifact_type = artifact_type or (config.media_type if media_type == OCI_MANIFEST else None)
    else:
        children = doc.get("manifests")
        if not isinstance(children, list):
            raise _invalid("manifests must be a list")
        for i, child in enumerate(children):
            d = _descriptor(child, f"manifests[{i}]")
            parsed.manifests.append(d)
        parsed.artifact_type = artifact_type
    return parsed
