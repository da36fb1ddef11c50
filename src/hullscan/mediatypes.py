"""Manifest media types (OCI image spec, Docker image manifest v2 schema 2; schema 1 only to recognise and
refuse it) and the rule telling an image from another artifact, spelled once at the bottom of the house: the
registry, its client, the scanner's sources, event handling and the UI read them from here. Constants and pure
functions only, so importing this costs the scanner nothing."""

from __future__ import annotations

from collections.abc import Callable

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
IMAGE_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = IMAGE_TYPES + INDEX_TYPES

# OCI image spec: an image manifest's config is an image configuration, its layers filesystem changesets.
OCI_IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_IMAGE_CONFIG = "application/vnd.docker.container.image.v1+json"
IMAGE_CONFIG_TYPES = (OCI_IMAGE_CONFIG, DOCKER_IMAGE_CONFIG)
LAYER_PREFIXES = ("application/vnd.oci.image.layer.", "application/vnd.docker.image.rootfs.")
ATTESTATION_REFERENCE = "attestation-manifest"  # buildx: annotation vnd.docker.reference.type of its attestations
MAX_INDEX_CHILDREN = 64  # children of one index read to decide; an index with more is taken as images


def not_an_image(doc: object, child: Callable[[str], object] | None = None) -> str | None:
    """Why a pushed manifest or index is not a container image, in plain words; None when it is one (or cannot
    be told: then it is scanned as before). The rule, from the OCI image spec: an `artifactType` or a config
    that is not an image configuration makes an artifact (an SBOM pushed with oras, a Helm chart, a Notation
    signature); so do layers none of which is a filesystem layer (cosign's signatures and attestations, buildx
    attestation manifests). An index is not an image when all its manifests are not; `child(digest)` reads
    one of them (None: unknown, taken as an image)."""
    if not isinstance(doc, dict):
        return None
    artifact_type = doc.get("artifactType")
    if isinstance(artifact_type, str) and artifact_type:
        return f"an artifact of type {artifact_type[:100]}"
    manifests = doc.get("manifests")
    if doc.get("mediaType") in INDEX_TYPES or isinstance(manifests, list):
        return _index_not_an_image(manifests, child)
    config = doc.get("config")
    config_type = config.get("mediaType") if isinstance(config, dict) else None
    if isinstance(config_type, str) and config_type not in IMAGE_CONFIG_TYPES:
        return f"an artifact with config type {config_type[:100]}"
    layers = doc.get("layers")
    if isinstance(layers, list) and layers:
        types = [d.get("mediaType") for d in layers if isinstance(d, dict)]
        if types and not any(isinstance(t, str) and t.startswith(LAYER_PREFIXES) for t in types):
            return f"an artifact with no filesystem layer (layers of type {str(types[0])[:100]})"
    return None


def _index_not_an_image(manifests: object, child: Callable[[str], object] | None) -> str | None:
    if not isinstance(manifests, list) or not manifests:
        return "an index with no manifests"
    if len(manifests) > MAX_INDEX_CHILDREN:
        return None
    for descriptor in manifests:
        if not isinstance(descriptor, dict):
            return None
        if isinstance(descriptor.get("artifactType"), str) and descriptor["artifactType"]:
            continue
        annotations = descriptor.get("annotations")
        if isinstance(annotations, dict) and annotations.get("vnd.docker.reference.type") == ATTESTATION_REFERENCE:
            continue
        digest = descriptor.get("digest")
        if descriptor.get("mediaType") not in INDEX_TYPES and child is not None and isinstance(digest, str):
            if not_an_image(child(digest)) is not None:
                continue
        return None
    return "an index of artifacts only (no image manifest)"
