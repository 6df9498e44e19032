"""etcdstream.compat.etcd3 (issue 15) beyond python-etcd3's own suite (tests/python_etcd3/ runs that one):
locks shared with the real python-etcd3, python-etcd3's stubs and watcher internals as its users' tests patch
them (issue 25), and what the compat layer does better behind the same calls."""

from __future__ import annotations

import hashlib
import io
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import grpc
import pytest
from _testbase.children import child_env

import etcdstream
import etcdstream.compat.etcd3 as etcd3
from etcdstream.compat.etcd3 import etcdrpc
from etcdstream.compat.etcd3._channel import TransportChannel

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


# --- python-etcd3's stubs, as its users' tests patch them (issue 25) ---

class FakeRpcError(grpc.RpcError):
    """What python-etcd3 users' tests raise from a patched stub: a grpc error with a status code."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


def unreachable_client(**kwargs) -> etcd3.Etcd3Client:
    """A client whose own calls reach no etcd: what it answers comes from the stubs a test gives it."""
    return etcd3.client(host="127.0.0.1", port=1, timeout=1, **kwargs)


def test_a_stub_patched_on_the_class_is_called_as_python_etcd3_calls_it():
    with mock.patch.object(etcd3.Etcd3Client, "kvstub") as kvstub, unreachable_client() as etcd:
        for code, raised in [(grpc.StatusCode.UNAVAILABLE, etcd3.exceptions.ConnectionFailedError),
                             (grpc.StatusCode.DEADLINE_EXCEEDED, etcd3.exceptions.ConnectionTimeoutError),
                             (grpc.StatusCode.INTERNAL, etcd3.exceptions.InternalServerError),
                             (grpc.StatusCode.FAILED_PRECONDITION, etcd3.exceptions.PreconditionFailedError),
                             (grpc.StatusCode.DATA_LOSS, FakeRpcError)]:
            kvstub.Range.side_effect = FakeRpcError(code)
            with pytest.raises(raised):
                etcd.get("k")
        kvstub.Range.side_effect = None
        kvstub.Range.return_value = etcdrpc.RangeResponse(
            header=etcdrpc.ResponseHeader(revision=9), count=1,
            kvs=[etcdrpc.KeyValue(key=b"k", value=b"v", mod_revision=7, version=2)])
        value, meta = etcd.get("k", serializable=True)
        assert (value, meta.mod_revision, meta.version, meta.response_header.revision) == (b"v", 7, 2, 9)
        request, timeout = kvstub.Range.call_args.args
        assert (request.key, request.serializable, timeout) == (b"k", True, 1)
        assert kvstub.Range.call_args.kwargs == {"credentials": None, "metadata": None}
    assert not isinstance(etcd3.Etcd3Client.kvstub, mock.Mock)  # the patch ended


def test_stubs_set_on_a_client_or_patched_in_etcdrpc_are_the_clients():
    with unreachable_client() as etcd:
        etcd.leasestub = mock.Mock()
        etcd.leasestub.LeaseGrant.return_value = etcdrpc.LeaseGrantResponse(ID=42, TTL=5)
        lease = etcd.lease(5)
        assert (lease.id, lease.ttl) == (42, 5)
        etcd.maintenancestub = mock.Mock()
        etcd.maintenancestub.Snapshot.return_value = [etcdrpc.SnapshotResponse(blob=b"ab"),
                                                      etcdrpc.SnapshotResponse(blob=b"c")]
        written = io.BytesIO()
        etcd.snapshot(written)
        assert written.getvalue() == b"abc"
        etcd.clusterstub = mock.Mock()
        etcd.clusterstub.MemberList.side_effect = FakeRpcError(grpc.StatusCode.UNAVAILABLE)
        with pytest.raises(etcd3.exceptions.ConnectionFailedError):
            list(etcd.members)
    with mock.patch.object(etcdrpc, "KVStub") as stub_class, unreachable_client() as etcd:
        assert etcd.kvstub is stub_class.return_value
        assert isinstance(stub_class.call_args.args[0], TransportChannel)


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


class FakeSnapshotTransport:
    """A transport whose Snapshot stream is the blobs given."""

    def __init__(self, blobs: list[bytes]) -> None:
        self.blobs = blobs

    def read_stream(self, call):
        assert call.method == "/etcdserverpb.Maintenance/Snapshot"
        for blob in self.blobs:
            yield etcdrpc.SnapshotResponse(blob=blob).SerializeToString()


def test_a_snapshot_stream_is_checked_against_etcds_checksum():
    db = os.urandom(5000)
    good = db + hashlib.sha256(db).digest()
    bad = good[:-1] + bytes([good[-1] ^ 1])
    for blobs, matches in [([good[:100], good[100:4990], good[4990:]], True), ([bad], False)]:
        channel = TransportChannel(SimpleNamespace(_transport=FakeSnapshotTransport(blobs)))
        with unreachable_client() as etcd:
            etcd.maintenancestub = etcdrpc.MaintenanceStub(channel)
            written = io.BytesIO()
            if matches:
                etcd.snapshot(written)
                assert written.getvalue() == good
            else:
                with pytest.raises(grpc.RpcError) as raised:
                    etcd.snapshot(written)
                assert raised.value.code() == grpc.StatusCode.DATA_LOSS


# --- the watcher's stub, as python-etcd3's tests replace it ---

class FakeWatchStub:
    """A Watch stub a test answers: the requests its streams sent, and the responses the test puts (None ends
    the stream being read)."""

    def __init__(self) -> None:
        self.requests: queue.Queue = queue.Queue()
        self.responses: queue.Queue = queue.Queue()

    def Watch(self, requests, credentials=None, metadata=None):  # noqa: N802 (grpc's name)
        threading.Thread(target=lambda: [self.requests.put(r) for r in requests], daemon=True).start()
        return FakeWatchStream(self.responses)

    def answer(self, **fields) -> None:
        self.responses.put(etcdrpc.WatchResponse(**fields))

    def next_request(self):
        return self.requests.get(timeout=10)

    def answer_next_request(self, **fields) -> queue.Queue:
        """Answer the next request once it comes, which then comes out of the queue returned."""
        seen: queue.Queue = queue.Queue()

        def answer():
            seen.put(self.next_request())
            self.answer(**fields)
        threading.Thread(target=answer, daemon=True).start()
        return seen


class FakeWatchStream:
    def __init__(self, responses: queue.Queue) -> None:
        self.responses = responses

    def __iter__(self):
        return iter(self.responses.get, None)

    def cancel(self) -> None:
        self.responses.put(None)


def test_a_replaced_watch_stub_is_read_as_python_etcd3_reads_it():
    stub = FakeWatchStub()
    with unreachable_client() as etcd:
        etcd.watcher._watch_stub = stub
        got: queue.Queue = queue.Queue()
        create = stub.answer_next_request(watch_id=5, created=True)
        assert etcd.add_watch_callback("/k", got.put, prev_kv=True) == 5
        request = create.get(timeout=10).create_request
        assert (request.key, request.prev_kv) == (b"/k", True)
        stub.answer(watch_id=5, header=etcdrpc.ResponseHeader(revision=12), events=[
            etcdrpc.Event(type=etcdrpc.Event.PUT, kv=etcdrpc.KeyValue(key=b"/k", value=b"1", mod_revision=12))])
        response = got.get(timeout=10)
        assert response.header.revision == 12
        assert [(type(e).__name__, e.key, e.value) for e in response.events] == [("PutEvent", b"/k", b"1")]
        stub.answer(watch_id=5, canceled=True, compact_revision=11)
        compacted = got.get(timeout=10)
        assert isinstance(compacted, etcd3.exceptions.RevisionCompactedError) and compacted.compacted_revision == 11
        assert stub.next_request().cancel_request.watch_id == 5


def test_the_late_answer_of_an_abandoned_create_is_not_taken_for_the_next_watchs():
    # python-etcd3 took the first "created" it read for the watch waiting then: after a create timed out, the
    # next watch got the first one's id, and its callback the first one's key's events.
    stub = FakeWatchStub()
    with unreachable_client() as etcd:
        etcd.watcher._watch_stub = stub
        etcd.watcher.timeout = 0.3
        with pytest.raises(etcd3.exceptions.WatchTimedOut):
            etcd.add_watch_callback("/first", lambda response: None)
        assert stub.next_request().create_request.key == b"/first"
        etcd.watcher.timeout = 10
        second: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: second.put(etcd.add_watch_callback("/second", lambda r: None))).start()
        assert stub.next_request().create_request.key == b"/second"
        stub.answer(watch_id=1, created=True)  # the first create's answer, late
        stub.answer(watch_id=2, created=True)
        assert second.get(timeout=10) == 2
        assert stub.next_request().cancel_request.watch_id == 1  # nobody waits for it


def test_a_failed_watch_stream_tells_the_callbacks_and_another_is_opened():
    stub = FakeWatchStub()
    with unreachable_client() as etcd:
        etcd.watcher._watch_stub = stub
        stub.answer_next_request(watch_id=1, created=True)
        events, cancel = etcd.watch("/k")
        stub.responses.put(None)  # etcd ends the stream
        with pytest.raises(etcd3.exceptions.ConnectionFailedError):
            next(events)
        stub.answer_next_request(watch_id=1, created=True)
        assert etcd.add_watch_callback("/k", lambda response: None) == 1  # on a new stream


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


def test_calls_go_through_the_stubs_of_the_client_to_etcd(etcd, fresh_prefix):
    sent: list[str] = []

    class Recording:
        def __init__(self, stub):
            self.stub = stub

        def __getattr__(self, method):
            sent.append(method)
            return getattr(self.stub, method)

    etcd.kvstub, etcd.leasestub = Recording(etcd.kvstub), Recording(etcd.leasestub)
    etcd.watcher._watch_stub = Recording(etcd.watcher._watch_stub)
    events, cancel = etcd.watch(fresh_prefix + "k")
    lease = etcd.lease(30)
    etcd.put(fresh_prefix + "k", "v", lease=lease)
    assert etcd.get(fresh_prefix + "k")[0] == b"v"
    assert next(events).value == b"v"
    cancel()
    assert etcd.transaction([etcd.transactions.version(fresh_prefix + "k") == 1], [], [])[0]
    assert sent == ["Watch", "LeaseGrant", "Put", "Range", "Txn"]


def test_credentials_are_checked_by_the_constructor(etcd_auth, fresh_prefix):
    host, port = etcd_auth.endpoint.rsplit(":", 1)
    with pytest.raises(grpc.RpcError) as refused:  # python-etcd3 lets Authenticate's error through
        etcd3.client(host=host, port=int(port), user="root", password="wrong", timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with etcd3.client(host=host, port=int(port), user="root", password=etcd_auth.root_password, timeout=10) as etcd:
        assert etcd.call_credentials is not None
        assert etcd.metadata[0][0] == "token" and etcd.metadata[0][1] not in repr(etcd.metadata)
        etcd.put(fresh_prefix + "k", "v")
        assert etcd.get(fresh_prefix + "k")[0] == b"v"


def test_a_watch_etcd_refuses_raises_at_its_create(etcd_auth, fresh_prefix):
    host, port = etcd_auth.endpoint.rsplit(":", 1)
    with etcd3.client(host=host, port=int(port), user="reader", password=etcd_auth.reader_password,
                      timeout=10) as etcd:
        with pytest.raises(etcd3.exceptions.Etcd3Exception, match="permission denied"):
            etcd.add_watch_callback(fresh_prefix + "k", lambda response: None)


def test_a_slow_callback_gets_every_event_in_order(etcd, fresh_prefix):
    # More responses than the watch stream holds for its reader: the watch's thread waits for room.
    got: queue.Queue = queue.Queue()

    def slow(response):
        time.sleep(0.01)
        got.put(response)

    etcd.add_watch_prefix_callback(fresh_prefix, slow)
    for i in range(300):
        etcd.transaction([], [etcd.transactions.put(f"{fresh_prefix}{i:03d}.{j}", str(i)) for j in range(3)], [])
    keys = []
    while len(keys) < 900:
        response = got.get(timeout=30)
        assert not isinstance(response, Exception), response
        keys += [event.key.decode()[len(fresh_prefix):] for event in response.events]
    assert keys == [f"{i:03d}.{j}" for i in range(300) for j in range(3)]


def test_closing_the_client_ends_its_watch_threads(etcd_server, fresh_prefix):
    before = set(threading.enumerate())
    with compat_client(etcd_server.endpoint) as etcd:
        etcd.add_watch_prefix_callback(fresh_prefix, lambda response: None)
        etcd.watch(fresh_prefix + "k")
    deadline = time.monotonic() + 10
    while (left := [t.name for t in set(threading.enumerate()) - before if t.name.startswith("etcd3")]) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left


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
