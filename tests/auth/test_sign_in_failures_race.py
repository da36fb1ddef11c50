"""Failed sign-ins are counted per user and client in `sign_in_failures`; with two nodes, two failures of one user
arrive at the same moment. The first failure of a key must not make the other node's request fail on the key's
unique index (a 500 instead of "invalid username or password"), and later ones must add up (a lost count is an
attempt the lockout never sees). Two `Database` objects play the two nodes on PostgreSQL; the race is held open
between the read of the counter and its write."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from hullscan.auth import service
from hullscan.db import Database, upgrade
from hullscan.db.base import utcnow
from hullscan.db.models.auth import SignInFailures
from hullscan.settings import Settings
from tests.support.postgres import PostgresCluster
from tests.support.races import second_checks_while_first_holds

KEY = "user:alice"


@pytest.fixture
def settings(postgres: PostgresCluster, tmp_path: Path) -> Settings:
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres.create_database(),
                        sign_in_max_failures=100)
    upgrade(settings)
    return settings


def _fail_once(db: Database, settings: Settings) -> None:
    with db.session() as session:
        service.record_sign_in_failure(session, settings, "alice", None)


def _failures(settings: Settings) -> int:
    db = Database(settings)
    try:
        with db.session() as session:
            return session.get_one(SignInFailures, KEY).failures
    finally:
        db.dispose()


def _run(*targets: Callable[[], None]) -> list[BaseException | None]:
    outcomes: list[BaseException | None] = [None] * len(targets)

    def run(index: int) -> None:
        try:
            targets[index]()
        except BaseException as error:  # noqa: BLE001 - the outcome under test
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(targets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


def test_first_failures_of_one_user_on_two_nodes_at_once_both_count(settings: Settings) -> None:
    """Both nodes find no row for the user and both insert one: the loser counts on the winner's row."""
    both_checked = threading.Barrier(2, timeout=30)
    nodes = [Database(settings), Database(settings)]

    def insert_after_both_checked(session: Session, _context: Any, _instances: Any) -> None:
        if any(isinstance(row, SignInFailures) for row in session.new) and not session.info.get("held"):
            session.info["held"] = True
            both_checked.wait()

    for db in nodes:
        event.listen(db.sessionmaker, "before_flush", insert_after_both_checked)
    try:
        outcomes = _run(*(lambda db=db: _fail_once(db, settings) for db in nodes))
    finally:
        for db in nodes:
            db.dispose()
    assert outcomes == [None, None]
    assert _failures(settings) == 2


def test_failures_of_one_user_on_two_nodes_at_once_add_up(settings: Settings) -> None:
    """Node A has read the counter (1) and not yet written it when node B counts a failure too: B's failure must
    be counted after A's (3), not over it (2)."""
    seed = Database(settings)
    with seed.session() as session:
        session.add(SignInFailures(key=KEY, failures=1, first_failure_at=utcnow()))
    seed.dispose()
    nodes = [Database(settings), Database(settings)]

    def counting(session: Session) -> bool:
        return any(isinstance(row, SignInFailures) for row in session.dirty)

    try:
        outcomes = second_checks_while_first_holds(
            nodes, counting, lambda session, _n: service.record_sign_in_failure(session, settings, "alice", None))
    finally:
        for db in nodes:
            db.dispose()
    assert outcomes == [None, None]
    assert _failures(settings) == 3
