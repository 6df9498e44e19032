"""Cluster membership (member_list, member_add, member_promote, member_update, member_remove): a cluster grown
from one etcd to three and shrunk back, with both clients; argument checks, requests, error mapping and the
retry policy of membership changes without etcd."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from _clients import *
from _testbase import EtcdServer, free_port

import etcdstream
from etcdstream import _cluster_ops, _proto
from etcdstream._calls import Call
from etcdstream._core import ClientCore
from etcdstream._endpoints import Endpoint
from etcdstream._retry import RetryPolicy, error_from_rpc

# --- without etcd ---


def _request(op, message_class):
    call = next(op)
    assert isinstance(call, Call)
    return call, message_class.FromString(call.request)


def test_requests_and_idempotency():
    call, request = _request(_cluster_ops.member_list(), _proto.MemberListRequest)
    assert call.method == "/etcdserverpb.Cluster/MemberList" and request.linearizable and call.idempotent
    call, request = _request(_cluster_ops.member_list(serializable=True), _proto.MemberListRequest)
    assert not request.linearizable
    # Every membership change is a write: never sent again once it may have reached etcd.
    call, request = _request(_cluster_ops.member_add(["http://10.0.0.1:2380", "https://h:2381"], learner=True),
                             _proto.MemberAddRequest)
    assert call.method.endswith("/MemberAdd") and not call.idempotent
    assert (list(request.peerURLs), request.isLearner) == (["http://10.0.0.1:2380", "https://h:2381"], True)
    call, request = _request(_cluster_ops.member_remove(2**64 - 1), _proto.MemberRemoveRequest)
    assert call.method.endswith("/MemberRemove") and request.ID == 2**64 - 1 and not call.idempotent
    call, request = _request(_cluster_ops.member_update(7, ("http://h:1",), timeout=3), _proto.MemberUpdateRequest)
    assert call.method.endswith("/MemberUpdate") and (request.ID, list(request.peerURLs)) == (7, ["http://h:1"])
    assert call.timeout == 3 and not call.idempotent
    call, request = _request(_cluster_ops.member_promote(9), _proto.MemberPromoteRequest)
    assert call.method.endswith("/MemberPromote") and request.ID == 9 and not call.idempotent


def test_member_add_decodes_the_new_member_and_every_member():
    op = _cluster_ops.member_add(["http://127.0.0.1:3"], learner=True)
    next(op)
    old = _proto.Member(ID=1, name="m0", peerURLs=["http://127.0.0.1:1", "http://127.0.0.1:2"],
                        clientURLs=["http://127.0.0.1:9"])
    new = _proto.Member(ID=2**63 + 5, peerURLs=["http://127.0.0.1:3"], isLearner=True)
    with pytest.raises(StopIteration) as done:
        op.send(_proto.MemberAddResponse(member=new, members=[old, new]).SerializeToString())
    added = done.value.value
    assert added.member == etcdstream.Member(2**63 + 5, "", ["http://127.0.0.1:3"], [], True)
    assert [m.id for m in added.members] == [1, 2**63 + 5]
    # As `etcdctl member add` prints it: every peer URL of every member, the new one under its name to be.
    assert added.initial_cluster("m1") == "m0=http://127.0.0.1:1,m0=http://127.0.0.1:2,m1=http://127.0.0.1:3"


BAD_CALLS = [
    (lambda e: e.member_add("http://127.0.0.1:2380"), TypeError, "peer_urls must be a list of URLs"),
    (lambda e: e.member_add([]), ValueError, "at least one URL"),
    (lambda e: e.member_add([b"http://127.0.0.1:2380"]), TypeError, "peer_urls must hold str URLs"),
    (lambda e: e.member_add(["127.0.0.1:2380"]), ValueError, "peer URL scheme must be"),
    (lambda e: e.member_add(["ftp://127.0.0.1:2380"]), ValueError, "peer URL scheme must be"),
    (lambda e: e.member_add(["http://127.0.0.1"]), ValueError, "host:port"),
    (lambda e: e.member_add(["http://127.0.0.1:port"]), ValueError, "host:port"),
    (lambda e: e.member_add(["http://127.0.0.1:2380/path"]), ValueError, "must not contain a path"),
    (lambda e: e.member_add(["http://127.0.0.1:2380"], timeout=0), ValueError, "timeout"),
    (lambda e: e.member_remove("m1"), TypeError, r"member_id must be an int \(a member id, see member_list\(\)\)"),
    (lambda e: e.member_remove(0), ValueError, "member_id must be a member id"),
    (lambda e: e.member_promote(2**64), ValueError, "member_id must be a member id"),
    (lambda e: e.member_promote(True), TypeError, "member_id must be an int"),
    (lambda e: e.member_update(1.0, ["http://h:1"]), TypeError, "member_id must be an int"),
    (lambda e: e.member_update(1, None), TypeError, "peer_urls must be a list of URLs"),
    (lambda e: e.member_list(timeout=-1), ValueError, "timeout"),
]


@pytest.mark.parametrize("bad_call, error, message", BAD_CALLS)
def test_bad_arguments_raise_before_any_io(run, bad_call, error, message):
    assert_raises_before_any_io(run, bad_call, error, message)


# etcd's answers to membership changes (rpctypes), each mapped to a message saying what to do.
MEMBERSHIP_ERRORS = [
    (grpc.StatusCode.NOT_FOUND, "etcdserver: member not found", "see member_list()"),
    (grpc.StatusCode.FAILED_PRECONDITION, "etcdserver: member ID already exist", "within the last second"),
    (grpc.StatusCode.FAILED_PRECONDITION, "etcdserver: Peer URLs already exists", "another member has that peer URL"),
    (grpc.StatusCode.INVALID_ARGUMENT, "etcdserver: given member URLs are invalid", "http://host:port"),
    (grpc.StatusCode.FAILED_PRECONDITION,
     "etcdserver: can only promote a learner member which is in sync with leader", "has not caught up"),
    (grpc.StatusCode.FAILED_PRECONDITION, "etcdserver: can only promote a learner member", "already votes"),
    (grpc.StatusCode.FAILED_PRECONDITION, "etcdserver: too many learner members in cluster",
     "promote or remove the learner"),
    (grpc.StatusCode.FAILED_PRECONDITION,
     "etcdserver: re-configuration failed due to not enough started members", "start the members already added"),
    (grpc.StatusCode.UNAVAILABLE, "etcdserver: unhealthy cluster", "connected to every voting member"),
]


@pytest.mark.parametrize(("code", "details", "advice"), MEMBERSHIP_ERRORS, ids=[d for _, d, _ in MEMBERSHIP_ERRORS])
def test_membership_errors_are_mapped_and_never_retried(code, details, advice):
    error = error_from_rpc(code, details, Endpoint("127.0.0.1", 2379))
    assert type(error) is etcdstream.EtcdError and error.details == details
    assert str(error).startswith(details + " (") and advice in str(error)
    core = ClientCore("127.0.0.1:2379,127.0.0.1:2380", username=None, password=None, ca_file=None,
                      cert_file=None, key_file=None, timeout=5, keepalive_time=10, keepalive_timeout=5)
    # "unhealthy cluster" is UNAVAILABLE, but etcd's verdict, not the connection's: no failover, no retry.
    with pytest.raises(etcdstream.EtcdError) as raised:
        RetryPolicy(core, next(_cluster_ops.member_remove(1))).decide(code, details)
    assert type(raised.value) is etcdstream.EtcdError


def test_a_membership_change_cut_off_is_never_sent_again():
    core = ClientCore("127.0.0.1:2379", username=None, password=None, ca_file=None, cert_file=None, key_file=None,
                      timeout=5, keepalive_time=10, keepalive_timeout=5)
    with pytest.raises(etcdstream.WriteConnectionLost):
        RetryPolicy(core, next(_cluster_ops.member_add(["http://h:1"]))).decide(grpc.StatusCode.UNAVAILABLE,
                                                                                 "Socket closed")
    with pytest.raises(etcdstream.WriteTimedOut):
        RetryPolicy(core, next(_cluster_ops.member_promote(1))).decide(grpc.StatusCode.UNAVAILABLE,
                                                                        "etcdserver: request timed out")


# --- against etcd ---


async def _until(what, attempt, refusals, timeout=20.0):
    """attempt() again while etcd refuses it with one of `refusals` (a detail fragment), for up to timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await attempt()
        except etcdstream.EtcdError as e:
            if not any(r in (e.details or "") for r in refusals) or time.monotonic() > deadline:
                raise AssertionError(f"{what}: still refused after {timeout:g} s") from e
        await asyncio.sleep(0.2)


async def _refusal(what, attempt, refusals, timeout=20.0):
    """The EtcdError attempt() raises once etcd stops refusing it with one of `refusals` (see _until)."""

    async def expect_error():
        try:
            await attempt()
        except etcdstream.EtcdError as e:
            if any(r in (e.details or "") for r in refusals):
                raise
            return e
        raise AssertionError(f"{what}: etcd accepted it")

    return await _until(what, expect_error, refusals, timeout)


async def _members_become(etcd, expected, timeout=10.0):
    """member_list() once it shows `expected`, {name: (peer URLs, is_learner)} (members that have not started
    have no name yet). On etcd 3.4, which has no linearizable member list, the member in use may apply a
    change a little after the member that proposed it."""
    deadline = time.monotonic() + timeout
    while True:
        members = await etcd.member_list()
        shown = {m.name: (m.peer_urls, m.is_learner) for m in members}
        if shown == expected or time.monotonic() > deadline:
            assert shown == expected
            return {m.name: m for m in members}
        await asyncio.sleep(0.1)


# The reconfiguration checks (--strict-reconfig-check, on by default) refuse a change that could cost the
# quorum while the member in use has not been connected to every voting member for 5 s: a change made just
# after a member (re)started waits for that.
_NOT_YET = ("unhealthy cluster",)
_LEARNER_BEHIND = ("in sync with leader",)


def test_grow_a_cluster_to_three_members_and_shrink_it_back(run, make_etcd_server):
    first = make_etcd_server(name="m0")
    joined: list[EtcdServer] = []

    async def start_joining(added, name, port):
        server = EtcdServer.joining(first, added.initial_cluster(name), name=name, peer_port=port)
        joined.append(server)
        await asyncio.to_thread(server.start)
        return server

    async def body(etcd):
        (m0,) = await etcd.member_list()
        assert (m0.name, m0.peer_urls, m0.is_learner) == ("m0", [first.peer_url], False)

        # A learner first: it catches up without counting for the quorum.
        port1 = free_port()
        url1 = f"http://127.0.0.1:{port1}"
        added = await etcd.member_add([url1], learner=True)
        assert isinstance(added, etcdstream.MemberAdded)
        assert (added.member.name, added.member.peer_urls, added.member.client_urls) == ("", [url1], [])
        assert added.member.is_learner and sorted(m.id for m in added.members) == sorted([m0.id, added.member.id])
        m1_id = added.member.id
        with pytest.raises(etcdstream.EtcdError, match="too many learner members"):
            await etcd.member_add([f"http://127.0.0.1:{free_port()}"], learner=True)
        # etcd makes a member's id from its peer URLs and the time in seconds: the same URLs again within a
        # second are refused for the id (what a repeated add would get), later for the URLs (below).
        with pytest.raises(etcdstream.EtcdError, match="member ID already exist|Peer URLs already exists"):
            await etcd.member_add([url1])
        added_at = time.monotonic()
        with pytest.raises(etcdstream.EtcdError, match="in sync with leader"):  # not even started
            await etcd.member_promote(m1_id)
        await _members_become(etcd, {"m0": ([first.peer_url], False), "": ([url1], True)})

        await start_joining(added, "m1", port1)
        promoted = await _until("promote m1", lambda: etcd.member_promote(m1_id), _LEARNER_BEHIND)
        assert {m.id: m.is_learner for m in promoted} == {m0.id: False, m1_id: False}

        await asyncio.sleep(added_at + 1.1 - time.monotonic())
        refused = await _refusal("add m1 again", lambda: etcd.member_add([url1]), _NOT_YET)
        assert "Peer URLs already exists" in str(refused)

        # Then a voting member at once.
        port2 = free_port()
        url2 = f"http://127.0.0.1:{port2}"
        added = await _until("add m2", lambda: etcd.member_add([url2]), _NOT_YET)
        assert not added.member.is_learner and len(added.members) == 3
        m2_id = added.member.id
        m2 = await start_joining(added, "m2", port2)
        members = await _members_become(etcd, {"m0": ([first.peer_url], False), "m1": ([url1], False),
                                               "m2": ([url2], False)})
        assert {name: m.client_urls for name, m in members.items()} == {
            "m0": [first.url], "m1": [joined[0].url], "m2": [m2.url]}
        assert {name: m.id for name, m in members.items()} == {"m0": m0.id, "m1": m1_id, "m2": m2_id}
        with pytest.raises(etcdstream.EtcdError, match="can only promote a learner member .*already votes"):
            await etcd.member_promote(m2_id)

        # m2 moves to another peer port: the cluster is told first, then m2 restarts listening there.
        port3 = free_port()
        url3 = f"http://127.0.0.1:{port3}"
        updated = await etcd.member_update(m2_id, [url3])
        assert {m.id: m.peer_urls for m in updated}[m2_id] == [url3]
        await asyncio.to_thread(m2.stop)
        m2.peer_port = port3
        await asyncio.to_thread(m2.start)
        await _members_become(etcd, {"m0": ([first.peer_url], False), "m1": ([url1], False), "m2": ([url3], False)})
        async with connect(etcd.kind, m2.endpoint) as at_m2:
            await at_m2.put("/members/at-m2", "v")  # m2 serves, and reaches the leader
            assert (await at_m2.status()).leader in {m0.id, m1_id, m2_id}

        with pytest.raises(etcdstream.EtcdError, match="member not found"):
            await etcd.member_remove(0x7FFF_FFFF)
        with pytest.raises(etcdstream.EtcdError, match="member not found"):
            await etcd.member_update(0x7FFF_FFFF, [f"http://127.0.0.1:{free_port()}"])
        with pytest.raises(etcdstream.EtcdError, match="member not found"):
            await etcd.member_promote(0x7FFF_FFFF)

        # Back down to one: a removed member stops itself.
        left = await _until("remove m2", lambda: etcd.member_remove(m2_id), _NOT_YET)
        assert sorted(m.name for m in left) == ["m0", "m1"]
        await _members_become(etcd, {"m0": ([first.peer_url], False), "m1": ([url1], False)})
        deadline = time.monotonic() + 10
        while m2.running:
            assert time.monotonic() < deadline, "m2 still runs 10 s after its removal"
            await asyncio.sleep(0.1)
        left = await _until("remove m1", lambda: etcd.member_remove(m1_id), _NOT_YET)
        assert [m.id for m in left] == [m0.id]
        await _members_become(etcd, {"m0": ([first.peer_url], False)})
        assert (await etcd.get("/members/at-m2")).value == b"v"
        assert await etcd.health()

    try:
        run(body, first.endpoint, timeout=15)
    finally:
        for server in joined:
            server.close()
