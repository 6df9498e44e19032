"""What a one-source asyncio module needs that asyncio spells unlike threading: its blocking twin imports
the same names from _concurrency_sync."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from contextlib import AbstractContextManager, nullcontext
from typing import Any


class AsyncCondition:
    """asyncio.Condition with threading.Condition's wait_for(predicate, timeout)."""

    def __init__(self) -> None:
        self._condition = asyncio.Condition()

    async def __aenter__(self) -> None:
        await self._condition.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self._condition.release()

    async def wait_for(self, predicate: Callable[[], object], timeout: float | None = None) -> Any:
        """Wait (holding the condition) until predicate() is true or timeout seconds pass; its last value."""
        try:
            return await asyncio.wait_for(self._condition.wait_for(predicate), timeout)
        except asyncio.TimeoutError:
            return predicate()

    def notify_all(self) -> None:
        self._condition.notify_all()

    def held_by_readers(self) -> AbstractContextManager[object]:
        """What a plain (not async) reader holds to see a consistent state: nothing, in one event loop."""
        return nullcontext()


class AsyncLock(asyncio.Lock):
    """asyncio.Lock (the twin of threading.Lock)."""


class AsyncFlag:
    """asyncio.Event with threading.Event's wait(timeout) -> bool."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until set or timeout seconds pass; whether it is set."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        return self._event.is_set()


class AsyncBackground:
    """A coroutine run as a task of the running event loop; stop() cancels it and waits for its end."""

    def __init__(self, target: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        self._task = asyncio.get_running_loop().create_task(target(), name=name)

    async def stop(self) -> None:
        if self._task is asyncio.current_task():
            return
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
