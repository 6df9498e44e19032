# The source of _session_sync.py: edit this file, then run `python tests/unasync.py` (tests/test_one_source.py checks).
"""A client's Session: a lease kept alive for as long as the session lasts (Go's concurrency.Session)."""

from __future__ import annotations

from typing import Protocol

from ._concurrency_async import AsyncFlag
from ._errors import EtcdError, LeaseNotFound
from ._results import Lease


class AsyncRevoker(Protocol):
    """What a session needs of its client."""

    async def revoke(self, lease: Lease | int, *, timeout: float | None = None) -> None:
        """Stop refreshing the lease and revoke it."""


class AsyncSession:
    """A lease the client keeps alive until close(), the base of locks and elections.

    `lease`: the Lease (attach keys to it: they live as long as the session).
    `done`: a flag set once the session ended, by close() or because the lease was lost (revoked,
    expired, or not refreshed for its TTL while etcd was unreachable); `lost` is then the error.
    `wait_done(timeout)` waits for that. Use it as a context manager: leaving it revokes the lease.
    """

    def __init__(self, client: AsyncRevoker, lease: Lease) -> None:
        self._client = client
        self.lease = lease
        self.done = AsyncFlag()
        self.lost: EtcdError | None = None

    def __repr__(self) -> str:
        state = "lost" if self.lost is not None else "done" if self.done.is_set() else "live"
        return f"<{type(self).__name__} lease {self.lease.id:x} ttl {self.lease.ttl} s {state}>"

    def _on_lost(self, lease: Lease, error: EtcdError) -> None:
        self.lost = error
        self.done.set()

    async def wait_done(self, timeout: float | None = None) -> bool:
        """Wait until the session ended (closed or its lease lost); False on timeout."""
        return await self.done.wait(timeout)

    async def close(self) -> None:
        """End the session: stop refreshing the lease and revoke it (its keys are deleted)."""
        if self.done.is_set() and self.lost is None:
            return
        self.done.set()
        try:
            await self._client.revoke(self.lease)
        except LeaseNotFound:
            pass  # lost already: nothing left to revoke

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
