"""python-etcd3's lease calls, and its locks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ... import _proto
from .exceptions import handle_errors
from .leases import Lease
from .locks import Lock


class LeaseMethods:
    """The lease and lock calls of MultiEndpointEtcd3Client (they send through its _call)."""

    @handle_errors
    def lease(self, ttl: int, lease_id: int | None = None) -> Lease:
        """A new lease of ttl seconds (not kept alive: refresh it)."""
        response = self._call("Lease", "LeaseGrant", _proto.LeaseGrantRequest(TTL=ttl, ID=lease_id or 0),
                              _proto.LeaseGrantResponse, idempotent=False)
        return Lease(lease_id=response.ID, ttl=response.TTL, etcd_client=self)

    @handle_errors
    def revoke_lease(self, lease_id: int) -> None:
        """Revoke a lease (its keys are deleted)."""
        self._call("Lease", "LeaseRevoke", _proto.LeaseRevokeRequest(ID=lease_id), _proto.LeaseRevokeResponse,
                   idempotent=False)

    @handle_errors
    def refresh_lease(self, lease_id: int) -> Iterator[Any]:
        """Refresh a lease once: yields its LeaseKeepAliveResponse (TTL 0 if it is gone)."""
        yield self._call("Lease", "LeaseKeepAlive", _proto.LeaseKeepAliveRequest(ID=lease_id),
                         _proto.LeaseKeepAliveResponse, stream=True)

    @handle_errors
    def get_lease_info(self, lease_id: int) -> Any:
        """The LeaseTimeToLiveResponse of a lease, with its keys."""
        return self._call("Lease", "LeaseTimeToLive", _proto.LeaseTimeToLiveRequest(ID=lease_id, keys=True),
                          _proto.LeaseTimeToLiveResponse)

    def lock(self, name: str, ttl: int = 60) -> Lock:
        """The lock `name` (key /locks/<name>, as python-etcd3's), not yet acquired."""
        return Lock(name, ttl=ttl, etcd_client=self)
