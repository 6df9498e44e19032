"""python-etcd3's Lease: an id and a TTL, with the client calls about it."""

from __future__ import annotations

from typing import Any


class Lease:
    """A lease: `id`, `ttl` (as granted); remaining_ttl, granted_ttl and keys ask etcd each time."""

    def __init__(self, lease_id: int, ttl: int, etcd_client: Any = None) -> None:
        self.id = lease_id
        self.ttl = ttl
        self.etcd_client = etcd_client

    def _get_lease_info(self) -> Any:
        return self.etcd_client.get_lease_info(self.id)

    def revoke(self) -> None:
        """Revoke this lease (its keys are deleted)."""
        self.etcd_client.revoke_lease(self.id)

    def refresh(self) -> list[Any]:
        """Refresh the lease's TTL once; returns the LeaseKeepAliveResponse in a list."""
        return list(self.etcd_client.refresh_lease(self.id))

    @property
    def remaining_ttl(self) -> int:
        return int(self._get_lease_info().TTL)

    @property
    def granted_ttl(self) -> int:
        return int(self._get_lease_info().grantedTTL)

    @property
    def keys(self) -> list[bytes]:
        return list(self._get_lease_info().keys)
