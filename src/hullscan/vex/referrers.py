"""VEX documents attached to an image as OCI referrers (artifactType `application/openvex+json`): pushed by
digest to the embedded registry, imported into the project's triage for the findings of the subject image only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from hullscan.matching.vex import VexError, parse_vex
from hullscan.ingestion.referrers import pushed_manifest
from hullscan.registry.storage import storage_for
from hullscan.vex import service

OPENVEX_ARTIFACT_TYPES = frozenset({"application/openvex+json", "application/vnd.openvex+json"})
REFERRER_ACTOR = "registry referrer"


@dataclass(frozen=True)
class PushedVex:
    subject: str | None  # set when the document was imported
    detail: str  # for the project's push log


def import_pushed_vex(session: Session, settings: Any, *, project_id: int, repository: str,
                      digest: str) -> PushedVex | None:
    """Import the OpenVEX document of a referrer manifest pushed to `repository`, for its subject image's findings.
    None when the push is no VEX referrer. Untrusted: size-capped by `vex_max_bytes`, parsed by the one VEX
    reader, all or nothing (a savepoint: a refusal writes nothing and says why in `detail`)."""
    doc = pushed_manifest(session, repository, digest)
    if doc is None:
        return None
    artifact = doc.get("artifactType") or (doc.get("config") or {}).get("mediaType")
    subject = doc.get("subject") if isinstance(doc.get("subject"), dict) else None
    layers = [d for d in doc.get("layers") or [] if isinstance(d, dict) and d.get("mediaType") in OPENVEX_ARTIFACT_TYPES
              or isinstance(d, dict) and artifact in OPENVEX_ARTIFACT_TYPES and d.get("mediaType") == "application/json"]
    if artifact not in OPENVEX_ARTIFACT_TYPES or subject is None or not layers:
        return None
    subject_digest = str(subject.get("digest"))[:160]
    layer = layers[0]
    size = layer.get("size")
    if not isinstance(size, int) or size > settings.vex_max_bytes:
        return PushedVex(None, f"VEX referrer refused: more than {settings.vex_max_bytes} bytes")
    try:
        with storage_for(settings).open(str(layer.get("digest"))) as src:
            data = src.read(settings.vex_max_bytes + 1)
    except OSError:
        return PushedVex(None, "VEX referrer refused: its document is missing from storage")
    try:
        parsed = parse_vex(data, f"the VEX referrer {digest[:80]}", settings.vex_max_bytes)
        with session.begin_nested():
            result = service.import_vex(session, project_id, parsed, source=f"referrer {digest}",
                                        actor=REFERRER_ACTOR, subject_digest=subject_digest,
                                        max_statements=settings.vex_max_statements)
    except (VexError, service.VexImportError) as exc:
        return PushedVex(None, f"VEX referrer refused: {exc}"[:500])
    from hullscan.auth import service as auth

    auth.audit(session, REFERRER_ACTOR, "vex_imported", repository, details={
        "document": result.author, "subject": subject_digest, "statements": result.statements,
        "matched": result.matched, "changed": result.changed})
    return PushedVex(subject_digest, f"VEX referrer of {subject_digest[:80]} imported: {result.matched} finding(s) "
                                     f"named, changed {result.changed or 'nothing'}")
