"""python-etcd3's lease calls, and its locks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .etcdrpc import LeaseGrantRequest, LeaseKeepAliveRequest, LeaseRevokeRequest, LeaseTimeToLiveRequest
from .exceptions import handle_errors
from .leases import Lease
from .locks import Lock


class LeaseMethods:
    """The lease and lock calls of MultiEndpointEtcd3Client, through its leasestub as python-etcd3's."""

    @handle_errors
    def lease(self, ttl: int, lease_id: int | None = None) -> Lease:
        """A new lease of ttl seconds (not kept alive: refresh it)."""
        response = self.leasestub.LeaseGrant(LeaseGrantRequest(TTL=ttl, ID=lease_id or 0), self.timeout,
                                             credentials=self.call_credentials, metadata=self.metadata)
        return Lease(lease_id=response.ID, ttl=response.TTL, etcd_client=self)

    @handle_errors
    def revoke_lease(self, lease_id: int) -> None:
        """Revoke a lease (its keys are deleted)."""
        self.leasestub.LeaseRevoke(LeaseRevokeRequest(ID=lease_id), self.timeout,
                                   credentials=self.call_credentials, metadata=self.metadata)

    @handle_errors
    def refresh_lease(self, lease_id: int) -> Iterator[Any]:
        """Refresh a lease once: yields its LeaseKeepAliveResponse (TTL 0 if it is gone)."""
        yield from self.leasestub.LeaseKeepAlive(iter([LeaseKeepAliveRequest(ID=lease_id)]), self.timeout,
                                                 credentials=self.call_credentials, metadata=self.metadata)

    @handle_errors
    def get_lease_info(self, lease_id: int) -> Any:
        """The LeaseTimeToLiveResponse of a lease, with its keys."""
        return self.leasestub.LeaseTimeToLive(LeaseTimeToLiveRequest(ID=lease_id, keys=True), self.timeout,
                                              credentials=self.call_credentials, metadata=self.metadata)

    def lock(self, name: str, ttl: int = 60) -> Lock:
        """The lock `name` (key /locks/<name>, as python-etcd3's), not yet acquired."""
        return Lock(name, ttl=ttl, etcd_client=self)
