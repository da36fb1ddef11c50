"""The registry service on SQLite and PostgreSQL: project ownership and auto-creation, events in the same
transaction as the manifest change, webhook project mapping."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from hullscan.auth.projects import create_project
from hullscan.db import Database
from hullscan.db.models import ContainerRegistryEvent, Project
from hullscan.db.models.registry import RegistryManifest, RegistryManifestReference
from hullscan.registry import service
from hullscan.registry.errors import RegistryError
from hullscan.registry.manifests import parse_manifest
from hullscan.registry.notifications import parse_envelope
from hullscan.settings import Settings
from tests.registry.support import OCI_MANIFEST, image_manifest, sha256

INFO = service.RequestInfo(actor="admin", registry_host="registry.test:5000")


@pytest.fixture
def db(migrated_settings: Settings):  # type: ignore[no-untyped-def]
    database = Database(migrated_settings)
    yield database
    database.dispose()


def test_unknown_repository_is_denied_when_auto_create_is_off(db: Database) -> None:
    with pytest.raises(RegistryError) as err, db.session() as s:
        service.push_repository(s, "team/app", auto_create_projects=False)
    assert err.value.code == "DENIED"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Project)) == 0
        create_project(s, "team/app")
    with db.session() as s:  # an existing project owns it, creation setting or not
        repo = service.push_repository(s, "team/app/web", auto_create_projects=False)
        assert repo.project_id is not None


def test_longest_project_path_owns_the_repository(db: Database) -> None:
    with db.session() as s:
        short = create_project(s, "group/sub")
        long = create_project(s, "group/sub/deeper")
    with db.session() as s:
        assert service.push_repository(s, "group/sub/deeper/img", auto_create_projects=True).project_id == long.id
        assert service.push_repository(s, "group/sub/other", auto_create_projects=True).project_id == short.id
        created = service.push_repository(s, "fresh/project/img", auto_create_projects=True)
        project = s.get(Project, created.project_id)
        assert project.path == "fresh/project" and project.container_scanning_for_registry_enabled


def test_manifest_and_its_event_commit_or_roll_back_together(db: Database) -> None:
    config, layer = b'{"os":"linux"}', b"layer-bytes"
    body = image_manifest(config, [layer])
    with db.session() as s:
        repo = service.push_repository(s, "team/app", auto_create_projects=True)
        service.link_blob(s, repo, sha256(config), len(config))
        service.link_blob(s, repo, sha256(layer), len(layer))
    parsed = parse_manifest(body, OCI_MANIFEST)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), db.session() as s:
        service.put_manifest(s, repository="team/app", reference="latest", body=body, digest=sha256(body),
                             parsed=parsed, info=INFO, auto_create_projects=True)
        raise Boom  # anything failing before commit takes the event with it
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ContainerRegistryEvent)) == 0
        assert s.scalar(select(func.count()).select_from(RegistryManifest)) == 0

    with db.session() as s:
        service.put_manifest(s, repository="team/app", reference="latest", body=body, digest=sha256(body),
                             parsed=parsed, info=INFO, auto_create_projects=True)
    with db.session() as s:
        [event] = s.scalars(select(ContainerRegistryEvent)).all()
        assert (event.action, event.tag, event.digest, event.registry_host) == \
            ("push", "latest", sha256(body), "registry.test:5000")
        assert event.envelope["target"]["url"] == f"http://registry.test:5000/v2/team/app/manifests/{sha256(body)}"
        refs = set(s.scalars(select(RegistryManifestReference.digest)))
        assert refs == {sha256(config), sha256(layer)}  # what gc keeps
        assert service.get_manifest(s, "team/app", "latest").content == body
        assert service.list_tags(s, "team/app") == ["latest"]


def test_webhook_events_map_to_the_owning_project_in_batches(db: Database) -> None:
    with db.session() as s:
        owner = create_project(s, "group/project")
    events = [{"id": f"e{i}", "timestamp": "2026-11-28T00:00:00Z", "action": "push",
               "target": {"repository": f"group/project/img{i}", "digest": "sha256:" + "b" * 64, "tag": "latest"}}
              for i in range(1200)] + [
              {"id": "orphan", "timestamp": "2026-11-28T00:00:00Z", "action": "delete",
               "target": {"repository": "nobody/owns/this", "digest": "sha256:" + "c" * 64}}]
    parsed = parse_envelope(json.dumps({"events": events[:1000]}).encode())
    with db.session() as s:
        result = service.record_webhook_events(s, parsed)
    assert (result.stored, result.duplicates) == (1000, 0)
    parsed = parse_envelope(json.dumps({"events": events[900:]}).encode())
    with db.session() as s:
        result = service.record_webhook_events(s, parsed)
    assert (result.stored, result.duplicates) == (201, 100)
    with db.session() as s:
        by_project = dict(s.execute(select(ContainerRegistryEvent.project_id, func.count())
                                    .group_by(ContainerRegistryEvent.project_id)).all())
    assert by_project == {owner.id: 1200, None: 1}
