"""KV operations (I/O-free generators of Calls, see _calls): read, write, delete, transactions, readdir."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from . import _proto, codec
from ._calls import (
    Call,
    Operation,
    check_int,
    check_revision,
    check_timeout,
    lease_for_write,
    lease_id,
    parse_message,
    single_call,
)
from ._errors import ConflictError, KeyExistsError, RevisionWentBackwards
from ._keys import Key, prefix_range, to_bytes
from ._lease_ops import lease_to_attach
from ._namespace import ROOT, KeySpace
from ._results import Deleted, Lease, PutResult, RangeResult, Snapshot, TxnResult
from ._txn import Compare, Delete, Get, Put, checked_compares, checked_operations
from ._txn import Operation as TxnOperation
from ._types import SortOrder, SortTarget
from .codec import KeyValue

#: readdir's default page size. etcd 3.5 counts the whole rest of the range for
#: every page (NOTES.md: 100,000 keys take 0.95 s in pages of 1,000, 0.22 s in
#: pages of 20,000, 0.19 s in one Range), so pages must be large; 20,000 keys of
#: ~190 B are ~4 MB per response, which bounds the client's peak memory per page.
DEFAULT_PAGE_SIZE = 20_000
#: Without a page_size, readdir reads the rest of a prefix in one Range after its first page when that rest
#: is estimated (from the first page's bytes per key and etcd's count) at most this many bytes: pages cost
#: etcd a count of the rest each, one Range is the floor. A larger rest comes in pages.
ONE_RANGE_BYTES = 64 << 20

RANGE_METHOD = _proto.method_path("KV", "Range")
_PUT = _proto.method_path("KV", "Put")
_DELETE_RANGE = _proto.method_path("KV", "DeleteRange")
_TXN = _proto.method_path("KV", "Txn")


def _key_value(kv: Any) -> KeyValue:
    """A codec KeyValue from a protobuf mvccpb.KeyValue (cold paths only)."""
    return KeyValue(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)


def get(key: Key, *, revision: int | None = None, serializable: bool = False, timeout: float | None = None,
        space: KeySpace = ROOT) -> Operation[KeyValue | None]:
    """The key's KeyValue, or None if absent (Range hot path: codec, no protobuf objects).
    space: the namespace the key is in (every operation here takes one)."""
    request = codec.encode_range_request(space.key(to_bytes("key", key, allow_empty=False)),
                                         revision=check_revision(revision), serializable=bool(serializable))

    def decode(raw: bytes) -> KeyValue | None:
        kvs = codec.decode_range_response(raw).kvs
        return space.strip_kv(kvs[0]) if kvs else None

    return single_call(Call(RANGE_METHOD, request, check_timeout(timeout)), decode)


def range_keys(
    key: Key,
    range_end: Key | None = None,
    *,
    prefix: bool = False,
    from_key: bool = False,
    revision: int | None = None,
    limit: int = 0,
    sort_order: SortOrder | str = "none",
    sort_target: SortTarget | str = "key",
    serializable: bool = False,
    keys_only: bool = False,
    count_only: bool = False,
    min_mod_revision: int = 0,
    max_mod_revision: int = 0,
    min_create_revision: int = 0,
    max_create_revision: int = 0,
    timeout: float | None = None,
    space: KeySpace = ROOT,
) -> Operation[RangeResult]:
    """One Range with every RangeRequest field: key alone, [key, range_end), the keys under prefix key, or
    every key from key on (from_key=True; with an empty key: every key)."""
    get = Get(key, range_end, prefix=prefix, from_key=from_key, revision=revision, limit=limit,
              sort_order=sort_order, sort_target=sort_target, keys_only=keys_only, count_only=count_only,
              min_mod_revision=min_mod_revision, max_mod_revision=max_mod_revision,
              min_create_revision=min_create_revision, max_create_revision=max_create_revision)
    request = codec.encode_range_request(
        *space.interval(get.key, get.range_end), limit=get.limit, revision=get.revision, keys_only=get.keys_only,
        count_only=get.count_only, serializable=bool(serializable), sort_order=get.sort_order,
        sort_target=get.sort_target,
    )
    if get.revision_filters:
        # The codec encodes the hot fields; protobuf appends the rest (fields of one message may come in any order).
        request += _proto.RangeRequest(**get.revision_filters).SerializeToString()

    def decode(raw: bytes) -> RangeResult:
        page = codec.decode_range_response(raw)
        return RangeResult(space.strip(page.kvs), page.count, page.more, page.revision)

    return single_call(Call(RANGE_METHOD, request, check_timeout(timeout)), decode)


def count(prefix: Key, *, serializable: bool = False, timeout: float | None = None,
          space: KeySpace = ROOT) -> Operation[int]:
    """How many keys start with prefix (an empty prefix counts every key)."""
    start, end = space.interval(*prefix_range(to_bytes("prefix", prefix)))
    request = codec.encode_range_request(start, end, count_only=True, serializable=bool(serializable))
    call = Call(RANGE_METHOD, request, check_timeout(timeout))
    return single_call(call, lambda raw: codec.decode_range_response(raw).count)


def _put_request(key: bytes, value: bytes, lease: int, prev_kv: bool) -> bytes:
    return _proto.PutRequest(key=key, value=value, lease=lease, prev_kv=prev_kv).SerializeToString()


def put(
    key: Key,
    value: Key,
    *,
    lease: Lease | int | None = None,
    ttl: int | None = None,
    prev_kv: bool = False,
    timeout: float | None = None,
    space: KeySpace = ROOT,
) -> Operation[PutResult]:
    """Write key=value; ttl grants a new lease first (and attaches the key to it)."""
    key_bytes = space.key(to_bytes("key", key, allow_empty=False))
    value_bytes = to_bytes("value", value)
    lease_number, ttl = lease_for_write(lease, ttl)
    timeout = check_timeout(timeout)

    def run() -> Operation[PutResult]:
        attached = yield from lease_to_attach(lease_number, ttl, timeout)
        raw = yield Call(_PUT, _put_request(key_bytes, value_bytes, attached, bool(prev_kv)), timeout,
                         idempotent=False)
        resp = parse_message(_proto.PutResponse, raw)
        previous = space.strip_kv(_key_value(resp.prev_kv)) if resp.HasField("prev_kv") else None
        return PutResult(resp.header.revision, previous)

    return run()


def delete(key: Key, *, prefix: bool = False, prev_kv: bool = False, timeout: float | None = None,
           space: KeySpace = ROOT) -> Operation[Deleted]:
    """Delete key (or every key under it with prefix=True); returns how many were deleted."""
    request = _delete_message(Delete(key, prefix=prefix, prev_kv=prev_kv), space).SerializeToString()

    def decode(raw: bytes) -> Deleted:
        resp = parse_message(_proto.DeleteRangeResponse, raw)
        return Deleted(resp.deleted, space.strip([_key_value(kv) for kv in resp.prev_kvs]), resp.header.revision)

    return single_call(Call(_DELETE_RANGE, request, check_timeout(timeout), idempotent=False), decode)


_COMPARE_RESULTS = {"==": 0, ">": 1, "<": 2, "!=": 3}
_COMPARE_TARGETS = {"version": 0, "create_revision": 1, "mod_revision": 2, "value": 3, "lease": 4}


def _compare_message(compare: Compare, space: KeySpace) -> Any:
    key, range_end = space.interval(compare.key, compare.range_end)
    message = _proto.Compare(key=key, range_end=range_end, result=_COMPARE_RESULTS[compare.op],
                             target=_COMPARE_TARGETS[compare.target])
    setattr(message, compare.target, compare.value)
    return message


def _range_message(get: Get, space: KeySpace) -> Any:
    key, range_end = space.interval(get.key, get.range_end)
    return _proto.RangeRequest(
        key=key, range_end=range_end, revision=get.revision, limit=get.limit, sort_order=get.sort_order,
        sort_target=get.sort_target, keys_only=get.keys_only, count_only=get.count_only, **get.revision_filters)


def _delete_message(delete: Delete, space: KeySpace) -> Any:
    key, range_end = space.interval(delete.key, delete.range_end)
    return _proto.DeleteRangeRequest(key=key, range_end=range_end, prev_kv=delete.prev_kv)


def _txn_message(compare: Iterable[Compare], success: Iterable[TxnOperation],
                 failure: Iterable[TxnOperation], space: KeySpace) -> Any:
    return _proto.TxnRequest(
        compare=[_compare_message(c, space) for c in checked_compares(compare)],
        success=[_request_op(op, space) for op in checked_operations(success)],
        failure=[_request_op(op, space) for op in checked_operations(failure)],
    )


def _request_op(op: TxnOperation, space: KeySpace) -> Any:
    if isinstance(op, Get):
        return _proto.RequestOp(request_range=_range_message(op, space))
    if isinstance(op, Put):
        return _proto.RequestOp(request_put=_proto.PutRequest(key=space.key(op.key), value=op.value, lease=op.lease,
                                                              prev_kv=op.prev_kv))
    if isinstance(op, Delete):
        return _proto.RequestOp(request_delete_range=_delete_message(op, space))
    return _proto.RequestOp(request_txn=_txn_message(op.compare, op.success, op.failure, space))


def _response_value(response: Any, revision: int, space: KeySpace) -> RangeResult | PutResult | Deleted | TxnResult:
    """What one operation of a txn returned; revision: the txn's (etcd leaves the operations' headers empty)."""
    kind = response.WhichOneof("response")
    if kind == "response_range":
        read = response.response_range
        return RangeResult(space.strip([_key_value(kv) for kv in read.kvs]), int(read.count), bool(read.more),
                           revision)
    if kind == "response_put":
        put_resp = response.response_put
        previous = space.strip_kv(_key_value(put_resp.prev_kv)) if put_resp.HasField("prev_kv") else None
        return PutResult(revision, previous)
    if kind == "response_delete_range":
        deleted = response.response_delete_range
        return Deleted(deleted.deleted, space.strip([_key_value(kv) for kv in deleted.prev_kvs]), revision)
    nested = response.response_txn
    return TxnResult(nested.succeeded, revision, [_response_value(r, revision, space) for r in nested.responses])


def _txn_call(compare: Iterable[Compare], success: Iterable[TxnOperation],
              failure: Iterable[TxnOperation], timeout: float | None, space: KeySpace) -> Call:
    request = _txn_message(compare, success, failure, space)
    # Not idempotent: a retried create or compare-and-swap would see its own first write.
    return Call(_TXN, request.SerializeToString(), timeout, idempotent=False)


def _txn_result(raw: bytes, space: KeySpace) -> TxnResult:
    resp = parse_message(_proto.TxnResponse, raw)
    revision = resp.header.revision
    return TxnResult(resp.succeeded, revision, [_response_value(r, revision, space) for r in resp.responses])


def txn(
    compare: Iterable[Compare],
    success: Iterable[TxnOperation] = (),
    failure: Iterable[TxnOperation] = (),
    *,
    timeout: float | None = None,
    space: KeySpace = ROOT,
) -> Operation[TxnResult]:
    """If every comparison holds, run success, else failure: atomically, at one revision."""
    return single_call(_txn_call(compare, success, failure, check_timeout(timeout), space),
                       lambda raw: _txn_result(raw, space))


def create(key: Key, value: Key, *, ttl: int | None = None, lease: Lease | int | None = None,
           timeout: float | None = None, space: KeySpace = ROOT) -> Operation[int]:
    """Write key=value only if key is absent (KeyExistsError otherwise); returns the new revision."""
    key_bytes = to_bytes("key", key, allow_empty=False)
    value_bytes = to_bytes("value", value)
    lease_number, ttl = lease_for_write(lease, ttl)
    timeout = check_timeout(timeout)

    def run() -> Operation[int]:
        attached = yield from lease_to_attach(lease_number, ttl, timeout)
        call = _txn_call([Compare(key_bytes, "create_revision", "==", 0)],
                         [Put(key_bytes, value_bytes, lease=attached)], [], timeout, space)
        result = _txn_result((yield call), space)
        if not result.succeeded:
            raise KeyExistsError(key_bytes)
        return result.revision

    return run()


def compare_and_put(key: Key, value: Key, mod_revision: int, *, lease: Lease | int | None = None,
                    timeout: float | None = None, space: KeySpace = ROOT) -> Operation[int]:
    """Write key=value only if its mod_revision is still mod_revision (0: only if absent); ConflictError otherwise."""
    key_bytes = to_bytes("key", key, allow_empty=False)
    expected = check_int("mod_revision", mod_revision, 0)
    put_op = Put(key_bytes, value, lease=0 if lease is None else lease_id(lease))
    call = _txn_call([Compare(key_bytes, "mod_revision", "==", expected)], [put_op], [Get(key_bytes)],
                     check_timeout(timeout), space)
    return single_call(call, lambda raw: _swap_result(raw, key_bytes, expected, space))


def compare_and_delete(key: Key, mod_revision: int, *, timeout: float | None = None,
                       space: KeySpace = ROOT) -> Operation[int]:
    """Delete key only if its mod_revision is still mod_revision; ConflictError otherwise. Returns the revision."""
    key_bytes = to_bytes("key", key, allow_empty=False)
    expected = check_int("mod_revision", mod_revision, 1)
    call = _txn_call([Compare(key_bytes, "mod_revision", "==", expected)], [Delete(key_bytes)], [Get(key_bytes)],
                     check_timeout(timeout), space)
    return single_call(call, lambda raw: _swap_result(raw, key_bytes, expected, space))


def _swap_result(raw: bytes, key: bytes, expected: int, space: KeySpace) -> int:
    result = _txn_result(raw, space)
    if not result.succeeded:
        current = result.responses[0].kvs  # type: ignore[union-attr]
        raise ConflictError(key, expected, current[0] if current else None)
    return result.revision


#: Digits of a push() id: enough for any int64 revision, so ids sort as strings.
_PUSH_ID_DIGITS = 20


def push(directory: Key, value: Key, *, ttl: int | None = None, timeout: float | None = None,
         space: KeySpace = ROOT) -> Operation[bytes]:
    """Store value under directory + a new unique id, increasing with every push; returns the key.

    The id is the etcd revision after the current one, zero-padded: revisions
    only grow, so ids do too; a txn creates the key only if absent, and
    another writer taking the id first makes the loop pick a newer one.
    """
    directory_bytes = to_bytes("directory", directory, allow_empty=False)
    value_bytes = to_bytes("value", value)
    _, ttl = lease_for_write(None, ttl)
    timeout = check_timeout(timeout)
    if not directory_bytes.endswith(b"/"):
        directory_bytes += b"/"

    def run() -> Operation[bytes]:
        attached = yield from lease_to_attach(0, ttl, timeout)
        # The header of a count-only Range is the cheapest way to learn the current revision.
        raw = yield Call(RANGE_METHOD, codec.encode_range_request(space.key(directory_bytes), count_only=True),
                         timeout)
        revision = codec.decode_range_response(raw).revision
        while True:
            key = directory_bytes + b"%0*d" % (_PUSH_ID_DIGITS, revision + 1)
            call = _txn_call([Compare(key, "create_revision", "==", 0)], [Put(key, value_bytes, lease=attached)],
                             [], timeout, space)
            result = _txn_result((yield call), space)
            if result.succeeded:
                return key
            revision = result.revision

    return run()


def readdir(
    prefix: Key,
    *,
    revision: int | None = None,
    page_size: int | None = None,
    keys_only: bool = False,
    serializable: bool = False,
    timeout: float | None = None,
    on_page: Callable[[int, int, bool], None] | None = None,
    space: KeySpace = ROOT,
) -> Operation[Snapshot]:
    """Every key under prefix at one revision, paged (see DEFAULT_PAGE_SIZE and ONE_RANGE_BYTES; page_size:
    pages of that many keys throughout); timeout is per page. on_page(keys read so far, keys under prefix,
    more pages) after each page (a progress bar)."""
    start, end = space.interval(*prefix_range(to_bytes("prefix", prefix)))
    pinned = check_revision(revision)
    limit = DEFAULT_PAGE_SIZE if page_size is None else check_int("page_size", page_size, 1)
    timeout = check_timeout(timeout)
    keys_only = bool(keys_only)
    serializable = bool(serializable)

    def run() -> Operation[Snapshot]:
        nonlocal start, pinned, limit
        kvs: list[KeyValue] = []
        first = None
        while True:
            request = codec.encode_range_request(start, end, limit=limit, revision=pinned, keys_only=keys_only,
                                                 serializable=serializable)
            raw = yield Call(RANGE_METHOD, request, timeout)
            page = codec.decode_range_response(raw)
            if first is None:
                first = page
                if not pinned:
                    # Later pages read at the first page's revision: a consistent snapshot while writers run.
                    pinned = page.revision
                if page_size is None and page.more and page.kvs:
                    rest = page.count - len(page.kvs)
                    if len(raw) / len(page.kvs) * rest <= ONE_RANGE_BYTES:
                        limit = 0  # the rest in one Range
            elif page.cluster_id != first.cluster_id:
                raise RevisionWentBackwards(
                    f"the cluster behind the endpoints changed while reading {prefix!r} (cluster id "
                    f"{first.cluster_id:x} -> {page.cluster_id:x}): read it again"
                )
            page_kvs = page.kvs
            if page_kvs:
                start = page_kvs[-1].key + b"\0"  # the next page starts at the smallest key after the last one
                page_kvs = space.strip(page_kvs)
            if kvs:
                kvs.extend(page_kvs)
            else:
                kvs = page_kvs
            if on_page is not None:
                on_page(len(kvs), max(first.count, len(kvs)), page.more)
            if not page.more or not page_kvs:
                return Snapshot(pinned, kvs, first.cluster_id, first.member_id)

    return run()
