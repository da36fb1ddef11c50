"""Projects service: which project owns a repository path, creation, and project settings.

A repository path `<namespace>/<project>[/<image>...]` belongs to the project with the longest matching path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hullscan.db.models import Project

PROJECT_PATH = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)+$")


class ProjectError(ValueError):
    """A project path or setting is invalid."""


def candidate_paths(repository: str) -> list[str]:
    """Prefixes of a repository path with at least two segments, longest first."""
    parts = repository.strip("/").split("/")
    return ["/".join(parts[:n]) for n in range(len(parts), 1, -1)]


def find_project_for_repository(session: Session, repository: str) -> Project | None:
    paths = candidate_paths(repository)
    if not paths:
        return None
    rows = session.scalars(select(Project).where(Project.path.in_(paths))).all()
    return max(rows, key=lambda p: len(p.path), default=None)


def default_project_path(repository: str) -> str:
    """The project a push to an unknown repository creates: its first two segments."""
    parts = repository.strip("/").split("/")
    if len(parts) < 2:
        raise ProjectError(f"repository {repository!r} needs a <namespace>/<project> prefix")
    return "/".join(parts[:2])


def create_project(session: Session, path: str, *, cs4r_enabled: bool = False) -> Project:
    if not PROJECT_PATH.match(path):
        raise ProjectError(f"invalid project path {path!r}: expected <namespace>/<project> in lower case")
    project = Project(path=path, container_scanning_for_registry_enabled=cs4r_enabled,
                      cs4r_tag_patterns=["latest"], cs4r_daily_limit=50)
    session.add(project)
    session.flush()
    return project


def get_or_create_project_for_repository(session: Session, repository: str, *, cs4r_enabled: bool) -> Project:
    """Find the owning project or create `<namespace>/<project>` (race-safe: a concurrent creator wins)."""
    project = find_project_for_repository(session, repository)
    if project is not None:
        return project
    path = default_project_path(repository)
    try:
        with session.begin_nested():
            return create_project(session, path, cs4r_enabled=cs4r_enabled)
    except IntegrityError:
        project = session.scalars(select(Project).where(Project.path == path)).one()
        return project


def get_project(session: Session, id_or_path: str | int) -> Project | None:
    """A project by numeric id or full path (as GitLab's API addresses them)."""
    if isinstance(id_or_path, int):
        return session.get(Project, id_or_path) if 0 < id_or_path < 2**63 else None
    if re.fullmatch(r"[0-9]+", id_or_path):  # ASCII digits only: "²".isdigit() is true, int("²") fails
        return session.get(Project, int(id_or_path)) if len(id_or_path) <= 19 and int(id_or_path) < 2**63 else None
    return session.scalars(select(Project).where(Project.path == str(id_or_path).strip("/"))).one_or_none()


def list_projects(session: Session) -> Sequence[Project]:
    return session.scalars(select(Project).order_by(Project.path)).all()


def update_project_settings(session: Session, project: Project, **changes: Any) -> Project:
    """Change CS4R settings: cs4r_enabled, tag_patterns, daily_limit, auto_resolve. Validates before writing."""
    if "cs4r_enabled" in changes and changes["cs4r_enabled"] is not None:
        project.container_scanning_for_registry_enabled = bool(changes["cs4r_enabled"])
    if changes.get("tag_patterns") is not None:
        patterns = [p.strip() for p in changes["tag_patterns"] if p and p.strip()]
        if not patterns or any(len(p) > 128 for p in patterns):
            raise ProjectError("tag patterns must be a non-empty list of globs of at most 128 characters")
        project.cs4r_tag_patterns = patterns
    if changes.get("daily_limit") is not None:
        limit = int(changes["daily_limit"])
        if limit < 0:
            raise ProjectError("rate limit must be >= 0")
        project.cs4r_daily_limit = limit
    if changes.get("auto_resolve") is not None:
        project.auto_resolve_no_longer_detected = bool(changes["auto_resolve"])
    session.flush()
    return project
