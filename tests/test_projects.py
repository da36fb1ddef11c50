from __future__ import annotations

import pytest

from hullscan.auth import projects
from hullscan.db import Database


def test_longest_path_wins_and_auto_create(migrated_settings) -> None:
    db = Database(migrated_settings)
    with db.session() as s:
        projects.create_project(s, "group/project")
        projects.create_project(s, "group/project/sub")
    with db.session() as s:
        assert projects.find_project_for_repository(s, "group/project/sub/app").path == "group/project/sub"
        assert projects.find_project_for_repository(s, "group/project/app").path == "group/project"
        assert projects.find_project_for_repository(s, "other/x/app") is None
        created = projects.get_or_create_project_for_repository(s, "other/x/app", cs4r_enabled=True)
        assert created.path == "other/x" and created.container_scanning_for_registry_enabled
    with db.session() as s:
        assert projects.get_project(s, created.id).path == "other/x"
        assert projects.get_project(s, "other/x").id == created.id
        with pytest.raises(projects.ProjectError):
            projects.create_project(s, "Bad Path")
        with pytest.raises(projects.ProjectError):
            projects.update_project_settings(s, created, tag_patterns=[])
    db.dispose()
