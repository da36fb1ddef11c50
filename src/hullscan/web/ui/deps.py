"""Dependencies every UI page uses: the principal (shown in the header) and the project it addresses."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal, authorize, current_principal
from hullscan.auth.projects import get_project
from hullscan.db.models import Project


async def ui_principal(request: Request, principal: Principal = Depends(current_principal)) -> Principal:
    """`current_principal`, remembered on the request so the header and error pages can name the user."""
    request.state.principal = principal
    return principal


def project_for(session: Session, principal: Principal, path: str, action: Action) -> Project:
    """The project at `path` (404 page when missing) after `authorize` allowed `action` on it."""
    project = get_project(session, path.strip("/")) if len(path) <= 255 else None
    if project is None or path.isdigit():
        raise HTTPException(status_code=404, detail=f"There is no project {path!r}.")
    authorize(principal, action, project.path, public=project.visibility == "public")
    return project


def _page_unit_of_work(request: Request) -> Iterator[Session]:
    with request.app.state.db.session() as session:
        request.state.ui_session = session
        yield session


_PAGE_UNIT_OF_WORK = Depends(_page_unit_of_work, scope="function")


def ui_session(session: Session = _PAGE_UNIT_OF_WORK) -> Session:
    """A unit of work per page, committed before the response is sent (scope="function"); an error rolls it
    back (see `render.HTMLErrorRoute`), so a refused form leaves nothing half-written even when a service
    changed objects before it refused."""
    return session
