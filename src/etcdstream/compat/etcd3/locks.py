"""python-etcd3's Lock, key for key: `/locks/<name>` holding a uuid1 of the holder, attached to a lease of the lock's
TTL, so that python-etcd3 processes and these locks exclude each other.

Unlike python-etcd3's, a waiter watches for the DELETE of the key from the revision at which it found the lock
taken (python-etcd3 starts its watch later, so a release in between went unseen and it waited out its
timeout: python-etcd3 issue 1107), and a failed attempt revokes the lease it granted instead of leaking it.
"""

from __future__ import annotations

import time
import uuid
from types import TracebackType
from typing import Any

from .leases import Lease


class Lock:
    """A distributed lock: `with etcd.lock(name, ttl=20):` or acquire(timeout) / release() / refresh()."""

    lock_prefix = "/locks/"

    def __init__(self, name: str, ttl: int = 60, etcd_client: Any = None) -> None:
        self.name = name
        self.ttl = ttl
        if etcd_client is not None:
            self.etcd_client = etcd_client
        self.key = self.lock_prefix + self.name
        self.lease: Lease | None = None
        self.uuid = uuid.uuid1().bytes

    def acquire(self, timeout: float | None = 10) -> bool:
        """Take the lock; False if it stayed taken for timeout seconds (None: wait as long as it takes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        client = self.etcd_client
        while True:
            lease = client.lease(self.ttl)
            succeeded, revision = client._create_key(self.key, self.uuid, lease)
            if succeeded:
                self.lease = lease
                return True
            client.revoke_lease(lease.id)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            client._wait_for_delete(self.key, revision + 1, remaining)

    def release(self) -> bool:
        """Release the lock if this Lock holds it; True if it did."""
        client = self.etcd_client
        succeeded, _ = client.transaction(compare=[client.transactions.value(self.key) == self.uuid],
                                          success=[client.transactions.delete(self.key)], failure=[])
        return succeeded

    def refresh(self) -> list[Any]:
        """Refresh the lease of the lock (its TTL starts again)."""
        if self.lease is None:
            raise ValueError("No lease associated with this lock - have you acquired the lock yet?")
        return self.lease.refresh()

    def is_acquired(self) -> bool:
        """Whether this Lock holds the lock now."""
        value, _ = self.etcd_client.get(self.key)
        return value is not None and value == self.uuid

    def __enter__(self) -> Lock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
