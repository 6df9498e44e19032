"""Maintenance and cluster operations (I/O-free generators of Calls, see _calls): status, member_list and the
membership changes (member_add, member_remove, member_update, member_promote), health, version, alarms, compact,
defragment, hash_kv, move_leader."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from . import _proto, codec
from ._calls import Call, Operation, check_int, check_revision, check_timeout, parse_message, single_call
from ._errors import EtcdError, PermissionDenied
from ._kv_ops import RANGE_METHOD
from ._results import Alarm, HashKV, Member, MemberAdded, Status, Version

#: Status, without a timeout of its own (a watch stream asks it on the connection it opens on).
STATUS_CALL = Call(_proto.method_path("Maintenance", "Status"), _proto.StatusRequest().SerializeToString())
_MEMBER_LIST = _proto.method_path("Cluster", "MemberList")
_MEMBER_ADD = _proto.method_path("Cluster", "MemberAdd")
_MEMBER_REMOVE = _proto.method_path("Cluster", "MemberRemove")
_MEMBER_UPDATE = _proto.method_path("Cluster", "MemberUpdate")
_MEMBER_PROMOTE = _proto.method_path("Cluster", "MemberPromote")
_ALARM = _proto.method_path("Maintenance", "Alarm")
_ALARM_GET = _proto.AlarmRequest(action=_proto.AlarmRequest.GET).SerializeToString()
_COMPACT = _proto.method_path("KV", "Compact")
_DEFRAGMENT = _proto.method_path("Maintenance", "Defragment")
_HASH_KV = _proto.method_path("Maintenance", "HashKV")
_MOVE_LEADER = _proto.method_path("Maintenance", "MoveLeader")


def status_from(raw: bytes) -> Status:
    """A Status response's bytes, decoded."""
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
        cluster_id=int(resp.header.cluster_id),
    )


def status(*, timeout: float | None = None) -> Operation[Status]:
    """The status of the member in use."""
    return single_call(dataclasses.replace(STATUS_CALL, timeout=check_timeout(timeout)), status_from)


def alarm_list(*, timeout: float | None = None) -> Operation[list[Alarm]]:
    """Every alarm raised in the cluster."""
    return single_call(Call(_ALARM, _ALARM_GET, check_timeout(timeout)), _alarms_from)


def member_list(*, serializable: bool = False, timeout: float | None = None) -> Operation[list[Member]]:
    """Every member of the cluster (Cluster/MemberList).

    Linearizable unless serializable: etcd 3.5 first catches up with the leader, so a membership
    change made through another member shows (as etcd's Go client asks, since 3.5). etcd 3.4 has no
    such option and always answers from the member in use's own view, as serializable=True does.
    """
    request = _proto.MemberListRequest(linearizable=not serializable).SerializeToString()
    call = Call(_MEMBER_LIST, request, check_timeout(timeout))
    return single_call(call, lambda raw: _members_from(parse_message(_proto.MemberListResponse, raw).members))


def _member_from(m: Any) -> Member:
    """A Member from etcd's Member message."""
    return Member(int(m.ID), m.name, list(m.peerURLs), list(m.clientURLs), bool(m.isLearner))


def _members_from(members: Any) -> list[Member]:
    return [_member_from(m) for m in members]


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


# --- maintenance that changes a member or the cluster ---
#
# Idempotency (Call.idempotent: may the driver send it again when a try's outcome is unknown?):
# compact, move_leader and alarm_disarm leave etcd as one send does, whatever happened to the first
# send; defragment does not (see defragment). Etcd's Go client (client/v3/retry.go) marks
# MoveLeader and Alarm repeatable, and Compact and Defragment not.


def compact(revision: int, *, physical: bool = False, timeout: float | None = None) -> Operation[int]:
    """Drop the history before revision (KV/Compact); returns etcd's revision when it answered.

    Idempotent: a second Compact of the same revision changes nothing; etcd answers it with
    "required revision has been compacted", so a retry whose first try was applied raises
    CompactedError (as any compact of a revision already compacted does).
    """
    request = _proto.CompactionRequest(revision=check_revision(revision), physical=bool(physical))
    call = Call(_COMPACT, request.SerializeToString(), check_timeout(timeout))
    return single_call(call, lambda raw: int(parse_message(_proto.CompactionResponse, raw).header.revision))


def defragment(*, timeout: float | None = None) -> Operation[None]:
    """Defragment the backend of the member in use (Maintenance/Defragment).

    Not idempotent for the driver, though a second defragmentation is harmless in itself: the
    member blocks reads and writes while it defragments, and a retry after a lost connection
    goes to the next endpoint, which would block a second member while the first may still be
    at it (in a 3-member cluster, two blocked members stop the cluster). It raises instead.
    """
    call = Call(_DEFRAGMENT, _proto.DefragmentRequest().SerializeToString(), check_timeout(timeout),
                idempotent=False)
    return single_call(call, lambda raw: None)


def hash_kv(revision: int = 0, *, timeout: float | None = None) -> Operation[HashKV]:
    """The member in use's hash of its key-value history up to revision (0: its current one); a read."""
    asked = check_int("revision", revision, 0)
    call = Call(_HASH_KV, _proto.HashKVRequest(revision=asked).SerializeToString(), check_timeout(timeout))

    def decode(raw: bytes) -> HashKV:
        resp = parse_message(_proto.HashKVResponse, raw)
        # etcd puts its current revision in the header; the hash covers the revision asked for.
        return HashKV(int(resp.hash), int(resp.compact_revision), asked or int(resp.header.revision),
                      int(resp.header.member_id))

    return single_call(call, decode)


_UINT64_MAX = 2**64 - 1


def _member_id(name: str, value: object) -> int:
    """A member id (uint64: etcd's ids use the whole range, unlike revisions), checked."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int (a member id, see member_list()), got {type(value).__name__}")
    if not 1 <= value <= _UINT64_MAX:
        raise ValueError(f"{name} must be a member id between 1 and 2**64-1, got {value}")
    return value


def move_leader(target_member_id: int, *, timeout: float | None = None) -> Operation[None]:
    """Hand the leadership to target_member_id (Maintenance/MoveLeader); only the leader accepts it.

    Idempotent: every send asks for the same target, so a repeat can only move the leadership
    there (or find it there already: the target answers at once). A repeat reaching a member that
    is no longer leader, because the first try succeeded, raises NotLeader: see _retry's advice.
    """
    target = _member_id("target_member_id", target_member_id)
    call = Call(_MOVE_LEADER, _proto.MoveLeaderRequest(targetID=target).SerializeToString(), check_timeout(timeout))
    return single_call(call, lambda raw: None)


def _alarm_type(alarm: object) -> tuple[int, int]:
    """The member id and AlarmType number of an Alarm to disarm, checked."""
    if not isinstance(alarm, Alarm):
        raise TypeError(f"alarm must be an Alarm (as alarm_list() returns) or None, got {type(alarm).__name__}")
    member_id = _member_id("alarm.member_id", alarm.member_id)
    names = [name for name in _proto.AlarmType.keys() if name != "NONE"]
    if alarm.alarm not in names:
        raise ValueError(f"alarm.alarm must be one of {', '.join(map(repr, names))}, got {alarm.alarm!r}")
    return member_id, _proto.AlarmType.Value(alarm.alarm)


def _alarms_from(raw: bytes) -> list[Alarm]:
    alarms = parse_message(_proto.AlarmResponse, raw).alarms
    return [Alarm(int(a.memberID), _proto.AlarmType.Name(a.alarm)) for a in alarms]


def alarm_disarm(alarm: Alarm | None = None, *, timeout: float | None = None) -> Operation[list[Alarm]]:
    """Disarm alarm (None: every raised alarm, listed first, as etcdctl alarm disarm does); returns the
    alarms etcd reports disarmed.

    Idempotent: deactivating an alarm that is not raised changes nothing (etcd answers with no
    alarm), so a repeated send leaves the alarms as one does; its answer may then miss the alarm
    the first try disarmed.
    """
    wanted = None if alarm is None else _alarm_type(alarm)
    timeout = check_timeout(timeout)

    def deactivate(member_id: int, alarm_type: int) -> Call:
        request = _proto.AlarmRequest(action=_proto.AlarmRequest.DEACTIVATE, memberID=member_id, alarm=alarm_type)
        return Call(_ALARM, request.SerializeToString(), timeout)

    def run() -> Operation[list[Alarm]]:
        if wanted is not None:
            return _alarms_from((yield deactivate(*wanted)))
        listed = _alarms_from((yield Call(_ALARM, _ALARM_GET, timeout)))
        disarmed: list[Alarm] = []
        for raised in listed:
            disarmed += _alarms_from((yield deactivate(raised.member_id, _proto.AlarmType.Value(raised.alarm))))
        return disarmed

    return run()


# --- membership changes ---
#
# Writes: each is proposed to raft as a configuration change, so none is sent again once it may have
# reached etcd (Call.idempotent=False), as in etcd's Go client (client/v3/retry.go: only MemberList is
# repeatable). A repeat could fail misleadingly ("Peer URLs already exists" for an add the first try
# applied, "member not found" for a remove) or, for a learner add, add a second member.

_URL_SCHEMES = ("http", "https", "unix", "unixs")


def _peer_urls(value: object) -> list[str]:
    """A member's peer URLs, checked as etcd checks them (types.NewURLs): scheme, host:port, no path."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"peer_urls must be a list of URLs (str), got {type(value).__name__}")
    if not value:
        raise ValueError("peer_urls must name at least one URL, got an empty list")
    urls = []
    for url in value:
        if not isinstance(url, str):
            raise TypeError(f"peer_urls must hold str URLs, got {type(url).__name__}: {url!r}")
        parts = urlsplit(url)
        if parts.scheme not in _URL_SCHEMES:
            raise ValueError(f"peer URL scheme must be {', '.join(_URL_SCHEMES)}, got {url!r}")
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None:
            raise ValueError(f"peer URL must have the form scheme://host:port, got {url!r}")
        if parts.path or parts.query or parts.fragment:
            raise ValueError(f"peer URL must not contain a path, got {url!r}")
        urls.append(url)
    return urls


def member_add(peer_urls: Sequence[str], *, learner: bool = False,
               timeout: float | None = None) -> Operation[MemberAdded]:
    """Add a member that will talk to the cluster on peer_urls (Cluster/MemberAdd), a non-voting
    learner with learner=True; returns the new member (no name until it starts) and every member."""
    request = _proto.MemberAddRequest(peerURLs=_peer_urls(peer_urls), isLearner=bool(learner))
    call = Call(_MEMBER_ADD, request.SerializeToString(), check_timeout(timeout), idempotent=False)

    def decode(raw: bytes) -> MemberAdded:
        resp = parse_message(_proto.MemberAddResponse, raw)
        return MemberAdded(_member_from(resp.member), _members_from(resp.members))

    return single_call(call, decode)


def _members_after(response_class: Any) -> Callable[[bytes], list[Member]]:
    """A decoder of a membership change's answer: the members after the change."""
    return lambda raw: _members_from(parse_message(response_class, raw).members)


def member_remove(member_id: int, *, timeout: float | None = None) -> Operation[list[Member]]:
    """Remove a member (Cluster/MemberRemove); returns the members left."""
    request = _proto.MemberRemoveRequest(ID=_member_id("member_id", member_id))
    call = Call(_MEMBER_REMOVE, request.SerializeToString(), check_timeout(timeout), idempotent=False)
    return single_call(call, _members_after(_proto.MemberRemoveResponse))


def member_update(member_id: int, peer_urls: Sequence[str], *,
                  timeout: float | None = None) -> Operation[list[Member]]:
    """Replace a member's peer URLs (Cluster/MemberUpdate); returns every member after the change."""
    request = _proto.MemberUpdateRequest(ID=_member_id("member_id", member_id), peerURLs=_peer_urls(peer_urls))
    call = Call(_MEMBER_UPDATE, request.SerializeToString(), check_timeout(timeout), idempotent=False)
    return single_call(call, _members_after(_proto.MemberUpdateResponse))


def member_promote(member_id: int, *, timeout: float | None = None) -> Operation[list[Member]]:
    """Make a learner a voting member (Cluster/MemberPromote); returns every member after the change."""
    request = _proto.MemberPromoteRequest(ID=_member_id("member_id", member_id))
    call = Call(_MEMBER_PROMOTE, request.SerializeToString(), check_timeout(timeout), idempotent=False)
    return single_call(call, _members_after(_proto.MemberPromoteResponse))
