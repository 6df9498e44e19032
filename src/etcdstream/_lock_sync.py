# Generated from _lock_async.py by tests/unasync.py: do not edit; edit _lock_async.py and run `python tests/unasync.py`.
"""A client's Lock: Go's concurrency.Mutex, key for key, so that it excludes `etcdctl lock` and Go's locks too."""

from __future__ import annotations

import time
from typing import Any, Protocol

from ._calls import check_ttl
from ._errors import LeaseNotFound
from ._keys import Key, to_bytes
from ._results import Deleted, Lease, RangeResult, TxnResult
from ._session_sync import Session
from ._txn import Compare, Get, Put
from ._types import EventType, WatchFilter
from ._watcher_sync import Watcher
from .codec import KeyValue


class LockClient(Protocol):
    """What a lock needs of its client."""

    def session(self, ttl: int = 60, *, timeout: float | None = None) -> Session: ...
    def txn(self, compare: Any, success: Any = (), failure: Any = (), *,
                  timeout: float | None = None) -> TxnResult: ...
    def range(self, key: Key, range_end: Key | None = None, **options: Any) -> RangeResult: ...
    def get(self, key: Key, **options: Any) -> KeyValue | None: ...
    def delete(self, key: Key, **options: Any) -> Deleted: ...
    def watch(self, key: Key, range_end: Key | None = None, **options: Any) -> Watcher: ...


class Contender:
    """What a lock's contender and an election's candidate share: a key `name/<lease id in hex>` on a
    session's lease (the caller's, or one of ttl seconds made on first use and ended with the contender)."""

    def __init__(self, client: LockClient, name: Key, *, ttl: int = 60,
                 session: Session | None = None) -> None:
        self._client = client
        self._prefix = to_bytes("name", name, allow_empty=False) + b"/"
        self._ttl = check_ttl(ttl)
        if session is not None and not isinstance(session, Session):
            raise TypeError(f"session must be a Session from client.session(), got {type(session).__name__}")
        self._session = session
        self._own_session = session is None
        self._key: bytes | None = None

    @property
    def key(self) -> bytes | None:
        """The key this contender stands with (None unless it holds the lock, campaigns or leads)."""
        return self._key

    @property
    def session(self) -> Session | None:
        """The session whose lease holds the key (None before first use when the contender makes its own)."""
        return self._session

    def _lease(self) -> Lease:
        """The session's lease (making the session first if it is the contender's own)."""
        if self._session is None:
            self._session = self._client.session(self._ttl)
        return self._session.lease

    def _end_own_session(self) -> None:
        if self._own_session and self._session is not None:
            session, self._session = self._session, None
            session.close()

    def _lease_lives(self) -> bool:
        return self._key is not None and self._session is not None and not self._session.done.is_set()


class Lock(Contender):
    """A distributed lock named `name` (Go's concurrency.Mutex, the lock `etcdctl lock NAME` takes).

    Each contender puts the key `name/<its lease id in hex>` on its session's lease; the holder is the
    one whose key etcd created first, and each waiter watches only the key created just before its own
    (no herd on release): first come, first served. A holder whose session's lease is lost (revoked,
    expired, etcd unreachable past its TTL) has lost the lock: `session.done` says so and is_owner()
    turns False. Without a session the lock makes one of ttl seconds and ends it on release().
    `with client.lock(name):` / `with client.lock(name):` acquires and releases.
    """

    def __repr__(self) -> str:
        state = f"held as {self._key!r}" if self._key is not None else "not held"
        return f"<{type(self).__name__} {self._prefix[:-1]!r} {state}>"

    def _first(self) -> Get:
        """Read the key of the name created first: the holder's."""
        return Get(self._prefix, prefix=True, sort_target="create_revision", sort_order="ascend", limit=1)

    def acquire(self, timeout: float | None = None) -> bool:
        """Wait until this contender holds the lock (True), or timeout seconds (False: it gave up its place)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        lease = self._lease()
        key = self._prefix + b"%x" % lease.id
        # Join the queue unless this session is in it already (Go's tryAcquire), and see who holds the lock.
        result = self._client.txn([Compare(key, "create_revision", "==", 0)],
                                        [Put(key, b"", lease=lease.id), self._first()], [Get(key), self._first()])
        mine = result.revision if result.succeeded else result.responses[0].kvs[0].create_revision
        self._key = key
        holder = result.responses[1].kvs
        if holder and holder[0].create_revision != mine:
            try:
                acquired = wait_deletes(self._client, self._prefix, mine - 1, deadline)
            except BaseException:
                self.release()
                raise
            if not acquired:
                self.release()
                return False
            if self._client.get(key) is None:  # the lease was lost while waiting
                self._key = None
                raise LeaseNotFound(f"lock {self._prefix[:-1]!r}: the session's lease {lease.id:x} was lost "
                                    "while waiting for the lock")
        return True

    def release(self) -> None:
        """Give the lock up (or this contender's place in the queue); a session the lock made ends too."""
        key, self._key = self._key, None
        try:
            if key is not None:
                self._client.delete(key)
        finally:
            self._end_own_session()

    def is_owner(self) -> bool:
        """Whether this contender holds the lock now: its key is the first of the name and its lease lives."""
        if not self._lease_lives():
            return False
        first = self._client.range(self._prefix, prefix=True, sort_target="create_revision", sort_order="ascend",
                                         limit=1)
        return bool(first.kvs) and first.kvs[0].key == self._key

    def __enter__(self) -> Lock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def wait_deletes(client: LockClient, prefix: bytes, max_create_revision: int,
                       deadline: float | None) -> bool:
    """Wait until every key under prefix created at max_create_revision or before is deleted, watching only
    the last of them each time (Go's waitDeletes): a contender's turn. False at the deadline (time.monotonic)."""
    while True:
        before = client.range(prefix, prefix=True, sort_target="create_revision", sort_order="descend",
                                    limit=1, max_create_revision=max_create_revision)
        if not before.kvs:
            return True
        with client.watch(before.kvs[0].key, start_revision=before.revision,
                                      filters=[WatchFilter.NOPUT]) as watcher:
            while True:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                batch = watcher.get(remaining)
                if batch is not None and any(event.type == EventType.DELETE for event in batch):
                    break
