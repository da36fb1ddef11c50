"""Request-scoped dependencies shared by every router."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy.orm import Session

from hullscan.db import Database
from hullscan.db.models import Project
from hullscan.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_database(request: Request) -> Database:
    return request.app.state.db


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.db.session() as session:
        yield session


def project_or_404(session: Session, project: str) -> Project:
    """A project addressed by numeric id or (URL-encoded) full path, as GitLab's API does."""
    from fastapi import HTTPException

    from hullscan.auth.projects import get_project

    found = get_project(session, project)
    if found is None:
        raise HTTPException(status_code=404, detail=f"project {project!r} not found")
    return found
