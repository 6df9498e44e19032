"""python-etcd3's Lock, key for key: `/locks/<name>` holding a uuid1 of the holder, attached to a lease of the lock's
TTL, so that python-etcd3 processes and these locks exclude each other.

It uses only the client's public methods, as python-etcd3's does (lease, transaction, watch, get): code that wraps
them sees the lock's calls. Unlike python-etcd3 0.12's, a waiter watches for the DELETE of the key from the
revision at which it found the lock taken (python-etcd3 0.12 watched from later, so a release in between went
unseen and it waited out its timeout: python-etcd3 issue 1107), and a failed attempt revokes the lease it
granted instead of leaking it.
"""

from __future__ import annotations

import threading
import time
import uuid
from types import TracebackType
from typing import Any

from .etcdrpc import WatchCreateRequest
from .events import DeleteEvent
from .exceptions import WatchTimedOut
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
        self._taken_at = 0  # the revision at which the last attempt found the lock taken

    def acquire(self, timeout: float | None = 10) -> bool:
        """Take the lock; False if it stayed taken for timeout seconds (None: wait as long as it takes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._try_acquire():
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self._wait_for_delete(remaining)

    def _try_acquire(self) -> bool:
        """One attempt: create the key on a new lease if it does not exist; revoke the lease if it did."""
        client = self.etcd_client
        lease = client.lease(self.ttl)
        try:
            success, responses = client.transaction(
                compare=[client.transactions.create(self.key) == 0],
                success=[client.transactions.put(self.key, self.uuid, lease=lease)],
                failure=[client.transactions.get(self.key)],
            )
        except BaseException:
            # It may have been applied: revoking the lease releases what it took (its TTL does otherwise).
            _revoke_quietly(lease)
            raise
        if success:
            self.lease = lease
            return True
        lease.revoke()
        self.lease = None
        taken = responses[0] if responses else []
        # Its failure Get answered at the revision at which the key existed; 0 (none): try again at once.
        self._taken_at = taken[0][1].response_header.revision if taken else 0
        return False

    def _wait_for_delete(self, timeout: float | None) -> None:
        """Return once the key is deleted after the revision the last attempt found it at, or after timeout."""
        if not self._taken_at:
            return
        try:
            events, cancel = self.etcd_client.watch(self.key, start_revision=self._taken_at + 1,
                                                    filters=[WatchCreateRequest.NOPUT])
        except WatchTimedOut:
            return
        timer = None
        if timeout is not None:
            timer = threading.Timer(timeout, cancel)
            timer.daemon = True
            timer.start()
        try:
            for event in events:
                if isinstance(event, DeleteEvent):
                    return
        finally:
            if timer is not None:
                timer.cancel()
            cancel()

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


def _revoke_quietly(lease: Lease) -> None:
    try:
        lease.revoke()
    except Exception:  # etcd unreachable: the lease ends with its TTL
        pass
