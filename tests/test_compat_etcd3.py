"""etcdstream.compat.etcd3 (issue 15) beyond python-etcd3's own suite (tests/python_etcd3/ runs that one):
locks shared with the real python-etcd3, and what the compat layer does better behind the same calls."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import grpc
import pytest
from _testbase.children import child_env

import etcdstream
import etcdstream.compat.etcd3 as etcd3
from etcdstream.compat.etcd3 import etcdrpc

#: What python-etcd3 0.12.0 runs with: protobuf 3.20 (the last release it imports with) and tenacity 6
#: (its lock waits with tenacity's old wait signature); tests/run installs them here.
PYTHON_ETCD3_RUNTIME = Path(sys.prefix) / "python-etcd3-runtime"


def compat_client(endpoint: str, **kwargs) -> etcd3.Etcd3Client:
    host, port = endpoint.rsplit(":", 1)
    return etcd3.client(host=host, port=int(port), timeout=10, **kwargs)


@pytest.fixture
def etcd(etcd_server):
    with compat_client(etcd_server.endpoint) as client:
        yield client


# --- without etcd ---

def test_etcdstream_errors_become_python_etcd3_exceptions():
    translate = etcd3.exceptions.translate
    assert isinstance(translate(etcdstream.ConnectionFailed("down")), etcd3.exceptions.ConnectionFailedError)
    assert isinstance(translate(etcdstream.Timeout("slow")), etcd3.exceptions.ConnectionTimeoutError)
    assert isinstance(translate(etcdstream.EtcdError("x", code="INTERNAL")), etcd3.exceptions.InternalServerError)
    assert isinstance(translate(etcdstream.EtcdError("x", code="FAILED_PRECONDITION")),
                      etcd3.exceptions.PreconditionFailedError)
    compacted = translate(etcdstream.CompactedError("gone", compact_revision=7))
    assert isinstance(compacted, etcd3.exceptions.RevisionCompactedError) and compacted.compacted_revision == 7
    other = translate(etcdstream.CompactedError("gone", code="OUT_OF_RANGE", details="compacted"))
    assert isinstance(other, grpc.RpcError) and other.code() == grpc.StatusCode.OUT_OF_RANGE
    assert other.details() == "compacted"


def test_compares_and_range_requests_are_python_etcd3s_messages():
    tx = etcd3.Transactions()
    compare = (tx.value("k", "l") == "v").build_message()
    assert (compare.key, compare.range_end, compare.value) == (b"k", b"l", b"v")
    assert (compare.result, compare.target) == (etcdrpc.Compare.EQUAL, etcdrpc.Compare.VALUE)
    assert (tx.lease("k") > 5).build_message().lease == 5
    with pytest.raises(ValueError):
        tx.version("k").build_message()  # no operator applied
    request = etcd3.Etcd3Client._build_get_range_request("/a", "/b", limit=3, sort_order="descend",
                                                         sort_target="mod")
    assert (request.limit, request.sort_order, request.sort_target) == (3, etcdrpc.RangeRequest.DESCEND,
                                                                        etcdrpc.RangeRequest.MOD)
    assert etcd3.utils.prefix_range_end(b"a\xff") == b"b" and etcd3.utils.increment_last_byte(b"foo") == b"fop"


def test_tls_arguments_are_checked_as_python_etcd3_does():
    with pytest.raises(ValueError, match="cert_cert and cert_key must both"):
        etcd3.client(ca_cert="ca.pem", cert_key="key.pem")
    with pytest.raises(ValueError, match="both user and password"):
        etcd3.client(user="root")
    with pytest.raises(ValueError, match="TLS settings as files"):
        etcd3.MultiEndpointEtcd3Client([etcd3.Endpoint("h", 1, secure=True, credentials=object())])


# --- python-etcd3's stubs (issue 25) ---

class RecordingChannel:
    """A channel whose methods are what the stub asked for: (kind, path)."""

    def __getattr__(self, kind):
        return lambda path, request_serializer=None, response_deserializer=None: (kind, path)


def test_etcdrpc_has_python_etcd3s_stubs():
    channel = RecordingChannel()
    kv, watch, lease, cluster, maintenance, auth = (
        etcdrpc.KVStub(channel), etcdrpc.WatchStub(channel), etcdrpc.LeaseStub(channel),
        etcdrpc.ClusterStub(channel), etcdrpc.MaintenanceStub(channel), etcdrpc.AuthStub(channel))
    assert kv.Range == ("unary_unary", "/etcdserverpb.KV/Range")
    assert watch.Watch == ("stream_stream", "/etcdserverpb.Watch/Watch")
    assert lease.LeaseKeepAlive == ("stream_stream", "/etcdserverpb.Lease/LeaseKeepAlive")
    assert maintenance.Snapshot == ("unary_stream", "/etcdserverpb.Maintenance/Snapshot")
    assert auth.Authenticate == ("unary_unary", "/etcdserverpb.Auth/Authenticate")
    # Every method python-etcd3 0.12's stubs have.
    assert {"Range", "Put", "DeleteRange", "Txn", "Compact"} <= vars(kv).keys()
    assert {"LeaseGrant", "LeaseRevoke", "LeaseKeepAlive", "LeaseTimeToLive", "LeaseLeases"} <= vars(lease).keys()
    assert {"MemberAdd", "MemberRemove", "MemberUpdate", "MemberList"} <= vars(cluster).keys()
    assert {"Alarm", "Status", "Defragment", "Hash", "HashKV", "Snapshot", "MoveLeader"} <= vars(maintenance).keys()
    assert {"AuthEnable", "AuthDisable", "UserAdd", "RoleGrantPermission"} <= vars(auth).keys()
    # On a grpc channel of one's own they are grpc's callables, as python-etcd3's are.
    with grpc.insecure_channel("127.0.0.1:1") as grpc_channel:
        assert isinstance(etcdrpc.KVStub(grpc_channel).Range, grpc.UnaryUnaryMultiCallable)


def test_transport_errors_become_the_grpc_errors_python_etcd3s_stubs_raise():
    rpc_error = etcd3.exceptions.rpc_error
    assert rpc_error(etcdstream.ConnectionFailed("down")).code() == grpc.StatusCode.UNAVAILABLE
    assert rpc_error(etcdstream.Timeout("slow")).code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert rpc_error(etcdstream.ClientClosed("closed")).code() == grpc.StatusCode.CANCELLED
    error = rpc_error(etcdstream.EtcdError("x", code="OUT_OF_RANGE", details="compacted"))
    assert isinstance(error, grpc.RpcError)
    assert (error.code(), error.details()) == (grpc.StatusCode.OUT_OF_RANGE, "compacted")


# --- against etcd ---

_REAL_PYTHON_ETCD3 = """
import sys, etcd3
host, port, name = sys.argv[1:4]
client = etcd3.client(host=host, port=int(port))
lock = client.lock(name, ttl=10)
for line in sys.stdin:
    command, *args = line.split()
    if command == "acquire":
        print(lock.acquire(timeout=float(args[0])), flush=True)
    elif command == "release":
        print(lock.release(), flush=True)
"""


def real_python_etcd3(endpoint: str, name: str) -> subprocess.Popen[str]:
    """python-etcd3 0.12.0 itself, under protobuf 3.20, taking lock `name` on command (acquire T, release)."""
    if not (PYTHON_ETCD3_RUNTIME / "tenacity").is_dir():
        pytest.fail(f"python-etcd3's runtime (protobuf 3.20.3, tenacity 6.1.0) is not in {PYTHON_ETCD3_RUNTIME}: "
                    "bash tests/run installs it")
    host, port = endpoint.rsplit(":", 1)
    env = child_env(PYTHONPATH=str(PYTHON_ETCD3_RUNTIME), PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python")
    return subprocess.Popen([sys.executable, "-c", _REAL_PYTHON_ETCD3, host, port, name], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)


def ask(proc: subprocess.Popen[str], command: str) -> str:
    proc.stdin.write(command + "\n")
    proc.stdin.flush()
    return proc.stdout.readline().strip()


def test_locks_exclude_python_etcd3s_and_are_excluded_by_them(etcd, etcd_server, fresh_prefix):
    name = fresh_prefix + "shared"
    theirs = real_python_etcd3(etcd_server.endpoint, name)
    try:
        assert ask(theirs, "acquire 10") == "True"
        ours = etcd.lock(name, ttl=10)
        assert ours.key == "/locks/" + name
        assert not ours.acquire(timeout=0.5)
        threading.Timer(0.5, ask, (theirs, "release")).start()
        assert ours.acquire(timeout=20)
        assert ask(theirs, "acquire 0.5") == "False"
        ours.release()
        assert ask(theirs, "acquire 20") == "True"
        assert not ours.is_acquired()
        assert ask(theirs, "release") == "True"
    finally:
        theirs.kill()
        theirs.wait()


def test_a_waiter_sees_a_release_made_before_its_watch_began(etcd, fresh_prefix):
    # python-etcd3 issue 1107: the waiter watched from "now", after its failed attempt, and missed a release
    # in between. Here the holder releases right after the waiter's failed attempt, before its watch begins
    # (its transaction() is wrapped: the lock goes through the client's public methods): the wait must see it.
    holder, waiter = etcd.lock(fresh_prefix + "l", ttl=30), etcd.lock(fresh_prefix + "l", ttl=30)
    assert holder.acquire()
    transaction = etcd.transaction

    def then_release(*args, **kwargs):
        succeeded, responses = transaction(*args, **kwargs)
        if not succeeded and holder.is_acquired():
            holder.release()
        return succeeded, responses

    with mock.patch.object(etcd, "transaction", side_effect=then_release):
        started = time.monotonic()
        assert waiter.acquire(timeout=30)
    assert time.monotonic() - started < 20, "the wait missed the release and ran into its timeout"
    waiter.release()


def test_a_lock_goes_through_the_clients_public_methods(etcd, etcd_server, fresh_prefix):
    calls: list[tuple[str, object]] = []

    def recorded(name):
        method = getattr(etcd, name)

        def call(*args, **kwargs):
            result = method(*args, **kwargs)
            calls.append((name, result))
            return result
        return call

    other = compat_client(etcd_server.endpoint)
    holder = other.lock(fresh_prefix + "l", ttl=30)
    assert holder.acquire()
    threading.Timer(0.5, lambda: (holder.release(), other.close())).start()
    with mock.patch.multiple(etcd, **{name: recorded(name) for name in ("lease", "transaction", "watch", "get")}):
        lock = etcd.lock(fresh_prefix + "l", ttl=30)
        assert lock.acquire(timeout=20)
        assert lock.is_acquired()
        assert lock.release()
    names = [name for name, _ in calls]
    assert names == ["lease", "transaction", "watch", "lease", "transaction", "get", "transaction"], names
    failed_lease = calls[0][1]
    assert etcd.get_lease_info(failed_lease.id).TTL == -1, "the lease of the failed attempt was not revoked"


def test_watches_go_on_across_an_etcd_restart(etcd, etcd_server, fresh_prefix):
    responses: queue.Queue = queue.Queue()
    watch_id = etcd.add_watch_prefix_callback(fresh_prefix, responses.put)
    try:
        etcd.put(fresh_prefix + "a", "1")
        etcd_server.stop()
        etcd_server.start()
        etcd.put(fresh_prefix + "b", "2")
        seen = []
        while len(seen) < 2:
            response = responses.get(timeout=30)
            assert not isinstance(response, Exception), response
            seen += [(type(e).__name__, e.key, e.value) for e in response.events]
        assert seen == [("PutEvent", (fresh_prefix + "a").encode(), b"1"), ("PutEvent", (fresh_prefix + "b").encode(), b"2")]
    finally:
        etcd.cancel_watch(watch_id)


def test_get_prefix_reads_past_grpcs_4_mib_default(etcd, fresh_prefix):
    value = os.urandom(512 * 1024)
    for i in range(12):  # 6 MiB
        etcd.put(f"{fresh_prefix}{i:02d}", value)
    assert [v for v, _ in etcd.get_prefix(fresh_prefix)] == [value] * 12


def test_several_endpoints_fail_over(etcd_cluster, fresh_prefix):
    endpoints = [etcd3.Endpoint(*endpoint.rsplit(":", 1)) for endpoint in etcd_cluster.endpoints]
    with etcd3.MultiEndpointEtcd3Client(endpoints, timeout=10, failover=True) as etcd:
        etcd.put(fresh_prefix + "k", "v")
        in_use = etcd.endpoint_in_use.netloc
        next(m for m in etcd_cluster.members if m.endpoint == in_use).kill()
        assert etcd.get(fresh_prefix + "k")[0] == b"v"
        assert etcd.endpoint_in_use.netloc != in_use
