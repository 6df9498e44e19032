# Generated from _election_async.py by tests/unasync.py: do not edit; edit _election_async.py and run `python tests/unasync.py`.
"""A client's Election: Go's concurrency.Election, key for key, so that `etcdctl elect` sees our leader and we
see its."""

from __future__ import annotations

import time
from collections.abc import Iterator

from ._errors import LeaseNotFound, NotElected
from ._keys import Key, prefix_range, to_bytes
from ._lock_sync import Contender, LockClient, wait_deletes
from ._session_sync import Session
from ._txn import Compare, Delete, Get, Put
from ._types import EventType
from .codec import KeyValue


class Election(Contender):
    """An election named `name` (Go's concurrency.Election, the one `etcdctl elect NAME` takes part in).

    Each candidate puts `name/<its lease id in hex>` with its proposal as the value; the leader is the
    candidate whose key etcd created first, and a campaign waits for every earlier key to go. A leader
    whose session's lease is lost is leader no more (etcd deletes its key). Without a session the
    election makes one of ttl seconds and ends it on resign().
    """

    def __init__(self, client: LockClient, name: Key, *, ttl: int = 60,
                 session: Session | None = None) -> None:
        super().__init__(client, name, ttl=ttl, session=session)
        self._revision = 0  # the create revision of our key

    def __repr__(self) -> str:
        state = f"candidate {self._key!r}" if self._key is not None else "not campaigning"
        return f"<{type(self).__name__} {self._prefix[:-1]!r} {state}>"

    def campaign(self, value: Key, timeout: float | None = None) -> bool:
        """Stand with value and wait until elected (True), or timeout seconds (False: the candidacy is withdrawn)."""
        value_bytes = to_bytes("value", value)
        deadline = None if timeout is None else time.monotonic() + timeout
        lease = self._lease()
        key = self._prefix + b"%x" % lease.id
        result = self._client.txn([Compare(key, "create_revision", "==", 0)],
                                        [Put(key, value_bytes, lease=lease.id)], [Get(key)])
        self._key, self._revision = key, result.revision
        if not result.succeeded:  # this session stands already: keep its place, take the new value
            current = result.responses[0].kvs[0]  # type: ignore[union-attr]
            self._revision = current.create_revision
            if current.value != value_bytes:
                self.proclaim(value_bytes)
        try:
            elected = wait_deletes(self._client, self._prefix, self._revision - 1, deadline)
        except BaseException:
            self.resign()
            raise
        if not elected:
            self.resign()
            return False
        if self._client.get(key) is None:
            self._key = None
            raise LeaseNotFound(f"election {self._prefix[:-1]!r}: the session's lease {lease.id:x} was lost "
                                "while campaigning")
        return True

    def proclaim(self, value: Key) -> None:
        """As the leader (or a candidate), announce a new value without a new election."""
        value_bytes = to_bytes("value", value)
        if self._key is None or self._session is None:
            raise NotElected(f"election {self._prefix[:-1]!r}: proclaim() needs a campaign first")
        result = self._client.txn([Compare(self._key, "create_revision", "==", self._revision)],
                                        [Put(self._key, value_bytes, lease=self._session.lease.id)])
        if not result.succeeded:
            self._key = None
            raise NotElected(f"election {self._prefix[:-1]!r}: this candidate's key is gone (its lease was lost)")

    def resign(self) -> None:
        """Stop being leader (or candidate): the next candidate is elected. A session the election made ends."""
        key, self._key = self._key, None
        try:
            if key is not None:
                self._client.txn([Compare(key, "create_revision", "==", self._revision)], [Delete(key)])
        finally:
            self._end_own_session()

    def leader(self) -> KeyValue | None:
        """The leader's key and value (value: its proposal), or None while nobody stands."""
        first = self._client.range(self._prefix, prefix=True, sort_target="create_revision",
                                         sort_order="ascend", limit=1)
        return first.kvs[0] if first.kvs else None

    def is_leader(self) -> bool:
        """Whether this candidate leads now (its key is the first and its lease lives)."""
        if not self._lease_lives():
            return False
        current = self.leader()
        return current is not None and current.key == self._key

    def observe(self, timeout: float | None = None) -> Iterator[KeyValue]:
        """The leader's KeyValue each time it changes or proclaims (Go's Observe); ends after timeout seconds
        without a change (None: never)."""
        while True:
            current = self._client.range(self._prefix, prefix=True, sort_target="create_revision",
                                               sort_order="ascend", limit=1)
            if not current.kvs:
                # Nobody stands: wait for the first candidate's put.
                with self._client.watch(self._prefix, prefix_range(self._prefix)[1],
                                                    start_revision=current.revision) as watcher:
                    batch = watcher.get(timeout)
                    if batch is None:
                        return
                continue
            leader = current.kvs[0]
            yield leader
            with self._client.watch(leader.key, start_revision=current.revision + 1) as watcher:
                while True:
                    batch = watcher.get(timeout)
                    if batch is None:
                        return
                    if any(event.type == EventType.DELETE for event in batch):
                        break
                    yield batch.events[-1].kv

