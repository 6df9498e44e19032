"""Maintenance (compact, defragment, hash_kv, move_leader, alarm_disarm) and serializable reads, with both
clients against a real etcd; argument checks and request bytes without etcd."""

from __future__ import annotations

import time

import grpc
import pytest
from _clients import *
from _clients import connect

import etcdstream
from etcdstream import _cluster_ops, _kv_ops, _proto
from etcdstream._calls import Call
from etcdstream._endpoints import Endpoint
from etcdstream._retry import error_from_rpc

# --- without etcd ---


def _request(op, message_class):
    call = next(op)
    assert isinstance(call, Call)
    return call, message_class.FromString(call.request)


def test_requests_and_idempotency():
    call, request = _request(_cluster_ops.compact(7, physical=True), _proto.CompactionRequest)
    assert call.method == "/etcdserverpb.KV/Compact" and (request.revision, request.physical) == (7, True)
    assert call.idempotent
    call, request = _request(_cluster_ops.hash_kv(5), _proto.HashKVRequest)
    assert call.method.endswith("/HashKV") and request.revision == 5 and call.idempotent
    call, request = _request(_cluster_ops.move_leader(2**64 - 1), _proto.MoveLeaderRequest)
    assert call.method.endswith("/MoveLeader") and request.targetID == 2**64 - 1 and call.idempotent
    call = next(_cluster_ops.defragment(timeout=60))
    assert call.method.endswith("/Defragment") and call.timeout == 60 and not call.idempotent
    alarm = etcdstream.Alarm(2**63 + 9, "NOSPACE")  # member ids are uint64
    call, request = _request(_cluster_ops.alarm_disarm(alarm), _proto.AlarmRequest)
    assert (request.action, request.memberID, request.alarm) == (_proto.AlarmRequest.DEACTIVATE, 2**63 + 9,
                                                                 _proto.AlarmType.Value("NOSPACE"))
    assert call.idempotent


def test_alarm_disarm_of_every_alarm_lists_then_deactivates_each():
    op = _cluster_ops.alarm_disarm()
    listing = _proto.AlarmRequest.FromString(next(op).request)
    assert listing.action == _proto.AlarmRequest.GET
    raised = [_proto.AlarmMember(memberID=m, alarm=_proto.AlarmType.Value("NOSPACE")) for m in (1, 2)]
    call = op.send(_proto.AlarmResponse(alarms=raised).SerializeToString())
    disarmed = []
    for expected in raised:
        request = _proto.AlarmRequest.FromString(call.request)
        assert (request.action, request.memberID, request.alarm) == (_proto.AlarmRequest.DEACTIVATE,
                                                                     expected.memberID, expected.alarm)
        try:
            call = op.send(_proto.AlarmResponse(alarms=[expected]).SerializeToString())
        except StopIteration as done:
            disarmed = done.value
    assert disarmed == [etcdstream.Alarm(1, "NOSPACE"), etcdstream.Alarm(2, "NOSPACE")]


def test_serializable_reaches_every_range_request():
    assert _proto.RangeRequest.FromString(next(_kv_ops.get("k", serializable=True)).request).serializable
    assert not _proto.RangeRequest.FromString(next(_kv_ops.get("k")).request).serializable
    assert _proto.RangeRequest.FromString(next(_kv_ops.count("p/", serializable=True)).request).serializable
    op = _kv_ops.readdir("p/", page_size=1, serializable=True)
    first = _proto.RangeRequest.FromString(next(op).request)
    assert first.serializable and first.revision == 0
    kv = _proto.KeyValue(key=b"p/a", value=b"v", create_revision=3, mod_revision=3, version=1)
    page = _proto.RangeResponse(header=_proto.ResponseHeader(revision=8), kvs=[kv], more=True, count=2)
    second = _proto.RangeRequest.FromString(op.send(page.SerializeToString()).request)
    assert second.serializable and second.revision == 8 and second.key == b"p/a\0"


def test_not_leader_is_mapped():
    error = error_from_rpc(grpc.StatusCode.FAILED_PRECONDITION, "etcdserver: not leader", Endpoint("127.0.0.1", 2379))
    assert isinstance(error, etcdstream.NotLeader) and "status().leader" in str(error)


BAD_CALLS = [
    (lambda e: e.compact("1"), TypeError, "revision must be an int"),
    (lambda e: e.compact(True), TypeError, "revision must be an int"),
    (lambda e: e.compact(0), ValueError, "revision must be >= 1"),
    (lambda e: e.compact(5, timeout=0), ValueError, "timeout"),
    (lambda e: e.hash_kv(-1), ValueError, "revision must be >= 0"),
    (lambda e: e.hash_kv(1.5), TypeError, "revision must be an int"),
    (lambda e: e.defragment(timeout="long"), TypeError, "timeout"),
    (lambda e: e.move_leader(0), ValueError, "target_member_id must be a member id"),
    (lambda e: e.move_leader(2**64), ValueError, "target_member_id must be a member id"),
    (lambda e: e.move_leader("m1"), TypeError, "target_member_id must be an int"),
    (lambda e: e.alarm_disarm("NOSPACE"), TypeError, "alarm must be an Alarm"),
    (lambda e: e.alarm_disarm(etcdstream.Alarm(1, "NONE")), ValueError, "alarm.alarm must be one of"),
    (lambda e: e.alarm_disarm(etcdstream.Alarm(0, "NOSPACE")), ValueError, "alarm.member_id must be a member id"),
    (lambda e: e.get("k", serializable=True, timeout=-1), ValueError, "timeout"),
    (lambda e: e.status(endpoint=2379), TypeError, "endpoint must be a str"),
    (lambda e: e.hash_kv(endpoint="127.0.0.1:1,127.0.0.1:2"), ValueError, "endpoint names one member"),
]


@pytest.mark.parametrize("bad_call, error, message", BAD_CALLS)
def test_bad_arguments_raise_before_any_io(run, bad_call, error, message):
    assert_raises_before_any_io(run, bad_call, error, message)


# --- against etcd ---


def test_compact_then_an_older_revision_is_compacted(run, make_etcd_server, fresh_prefix):
    server = make_etcd_server()  # its own: compacting the shared server would cut other tests' history

    async def body(etcd):
        key = fresh_prefix + "k"
        first = (await etcd.put(key, "v1")).revision
        second = (await etcd.put(key, "v2")).revision
        assert (await etcd.get(key, revision=first)).value == b"v1"
        assert await etcd.compact(second) >= second
        with pytest.raises(etcdstream.CompactedError):
            await etcd.get(key, revision=first)
        assert (await etcd.get(key, revision=second)).value == b"v2"
        with pytest.raises(etcdstream.CompactedError):  # already compacted: what a retried compact sees
            await etcd.compact(second)
        third = (await etcd.put(key, "v3")).revision
        assert await etcd.compact(third, physical=True) >= third
        assert (await etcd.hash_kv()).compact_revision == third
        with pytest.raises(etcdstream.FutureRevisionError):
            await etcd.compact(third + 1000)

    run(body, server.endpoint)


def test_defragment_keeps_the_data(run, etcd_server, fresh_prefix):
    async def body(etcd):
        for i in range(20):
            await etcd.put(f"{fresh_prefix}{i:02d}", b"x" * 1000)
        before = await etcd.readdir(fresh_prefix)
        assert await etcd.defragment(timeout=60) is None
        after = await etcd.readdir(fresh_prefix)
        assert [(kv.key, kv.value, kv.mod_revision) for kv in after.kvs] == \
               [(kv.key, kv.value, kv.mod_revision) for kv in before.kvs]
        assert len(after.kvs) == 20
        await etcd.put(fresh_prefix + "later", "still writable")
        assert (await etcd.get(fresh_prefix + "later")).value == b"still writable"

    run(body, etcd_server.endpoint)


def test_maintenance_at_a_given_endpoint_uses_a_connection_of_its_own(run, etcd_server):
    async def body(etcd):
        # The client's own endpoint is dead: only the endpoint= calls can reach etcd.
        status = await etcd.status(endpoint=etcd_server.endpoint)
        assert status.member_id and status.leader == status.member_id
        assert await etcd.defragment(endpoint=etcd_server.endpoint, timeout=60) is None
        assert (await etcd.hash_kv(endpoint=etcd_server.endpoint)).member_id == status.member_id
        with pytest.raises(etcdstream.ConnectionFailed):
            await etcd.status()

    run(body, "127.0.0.1:1", timeout=5)


def test_serializable_reads_return_the_data(run, etcd_server, fresh_prefix):
    async def body(etcd):
        for i in range(5):
            await etcd.put(f"{fresh_prefix}{i}", f"v{i}")
        assert (await etcd.get(fresh_prefix + "3", serializable=True)).value == b"v3"
        assert await etcd.get(fresh_prefix + "missing", serializable=True) is None
        assert await etcd.count(fresh_prefix, serializable=True) == 5
        snapshot = await etcd.readdir(fresh_prefix, page_size=2, serializable=True)
        assert [kv.value for kv in snapshot.kvs] == [f"v{i}".encode() for i in range(5)]
        assert snapshot.revision == (await etcd.get(fresh_prefix + "4")).mod_revision

    run(body, etcd_server.endpoint)


def test_alarm_disarm_clears_a_nospace_alarm(run, make_etcd_server):
    server = make_etcd_server(extra_args=["--quota-backend-bytes=1"])  # the first write raises NOSPACE

    async def body(etcd):
        assert await etcd.alarm_disarm() == []  # nothing raised: nothing to do
        with pytest.raises(etcdstream.EtcdError, match="database space exceeded"):
            await etcd.put("/k", "v")
        [alarm] = await etcd.alarm_list()
        assert alarm.alarm == "NOSPACE"
        assert await etcd.alarm_disarm() == [alarm]
        assert await etcd.alarm_list() == []
        # The quota is still exceeded: the next write raises the alarm again; disarm that one alarm.
        with pytest.raises(etcdstream.EtcdError, match="database space exceeded"):
            await etcd.put("/k", "v")
        assert await etcd.alarm_list() == [alarm]
        assert await etcd.alarm_disarm(alarm) == [alarm]
        assert await etcd.alarm_list() == []
        assert await etcd.alarm_disarm(alarm) == []  # a repeat changes nothing (why a retry is safe)

    run(body, server.endpoint)


# --- against a 3-member cluster ---


async def _member_id(kind: str, endpoint: str) -> int:
    async with connect(kind, endpoint) as member:
        return (await member.status()).member_id


def test_hash_kv_is_equal_on_every_member(run, etcd_cluster, fresh_prefix):
    async def body(etcd):
        for i in range(10):
            await etcd.put(f"{fresh_prefix}{i}", f"v{i}")
        revision = (await etcd.put(fresh_prefix + "last", "v")).revision
        hashes = []
        for endpoint in etcd_cluster.endpoints:
            async with connect(etcd.kind, endpoint) as member:
                await member.get(fresh_prefix + "last")  # linearizable: this member applied `revision`
            hashes.append(await etcd.hash_kv(revision, endpoint=endpoint))
        assert len({h.hash for h in hashes}) == 1, hashes
        assert {h.revision for h in hashes} == {revision}
        assert len({h.member_id for h in hashes}) == 3
        statuses = [await etcd.status(endpoint=endpoint) for endpoint in etcd_cluster.endpoints]
        assert [s.member_id for s in statuses] == [h.member_id for h in hashes]
        assert len({s.leader for s in statuses}) == 1
        assert len({h.compact_revision for h in hashes}) == 1
        current = await etcd.hash_kv()
        assert current.revision >= revision

    run(body, etcd_cluster.endpoints)


def _wait_for_leader(cluster, member, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while (leader := cluster.leader(timeout=timeout)) is not member:
        assert time.monotonic() < deadline, f"{member.name} did not become leader; {leader.name} leads"
        time.sleep(0.1)
    return leader


def test_move_leader_hands_leadership_to_the_target(run, etcd_cluster):
    leader = etcd_cluster.leader()
    followers = [m for m in etcd_cluster.members if m is not leader]
    target = followers[0]

    async def body(etcd):
        target_id = await _member_id(etcd.kind, target.endpoint)
        async with connect(etcd.kind, followers[1].endpoint) as follower:
            with pytest.raises(etcdstream.NotLeader, match="not leader"):
                await follower.move_leader(target_id)
        await etcd.move_leader(target_id, timeout=30)
        _wait_for_leader(etcd_cluster, target)
        assert (await etcd.status()).leader == target_id
        # What a retry on the old leader would see once the first try moved the leadership.
        with pytest.raises(etcdstream.NotLeader):
            await etcd.move_leader(target_id)
        async with connect(etcd.kind, target.endpoint) as new_leader:
            await new_leader.move_leader(target_id)  # the target itself: already leading, returns at once
            with pytest.raises(etcdstream.EtcdError, match="bad leader transferee"):
                await new_leader.move_leader(0x7FFF_FFFF)

    run(body, leader.endpoint)
