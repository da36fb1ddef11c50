"""The SBOM of a scan, published into the embedded registry as an OCI 1.1 referrer of the image it describes:
an artifact manifest (artifactType `application/vnd.cyclonedx+json`, the empty config, the SBOM as its one
layer) whose `subject` is the image digest, listed by `GET /v2/<name>/referrers/<digest>` and pulled like any
manifest. It is pushed by digest (no tag), so it never becomes a scan of its own; its annotations say hullscan
published it, so it is never read back as a user's SBOM either.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from hullscan.db.base import utcnow
from hullscan.mediatypes import OCI_MANIFEST
from hullscan.registry import service as registry
from hullscan.registry.errors import RegistryError
from hullscan.registry.manifests import parse_manifest
from hullscan.registry.names import compute_digest, parse_digest
from hullscan.registry.storage import BlobStorage, storage_for

log = logging.getLogger(__name__)

SBOM_ARTIFACT_TYPE = "application/vnd.cyclonedx+json"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"  # OCI image spec 1.1: the empty descriptor's config
EMPTY_CONFIG = b"{}"
PUBLISHER = "dev.hullscan.sbom.publisher"  # annotation: "hullscan" on the referrers hullscan pushes
SBOM_DIGEST = "dev.hullscan.sbom.digest"  # annotation: the SBOM blob's digest (one referrer per SBOM)


def _store_blob(storage: BlobStorage, repository: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if storage.stat(digest) is None:
        upload = storage.start_upload(repository)
        writer = storage.open_writer(upload)
        try:
            writer.write(data)
        finally:
            writer.close()
        storage.commit_upload(upload, parse_digest(digest))
    return digest


def publish_sbom_referrer(session: Session, storage: BlobStorage, *, repository: str, subject_digest: str,
                          sbom_path: Path, registry_host: str | None = None) -> str | None:
    """Push the SBOM at `sbom_path` as a referrer of `subject_digest` in `repository`; returns the artifact
    manifest's digest, or None when the image is not in the embedded registry (a scan of an external registry)
    or this SBOM is already published for it."""
    try:
        subject = registry.get_manifest(session, repository, subject_digest)
    except RegistryError:
        return None
    data = sbom_path.read_bytes()
    sbom_digest = "sha256:" + hashlib.sha256(data).hexdigest()
    for d in registry.list_referrers(session, repository, subject.digest, SBOM_ARTIFACT_TYPE):
        if (d.get("annotations") or {}).get(SBOM_DIGEST) == sbom_digest:
            return None
    config_digest = _store_blob(storage, repository, EMPTY_CONFIG)
    _store_blob(storage, repository, data)
    repo = registry.push_repository(session, repository, auto_create_projects=False)
    registry.link_blob(session, repo, config_digest, len(EMPTY_CONFIG))
    registry.link_blob(session, repo, sbom_digest, len(data))
    doc: dict[str, Any] = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SBOM_ARTIFACT_TYPE,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": config_digest, "size": len(EMPTY_CONFIG),
                   "data": "e30="},
        "layers": [{"mediaType": SBOM_ARTIFACT_TYPE, "digest": sbom_digest, "size": len(data),
                    "annotations": {"org.opencontainers.image.title": "sbom.cdx.json"}}],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
        "annotations": {"org.opencontainers.image.created": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
                        PUBLISHER: "hullscan", SBOM_DIGEST: sbom_digest},
    }
    body = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    digest = compute_digest(body)
    registry.put_manifest(session, repository=repository, reference=digest, body=body, digest=digest,
                          parsed=parse_manifest(body, OCI_MANIFEST),
                          info=registry.RequestInfo(actor="hullscan", registry_host=registry_host),
                          auto_create_projects=False)
    return digest


def publisher(settings: Any) -> Callable[[Session, str, str, Path], None]:
    """What the ingestion loop calls after a scan's SBOM is ingested: publish it as a referrer of the image
    (in a savepoint: a failure is logged and never undoes the ingestion)."""
    storage = storage_for(settings)
    host = urlsplit(settings.public_url).netloc if settings.public_url else f"{settings.host}:{settings.port}"

    def publish(session: Session, repository: str, digest: str, sbom_path: Path) -> None:
        try:
            with session.begin_nested():
                published = publish_sbom_referrer(session, storage, repository=repository, subject_digest=digest,
                                                  sbom_path=sbom_path, registry_host=host)
        except (RegistryError, OSError) as exc:
            log.warning("SBOM referrer not published", extra={"fields": {
                "repository": repository, "digest": digest, "error": str(exc)[:500]}})
            return
        if published:
            log.info("SBOM published as a referrer", extra={"fields": {
                "repository": repository, "subject": digest, "artifact": published}})

    return publish
