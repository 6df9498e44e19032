# The source of _watcher_sync.py: edit this file, then run `python tests/unasync.py` (tests/test_one_source.py checks).
"""What a watch returns: an iterator of batches over the client's one watch stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Protocol

from ._errors import ClientClosed
from ._watch import WatcherEnded
from ._watcher_state import WatcherState
from .codec import EventBatch


class AsyncBatchSource(Protocol):
    """What a watcher reads from: the client's watch stream."""

    async def next_batch(self, watcher: WatcherState, timeout: float | None) -> EventBatch | None:
        """The watcher's next batch; None after timeout; raises WatcherEnded once it is closed and drained."""

    def close_watcher(self, watcher: WatcherState) -> None:
        """Cancel the watch."""


class AsyncWatcher:
    """The batches of events of one watch, as an iterator (what the client's watchdir and watch return).

    Each EventBatch holds every event ready at that moment; `batch.revision`
    is the revision up to which this watcher has seen everything. Iteration
    raises CompactedError, PermissionDenied or RevisionWentBackwards when the
    watch cannot go on, and stops after close().
    """

    def __init__(self, stream: AsyncBatchSource, state: WatcherState) -> None:
        self._stream = stream
        self._state = state
        space = state.spec.space
        # None outside a namespace: most watchers skip even a call per batch.
        self._strip = space.strip_batch if space.prefix else None

    @property
    def revision(self) -> int:
        """The revision up to which this watcher has received everything (0 until known)."""
        return self._state.revision

    def __aiter__(self) -> AsyncIterator[EventBatch]:
        return self

    async def __anext__(self) -> EventBatch:
        try:
            batch = await self._stream.next_batch(self._state, None)
        except WatcherEnded:
            raise StopAsyncIteration from None
        assert batch is not None
        return batch if self._strip is None else self._strip(batch)

    async def get(self, timeout: float | None = None) -> EventBatch | None:
        """The next batch, or None if none came within timeout seconds."""
        try:
            batch = await self._stream.next_batch(self._state, timeout)
        except WatcherEnded:
            raise ClientClosed("the watcher is closed") from None
        return batch if batch is None or self._strip is None else self._strip(batch)

    async def close(self) -> None:
        """Stop watching (cancels the watch on the server)."""
        self._stream.close_watcher(self._state)

    async def __aenter__(self) -> AsyncWatcher:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
