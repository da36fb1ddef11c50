"""Two nodes started at once on one database both find no administrator and both try to create `admin` (CI caught
`serve` exiting with "user 'admin' already exists"). Whichever loses must start normally. Two `Database` objects
play the two nodes; the race is held open at the one point where it happens: after the "is there an
administrator?" check and before the insert."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hullscan.auth import service
from hullscan.settings import Settings
from hullscan.db import Database, upgrade
from hullscan.db.models.auth import User
from tests.support.postgres import PostgresCluster

Create = Callable[..., User]


def _race(settings: Settings, monkeypatch: pytest.MonkeyPatch, *, second_waits_for_commit: bool) -> list[object]:
    """Both nodes pass the first check; then either both insert at once (the loser's insert waits on the unique
    index and fails when the winner commits) or the second inserts only after the first committed (the loser finds
    the user already there)."""
    original: Create = service.create_user
    both_checked = threading.Barrier(2, timeout=30)
    first_committed = threading.Event()
    outcomes: list[object] = [None, None]

    def create_after_both_checked(*args: object, **kwargs: object) -> User:
        both_checked.wait()
        if second_waits_for_commit and threading.current_thread().name == "node-b":
            assert first_committed.wait(30)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "create_user", create_after_both_checked)

    def node(index: int) -> None:
        db = Database(settings)
        try:
            with db.session() as session:
                outcomes[index] = service.bootstrap_admin(session, settings)
        except Exception as error:  # noqa: BLE001 - the outcome under test
            outcomes[index] = error
        finally:
            if index == 0:
                first_committed.set()
            db.dispose()

    threads = [threading.Thread(target=node, args=(i,), name=f"node-{'ab'[i]}") for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


@pytest.mark.parametrize("second_waits_for_commit", [True, False], ids=["after-commit", "same-moment"])
def test_two_nodes_bootstrapping_at_once_make_one_administrator_and_both_start(
        postgres: PostgresCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        second_waits_for_commit: bool) -> None:
    """On PostgreSQL, the database nodes share (an SQLite file belongs to the one embedded process)."""
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres.create_database())
    upgrade(settings)
    outcomes = _race(settings, monkeypatch, second_waits_for_commit=second_waits_for_commit)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert sum(isinstance(o, str) for o in outcomes) == 1, "exactly one node generated (and prints) a password"
    db = Database(settings)
    with db.session() as session:
        assert session.scalars(select(func.count()).select_from(User).where(User.is_admin.is_(True))).one() == 1
    db.dispose()
