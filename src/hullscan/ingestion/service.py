"""Ingestion entry point called by pipelines right after a scan job's SBOM artifact is stored.

Issue 7 fills this in (artifact -> sbom occurrences -> findings -> vulnerabilities). Until then it records
nothing, and the pipeline succeeds with the artifact stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class SbomArtifact:
    """A stored CycloneDX SBOM of a registry-triggered scan."""

    project_id: int
    pipeline_id: int
    job_id: int
    artifact_id: int
    path: Path  # content-addressed file under the data dir; read it streaming
    image: str  # <host>/<repository>:<tag>
    digest: str | None


def ingest_sbom_artifact(session: Session, artifact: SbomArtifact) -> None:
    """Ingest one SBOM artifact in the caller's transaction. No-op until ingestion lands (issue 7)."""
    return None
