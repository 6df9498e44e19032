"""The clients' shared, I/O-free logic: operations, error mapping and retry policy.

Each operation is a generator that yields `Call`s (a gRPC method path and the
request bytes) and is sent back each call's raw response bytes; its return
value is the operation's result. Client drives these generators with grpcio's
blocking API, AsyncClient with grpc.aio: only that I/O differs.

    op = ops.get(b"k")        # validates arguments now, before any I/O
    call = next(op)           # Call(method="/etcdserverpb.KV/Range", ...)
    op.send(response_bytes)   # raises StopIteration(value=KeyValue | None)

`ClientCore` holds what both clients share besides operations: endpoints,
credentials, channel options, the auth token, and `RetryPolicy`, which
decides after a failed call whether to re-authenticate, fail over to the next
endpoint, wait and retry, or raise.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import grpc

from . import _proto, codec
from ._endpoints import Endpoint, parse_endpoints
from ._errors import (
    AuthFailed,
    CompactedError,
    ConflictError,
    ConnectionFailed,
    EtcdError,
    FutureRevisionError,
    KeyExistsError,
    LeaseNotFound,
    NoLeader,
    OutcomeUnknown,
    PermissionDenied,
    RequestTooLarge,
    RevisionWentBackwards,
    Timeout,
    WriteConnectionLost,
    WriteTimedOut,
)
from ._keys import Key, prefix_range, to_bytes
from ._results import (
    Deleted,
    Lease,
    LeaseInfo,
    Member,
    PutResult,
    Snapshot,
    Status,
    TxnResult,
    Version,
)
from ._txn import Compare, Delete, Get, Put
from .codec import KeyValue

T = TypeVar("T")

#: Seconds a call may take unless its `timeout` says otherwise.
DEFAULT_TIMEOUT = 10.0

#: readdir's default page size. etcd 3.5 counts the whole rest of the range for
#: every page (NOTES.md: 100,000 keys take 0.95 s in pages of 1,000, 0.22 s in
#: pages of 20,000, 0.19 s in one Range), so pages must be large; 20,000 keys of
#: ~190 B are ~4 MB per response, which bounds the client's peak memory per page.
DEFAULT_PAGE_SIZE = 20_000

_INT64_MAX = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class Call:
    """One gRPC call an operation needs.

    stream: the method is a bidi stream (LeaseKeepAlive): send one request, read one response.
    authenticated: send the auth token (False only for Authenticate itself).
    idempotent: sending it twice leaves etcd as sending it once (reads), so it may be
    retried after errors that leave unknown whether etcd applied it. Writes are not:
    a put applied twice gets two revisions and version + 2, a delete reports 0 keys.
    """

    method: str
    # Not in repr(): Authenticate's request holds the password (tracebacks with locals show Calls).
    request: bytes = field(repr=False)
    timeout: float | None = None
    stream: bool = False
    authenticated: bool = True
    idempotent: bool = True


#: An operation: yields Calls, is sent each response's bytes, returns a T.
Operation = Generator[Call, bytes, T]

_RANGE = _proto.method_path("KV", "Range")
_PUT = _proto.method_path("KV", "Put")
_DELETE_RANGE = _proto.method_path("KV", "DeleteRange")
_TXN = _proto.method_path("KV", "Txn")
_LEASE_GRANT = _proto.method_path("Lease", "LeaseGrant")
_LEASE_REVOKE = _proto.method_path("Lease", "LeaseRevoke")
_LEASE_KEEPALIVE = _proto.method_path("Lease", "LeaseKeepAlive")
_LEASE_TTL = _proto.method_path("Lease", "LeaseTimeToLive")
_LEASE_LEASES = _proto.method_path("Lease", "LeaseLeases")
_AUTHENTICATE = _proto.method_path("Auth", "Authenticate")
_STATUS = _proto.method_path("Maintenance", "Status")
_MEMBER_LIST = _proto.method_path("Cluster", "MemberList")


# --- argument checks (all run before any I/O) ---


def check_timeout(timeout: float | None) -> float | None:
    """Return timeout if None or a positive number of seconds, else raise."""
    if timeout is None:
        return None
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
        raise TypeError(f"timeout must be a number of seconds, got {type(timeout).__name__}")
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    return float(timeout)


def _check_int(name: str, value: object, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not minimum <= value <= _INT64_MAX:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_ttl(ttl: object) -> int:
    """Return a lease TTL in whole seconds (>= 1), else raise TypeError/ValueError."""
    return _check_int("ttl", ttl, 1)


def lease_id(lease: Lease | int) -> int:
    """The id of a Lease, or an int id itself (checked)."""
    if isinstance(lease, Lease):
        return lease.id
    return _check_int("lease", lease, 1)


def _revision(revision: int | None) -> int:
    return 0 if revision is None else _check_int("revision", revision, 1)


# --- response helpers ---


def _key_value(kv: Any) -> KeyValue:
    """A codec KeyValue from a protobuf mvccpb.KeyValue (cold paths only)."""
    return KeyValue(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)


def _single(call: Call, decode: Any) -> Operation[Any]:
    raw = yield call
    return decode(raw)


def _parse(message_class: Any, raw: bytes) -> Any:
    return message_class.FromString(raw)


# --- KV operations ---


def get(key: Key, *, revision: int | None = None, timeout: float | None = None) -> Operation[KeyValue | None]:
    """The key's KeyValue, or None if absent (Range hot path: codec, no protobuf objects)."""
    request = codec.encode_range_request(to_bytes("key", key, allow_empty=False), revision=_revision(revision))

    def decode(raw: bytes) -> KeyValue | None:
        kvs = codec.decode_range_response(raw).kvs
        return kvs[0] if kvs else None

    return _single(Call(_RANGE, request, check_timeout(timeout)), decode)


def count(prefix: Key, *, timeout: float | None = None) -> Operation[int]:
    """How many keys start with prefix (an empty prefix counts every key)."""
    start, end = prefix_range(to_bytes("prefix", prefix))
    request = codec.encode_range_request(start, end, count_only=True)
    call = Call(_RANGE, request, check_timeout(timeout))
    return _single(call, lambda raw: codec.decode_range_response(raw).count)


def _put_request(key: bytes, value: bytes, lease: int, prev_kv: bool) -> bytes:
    return _proto.PutRequest(key=key, value=value, lease=lease, prev_kv=prev_kv).SerializeToString()


def _grant_call(ttl: int, timeout: float | None) -> Call:
    # A second grant would leave a second lease behind (until its ttl runs out).
    return Call(_LEASE_GRANT, _proto.LeaseGrantRequest(TTL=ttl).SerializeToString(), timeout, idempotent=False)


def _lease_for_write(lease: Lease | int | None, ttl: int | None) -> tuple[int, int | None]:
    if lease is not None and ttl is not None:
        raise ValueError("pass lease or ttl, not both (ttl grants a new lease)")
    return (0 if lease is None else lease_id(lease)), (None if ttl is None else check_ttl(ttl))


def _granted_lease(raw: bytes) -> int:
    resp = _parse(_proto.LeaseGrantResponse, raw)
    if resp.error:
        raise EtcdError(f"etcd did not grant the lease: {resp.error}")
    return int(resp.ID)


def put(
    key: Key,
    value: Key,
    *,
    lease: Lease | int | None = None,
    ttl: int | None = None,
    prev_kv: bool = False,
    timeout: float | None = None,
) -> Operation[PutResult]:
    """Write key=value; ttl grants a new lease first (and attaches the key to it)."""
    key_bytes = to_bytes("key", key, allow_empty=False)
    value_bytes = to_bytes("value", value)
    lease_number, ttl = _lease_for_write(lease, ttl)
    timeout = check_timeout(timeout)

    def run() -> Operation[PutResult]:
        nonlocal lease_number
        if ttl is not None:
            lease_number = _granted_lease((yield _grant_call(ttl, timeout)))
        raw = yield Call(_PUT, _put_request(key_bytes, value_bytes, lease_number, bool(prev_kv)), timeout,
                         idempotent=False)
        resp = _parse(_proto.PutResponse, raw)
        previous = _key_value(resp.prev_kv) if resp.HasField("prev_kv") else None
        return PutResult(resp.header.revision, previous)

    return run()


def delete(key: Key, *, prefix: bool = False, prev_kv: bool = False, timeout: float | None = None) -> Operation[Deleted]:
    """Delete key (or every key under it with prefix=True); returns how many were deleted."""
    op = Delete(key, prefix=prefix, prev_kv=prev_kv)
    request = _proto.DeleteRangeRequest(key=op.key, range_end=op.range_end, prev_kv=op.prev_kv).SerializeToString()

    def decode(raw: bytes) -> Deleted:
        resp = _parse(_proto.DeleteRangeResponse, raw)
        return Deleted(resp.deleted, [_key_value(kv) for kv in resp.prev_kvs])

    return _single(Call(_DELETE_RANGE, request, check_timeout(timeout), idempotent=False), decode)


_COMPARE_RESULTS = {"==": 0, ">": 1, "<": 2, "!=": 3}
_COMPARE_TARGETS = {"version": 0, "create_revision": 1, "mod_revision": 2, "value": 3, "lease": 4}


def _compare_message(compare: Compare) -> Any:
    message = _proto.Compare(
        key=compare.key, result=_COMPARE_RESULTS[compare.op], target=_COMPARE_TARGETS[compare.target]
    )
    setattr(message, compare.target, compare.value)
    return message


def _request_op(op: Get | Put | Delete) -> Any:
    if isinstance(op, Get):
        return _proto.RequestOp(request_range=_proto.RangeRequest(key=op.key, range_end=op.range_end, keys_only=op.keys_only))
    if isinstance(op, Put):
        return _proto.RequestOp(request_put=_proto.PutRequest(key=op.key, value=op.value, lease=op.lease, prev_kv=op.prev_kv))
    if isinstance(op, Delete):
        return _proto.RequestOp(
            request_delete_range=_proto.DeleteRangeRequest(key=op.key, range_end=op.range_end, prev_kv=op.prev_kv)
        )
    raise TypeError(f"txn operations must be Get, Put or Delete, got {type(op).__name__}")


def _response_value(response: Any) -> object:
    kind = response.WhichOneof("response")
    if kind == "response_range":
        return [_key_value(kv) for kv in response.response_range.kvs]
    if kind == "response_put":
        put_resp = response.response_put
        return _key_value(put_resp.prev_kv) if put_resp.HasField("prev_kv") else None
    if kind == "response_delete_range":
        deleted = response.response_delete_range
        return Deleted(deleted.deleted, [_key_value(kv) for kv in deleted.prev_kvs])
    return None


def _txn_call(compare: Iterable[Compare], success: Iterable[Get | Put | Delete],
              failure: Iterable[Get | Put | Delete], timeout: float | None) -> Call:
    compares = list(compare)
    for c in compares:
        if not isinstance(c, Compare):
            raise TypeError(f"txn comparisons must be Compare objects, got {type(c).__name__}")
    request = _proto.TxnRequest(
        compare=[_compare_message(c) for c in compares],
        success=[_request_op(op) for op in success],
        failure=[_request_op(op) for op in failure],
    )
    # Not idempotent: a retried create or compare-and-swap would see its own first write.
    return Call(_TXN, request.SerializeToString(), timeout, idempotent=False)


def _txn_result(raw: bytes) -> TxnResult:
    resp = _parse(_proto.TxnResponse, raw)
    return TxnResult(resp.succeeded, resp.header.revision, [_response_value(r) for r in resp.responses])


def txn(
    compare: Iterable[Compare],
    success: Iterable[Get | Put | Delete] = (),
    failure: Iterable[Get | Put | Delete] = (),
    *,
    timeout: float | None = None,
) -> Operation[TxnResult]:
    """If every comparison holds, run success, else failure: atomically, at one revision."""
    return _single(_txn_call(compare, success, failure, check_timeout(timeout)), _txn_result)


def create(key: Key, value: Key, *, ttl: int | None = None, lease: Lease | int | None = None,
           timeout: float | None = None) -> Operation[int]:
    """Write key=value only if key is absent (KeyExistsError otherwise); returns the new revision."""
    key_bytes = to_bytes("key", key, allow_empty=False)
    value_bytes = to_bytes("value", value)
    lease_number, ttl = _lease_for_write(lease, ttl)
    timeout = check_timeout(timeout)

    def run() -> Operation[int]:
        nonlocal lease_number
        if ttl is not None:
            lease_number = _granted_lease((yield _grant_call(ttl, timeout)))
        call = _txn_call([Compare(key_bytes, "create_revision", "==", 0)],
                         [Put(key_bytes, value_bytes, lease=lease_number)], [], timeout)
        result = _txn_result((yield call))
        if not result.succeeded:
            raise KeyExistsError(key_bytes)
        return result.revision

    return run()


def compare_and_put(key: Key, value: Key, mod_revision: int, *, lease: Lease | int | None = None,
                    timeout: float | None = None) -> Operation[int]:
    """Write key=value only if its mod_revision is still mod_revision (0: only if absent); ConflictError otherwise."""
    key_bytes = to_bytes("key", key, allow_empty=False)
    expected = _check_int("mod_revision", mod_revision, 0)
    put_op = Put(key_bytes, value, lease=0 if lease is None else lease_id(lease))
    call = _txn_call([Compare(key_bytes, "mod_revision", "==", expected)], [put_op], [Get(key_bytes)],
                     check_timeout(timeout))
    return _single(call, lambda raw: _swap_result(raw, key_bytes, expected))


def compare_and_delete(key: Key, mod_revision: int, *, timeout: float | None = None) -> Operation[int]:
    """Delete key only if its mod_revision is still mod_revision; ConflictError otherwise. Returns the revision."""
    key_bytes = to_bytes("key", key, allow_empty=False)
    expected = _check_int("mod_revision", mod_revision, 1)
    call = _txn_call([Compare(key_bytes, "mod_revision", "==", expected)], [Delete(key_bytes)], [Get(key_bytes)],
                     check_timeout(timeout))
    return _single(call, lambda raw: _swap_result(raw, key_bytes, expected))


def _swap_result(raw: bytes, key: bytes, expected: int) -> int:
    result = _txn_result(raw)
    if not result.succeeded:
        current = result.responses[0]
        raise ConflictError(key, expected, current[0] if current else None)  # type: ignore[index]
    return result.revision


#: Digits of a push() id: enough for any int64 revision, so ids sort as strings.
_PUSH_ID_DIGITS = 20


def push(directory: Key, value: Key, *, ttl: int | None = None, timeout: float | None = None) -> Operation[bytes]:
    """Store value under directory + a new unique id, increasing with every push; returns the key.

    The id is the etcd revision after the current one, zero-padded: revisions
    only grow, so ids do too; a txn creates the key only if absent, and
    another writer taking the id first makes the loop pick a newer one.
    """
    directory_bytes = to_bytes("directory", directory, allow_empty=False)
    value_bytes = to_bytes("value", value)
    _, ttl = _lease_for_write(None, ttl)
    timeout = check_timeout(timeout)
    if not directory_bytes.endswith(b"/"):
        directory_bytes += b"/"

    def run() -> Operation[bytes]:
        lease_number = 0
        if ttl is not None:
            lease_number = _granted_lease((yield _grant_call(ttl, timeout)))
        # The header of a count-only Range is the cheapest way to learn the current revision.
        raw = yield Call(_RANGE, codec.encode_range_request(directory_bytes, count_only=True), timeout)
        revision = codec.decode_range_response(raw).revision
        while True:
            key = directory_bytes + b"%0*d" % (_PUSH_ID_DIGITS, revision + 1)
            call = _txn_call([Compare(key, "create_revision", "==", 0)], [Put(key, value_bytes, lease=lease_number)],
                             [], timeout)
            result = _txn_result((yield call))
            if result.succeeded:
                return key
            revision = result.revision

    return run()


def readdir(
    prefix: Key,
    *,
    revision: int | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    keys_only: bool = False,
    timeout: float | None = None,
) -> Operation[Snapshot]:
    """Every key under prefix at one revision, paged (see DEFAULT_PAGE_SIZE); timeout is per page."""
    start, end = prefix_range(to_bytes("prefix", prefix))
    pinned = _revision(revision)
    page_size = _check_int("page_size", page_size, 1)
    timeout = check_timeout(timeout)
    keys_only = bool(keys_only)

    def run() -> Operation[Snapshot]:
        nonlocal start, pinned
        kvs: list[KeyValue] = []
        first = None
        while True:
            request = codec.encode_range_request(start, end, limit=page_size, revision=pinned, keys_only=keys_only)
            page = codec.decode_range_response((yield Call(_RANGE, request, timeout)))
            if first is None:
                first = page
                if not pinned:
                    # Later pages read at the first page's revision: a consistent snapshot while writers run.
                    pinned = page.revision
            elif page.cluster_id != first.cluster_id:
                raise RevisionWentBackwards(
                    f"the cluster behind the endpoints changed while reading {prefix!r} (cluster id "
                    f"{first.cluster_id:x} -> {page.cluster_id:x}): read it again"
                )
            page_kvs = page.kvs
            if kvs:
                kvs.extend(page_kvs)
            else:
                kvs = page_kvs
            if not page.more or not page_kvs:
                return Snapshot(pinned, kvs, first.cluster_id, first.member_id)
            start = page_kvs[-1].key + b"\0"  # the smallest key after the last one

    return run()


# --- leases ---


def grant(ttl: int, *, timeout: float | None = None) -> Operation[Lease]:
    """A new lease of ttl seconds."""
    call = _grant_call(check_ttl(ttl), check_timeout(timeout))

    def decode(raw: bytes) -> Lease:
        resp = _parse(_proto.LeaseGrantResponse, raw)
        if resp.error:
            raise EtcdError(f"etcd did not grant the lease: {resp.error}")
        return Lease(int(resp.ID), int(resp.TTL))

    return _single(call, decode)


def revoke(lease: Lease | int, *, timeout: float | None = None) -> Operation[None]:
    """Revoke a lease (its keys are deleted)."""
    request = _proto.LeaseRevokeRequest(ID=lease_id(lease)).SerializeToString()
    return _single(Call(_LEASE_REVOKE, request, check_timeout(timeout)), lambda raw: None)


def keep_alive_once(lease: Lease | int, *, timeout: float | None = None) -> Operation[int]:
    """Refresh a lease once; returns its new TTL. LeaseNotFound if it expired or was revoked."""
    number = lease_id(lease)
    request = _proto.LeaseKeepAliveRequest(ID=number).SerializeToString()

    def decode(raw: bytes) -> int:
        ttl = int(_parse(_proto.LeaseKeepAliveResponse, raw).TTL)
        if ttl <= 0:
            raise LeaseNotFound(f"lease {number:x} expired or was revoked (grant a new one)")
        return ttl

    return _single(Call(_LEASE_KEEPALIVE, request, check_timeout(timeout), stream=True), decode)


def time_to_live(lease: Lease | int, *, keys: bool = False, timeout: float | None = None) -> Operation[LeaseInfo]:
    """A lease's remaining TTL (-1 once expired), granted TTL, and its keys if keys=True."""
    request = _proto.LeaseTimeToLiveRequest(ID=lease_id(lease), keys=bool(keys)).SerializeToString()

    def decode(raw: bytes) -> LeaseInfo:
        resp = _parse(_proto.LeaseTimeToLiveResponse, raw)
        return LeaseInfo(int(resp.ID), int(resp.TTL), int(resp.grantedTTL), list(resp.keys))

    return _single(Call(_LEASE_TTL, request, check_timeout(timeout)), decode)


def leases(*, timeout: float | None = None) -> Operation[list[int]]:
    """The ids of every live lease."""
    request = _proto.LeaseLeasesRequest().SerializeToString()
    decode = lambda raw: [int(lease.ID) for lease in _parse(_proto.LeaseLeasesResponse, raw).leases]
    return _single(Call(_LEASE_LEASES, request, check_timeout(timeout)), decode)


# --- maintenance ---


def _status_from(raw: bytes) -> Status:
    resp = _parse(_proto.StatusResponse, raw)
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
    return _single(call, _status_from)


def members(*, timeout: float | None = None) -> Operation[list[Member]]:
    """Every member of the cluster."""
    call = Call(_MEMBER_LIST, _proto.MemberListRequest().SerializeToString(), check_timeout(timeout))

    def decode(raw: bytes) -> list[Member]:
        return [
            Member(int(m.ID), m.name, list(m.peerURLs), list(m.clientURLs), bool(m.isLearner))
            for m in _parse(_proto.MemberListResponse, raw).members
        ]

    return _single(call, decode)


def health(*, timeout: float | None = None) -> Operation[bool]:
    """True when the cluster serves a linearizable read (as `etcdctl endpoint health` checks).

    A denied read still proves a working leader and quorum, so PermissionDenied
    counts as healthy; drivers report other errors as False.
    """
    request = codec.encode_range_request(b"health")
    return _single(Call(_RANGE, request, check_timeout(timeout)), lambda raw: True)


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


# --- errors ---

# etcd's error strings (server/etcdserver/api/v3rpc/rpctypes) that tell more than the gRPC code.
_ERRORS_BY_DETAILS: tuple[tuple[str, type[EtcdError], str], ...] = (
    ("required revision has been compacted", CompactedError, "read at a newer revision, or re-read everything"),
    ("required revision is a future revision", FutureRevisionError, "ask for a revision etcd has reached"),
    ("invalid auth token", AuthFailed, "check the user's password; etcd may have restarted or the token expired"),
    ("authentication failed", AuthFailed, "check the username and password"),
    ("user name is empty", AuthFailed, "pass username= and password="),
    ("authentication is not enabled", AuthFailed, "enable auth in etcd, or connect without username/password"),
    ("auth store is old", AuthFailed, "retry; the user's roles changed"),
    ("revision in header is old", AuthFailed, "retry; the user's roles changed"),
    ("permission denied", PermissionDenied, "grant the user a role covering this key, or use another user"),
    ("user name not found", AuthFailed, "check the username"),
    ("no leader", NoLeader, "check that a majority of etcd members is up"),
    ("leader changed", NoLeader, "retry; a new leader was just elected"),
    ("requested lease not found", LeaseNotFound, "the lease expired or was revoked; grant a new one"),
    ("request is too large", RequestTooLarge, "split the request, or raise etcd's --max-request-bytes"),
    # etcd answers so when the call's deadline passes while it works on it.
    ("context deadline exceeded", Timeout, "raise timeout=, or check etcd's load and the network"),
    ("request timed out", Timeout, "etcd could not commit in time; check its disk and its members, then retry"),
)

# etcd refuses the request with these before proposing it to raft (v3rpc/interceptor.go, and
# v3_server.go's checks ahead of Propose): nothing was applied, another try may work, even of a write.
REFUSED_DETAILS = ("no leader", "leader changed", "too many requests", "not capable")
# etcd answers these after it proposed the request (v3_server.go, processInternalRaftRequestOnce):
# a write may have been applied, or may still be when a later leader commits the proposal. Like etcd's
# Go client (isSafeRetryMutableRPC), only reads are tried again.
IN_DOUBT_DETAILS = ("server stopped", "request timed out", "request cancelled")
# grpc's words for "the request never reached etcd" (vs. a connection lost mid-call).
_NOT_CONNECTED_DETAILS = ("failed to connect", "connection refused", "dns resolution failed",
                          "all backends failing", "handshake")
# What a call cut by another call's failover (which closes the channel) is reported as.
_CONNECTION_REPLACED = "the connection was replaced by a failover during the call"
# Errors an expired or stale token causes: authenticate again and retry once.
REAUTH_DETAILS = ("invalid auth token", "auth store is old", "revision in header is old")


def error_from_rpc(code: grpc.StatusCode | None, details: str | None, endpoint: Endpoint, *,
                   timeout: float | None = None, tls_unconfirmed: bool = False) -> EtcdError:
    """Map a failed gRPC call (its status code and etcd's details string) to an EtcdError.

    tls_unconfirmed: nothing has answered over TLS on this connection yet, so a timeout
    may be a TLS handshake that never ends (a plaintext server behind an https:// URL).
    """
    details = details or ""
    code_name = code.name if code is not None else None
    for fragment, error_class, advice in _ERRORS_BY_DETAILS:
        if fragment in details:
            return error_class(f"{details} ({advice})", code=code_name, details=details)
    if code == grpc.StatusCode.UNAVAILABLE:
        hint = "is etcd running? check --endpoints"
        lowered = details.lower()
        # TSI_*: grpc's TLS layer (etcd 3.4 refusing a client certificate after a TLS 1.3 handshake
        # shows only as "Unwrap failed (TSI_DATA_CORRUPTED)").
        if any(word in lowered for word in ("ssl", "handshake", "certificate", "tsi_")):
            hint = "TLS failed: check ca_file, cert_file/key_file and that the endpoint serves https"
        return ConnectionFailed(f"could not reach etcd at {endpoint}: {details} ({hint})",
                                code=code_name, details=details)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        took = f" within {timeout:g} s" if timeout else ""
        hint = "raise timeout=, or check etcd's load and the network"
        if tls_unconfirmed:
            hint = f"no answer since connecting: if it does not serve https, the TLS handshake never completes; {hint}"
        return Timeout(f"etcd at {endpoint} did not answer{took} ({hint})", code=code_name, details=details)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return PermissionDenied(f"{details} (use a user with the right role)", code=code_name, details=details)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return AuthFailed(f"{details} (check username and password)", code=code_name, details=details)
    return EtcdError(f"etcd at {endpoint} failed: {code_name}: {details} (see that member's log)", code=code_name, details=details)


_IN_DOUBT_ADVICE = ("etcd may have applied the write, or may still apply it: reading the key now does not tell; "
                    "send it again only in a form that cannot apply twice (create(), compare_and_put(), "
                    "a txn on the version), see 'Writes that fail' in the README")


def outcome_unknown(error: EtcdError) -> OutcomeUnknown:
    """The error a write raises when it may have reached etcd: error's class, marked OutcomeUnknown."""
    if isinstance(error, Timeout):
        error_class: type[OutcomeUnknown] = WriteTimedOut
    elif isinstance(error, ConnectionFailed) or error.code == grpc.StatusCode.UNAVAILABLE.name:
        error_class = WriteConnectionLost
    else:
        error_class = OutcomeUnknown
    # Without the mapped error's advice when it is etcd's details plus "(... then retry)".
    message = error.details if error.details and str(error).startswith(f"{error.details} (") else str(error)
    return error_class(f"{message}; {_IN_DOUBT_ADVICE}", code=error.code, details=error.details)


class Step(Enum):
    """What a driver does after a failed call."""

    REAUTHENTICATE = "reauthenticate"  # forget the token, authenticate, retry
    FAILOVER = "failover"  # move to the next endpoint, retry
    RETRY = "retry"  # wait `delay` seconds, then retry


@dataclass(frozen=True, slots=True)
class Decision:
    """A RetryPolicy's verdict: the step to take and how long to wait first."""

    step: Step
    delay: float = 0.0
    #: raise this after the step (failover for the next call, but this one may have been applied)
    error: EtcdError | None = None


class RetryPolicy:
    """The retry decisions for one call (and its retries), as etcd's Go client makes them.

    - a rejected token: authenticate again and retry, once;
    - UNAVAILABLE from the connection: fail over to the next endpoint, trying
      each endpoint once; when none takes the connection (or, for reads, when it
      keeps breaking), keep trying them, with a growing pause, until the call's timeout;
    - etcd refusing the request before proposing it (no leader, too many
      requests), or, for reads, any transient answer ("request timed out",
      "server stopped"): wait a little and retry, on the next endpoint if there
      are several, until the call's timeout.
    A write (put, delete, txn, lease grant) that may have reached raft is never sent again:
    a lost connection fails over but raises, and so does an answer etcd gives after proposing
    it, as an OutcomeUnknown. Anything else raises the mapped EtcdError.
    """

    def __init__(self, core: ClientCore, call: Call) -> None:
        self.core = core
        self.timeout = call.timeout or core.timeout
        self.idempotent = call.idempotent
        self.deadline = time.monotonic() + self.timeout
        self.reauthenticated = False
        self.failovers = 0
        self.transient_retries = 0

    def decide(self, code: grpc.StatusCode | None, details: str | None, *, answered: bool = True,
               replaced: bool = False) -> Decision:
        """Return the next step after a failure, or raise the EtcdError the caller sees.

        answered: whether any call has succeeded on the connection the call used.
        replaced: another call's failover has replaced that connection since (closing it
        cancels the calls still on it).
        """
        details = details or ""
        if replaced and code is grpc.StatusCode.CANCELLED:
            if self.idempotent and time.monotonic() < self.deadline:
                return Decision(Step.RETRY)  # on the connection that replaced it
            code, details = grpc.StatusCode.UNAVAILABLE, _CONNECTION_REPLACED
        error = error_from_rpc(code, details, self.core.endpoint, timeout=self.timeout,
                               tls_unconfirmed=self.core.tls and not answered)
        if any(d in details for d in REAUTH_DETAILS) and self.core.has_credentials and not self.reauthenticated:
            self.reauthenticated = True
            return Decision(Step.REAUTHENTICATE)
        several = len(self.core.endpoints) > 1
        refused = any(d in details for d in REFUSED_DETAILS)
        in_doubt = any(d in details for d in IN_DOUBT_DETAILS)
        if refused or (in_doubt and self.idempotent):
            delay = min(0.05 * 2**self.transient_retries, 0.5)
            if time.monotonic() + delay < self.deadline:
                self.transient_retries += 1
                return Decision(Step.FAILOVER if several else Step.RETRY, delay)
            raise error
        never_sent = isinstance(error, ConnectionFailed) and any(d in details.lower() for d in _NOT_CONNECTED_DETAILS)
        if in_doubt or (not (self.idempotent or never_sent) and isinstance(error, (ConnectionFailed, Timeout))):
            error = outcome_unknown(error)
        if isinstance(error, ConnectionFailed):
            if self.failovers < len(self.core.endpoints) - 1:
                self.failovers += 1
                return Decision(Step.FAILOVER, error=error if isinstance(error, OutcomeUnknown) else None)
            if never_sent or self.idempotent:
                # No endpoint took the connection (etcd restarting?), or it broke under a read: like
                # etcd's Go client, which waits for a ready connection, keep trying until the call's timeout.
                delay = min(0.05 * 2**self.transient_retries, 0.5)
                if time.monotonic() + delay < self.deadline:
                    self.transient_retries += 1
                    return Decision(Step.FAILOVER if several else Step.RETRY, delay)
        raise error

    def remaining(self) -> float:
        """Seconds left of the call's timeout (at least a little, so a retry can still run)."""
        return max(self.deadline - time.monotonic(), 0.001)


# --- the state both clients share ---


def _read_file(name: str, path: str | Path | None) -> bytes | None:
    if path is None:
        return None
    if not isinstance(path, (str, Path)):
        raise TypeError(f"{name} must be a file path, got {type(path).__name__}")
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ValueError(f"{name}: cannot read {path}: {e.strerror}") from None


class _TokenMetadata(tuple):
    """gRPC metadata carrying the auth token; its repr() hides the token (tracebacks with locals show it)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "(('token', '<hidden>'),)"


class ClientCore:
    """Configuration and connection state shared by Client and AsyncClient (no I/O beyond reading PEM files)."""

    def __init__(
        self,
        endpoints: str | Sequence[str],
        *,
        username: str | None,
        password: str | None,
        ca_file: str | Path | None,
        cert_file: str | Path | None,
        key_file: str | Path | None,
        timeout: float,
        keepalive_time: float,
        keepalive_timeout: float,
    ) -> None:
        self.endpoints = parse_endpoints(endpoints)
        self.timeout = check_timeout(timeout) or DEFAULT_TIMEOUT
        self.keepalive_time = check_timeout(keepalive_time) or 10.0
        self.keepalive_timeout = check_timeout(keepalive_timeout) or 5.0
        if (username is None) != (password is None):
            raise ValueError("pass both username and password, or neither")
        if username is not None and (not isinstance(username, str) or not isinstance(password, str)):
            raise TypeError("username and password must be str")
        if username == "":
            raise ValueError("username must not be empty")
        self.username = username
        self.password = password
        if (cert_file is None) != (key_file is None):
            raise ValueError("pass both cert_file and key_file (the client certificate and its key), or neither")
        self.ca_file, self.cert_file, self.key_file = ca_file, cert_file, key_file
        self.root_certificates = _read_file("ca_file", ca_file)
        self.certificate_chain = _read_file("cert_file", cert_file)
        self.private_key = _read_file("key_file", key_file)
        url_says_tls = any(e.tls for e in self.endpoints)
        if any(e.tls is False for e in self.endpoints) and (ca_file or cert_file):
            raise ValueError("endpoints say http:// but TLS files were given; use https:// endpoints")
        self.tls = url_says_tls or ca_file is not None or cert_file is not None
        self.index = 0
        self.token: str | None = None
        #: bumped on every failover, so concurrent callers fail over once per failure
        self.generation = 0

    @property
    def endpoint(self) -> Endpoint:
        """The endpoint in use."""
        return self.endpoints[self.index]

    @property
    def has_credentials(self) -> bool:
        """Whether the client authenticates (username and password given)."""
        return self.username is not None

    def advance(self, generation: int) -> None:
        """Move to the next endpoint, unless another caller already did since `generation`."""
        if generation == self.generation:
            self.index = (self.index + 1) % len(self.endpoints)
            self.generation += 1
            self.token = None  # tokens of simple auth are per member

    def channel_options(self) -> list[tuple[str, Any]]:
        """gRPC channel options: keepalive pings and no message size limits."""
        return [
            # Pings notice a dead connection in seconds instead of TCP's minutes; etcd's
            # enforcement policy allows one every 5 s, and only while a call is open.
            ("grpc.keepalive_time_ms", int(self.keepalive_time * 1000)),
            ("grpc.keepalive_timeout_ms", int(self.keepalive_timeout * 1000)),
            # etcd's policy forbids pings without a call (GOAWAY too_many_pings): watches keep theirs.
            ("grpc.keepalive_permit_without_calls", 0),
            ("grpc.http2.max_pings_without_data", 0),
            # grpcio waits a minute for any ping's answer (a flow-control ping included, which
            # holds back the keepalive ping): a silently stalled connection would go unnoticed.
            ("grpc.http2.ping_timeout_ms", int(self.keepalive_timeout * 1000)),
            # A whole prefix may be far above grpcio's 4 MiB default.
            ("grpc.max_receive_message_length", -1),
            ("grpc.max_send_message_length", -1),
            # Failover handles retries; a quick reconnect after etcd restarts.
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ]

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        """TLS credentials for the channel, or None for plain http."""
        if not self.tls:
            return None
        return grpc.ssl_channel_credentials(self.root_certificates, self.private_key, self.certificate_chain)

    def needs_authentication(self, call: Call) -> bool:
        """Whether a token must be fetched before sending call."""
        return call.authenticated and self.has_credentials and self.token is None

    def metadata(self, call: Call) -> tuple[tuple[str, str], ...] | None:
        """The call's metadata: the auth token, when there is one."""
        if call.authenticated and self.token:
            return _TokenMetadata((("token", self.token),))
        return None

    def authenticate_call(self) -> Call:
        """The Authenticate call that fetches a token."""
        request = _proto.AuthenticateRequest(name=self.username, password=self.password).SerializeToString()
        return Call(_AUTHENTICATE, request, self.timeout, authenticated=False)

    def accept_token(self, raw: bytes) -> None:
        """Store the token of an AuthenticateResponse."""
        self.token = _parse(_proto.AuthenticateResponse, raw).token

    def version_url(self) -> str:
        """The URL of etcd's /version on the endpoint in use."""
        return f"{'https' if self.tls else 'http'}://{self.endpoint.target}/version"

    def ssl_context(self) -> ssl.SSLContext | None:
        """An SSLContext matching the channel's TLS settings (for /version), or None for http."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=None if self.ca_file is None else str(self.ca_file))
        if self.cert_file is not None:
            context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context

    def describe(self) -> str:
        """Endpoints for repr()."""
        return ",".join(str(e) for e in self.endpoints)

    def __repr__(self) -> str:
        # Never the password, the token or the key: a repr ends up in logs and error reports.
        if not hasattr(self, "generation"):  # __init__ raised
            return "<ClientCore not initialised>"
        user = f" user {self.username}" if self.username is not None else ""
        return f"<ClientCore {self.describe()}{user}{' tls' if self.tls else ''}>"


def health_from_error(error: EtcdError) -> bool:
    """health(): a PermissionDenied answer comes from a working cluster; any other error means unhealthy."""
    return isinstance(error, PermissionDenied)

