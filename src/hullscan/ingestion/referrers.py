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
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
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
#: The registry actor of those publications: not a user name (users cannot have a colon), so the push log can
#: leave hullscan's own referrers out without hiding anyone's push.
PUBLISHER_ACTOR = "hullscan:sbom-referrer"
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
                          info=registry.RequestInfo(actor=PUBLISHER_ACTOR, registry_host=registry_host),
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


# -- SBOMs users push as referrers ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PushedSbom:
    """What became of an SBOM a user pushed as a referrer: `subject` is set when it was ingested (the scan of
    that image is then not needed); `detail` says what happened, for the project's push log."""

    subject: str | None
    detail: str


def pushed_manifest(session: Session, repository: str, digest: str) -> dict[str, Any] | None:
    """The OCI image manifest pushed as `digest` (at most 1 MiB), as JSON; None for anything else. The registry
    parsed it on push, so it is a JSON object. Both pushed-referrer readers (SBOM, VEX) start here."""
    try:
        stored = registry.get_manifest(session, repository, digest)
    except RegistryError:
        return None
    if stored.media_type != OCI_MANIFEST or len(stored.content) > 1 << 20:
        return None
    doc = json.loads(stored.content)
    return doc if isinstance(doc, dict) else None


def ingest_pushed_sbom(session: Session, settings: Any, *, project_id: int, repository: str, digest: str,
                       registry_host: str) -> PushedSbom | None:
    """Ingest the CycloneDX SBOM of a referrer pushed to the embedded registry, as the SBOM of its subject image,
    when the project allows it (`ingest_referrer_sboms`). None when the push is no such referrer (or the project
    does not take them). The SBOM is untrusted input: size-capped, schema-checked and read by the same reader as
    a scan's; a refusal is reported in `detail` and writes nothing."""
    from hullscan.ingestion.service import IngestionError, ingest_sbom
    from hullscan.ingestion.validation import MAX_SBOM_BYTES
    from hullscan.policy.service import ingests_referrer_sboms

    if not ingests_referrer_sboms(session, project_id):
        return None
    doc = pushed_manifest(session, repository, digest)
    if doc is None:
        return None
    layers = [d for d in doc.get("layers") or [] if isinstance(d, dict) and d.get("mediaType") == SBOM_ARTIFACT_TYPE]
    subject = doc.get("subject") if isinstance(doc.get("subject"), dict) else None
    artifact = doc.get("artifactType") or (doc.get("config") or {}).get("mediaType")
    if artifact != SBOM_ARTIFACT_TYPE or subject is None or not layers:
        return None
    if (doc.get("annotations") or {}).get(PUBLISHER) == "hullscan":
        return None  # our own publication of a scan's SBOM
    subject_digest = str(subject.get("digest"))
    tags = registry.tags_of(session, repository, subject_digest)
    if not tags:
        return PushedSbom(None, f"SBOM referrer of {subject_digest[:80]}: not ingested, the image has no tag")
    layer = layers[0]
    size = layer.get("size")
    if not isinstance(size, int) or size > MAX_SBOM_BYTES:
        return PushedSbom(None, f"SBOM referrer refused: more than {MAX_SBOM_BYTES} bytes")
    storage = storage_for(settings)
    with tempfile.TemporaryDirectory(prefix="hullscan-referrer-") as tmp:
        path = Path(tmp) / "sbom.cdx.json"
        try:
            with storage.open(str(layer.get("digest"))) as src, path.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except OSError:
            return PushedSbom(None, "SBOM referrer refused: its SBOM blob is missing from storage")
        try:
            with session.begin_nested():
                result = ingest_sbom(session, project_id, path, digest=subject_digest,
                                     image=(f"{registry_host}/{repository}", tags[0]))
        except IngestionError as exc:
            return PushedSbom(None, f"SBOM referrer refused: {exc}"[:500])
    return PushedSbom(subject_digest, f"SBOM referrer of {subject_digest[:80]} ingested for tag {tags[0]} "
                                      f"({result.occurrences} components, {result.findings} findings); no scan")
