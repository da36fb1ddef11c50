"""Two nodes doing the same "check, then insert" at the same moment, held open deterministically: each node is a
`Database` of its own on one PostgreSQL (as two `serve` processes are); both check, then node 0 inserts and
commits, then node 1 inserts -- the order in which the loser's insert meets the winner's committed row."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from hullscan.db import Database


def second_inserts_after_first_committed(nodes: Sequence[Database], inserted: type,
                                         act: Callable[[Session, int], object]) -> list[BaseException | None]:
    """Run `act(session, n)` in a unit of work on node n (0, 1) at once; both are held at their first flush of a
    new `inserted` row until both reached it, and node 1 then until node 0 committed. Returns each node's error."""
    both_checked = threading.Barrier(2, timeout=30)
    first_committed = threading.Event()

    def insert_after_both_checked(session: Session, _context: Any, _instances: Any) -> None:
        if any(isinstance(r, inserted) for r in session.new) and not session.info.get("held"):
            session.info["held"] = True
            both_checked.wait()
            if session.info["node"] == 1:
                assert first_committed.wait(30)

    outcomes: list[BaseException | None] = [None, None]

    def node(n: int) -> None:
        try:
            with nodes[n].session() as session:
                session.info["node"] = n
                act(session, n)
        except Exception as error:  # noqa: BLE001 - the outcome under test
            outcomes[n] = error
        finally:
            if n == 0:
                first_committed.set()

    for db in nodes:
        event.listen(db.sessionmaker, "before_flush", insert_after_both_checked)
    threads = [threading.Thread(target=node, args=(n,), name=f"node-{n}") for n in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        for db in nodes:
            event.remove(db.sessionmaker, "before_flush", insert_after_both_checked)
    return outcomes
