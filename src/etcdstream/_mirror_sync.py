# Generated from _mirror_async.py by tests/unasync.py: do not edit; edit _mirror_async.py and run `python tests/unasync.py`.
"""A client's Mirror: a prefix of etcd kept up to date in memory.

This is what an API gateway's configuration sync does: read the prefix at one
revision R, watch it from R + 1, apply every batch. When the watch cannot
resume (history compacted, a cluster with another history), the mirror reads
the prefix again and reports a resync; its changes then describe the
difference between the old and the new copy, so consumers stay consistent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, TypeVar

from ._concurrency_sync import Background, Condition, Lock
from ._errors import ClientClosed, EtcdError, ReplayTooLong, Timeout
from ._keys import Key
from ._log import MIRROR
from ._mirror import (
    PASSING_ERRORS,
    RESYNC_ERRORS,
    ChangeCallback,
    MirrorBase,
    check_catch_up,
    keep_pending,
    max_replay,
    resync_reason,
)
from ._mirror_consistent import (
    DEFAULT_CONSISTENT_WAIT,
    FALLBACK_TIMEOUT,
    FALLBACK_UNSUPPORTED,
    FROM_COPY,
    NO_STREAM_RETRY,
    PROGRESS_INTERVAL,
    check_wait,
)
from ._results import Snapshot
from ._watch import next_pause
from .codec import EventBatch, KeyValue

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
    catch_up: how the mirror catches up when its watch resumes from far behind (a long disconnect, a
    consumer too slow): "auto" reads the prefix again when etcd would take longer to replay the gap
    (etcd replays about 10,000 revisions a second; a read costs what the last one took), "replay"
    always replays. The changes reported are the same net difference either way (resync False).
    start: a Snapshot this mirror continues (one a previous process saved from mirror.snapshot()):
    the copy starts as it, is synced at once, and catches up from its revision, reporting only the
    changes since (or a resync, when etcd's history is not the snapshot's).

    Consistent reads (`consistent_get(key)`, `consistent_snapshot()`) see every write that completed
    before they began, as a read from etcd would, but answer from the copy once it has caught up with
    etcd's current revision (one count-only read of etcd); `wait_for(revision)` is read-your-writes after
    any write. While they wait, progress requests move the copy over a quiet prefix, where etcd's answers
    can be waited on (etcd >= 3.4.31, >= 3.5.13, not through the gRPC proxy); elsewhere, or after
    consistent_wait seconds, a consistent read asks etcd itself (stats().consistent_reads counts which).
    own_stream=True (the default) watches on a stream of the mirror's own, so that a watcher of the client
    that is far behind cannot hold its progress answers back, nor see them.
    """

    def __init__(self, client: Client, prefix: Key, *, coalesce: bool = True,
                 on_change: ChangeCallback | None = None, serializable: bool = False, catch_up: str = "auto",
                 start: Snapshot | None = None, own_stream: bool = True,
                 consistent_wait: float = DEFAULT_CONSISTENT_WAIT) -> None:
        super().__init__(prefix, coalesce, on_change, client._transport.counters)
        if start is not None and not isinstance(start, Snapshot):
            raise TypeError(f"start must be a Snapshot (mirror.snapshot(), readdir()), got {type(start).__name__}")
        self._client = client
        self._serializable = bool(serializable)
        self._catch_up = check_catch_up(catch_up)
        self._consistent_wait = check_wait(consistent_wait)
        # What the watches ride: a view of the client with a stream of the mirror's own, or the client.
        self._watch_client = client.with_watch_stream() if own_stream else client
        # One fetch of etcd's revision at a time: reads arriving meanwhile share the next (_mirror_consistent).
        self._fetching = Lock()
        self._start = start
        # Seconds the last full read took (None: none yet).
        self._read_seconds: float | None = None
        if start is not None:
            self._state.load(start)  # the copy its owner already has: no change to report
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
        """Wait until the copy is at revision or later; False on timeout (see wait_for)."""
        return self._reach(_revision(revision), timeout, time.monotonic(), give_up=False)

    def wait_for(self, revision: int, timeout: float | None = None) -> None:
        """Return once the copy is at revision or later: read-your-writes after any write,
        `mirror.wait_for(client.put(key, value).revision)`. While it waits, progress requests move the copy
        over a quiet prefix where etcd's answers can be waited on (else only the prefix's events move it).
        Raises Timeout after timeout seconds, ClientClosed once closed, or the error that stopped the mirror."""
        if not self._reach(_revision(revision), timeout, time.monotonic(), give_up=False):
            raise Timeout(f"the mirror of {self._prefix!r} did not reach revision {revision} within {timeout:g} s "
                          f"(it is at {self._state.revision})")

    def consistent_get(self, key: Key, default: KeyValue | None = None) -> KeyValue | None:
        """key's KeyValue as a linearizable get would see it (default if the key does not exist): from the copy
        once it is at etcd's current revision, else from etcd (see the class's docstring). key must be under
        the prefix."""
        key = self.own_key(key)
        if self._caught_up():
            return self._state.data.get(key, default)
        kv = self._client.get(key)
        return default if kv is None else kv

    def consistent_snapshot(self) -> Snapshot:
        """The prefix as a linearizable readdir would see it (every key, sorted, as of one revision): from the
        copy once it is at etcd's current revision, else from etcd. Its kvs are the consistent iteration."""
        if self._caught_up():
            return self.snapshot()
        return self._client.readdir(self._prefix)

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
        if self._watch_client is not self._client:
            self._watch_client.close()

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

    def _caught_up(self) -> bool:
        """Whether the copy caught up with etcd's current revision within consistent_wait (a consistent read
        answers from it), or not (it asks etcd), counted."""
        revision, known_at = self._current_revision()
        if self._state.revision < revision:
            problem = self._progress_problem()
            if problem is not None:
                if not self._reads.stats().by_outcome[FALLBACK_UNSUPPORTED]:
                    MIRROR.info("consistent reads of the mirror of %r that find its copy behind ask etcd itself: %s",
                                self._prefix, problem)
                self._reads.answered(FALLBACK_UNSUPPORTED)
                return False
        if self._reach(revision, self._consistent_wait, known_at, give_up=True):
            self._reads.answered(FROM_COPY, time.monotonic() - known_at)
            return True
        if self._progress_problem() is not None:  # learnt while waiting (the proxy)
            self._reads.answered(FALLBACK_UNSUPPORTED)
            return False
        MIRROR.info("the mirror of %r did not reach etcd's revision %d within %g s (it is at %d): a consistent "
                    "read asks etcd itself", self._prefix, revision, self._consistent_wait, self._state.revision)
        self._reads.answered(FALLBACK_TIMEOUT, time.monotonic() - known_at)
        return False

    def _current_revision(self) -> tuple[int, float]:
        """etcd's current revision (a linearizable count-only read of one key) and when it was known, from a
        fetch that started after the call: reads arriving during one fetch share the next."""
        ticket = self._reads.arrive()
        with self._fetching:
            shared = self._reads.shared(ticket)
            if shared is not None:
                return shared
            number = self._reads.fetch_started()
            result = self._client.range(self._prefix or b"\0", count_only=True)
            known_at = time.monotonic()
            self._reads.fetch_ended(number, result.revision, known_at)
            return result.revision, known_at

    def _reach(self, revision: int, timeout: float | None, needed_since: float, give_up: bool) -> bool:
        """Wait until the copy is at revision; False after timeout seconds, or (give_up) as soon as progress
        answers cannot be waited on. Meanwhile a progress request every PROGRESS_INTERVAL (shared by every
        waiting reader), the first as soon as none was sent since needed_since (when revision was learnt)."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def done() -> bool:
            return self._state.revision >= revision or self._error is not None or self._closed

        with self._cond:
            while True:
                if self._state.revision >= revision:
                    return True
                if self._error is not None:
                    raise self._error
                if self._closed:
                    raise ClientClosed("the mirror is closed")
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    return False
                due = self._reads.request_due(needed_since)
                if due <= now:
                    problem = self._progress_problem()
                    if problem is not None and give_up:
                        return False
                    if problem is None and not self._request_progress():
                        due = now + NO_STREAM_RETRY  # the stream is starting or reconnecting: soon again
                    else:
                        self._reads.requested(now)
                        due = now + PROGRESS_INTERVAL
                self._cond.wait_for(done, (due if deadline is None else min(due, deadline)) - now)

    def _progress_problem(self) -> str | None:
        """Why progress answers on the mirror's watch stream cannot be waited on, None if they can."""
        return self._watch_client._watches.progress_wait_problem()

    def _request_progress(self) -> bool:
        """Send a progress request; False when there is no stream to send it on now."""
        try:
            return self._watch_client.request_progress()
        except ClientClosed:
            return True  # the client was closed: the mirror ends, and the wait with it

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

    def _max_replay(self) -> int | None:
        """The gap beyond which a resuming watch ends so that the prefix is read instead (None: replay all)."""
        if self._catch_up == "replay":
            return None
        return max_replay(self._read_seconds, len(self._state.data))

    def _read(self, why: str, resync: bool) -> Snapshot | None:
        """Read the prefix (timed: what a read costs decides later catch-ups) and publish the change."""
        def timed_read() -> Snapshot:
            began = time.monotonic()
            snapshot = self._client.readdir(self._prefix, serializable=self._serializable)
            self._read_seconds = time.monotonic() - began
            return snapshot

        snapshot = self._retrying(timed_read)
        if snapshot is not None:
            with self._cond:
                publish_as_resync = resync and self._state.synced
                self._publish(self._state.load(snapshot, why, resync), publish_as_resync)
        return snapshot

    def _gap_too_long(self, saved: Snapshot) -> int:
        """How far a saved copy is behind etcd when that is more than is worth replaying, else 0."""
        limit = self._max_replay()
        if limit is None:
            return 0
        now = self._retrying(lambda: self._client.range(self._prefix, prefix=True, count_only=True,
                                                                serializable=self._serializable))
        gap = now.revision - saved.revision if now is not None else 0
        return gap if gap > limit else 0

    def _watch_after(self, snapshot: Snapshot) -> Watcher | None:
        """Watch the prefix from the snapshot's revision + 1, in its history; None once closed. Tried again
        while etcd is unreachable: then, as after any break, ReplayTooLong if the gap grew past max_replay."""
        attempts = 0

        def attempt() -> Watcher:
            nonlocal attempts
            attempts += 1
            gap = self._gap_too_long(snapshot) if attempts > 1 else 0
            if gap:
                raise ReplayTooLong(_catch_up_reason(gap), from_revision=snapshot.revision + 1,
                                    revision=snapshot.revision + gap)
            return self._watch_client.watchdir(self._prefix, coalesce=self._coalesce, after=snapshot,
                                                     max_replay=self._max_replay())

        return self._retrying(attempt)

    def _run(self) -> None:
        snapshot, why, resync = self._start, "", True
        try:
            if snapshot is not None:
                gap = self._gap_too_long(snapshot)
                if gap:
                    snapshot, why, resync = None, _catch_up_reason(gap), False
            while not self._closed:
                if snapshot is None:
                    snapshot = self._read(why, resync)
                    if snapshot is None:
                        return
                try:
                    watcher = self._watch_after(snapshot)
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
                            if batch:
                                self._publish(batch, False)
                            else:
                                self._cond.notify_all()  # progress: only readers waiting for a revision care
                except ReplayTooLong as e:
                    why, resync = _catch_up_reason(e.revision - e.from_revision + 1), False
                except RESYNC_ERRORS as e:
                    why, resync = resync_reason(e), True
                else:
                    return  # the watcher was closed
                snapshot = None
        except ClientClosed:
            pass
        except EtcdError as error:
            with self._cond:
                self._error = error
                self._cond.notify_all()


def _revision(revision: object) -> int:
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
        raise ValueError(f"revision must be an int >= 0, got {revision!r}")
    return revision


def _catch_up_reason(gap: int) -> str:
    return f"resumed {gap} revisions behind etcd: reading is cheaper than replaying them"
