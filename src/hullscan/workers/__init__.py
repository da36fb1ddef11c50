"""Background work of `serve`, all in one place: see `loops.LOOPS` for every loop with its name, interval,
what it claims and its switch (`workers_disabled`), and `Workers` for how `serve --role worker|all` runs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

from hullscan.workers.leader import Leadership
from hullscan.workers.loops import LOOPS, Loop, WorkerContext, run

log = logging.getLogger("hullscan.workers")
__all__ = ["LOOPS", "Loop", "WorkerContext", "Workers", "node_name"]


def node_name() -> str:
    """This process's name in claims (`claimed_by`): host and pid, unique among live nodes."""
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


class Workers:
    """Starts each enabled loop as an asyncio task (the blocking tick runs on a thread) and stops them all."""

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.leaders: dict[str, Leadership | None] = {}

    def start(self) -> list[str]:
        settings = self.ctx.settings
        unknown = set(settings.workers_disabled) - {loop.name for loop in LOOPS}
        if unknown:
            log.warning("unknown loop names in workers_disabled", extra={"fields": {"names": sorted(unknown)}})
        for loop in LOOPS:
            if not loop.enabled(settings):
                continue
            leader = self.leaders[loop.name] = Leadership(self.ctx.db, loop.name) if loop.elected else None
            self.tasks[loop.name] = asyncio.create_task(run(loop, self.ctx, leader), name=f"hullscan:{loop.name}")
        log.info("background loops started", extra={"fields": {"node": self.ctx.node, "loops": sorted(self.tasks)}})
        return sorted(self.tasks)

    async def stop(self) -> None:
        self.ctx.cancel.set()
        for task in self.tasks.values():
            task.cancel()
        for task in self.tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for leader in self.leaders.values():
            if leader is not None:
                await asyncio.to_thread(leader.release)
        self.tasks.clear()
