"""Wakes long-polling runners as soon as jobs become claimable in this process (others poll each second),
and the SBOM ingestion as soon as a job finishes."""

from __future__ import annotations

import asyncio
from typing import Any


class QueueSignal:
    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._finished = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    @classmethod
    def of(cls, app: Any) -> "QueueSignal":
        signal = getattr(app.state, "queue_signal", None)
        if signal is None:
            signal = app.state.queue_signal = cls()
        return signal

    def wake(self) -> None:
        """Wake every waiter (call from the event loop)."""
        event, self._event = self._event, asyncio.Event()
        event.set()

    def wake_from_thread(self) -> None:
        """`wake` for code running on a worker thread (the background loops)."""
        self._loop.call_soon_threadsafe(self.wake)

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass

    def finished_from_thread(self) -> None:
        """A job finished (called from a worker thread): wake the ingestion of its SBOM."""
        self._loop.call_soon_threadsafe(self._finished.set)

    async def wait_finished(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._finished.wait(), timeout)
        except TimeoutError:
            pass
        self._finished.clear()
