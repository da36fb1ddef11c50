"""Reconciliation lists an external registry through the one OCI client (`registry.client`), with Docker token
auth against the real Distribution registry; a webhook that reports a reconciled push later is no second scan."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select

from hullscan.auth import projects
from hullscan.db import Database
from hullscan.db.models import ContainerRegistryEvent
from hullscan.db.models.pipelines import DroppedPush, Job
from hullscan.events import service as events
from hullscan.events import types as reasons
from hullscan.events.reconcile import reconcile_all, reconcile_registry, registry_client
from hullscan.pipelines.registries import ExternalRegistry
from tests.conftest import image_layout
from tests.pipelines.e2e import manifest_digest
from tests.pipelines.helpers import add_event
from tests.scanner.distribution import Distribution
from tests.scanner.tokenauth import TokenServer


class CatalogTokenServer(TokenServer):
    """The token service also grants `registry:catalog:*` to a signed-in user (as GitLab does for admins)."""

    def issue(self, user: str | None, scope: str) -> str:
        if user and scope == "registry:catalog:*":
            import base64
            import uuid

            import jwt
            from cryptography.hazmat.primitives import serialization

            from tests.scanner.tokenauth import ISSUER, SERVICE

            now = int(time.time())
            claims = {"iss": ISSUER, "sub": user, "aud": SERVICE, "iat": now, "nbf": now - 10, "exp": now + 600,
                      "jti": str(uuid.uuid4()), "access": [{"type": "registry", "name": "catalog", "actions": ["*"]}]}
            x5c = [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()]
            return jwt.encode(claims, self.key, algorithm="RS256", headers={"x5c": x5c})
        return super().issue(user, scope)


def test_reconcile_with_token_auth_then_a_late_webhook_is_one_scan(tmp_path: Path, migrated_settings) -> None:
    tokens = CatalogTokenServer(tmp_path, "alice", "s3cret").start()
    reg = Distribution(tmp_path, auth=tokens.registry_auth_config()).start()
    db = Database(migrated_settings)
    try:
        for repo, tag in (("team/app/web", "latest"), ("team/app/web", "v1"), ("team/app/api", "latest"),
                          ("other/x", "latest")):
            reg.push(image_layout("go-binary"), repo, tag=tag, creds="alice:s3cret")
        digest = manifest_digest("go-binary")
        registry = ExternalRegistry(host=reg.host, url=f"http://{reg.host}", username="alice", password="s3cret")
        with registry_client(registry) as client:  # one name per page: the Link pagination is followed
            assert sorted(client.catalog(page=1)) == ["other/x", "team/app/api", "team/app/web"]
            assert sorted(client.tags("team/app/web", page=1)) == ["latest", "v1"]
            assert client.head_manifest("team/app/web", "v1")[0] == digest
            assert client.head_manifest("team/app/web", "nope") is None
        assert any(r["user"] == "alice" and r.get("scope") == "registry:catalog:*" for r in tokens.requests)

        with db.session() as s:
            projects.create_project(s, "team/app", cs4r_enabled=True)
        assert reconcile_registry(db, registry) == 2  # latest of web and api; v1 not matched, other/x no project
        assert reconcile_registry(db, registry) == 0  # the same tags again: already recorded
        with db.session() as s:
            recorded = s.scalars(select(ContainerRegistryEvent)).all()
            assert {(e.repository, e.tag, e.digest, e.origin) for e in recorded} == {
                ("team/app/web", "latest", digest, "reconcile"), ("team/app/api", "latest", digest, "reconcile")}
            assert len(events.process_pending_events(s, migrated_settings).jobs) == 2
        # The registry's own webhook for the same push arrives late (its own event id), then is redelivered.
        with db.session() as s:
            add_event(s, "team/app/web", "latest", digest=digest, event_id="distribution-1", origin="webhook",
                      host=reg.host)
            add_event(s, "team/app/web", "latest", digest=digest, event_id="distribution-1-again", origin="webhook",
                      host=reg.host)
            assert events.process_pending_events(s, migrated_settings).jobs == []
            assert len(s.scalars(select(Job)).all()) == 2
            assert [d.reason for d in s.scalars(select(DroppedPush))] == [reasons.DUPLICATE, reasons.DUPLICATE]

        # Wrong credentials: the registry is reported as failing, nothing recorded, the others still reconciled.
        bad = migrated_settings.model_copy(update={"external_registries": [
            {"host": reg.host, "url": f"http://{reg.host}", "username": "alice", "password": "wrong"}]})
        outcome = reconcile_all(db, bad)
        assert str(outcome[reg.host]).startswith("error:"), outcome
    finally:
        db.dispose()
        reg.stop()
        tokens.stop()
