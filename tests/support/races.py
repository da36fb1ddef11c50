"""Two nodes doing the same "check, then write" at the same moment, held open deterministically: each node is a
`Database` of its own on one PostgreSQL (as two `serve` processes are), each doing `act(session, n)` in a unit of
work, held by a hook before their flushes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from hullscan.db import Database, upgrade
from hullscan.settings import Settings
from tests.support.postgres import PostgresCluster

Act = Callable[[Session, int], object]


@contextmanager
def two_nodes(postgres: PostgresCluster, tmp_path: Path) -> Iterator[tuple[Settings, list[Database]]]:
    """A fresh migrated database on `postgres` and two nodes' `Database` objects for it (disposed after)."""
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres.create_database())
    upgrade(settings)
    nodes = [Database(settings), Database(settings)]
    try:
        yield settings, nodes
    finally:
        for db in nodes:
            db.dispose()


def second_inserts_after_first_committed(nodes: Sequence[Database], inserted: type, act: Act) -> list[BaseException | None]:
    """Both nodes are held at their first flush of a new `inserted` row until both reached it (both checked),
    and node 1 then until node 0 committed: the loser's insert meets the winner's committed row. Returns each
    node's error."""
    both_checked = threading.Barrier(2, timeout=30)
    first_committed = threading.Event()

    def insert_after_both_checked(session: Session, _context: Any, _instances: Any) -> None:
        if any(isinstance(r, inserted) for r in session.new) and not session.info.get("held"):
            session.info["held"] = True
            both_checked.wait()
            if session.info["node"] == 1:
                assert first_committed.wait(30)

    return _run_two(nodes, act, insert_after_both_checked, after=lambda n: n == 0 and first_committed.set())


def second_checks_while_first_holds(nodes: Sequence[Database], at: Callable[[Session], bool], act: Act, *,
                                    on: str = "before_flush") -> list[BaseException | None]:
    """Node 0 is held at its first flush where `at` holds (it has checked, and not yet written) until node 1
    either reached that point too (its check saw the database without node 0's write) or waits for a lock node 0
    holds (the check is serialised); node 1 writes only once node 0 committed. `on="do_orm_execute"` holds at
    statements instead (`at` then gets the ORMExecuteState): for writes that are INSERT statements, not flushes.
    Returns each node's error."""
    first_at, second_at, first_committed = threading.Event(), threading.Event(), threading.Event()

    def second_passed_or_waits() -> None:
        deadline = time.monotonic() + 30
        with nodes[0].engine.connect() as probe:
            while not second_at.is_set():
                if probe.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                      "AND wait_event_type = 'Lock'")).scalar():
                    return
                probe.rollback()
                assert time.monotonic() < deadline, "node 1 neither reached the write nor waited for node 0"
                time.sleep(0.02)

    def hold(state: Any, *_args: Any) -> None:
        session: Session = getattr(state, "session", state)
        if at(state) and not session.info.get("held"):
            session.info["held"] = True
            if session.info["node"] == 0:
                first_at.set()
                second_passed_or_waits()
            else:
                second_at.set()
                assert first_committed.wait(30)

    def before(n: int) -> None:
        if n == 1:
            assert first_at.wait(30)

    def after(n: int) -> None:
        (first_committed if n == 0 else second_at).set()

    return _run_two(nodes, act, hold, before=before, after=after, on=on)


def _run_two(nodes: Sequence[Database], act: Act, hook: Callable[..., None], *,
             before: Callable[[int], object] = lambda n: None, after: Callable[[int], object] = lambda n: None,
             on: str = "before_flush") -> list[BaseException | None]:
    """Node 0 and node 1 on two threads, each `before(n)`, then `act` in a unit of work, then `after(n)` (even
    when it failed), with `hook` on event `on` of either node's sessions. Returns each node's error."""
    outcomes: list[BaseException | None] = [None, None]

    def node(n: int) -> None:
        try:
            before(n)
            with nodes[n].session() as session:
                session.info["node"] = n
                act(session, n)
        except Exception as error:  # noqa: BLE001 - the outcome under test
            outcomes[n] = error
        finally:
            after(n)

    for db in nodes:
        event.listen(db.sessionmaker, on, hook)
    threads = [threading.Thread(target=node, args=(n,), name=f"node-{n}") for n in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        for db in nodes:
            event.remove(db.sessionmaker, on, hook)
    return outcomes
