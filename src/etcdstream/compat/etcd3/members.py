"""python-etcd3's Member."""

from __future__ import annotations

from typing import Any


class Member:
    """A cluster member: `id`, `name`, `peer_urls`, `client_urls`."""

    def __init__(self, id: int, name: str, peer_urls: list[str], client_urls: list[str],
                 etcd_client: Any = None) -> None:
        self.id = id
        self.name = name
        self.peer_urls = peer_urls
        self.client_urls = client_urls
        self._etcd_client = etcd_client

    def __str__(self) -> str:
        return f"Member {self.id}: peer urls: {self.peer_urls}, client urls: {self.client_urls}"

    def remove(self) -> None:
        """Remove this member from the cluster."""
        self._etcd_client.remove_member(self.id)

    def update(self, peer_urls: list[str]) -> None:
        """Give this member new peer URLs."""
        self._etcd_client.update_member(self.id, peer_urls)

    @property
    def active_alarms(self) -> Any:
        """The alarms raised on this member."""
        return self._etcd_client.list_alarms(member_id=self.id)
