"""Wakes long-polling runners as soon as jobs become claimable in this process (others poll each second)."""

from __future__ import annotations

import asyncio
from typing import Any


class QueueSignal:
    def __init__(self) -> None:
        self._event = asyncio.Event()

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

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass
