"""python-etcd3's cluster and maintenance calls: members, status, compaction, defragmentation, hash, alarms,
snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ... import _proto
from ._requests import build_alarm_request
from .exceptions import handle_errors
from .members import Member


class Status:
    def __init__(self, version: str, db_size: int, leader: Member | None, raft_index: int,
                 raft_term: int) -> None:
        self.version = version
        self.db_size = db_size
        self.leader = leader
        self.raft_index = raft_index
        self.raft_term = raft_term


class Alarm:
    def __init__(self, alarm_type: int, member_id: int) -> None:
        self.alarm_type = alarm_type
        self.member_id = member_id


class MaintenanceMethods:
    """The cluster and maintenance calls of MultiEndpointEtcd3Client (they send through its _call)."""

    _build_alarm_request = staticmethod(build_alarm_request)  # python-etcd3's name for it

    def _member(self, member: Any) -> Member:
        return Member(member.ID, member.name, list(member.peerURLs), list(member.clientURLs), etcd_client=self)

    @handle_errors
    def add_member(self, urls: list[str]) -> Member:
        """Add a member with these peer URLs; returns it."""
        response = self._call("Cluster", "MemberAdd", _proto.MemberAddRequest(peerURLs=urls),
                              _proto.MemberAddResponse, idempotent=False)
        return self._member(response.member)

    @handle_errors
    def remove_member(self, member_id: int) -> None:
        self._call("Cluster", "MemberRemove", _proto.MemberRemoveRequest(ID=member_id),
                   _proto.MemberRemoveResponse, idempotent=False)

    @handle_errors
    def update_member(self, member_id: int, peer_urls: list[str]) -> None:
        self._call("Cluster", "MemberUpdate", _proto.MemberUpdateRequest(ID=member_id, peerURLs=peer_urls),
                   _proto.MemberUpdateResponse, idempotent=False)

    @property
    @handle_errors
    def members(self) -> Iterator[Member]:
        """Every member of the cluster."""
        response = self._call("Cluster", "MemberList", _proto.MemberListRequest(), _proto.MemberListResponse)
        return (self._member(member) for member in response.members)

    @handle_errors
    def status(self) -> Status:
        """The status of the member in use, its leader a Member."""
        response = self._call("Maintenance", "Status", _proto.StatusRequest(), _proto.StatusResponse)
        leader = next((m for m in self.members if m.id == response.leader), None)
        return Status(response.version, response.dbSize, leader, response.raftIndex, response.raftTerm)

    @handle_errors
    def compact(self, revision: int, physical: bool = False) -> None:
        """Compact the history up to revision."""
        self._call("KV", "Compact", _proto.CompactionRequest(revision=revision, physical=physical),
                   _proto.CompactionResponse, idempotent=False)

    @handle_errors
    def defragment(self) -> None:
        """Defragment the backend of the member in use."""
        self._call("Maintenance", "Defragment", _proto.DefragmentRequest(), _proto.DefragmentResponse,
                   idempotent=False)

    @handle_errors
    def hash(self) -> int:
        """The hash of the member in use's backend."""
        return int(self._call("Maintenance", "Hash", _proto.HashRequest(), _proto.HashResponse).hash)

    def _alarms(self, action: str, member_id: int, alarm_type: str) -> list[Alarm]:
        response = self._call("Maintenance", "Alarm", build_alarm_request(action, member_id, alarm_type),
                              _proto.AlarmResponse, idempotent=action == "get")
        return [Alarm(alarm.alarm, alarm.memberID) for alarm in response.alarms]

    @handle_errors
    def create_alarm(self, member_id: int = 0) -> list[Alarm]:
        """Raise a NOSPACE alarm on a member (0: every member)."""
        return self._alarms("activate", member_id, "no space")

    @handle_errors
    def list_alarms(self, member_id: int = 0, alarm_type: str = "none") -> Iterator[Alarm]:
        """The alarms raised."""
        yield from self._alarms("get", member_id, alarm_type)

    @handle_errors
    def disarm_alarm(self, member_id: int = 0) -> list[Alarm]:
        """Clear the NOSPACE alarm of a member (0: every member)."""
        return self._alarms("deactivate", member_id, "no space")

    @handle_errors
    def snapshot(self, file_obj: Any) -> None:
        """Write the backend of the member in use to file_obj (checked against etcd's checksum)."""
        self._client.snapshot(file_obj, timeout=self.timeout)
