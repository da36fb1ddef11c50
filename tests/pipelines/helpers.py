"""Helpers for the pipelines tests: registry events inserted the way the registry part stores them."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from hullscan.db.models import ContainerRegistryEvent

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_counter = itertools.count(1)


def digest_n(n: int) -> str:
    return "sha256:" + f"{n:064x}"


def add_event(session: Session, repository: str, tag: str | None = "latest", *, digest: str | None = None,
              action: str = "push", media_type: str | None = OCI_MANIFEST, project_id: int | None = None,
              event_id: str | None = None, origin: str = "embedded", host: str = "registry.test:5000",
              when: datetime | None = None) -> ContainerRegistryEvent:
    event = ContainerRegistryEvent(
        event_id=event_id or str(uuid.uuid4()), action=action, repository=repository, tag=tag,
        digest=digest or digest_n(next(_counter)), media_type=media_type, registry_host=host, origin=origin,
        project_id=project_id, envelope={}, **({"timestamp": when, "received_at": when} if when else {}))
    session.add(event)
    session.flush()
    return event
