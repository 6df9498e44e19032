# The source of _lock_sync.py: edit this file, then run `python tests/unasync.py` (tests/test_one_source.py checks).
"""A client's Lock: Go's concurrency.Mutex, key for key, so that it excludes `etcdctl lock` and Go's locks too."""

from __future__ import annotations

import time
from typing import Any, Protocol

from ._calls import check_ttl
from ._errors import LeaseNotFound
from ._keys import Key, to_bytes
from ._results import Deleted, Lease, RangeResult, TxnResult
from ._session_async import AsyncSession
from ._txn import Compare, Get, Put
from ._types import EventType, WatchFilter
from ._watcher_async import AsyncWatcher
from .codec import KeyValue


class AsyncLockClient(Protocol):
    """What a lock needs of its client."""

    async def session(self, ttl: int = 60, *, timeout: float | None = None) -> AsyncSession: ...
    async def txn(self, compare: Any, success: Any = (), failure: Any = (), *,
                  timeout: float | None = None) -> TxnResult: ...
    async def range(self, key: Key, range_end: Key | None = None, **options: Any) -> RangeResult: ...
    async def get(self, key: Key, **options: Any) -> KeyValue | None: ...
    async def delete(self, key: Key, **options: Any) -> Deleted: ...
    async def watch(self, key: Key, range_end: Key | None = None, **options: Any) -> AsyncWatcher: ...


class AsyncContender:
    """What a lock's contender and an election's candidate share: a key `name/<lease id in hex>` on a
    session's lease (the caller's, or one of ttl seconds made on first use and ended with the contender)."""

    def __init__(self, client: AsyncLockClient, name: Key, *, ttl: int = 60,
                 session: AsyncSession | None = None) -> None:
        self._client = client
        self._prefix = to_bytes("name", name, allow_empty=False) + b"/"
        self._ttl = check_ttl(ttl)
        if session is not None and not isinstance(session, AsyncSession):
            raise TypeError(f"session must be a Session from client.session(), got {type(session).__name__}")
        self._session = session
        self._own_session = session is None
        self._key: bytes | None = None

    @property
    def key(self) -> bytes | None:
        """The key this contender stands with (None unless it holds the lock, campaigns or leads)."""
        return self._key

    @property
    def session(self) -> AsyncSession | None:
        """The session whose lease holds the key (None before first use when the contender makes its own)."""
        return self._session

    async def _lease(self) -> Lease:
        """The session's lease (making the session first if it is the contender's own)."""
        if self._session is None:
            self._session = await self._client.session(self._ttl)
        return self._session.lease

    async def _end_own_session(self) -> None:
        if self._own_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _lease_lives(self) -> bool:
        return self._key is not None and self._session is not None and not self._session.done.is_set()


class AsyncLock(AsyncContender):
    """A distributed lock named `name` (Go's concurrency.Mutex, the lock `etcdctl lock NAME` takes).

    Each contender puts the key `name/<its lease id in hex>` on its session's lease; the holder is the
    one whose key etcd created first, and each waiter watches only the key created just before its own
    (no herd on release): first come, first served. A holder whose session's lease is lost (revoked,
    expired, etcd unreachable past its TTL) has lost the lock: `session.done` says so and is_owner()
    turns False. Without a session the lock makes one of ttl seconds and ends it on release().
    `with client.lock(name):` / `async with client.lock(name):` acquires and releases.
    """

    def __repr__(self) -> str:
        state = f"held as {self._key!r}" if self._key is not None else "not held"
        return f"<{type(self).__name__} {self._prefix[:-1]!r} {state}>"

    def _first(self) -> Get:
        """Read the key of the name created first: the holder's."""
        return Get(self._prefix, prefix=True, sort_target="create_revision", sort_order="ascend", limit=1)

    async def acquire(self, timeout: float | None = None) -> bool:
        """Wait until this contender holds the lock (True), or timeout seconds (False: it gave up its place)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        lease = await self._lease()
        key = self._prefix + b"%x" % lease.id
        # Join the queue unless this session is in it already (Go's tryAcquire), and see who holds the lock.
        result = await self._client.txn([Compare(key, "create_revision", "==", 0)],
                                        [Put(key, b"", lease=lease.id), self._first()], [Get(key), self._first()])
        mine = result.revision if result.succeeded else result.responses[0].kvs[0].create_revision
        self._key = key
        holder = result.responses[1].kvs
        if holder and holder[0].create_revision != mine:
            try:
                acquired = await wait_deletes(self._client, self._prefix, mine - 1, deadline)
            except BaseException:
                await self.release()
                raise
            if not acquired:
                await self.release()
                return False
            if await self._client.get(key) is None:  # the lease was lost while waiting
                self._key = None
                raise LeaseNotFound(f"lock {self._prefix[:-1]!r}: the session's lease {lease.id:x} was lost "
                                    "while waiting for the lock")
        return True

    async def release(self) -> None:
        """Give the lock up (or this contender's place in the queue); a session the lock made ends too."""
        key, self._key = self._key, None
        try:
            if key is not None:
                await self._client.delete(key)
        finally:
            await self._end_own_session()

    async def is_owner(self) -> bool:
        """Whether this contender holds the lock now: its key is the first of the name and its lease lives."""
        if not self._lease_lives():
            return False
        first = await self._client.range(self._prefix, prefix=True, sort_target="create_revision", sort_order="ascend",
                                         limit=1)
        return bool(first.kvs) and first.kvs[0].key == self._key

    async def __aenter__(self) -> AsyncLock:
        await self.acquire()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.release()


async def wait_deletes(client: AsyncLockClient, prefix: bytes, max_create_revision: int,
                       deadline: float | None) -> bool:
    """Wait until every key under prefix created at max_create_revision or before is deleted, watching only
    the last of them each time (Go's waitDeletes): a contender's turn. False at the deadline (time.monotonic)."""
    while True:
        before = await client.range(prefix, prefix=True, sort_target="create_revision", sort_order="descend",
                                    limit=1, max_create_revision=max_create_revision)
        if not before.kvs:
            return True
        async with await client.watch(before.kvs[0].key, start_revision=before.revision,
                                      filters=[WatchFilter.NOPUT]) as watcher:
            while True:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                batch = await watcher.get(remaining)
                if batch is not None and any(event.type == EventType.DELETE for event in batch):
                    break
