"""Mirror and AsyncMirror: a prefix kept up to date in memory (readdir, then watchdir).

This is what an API gateway's configuration sync does: read the prefix at one
revision R, watch it from R + 1, apply every batch. When the watch cannot
resume (history compacted, a cluster with another history), the mirror reads
the prefix again and reports a resync; its changes then describe the
difference between the old and the new copy, so consumers stay consistent.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, TypeVar

from ._errors import (
    ClientClosed,
    CompactedError,
    ConnectionFailed,
    EtcdError,
    NoLeader,
    RevisionWentBackwards,
    Timeout,
)
from ._keys import Key, to_bytes
from ._results import Snapshot
from ._types import EventType
from ._watch import next_pause
from .codec import Event, EventBatch, KeyValue, coalesce

if TYPE_CHECKING:
    from ._async import AsyncClient
    from ._sync import Client

#: Errors after which the mirror reads the prefix again instead of resuming.
_RESYNC_ERRORS = (CompactedError, RevisionWentBackwards)
#: Errors of a full read that pass: the mirror tries again after a pause.
_PASSING_ERRORS = (ConnectionFailed, Timeout, NoLeader)

ChangeCallback = Callable[[EventBatch, bool], object]
T = TypeVar("T")

#: Batches changes() keeps for a consumer that has not read them; beyond that they are merged into
#: one (the last event of each key: the same net change), so unread changes do not grow without bound.
_MAX_PENDING_BATCHES = 1000


def _keep_pending(pending: list[tuple[EventBatch, bool]], batch: EventBatch,
                  resync: bool) -> list[tuple[EventBatch, bool]]:
    """pending with (batch, resync) added, merged into one batch when too many wait."""
    pending.append((batch, resync))
    if len(pending) <= _MAX_PENDING_BATCHES:
        return pending
    events = [event for waiting, _ in pending for event in waiting]
    return [(coalesce(EventBatch(events, batch.revision)), any(flag for _, flag in pending))]


class MirrorState:
    """The copy itself and how batches and snapshots change it (no I/O)."""

    def __init__(self) -> None:
        self.data: dict[bytes, KeyValue] = {}
        self.revision = 0
        self.resyncs = 0
        self.synced = False

    def load(self, snapshot: Snapshot) -> EventBatch:
        """Replace the copy with a snapshot; return the changes from the old copy to it."""
        old, self.data = self.data, {kv.key: kv for kv in snapshot.kvs}
        changes = [Event(EventType.PUT, kv) for key, kv in self.data.items() if old.get(key) != kv]
        changes += [Event(EventType.DELETE, KeyValue(key, b"", 0, snapshot.revision)) for key in old.keys() - self.data.keys()]
        if self.synced:
            self.resyncs += 1
        self.revision = snapshot.revision
        self.synced = True
        return EventBatch(changes, snapshot.revision)

    def apply(self, batch: EventBatch) -> None:
        """Apply a batch of the watch, in order."""
        data = self.data
        for event in batch:
            if event.type == EventType.DELETE:
                data.pop(event.key, None)
            else:
                data[event.key] = event.kv
        self.revision = max(self.revision, batch.revision)


class _MirrorBase(Mapping[bytes, KeyValue]):
    """The read-only mapping side, shared by Mirror and AsyncMirror."""

    _state: MirrorState
    _prefix: bytes
    _coalesce: bool

    def __getitem__(self, key: Key) -> KeyValue:
        return self._state.data[to_bytes("key", key)]

    def __iter__(self) -> Iterator[bytes]:
        return iter(list(self._state.data))  # a copy: the sync keeps changing the dict

    def __len__(self) -> int:
        return len(self._state.data)

    @property
    def revision(self) -> int:
        """The revision of etcd the copy is at: it equals the prefix as of this revision."""
        return self._state.revision

    @property
    def resyncs(self) -> int:
        """How many times the mirror had to read the prefix again (compaction, another history)."""
        return self._state.resyncs

    def snapshot(self) -> Snapshot:
        """A consistent copy: the keys and the revision they are at."""
        with self._applying():
            data, revision = dict(self._state.data), self._state.revision
        return Snapshot(revision, [data[key] for key in sorted(data)])

    def _applying(self) -> AbstractContextManager[object]:
        """Held while the copy changes (AsyncMirror changes it in the event loop's one thread)."""
        return nullcontext()


class Mirror(_MirrorBase):
    """A prefix of etcd kept up to date in memory by a background thread (for Client).

    `mirror[key]` -> KeyValue, iteration, len(), `.revision`; `wait_synced()`
    blocks until the first full read is done; `on_change(callback)` calls
    callback(batch, resync) from the sync thread for every change;
    `changes()` iterates over the same batches. Close it (or use `with`).
    The `on_change=` callback is registered before the sync starts, so it
    also sees the first full read (one registered later may miss it).
    """

    def __init__(self, client: Client, prefix: Key, *, coalesce: bool = True,
                 on_change: ChangeCallback | None = None) -> None:
        self._client = client
        self._prefix = to_bytes("prefix", prefix)
        self._coalesce = bool(coalesce)
        self._state = MirrorState()
        self._callbacks: list[ChangeCallback] = [on_change] if on_change is not None else []
        self._cond = threading.Condition()
        self._pending: list[tuple[EventBatch, bool]] = []
        self._error: EtcdError | None = None
        self._watcher = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="etcdstream-mirror", daemon=True)
        self._thread.start()

    def on_change(self, callback: ChangeCallback) -> None:
        """Call callback(batch, resync) for every change from now on (in the sync thread)."""
        self._callbacks.append(callback)

    def _applying(self) -> AbstractContextManager[object]:
        return self._cond

    def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait for the first full read; False on timeout. Raises the error that stopped the mirror."""
        with self._cond:
            done = self._cond.wait_for(lambda: self._state.synced or self._error is not None, timeout)
            if self._error is not None and not self._state.synced:
                raise self._error
            return done

    def wait_revision(self, revision: int, timeout: float | None = None) -> bool:
        """Wait until the copy is at revision or later; False on timeout. Raises the error that stopped the mirror."""
        with self._cond:
            done = self._cond.wait_for(lambda: self._state.revision >= revision or self._error is not None, timeout)
            if self._error is not None and self._state.revision < revision:
                raise self._error
            return done

    def changes(self, timeout: float | None = None) -> Iterator[tuple[EventBatch, bool]]:
        """(batch, resync) pairs as they are applied; ends after close() or timeout seconds without one."""
        while True:
            with self._cond:
                if not self._cond.wait_for(lambda: self._pending or self._closed or self._error, timeout):
                    return
                if self._pending:
                    pending, self._pending = self._pending, []
                elif self._error is not None:
                    raise self._error
                else:
                    return
            yield from pending

    def close(self) -> None:
        """Stop syncing."""
        with self._cond:
            self._closed = True
            watcher = self._watcher
            self._cond.notify_all()
        if watcher is not None:
            watcher.close()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> Mirror:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _publish(self, batch: EventBatch, resync: bool) -> None:
        self._pending = _keep_pending(self._pending, batch, resync)
        self._cond.notify_all()
        for callback in self._callbacks:
            callback(batch, resync)

    def _retrying(self, attempt: Callable[[], T]) -> T | None:
        """attempt(), tried again while etcd is unreachable or slow to answer; None once closed."""
        pause = 0.05
        while True:
            try:
                return attempt()
            except _PASSING_ERRORS:
                with self._cond:
                    if self._cond.wait_for(lambda: self._closed, pause):
                        return None
                pause = next_pause(pause)

    def _run(self) -> None:
        try:
            while not self._closed:
                snapshot = self._retrying(lambda: self._client.readdir(self._prefix))
                if snapshot is None:
                    return
                with self._cond:
                    resync = self._state.synced
                    changes = self._state.load(snapshot)
                    self._publish(changes, resync)
                    if self._closed:
                        return
                try:
                    # The watch continues the snapshot: from its revision + 1, in its history.
                    watcher = self._retrying(lambda: self._client.watchdir(self._prefix, coalesce=self._coalesce,
                                                                           after=snapshot))
                    if watcher is None:
                        return
                    with self._cond:
                        self._watcher = watcher
                        if self._closed:
                            watcher.close()
                    for batch in watcher:
                        with self._cond:
                            self._state.apply(batch)
                            self._publish(batch, False)
                except _RESYNC_ERRORS:
                    continue
                return  # the watcher was closed
        except ClientClosed:
            pass
        except EtcdError as error:
            with self._cond:
                self._error = error
                self._cond.notify_all()


class AsyncMirror(_MirrorBase):
    """Mirror for AsyncClient: a task keeps the copy up to date.

    `await mirror.wait_synced()`, `mirror[key]`, `.revision`,
    `on_change(callback)` (called in the event loop), `async for batch, resync
    in mirror.changes()`, `await mirror.close()`.
    The `on_change=` callback is registered before the sync starts, so it
    also sees the first full read (one registered later may miss it).
    """

    def __init__(self, client: AsyncClient, prefix: Key, *, coalesce: bool = True,
                 on_change: ChangeCallback | None = None) -> None:
        self._client = client
        self._prefix = to_bytes("prefix", prefix)
        self._coalesce = bool(coalesce)
        self._state = MirrorState()
        self._callbacks: list[ChangeCallback] = [on_change] if on_change is not None else []
        self._changed = asyncio.Event()
        self._pending: list[tuple[EventBatch, bool]] = []
        self._error: EtcdError | None = None
        self._watcher = None
        self._closed = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="etcdstream-mirror")

    def on_change(self, callback: ChangeCallback) -> None:
        """Call callback(batch, resync) for every change from now on."""
        self._callbacks.append(callback)

    async def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait for the first full read; False on timeout. Raises the error that stopped the mirror."""
        return await self._wait(lambda: self._state.synced, timeout)

    async def wait_revision(self, revision: int, timeout: float | None = None) -> bool:
        """Wait until the copy is at revision or later; False on timeout. Raises the error that stopped the mirror."""
        return await self._wait(lambda: self._state.revision >= revision, timeout)

    async def changes(self, timeout: float | None = None):  # -> AsyncIterator[tuple[EventBatch, bool]]
        """(batch, resync) pairs as they are applied; ends after close() or timeout seconds without one."""
        while True:
            if not await self._wait(lambda: bool(self._pending) or self._closed, timeout):
                return
            if not self._pending:
                return
            pending, self._pending = self._pending, []
            for item in pending:
                yield item

    async def close(self) -> None:
        """Stop syncing."""
        self._closed = True
        self._changed.set()
        if self._watcher is not None:
            await self._watcher.close()
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    async def __aenter__(self) -> AsyncMirror:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _wait(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not ready():
            if self._error is not None:
                raise self._error
            self._changed.clear()
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                return ready()
        return True

    def _publish(self, batch: EventBatch, resync: bool) -> None:
        self._pending = _keep_pending(self._pending, batch, resync)
        self._changed.set()
        for callback in self._callbacks:
            callback(batch, resync)

    async def _retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """await attempt(), tried again while etcd is unreachable or slow to answer."""
        pause = 0.05
        while True:
            try:
                return await attempt()
            except _PASSING_ERRORS:
                await asyncio.sleep(pause)
                pause = next_pause(pause)

    async def _run(self) -> None:
        try:
            while not self._closed:
                snapshot = await self._retrying(lambda: self._client.readdir(self._prefix))
                resync = self._state.synced
                self._publish(self._state.load(snapshot), resync)
                try:
                    self._watcher = watcher = await self._retrying(lambda: self._client.watchdir(
                        self._prefix, coalesce=self._coalesce, after=snapshot
                    ))
                    async for batch in watcher:
                        self._state.apply(batch)
                        self._publish(batch, False)
                except _RESYNC_ERRORS:
                    continue
                return
        except ClientClosed:
            pass
        except EtcdError as error:
            self._error = error
            self._changed.set()
