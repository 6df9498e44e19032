# Generated from _mirror_async.py by tests/unasync.py: do not edit; edit _mirror_async.py and run `python tests/unasync.py`.
"""A client's Mirror: a prefix of etcd kept up to date in memory.

This is what an API gateway's configuration sync does: read the prefix at one
revision R, watch it from R + 1, apply every batch. When the watch cannot
resume (history compacted, a cluster with another history), the mirror reads
the prefix again and reports a resync; its changes then describe the
difference between the old and the new copy, so consumers stay consistent.
"""

from __future__ import annotations

from collections.abc import Iterator, Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, TypeVar

from ._concurrency_sync import Background, Condition
from ._errors import ClientClosed, EtcdError
from ._keys import Key
from ._mirror import PASSING_ERRORS, RESYNC_ERRORS, ChangeCallback, MirrorBase, keep_pending, resync_reason
from ._watch import next_pause
from .codec import EventBatch

if TYPE_CHECKING:
    from ._sync import Client
    from ._watcher_sync import Watcher

T = TypeVar("T")


class Mirror(MirrorBase):
    """A prefix of etcd kept up to date in memory, in the background (a thread of the blocking client, a task of
    the asyncio one).

    `mirror[key]` -> KeyValue, iteration, len(), `.revision`, `.snapshot()`;
    `wait_synced()` until the first full read is done; `on_change(callback)`
    calls callback(batch, resync) in the background for every change;
    `changes()` iterates over the same batches. Close it (or use `with`).
    The `on_change=` callback is registered before the sync starts, so it
    also sees the first full read (one registered later may miss it).
    serializable=True reads the prefix from the member in use without a quorum round (consistent at that
    member's revision, the watch continuing from there): a fleet's full reads spread over its members
    instead of all going through the leader.
    """

    def __init__(self, client: Client, prefix: Key, *, coalesce: bool = True,
                 on_change: ChangeCallback | None = None, serializable: bool = False) -> None:
        super().__init__(prefix, coalesce, on_change, client._transport.counters)
        self._client = client
        self._serializable = bool(serializable)
        # Guards the copy, _pending, _error, _closed and _watcher; waited on for changes of them.
        self._cond = Condition()
        self._watcher: Watcher | None = None
        self._background = Background(self._run, "etcdstream-mirror")

    def _applying(self) -> AbstractContextManager[object]:
        return self._cond.held_by_readers()

    def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait for the first full read; False on timeout. Raises the error that stopped the mirror."""
        return self._wait(lambda: self._state.synced, timeout)

    def wait_revision(self, revision: int, timeout: float | None = None) -> bool:
        """Wait until the copy is at revision or later; False on timeout. Raises the error that stopped the mirror."""
        return self._wait(lambda: self._state.revision >= revision, timeout)

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
            for item in pending:
                yield item

    def close(self) -> None:
        """Stop syncing."""
        with self._cond:
            self._closed = True
            watcher = self._watcher
            self._cond.notify_all()
        if watcher is not None:
            watcher.close()
        self._background.stop()

    def __enter__(self) -> Mirror:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _wait(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        with self._cond:
            done = self._cond.wait_for(lambda: ready() or self._error is not None, timeout)
            if self._error is not None and not ready():
                raise self._error
            return bool(done)

    def _publish(self, batch: EventBatch, resync: bool) -> None:
        """Hand a change to changes() and the callbacks (holding the condition)."""
        self._pending = keep_pending(self._pending, batch, resync)
        self._cond.notify_all()
        for callback in self._callbacks:
            callback(batch, resync)

    def _retrying(self, attempt: Callable[[], T]) -> T | None:
        """attempt(), tried again while etcd is unreachable or slow to answer; None once closed."""
        pause = 0.05
        while True:
            try:
                return attempt()
            except PASSING_ERRORS:
                with self._cond:
                    if self._cond.wait_for(lambda: self._closed, pause):
                        return None
                pause = next_pause(pause)

    def _run(self) -> None:
        why = ""
        try:
            while not self._closed:
                snapshot = self._retrying(lambda: self._client.readdir(self._prefix,
                                                                              serializable=self._serializable))
                if snapshot is None:
                    return
                with self._cond:
                    resync = self._state.synced
                    self._publish(self._state.load(snapshot, why), resync)
                try:
                    # The watch continues the snapshot: from its revision + 1, in its history.
                    watcher = self._retrying(lambda: self._client.watchdir(
                        self._prefix, coalesce=self._coalesce, after=snapshot
                    ))
                    if watcher is None:
                        return
                    with self._cond:
                        self._watcher = watcher
                        closed = self._closed
                    if closed:
                        watcher.close()
                    for batch in watcher:
                        with self._cond:
                            self._state.apply(batch)
                            self._publish(batch, False)
                except RESYNC_ERRORS as e:
                    why = resync_reason(e)
                    continue
                return  # the watcher was closed
        except ClientClosed:
            pass
        except EtcdError as error:
            with self._cond:
                self._error = error
                self._cond.notify_all()
