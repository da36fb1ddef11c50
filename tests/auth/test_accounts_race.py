"""Two administrators doing the same thing through two nodes at the same moment: creating the same user or
project, or adding the same member (to a group that the addition creates, or to an existing one). Each node checks
for the row, then inserts it; the loser's insert hits a unique index. It must answer as if the other node had come
first ("already exists" for a creation, the role set for a membership), never 500. Two `Database` objects play the
two nodes on PostgreSQL; the race is held open after both checked and before either inserted, and the second
inserts only once the first committed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hullscan.auth import service
from hullscan.auth.principal import Role
from hullscan.db.models import Project
from hullscan.db.models.auth import Group, Member, User
from tests.support.postgres import PostgresCluster
from tests.support.races import second_inserts_after_first_committed, two_nodes

ROLES = (Role.DEVELOPER, Role.MAINTAINER)


def _members_of_bob(session: Session) -> list[tuple[str, int]]:
    rows = session.execute(select(Group.path, Member.access_level).join(Member, Member.group_id == Group.id)
                           .join(User, User.id == Member.user_id).where(User.username == "bob")).all()
    return sorted((path, level) for path, level in rows if path != "bob")


@dataclass(frozen=True)
class Case:
    inserted: type  # the row whose insert races
    seed: Callable[[Session], object]
    act: Callable[[Session, int], object]  # what node n does
    loser: str | None  # the error the second node answers, or None when it succeeds too
    after: Callable[[Session], object]
    expected: object


CASES = {
    "create-user": Case(User, lambda s: None, lambda s, n: service.create_user(s, "bob"), "user 'bob' already exists",
                        lambda s: len(s.scalars(select(User).where(User.username == "bob")).all()), 1),
    "create-project": Case(Project, lambda s: None, lambda s, n: service.create_project(s, "team/app"),
                           "project 'team/app' already exists",
                           lambda s: len(s.scalars(select(Project).where(Project.path == "team/app")).all()), 1),
    "member-of-new-group": Case(Group, lambda s: service.create_user(s, "bob"),
                                lambda s, n: service.add_member(s, "bob", "team", ROLES[n]), None,
                                _members_of_bob, [("team", int(ROLES[1]))]),
    "member-of-group": Case(Member, lambda s: (service.create_user(s, "bob"), service.create_user(s, "carol"),
                                               service.add_member(s, "carol", "team", Role.OWNER)),
                            lambda s, n: service.add_member(s, "bob", "team", ROLES[n]), None,
                            _members_of_bob, [("team", int(ROLES[1]))]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_same_change_through_two_nodes_at_once(postgres: PostgresCluster, tmp_path: Path, name: str) -> None:
    case = CASES[name]
    with two_nodes(postgres, tmp_path) as (settings, nodes):
        with nodes[0].session() as session:
            case.seed(session)
        outcomes = second_inserts_after_first_committed(nodes, case.inserted, case.act)
        assert outcomes[0] is None
        if case.loser is None:
            assert outcomes[1] is None
        else:
            assert isinstance(outcomes[1], service.AuthError) and str(outcomes[1]) == case.loser, outcomes[1]
        with nodes[0].session() as session:
            assert case.after(session) == case.expected
