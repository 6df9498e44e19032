"""python-etcd3's cluster and maintenance calls: members, status, compaction, defragmentation, hash, alarms,
snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .etcdrpc import (CompactionRequest, DefragmentRequest, HashRequest, MemberAddRequest, MemberListRequest,
                      MemberRemoveRequest, MemberUpdateRequest, SnapshotRequest, StatusRequest)
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
    """The cluster and maintenance calls of MultiEndpointEtcd3Client, through its clusterstub and
    maintenancestub as python-etcd3's."""

    _build_alarm_request = staticmethod(build_alarm_request)  # python-etcd3's name for it

    def _member(self, member: Any) -> Member:
        return Member(member.ID, member.name, list(member.peerURLs), list(member.clientURLs), etcd_client=self)

    @handle_errors
    def add_member(self, urls: list[str]) -> Member:
        """Add a member with these peer URLs; returns it."""
        response = self.clusterstub.MemberAdd(MemberAddRequest(peerURLs=urls), self.timeout,
                                              credentials=self.call_credentials, metadata=self.metadata)
        return self._member(response.member)

    @handle_errors
    def remove_member(self, member_id: int) -> None:
        self.clusterstub.MemberRemove(MemberRemoveRequest(ID=member_id), self.timeout,
                                      credentials=self.call_credentials, metadata=self.metadata)

    @handle_errors
    def update_member(self, member_id: int, peer_urls: list[str]) -> None:
        self.clusterstub.MemberUpdate(MemberUpdateRequest(ID=member_id, peerURLs=peer_urls), self.timeout,
                                      credentials=self.call_credentials, metadata=self.metadata)

    @property
    @handle_errors
    def members(self) -> Iterator[Member]:
        """Every member of the cluster."""
        response = self.clusterstub.MemberList(MemberListRequest(), self.timeout,
                                               credentials=self.call_credentials, metadata=self.metadata)
        return (self._member(member) for member in response.members)

    @handle_errors
    def status(self) -> Status:
        """The status of the member in use, its leader a Member."""
        response = self.maintenancestub.Status(StatusRequest(), self.timeout,
                                               credentials=self.call_credentials, metadata=self.metadata)
        leader = next((m for m in self.members if m.id == response.leader), None)
        return Status(response.version, response.dbSize, leader, response.raftIndex, response.raftTerm)

    @handle_errors
    def compact(self, revision: int, physical: bool = False) -> None:
        """Compact the history up to revision."""
        self.kvstub.Compact(CompactionRequest(revision=revision, physical=physical), self.timeout,
                            credentials=self.call_credentials, metadata=self.metadata)

    @handle_errors
    def defragment(self) -> None:
        """Defragment the backend of the member in use."""
        self.maintenancestub.Defragment(DefragmentRequest(), self.timeout,
                                        credentials=self.call_credentials, metadata=self.metadata)

    @handle_errors
    def hash(self) -> int:
        """The hash of the member in use's backend."""
        return self.maintenancestub.Hash(HashRequest(), self.timeout, credentials=self.call_credentials,
                                         metadata=self.metadata).hash

    def _alarms(self, action: str, member_id: int, alarm_type: str) -> list[Alarm]:
        response = self.maintenancestub.Alarm(build_alarm_request(action, member_id, alarm_type), self.timeout,
                                              credentials=self.call_credentials, metadata=self.metadata)
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
        """Write the backend of the member in use to file_obj, followed by etcd's checksum of it (the stream is
        checked against it: a grpc DATA_LOSS error if it does not match)."""
        for response in self.maintenancestub.Snapshot(SnapshotRequest(), self.timeout,
                                                      credentials=self.call_credentials, metadata=self.metadata):
            file_obj.write(response.blob)
