"""Request-scoped dependencies shared by every router (the parts' `api.py` and the UI's pages): the unit of work,
the project lookup, and the address and query types (ids, counts, RFC 3339 times). Kept below the parts, so a
part's router never imports `hullscan.web` (tests/test_layers.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Path, Query, Request
from pydantic import BeforeValidator, Field
from sqlalchemy.orm import Session

from hullscan.db.models import Project

if TYPE_CHECKING:
    from hullscan.auth import Action, Principal


INT64_MAX = 2**63 - 1
# The largest id a JSON body may carry: 2^53 - 1, the largest integer every JSON reader (JavaScript's doubles,
# schemathesis's generators) holds exactly; far below int64, far above any id the database will hand out.
JSON_ID_MAX = 2**53 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")


def _ascii_digits(value: object) -> object:
    """Numbers in addresses are ASCII digits only: no `²`, `١`, `+5`, `1_000`, ` 7 ` or `12.0` (pydantic's lax
    parsing takes some of those, and `int()` takes the Unicode digits)."""
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise ValueError("must be a whole number written with the digits 0-9")
    return value


def _rfc3339(value: object) -> object:
    """Times in query strings are RFC 3339 text (`2024-05-01T12:00:00Z`), not Unix numbers pydantic would take."""
    if isinstance(value, str) and not _TIME.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time such as 2024-05-01T12:00:00Z")
    return value


_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?")
DateTimeQuery = Annotated[datetime, BeforeValidator(_rfc3339), Query()]


# Ids and counts in paths and query strings: ASCII digits, within the database's int64.
IdPath = Annotated[int, Field(ge=1, le=INT64_MAX), BeforeValidator(_ascii_digits), Path()]
IdQuery = Annotated[int, Field(ge=1, le=INT64_MAX), BeforeValidator(_ascii_digits), Query()]
CountQuery = Annotated[int, Field(ge=0, le=INT64_MAX), BeforeValidator(_ascii_digits), Query()]


def _unit_of_work(request: Request) -> Iterator[Session]:
    with request.app.state.db.session() as session:
        yield session


# scope="function": the unit of work commits when the route returns, before the response is sent. (A yield
# dependency's exit otherwise runs after the response: a client could be told "204 revoked" while the token
# still worked on its very next request.)
_UNIT_OF_WORK = Depends(_unit_of_work, scope="function")


def get_session(session: Session = _UNIT_OF_WORK) -> Session:
    """The request's database session, committed before the response is sent (rolled back on an error)."""
    return session


def project_or_404(session: Session, project: str) -> Project:
    """A project addressed by numeric id or (URL-encoded) full path, as GitLab's API does."""
    from fastapi import HTTPException

    from hullscan.auth.projects import get_project

    found = get_project(session, project)
    if found is None:
        raise HTTPException(status_code=404, detail=f"project {project!r} not found")
    return found


def authorized_project(session: Session, principal: Principal, project: str, action: Action) -> Project:
    """The project a route acts on, once the caller may do `action` there (on a public project, also whom the
    action's rule admits there): an unknown project is a 404, a refusal is `auth.authorize`'s answer."""
    from hullscan.auth import authorize

    found = project_or_404(session, project)
    authorize(principal, action, found.path, public=found.visibility == "public")
    return found
