"""Maintenance and cluster operations (I/O-free generators of Calls, see _calls): status, members, health, version."""

from __future__ import annotations

import json

from . import _proto, codec
from ._calls import Call, Operation, check_timeout, parse_message, single_call
from ._errors import EtcdError, PermissionDenied
from ._kv_ops import RANGE_METHOD
from ._results import Alarm, Member, Status, Version

_STATUS = _proto.method_path("Maintenance", "Status")
_MEMBER_LIST = _proto.method_path("Cluster", "MemberList")
_ALARM = _proto.method_path("Maintenance", "Alarm")


def _status_from(raw: bytes) -> Status:
    resp = parse_message(_proto.StatusResponse, raw)
    return Status(
        version=resp.version,
        db_size=int(resp.dbSize),
        leader=int(resp.leader),
        member_id=int(resp.header.member_id),
        raft_index=int(resp.raftIndex),
        raft_term=int(resp.raftTerm),
        revision=int(resp.header.revision),
        errors=list(resp.errors),
        is_learner=bool(getattr(resp, "isLearner", False)),
    )


def status(*, timeout: float | None = None) -> Operation[Status]:
    """The status of the member in use."""
    call = Call(_STATUS, _proto.StatusRequest().SerializeToString(), check_timeout(timeout))
    return single_call(call, _status_from)


def alarm_list(*, timeout: float | None = None) -> Operation[list[Alarm]]:
    """Every alarm raised in the cluster."""
    request = _proto.AlarmRequest(action=_proto.AlarmRequest.GET).SerializeToString()

    def decode(raw: bytes) -> list[Alarm]:
        alarms = parse_message(_proto.AlarmResponse, raw).alarms
        return [Alarm(int(a.memberID), _proto.AlarmType.Name(a.alarm)) for a in alarms]

    return single_call(Call(_ALARM, request, check_timeout(timeout)), decode)


def members(*, timeout: float | None = None) -> Operation[list[Member]]:
    """Every member of the cluster."""
    call = Call(_MEMBER_LIST, _proto.MemberListRequest().SerializeToString(), check_timeout(timeout))

    def decode(raw: bytes) -> list[Member]:
        return [
            Member(int(m.ID), m.name, list(m.peerURLs), list(m.clientURLs), bool(m.isLearner))
            for m in parse_message(_proto.MemberListResponse, raw).members
        ]

    return single_call(call, decode)


def health(*, timeout: float | None = None) -> Operation[bool]:
    """True when the cluster serves a linearizable read (as `etcdctl endpoint health` checks).

    A denied read still proves a working leader and quorum, so PermissionDenied
    counts as healthy; drivers report other errors as False.
    """
    request = codec.encode_range_request(b"health")
    return single_call(Call(RANGE_METHOD, request, check_timeout(timeout)), lambda raw: True)


def parse_version(body: bytes) -> Version:
    """Version from the JSON etcd serves at GET /version: {"etcdserver": ..., "etcdcluster": ...}.

    gRPC reports only the member's server version; the cluster version (the
    lowest all members speak) is only on this HTTP endpoint, served on the
    same port as gRPC.
    """
    try:
        document = json.loads(body)
        return Version(str(document["etcdserver"]), str(document["etcdcluster"]))
    except (ValueError, KeyError, TypeError):
        raise EtcdError(f"etcd's /version answer is not the expected JSON: {body[:200]!r}") from None


def health_from_error(error: EtcdError) -> bool:
    """health(): a PermissionDenied answer comes from a working cluster; any other error means unhealthy."""
    return isinstance(error, PermissionDenied)
