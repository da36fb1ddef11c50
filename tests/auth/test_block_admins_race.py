"""The last active administrator cannot be blocked. With two administrators blocking each other through two
nodes at the same moment, each check saw the other still active, both blocks went through, and nobody could
administer the instance any more. Two `Database` objects play the two nodes on PostgreSQL; node 0 is held after its
check until node 1 checked too or waits for node 0."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hullscan.auth import service
from hullscan.db.models.auth import User
from tests.support.postgres import PostgresCluster
from tests.support.races import second_checks_while_first_holds, two_nodes

# node n: (who, whom)
BLOCKS = (("alice", "bob"), ("bob", "alice"))


def test_two_administrators_blocking_each_other_at_once_leave_one_active(
        postgres: PostgresCluster, tmp_path: Path) -> None:
    with two_nodes(postgres, tmp_path) as (_settings, nodes):
        with nodes[0].session() as s:
            for name in ("alice", "bob"):
                service.create_user(s, name, is_admin=True)

        def block(session: Session, n: int) -> None:
            who, whom = BLOCKS[n]
            service.set_user_blocked(session, service.require_user(session, whom), True, by=who)

        def blocking(session: Session) -> bool:
            return any(isinstance(row, User) for row in session.dirty)

        outcomes = second_checks_while_first_holds(nodes, blocking, block)
        assert outcomes[0] is None
        assert isinstance(outcomes[1], service.AuthError) and "last active administrator" in str(outcomes[1]), \
            outcomes[1]
        with nodes[0].session() as s:
            assert s.scalars(select(User.username).where(User.is_admin.is_(True), User.is_active.is_(True))).all() \
                == ["alice"]
