"""The codec's behaviour, run against the compiled module and its pure-Python twin alike."""

import os
import pickle
import subprocess
import sys

import pytest
from _wire import (
    END_GROUP,
    FIXED32,
    FIXED64,
    START_GROUP,
    bytes_field,
    event_tuple,
    kv_tuple,
    pb_range_tuple,
    pb_watch_tuple,
    range_tuple,
    tag,
    varint,
    varint_field,
    watch_tuple,
)

import etcdstream
from etcdstream import DecodeError, EventType, _proto
from etcdstream import codec as live_codec


def kv_bytes(key=b"", value=b"", create_revision=0, mod_revision=0, version=0, lease=0) -> bytes:
    return _proto.KeyValue(
        key=key,
        value=value,
        create_revision=create_revision,
        mod_revision=mod_revision,
        version=version,
        lease=lease,
    ).SerializeToString()


def gateway_watch_response(n_events: int = 3, revision: int = 1000) -> bytes:
    msg = _proto.WatchResponse(
        header=_proto.ResponseHeader(cluster_id=2**64 - 1, member_id=12345, revision=revision, raft_term=7),
        watch_id=4,
    )
    for i in range(n_events):
        event = msg.events.add()
        event.type = i % 2
        event.kv.key = b"/apisix/routes/%08d" % i
        event.kv.value = b'{"uri":"/%d"}' % i if i % 2 == 0 else b""
        event.kv.create_revision = 10 + i
        event.kv.mod_revision = revision - n_events + i + 1
        event.kv.version = i + 1
    return msg.SerializeToString()


# --- implementation choice ---------------------------------------------------


def test_compiled_codec_is_live_unless_disabled():
    expected = "python" if os.environ.get("ETCDSTREAM_NO_EXTENSIONS", "") not in ("", "0") else "cython"
    assert live_codec.IMPLEMENTATION == expected


@pytest.mark.parametrize(("setting", "expected"), [("1", "python"), ("0", None), ("", None)])
def test_no_extensions_variable_picks_the_twin_at_import(setting, expected):
    env = dict(os.environ, ETCDSTREAM_NO_EXTENSIONS=setting)
    out = subprocess.run(
        [sys.executable, "-c", "import etcdstream.codec as c; print(c.IMPLEMENTATION, c.KeyValue.__module__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if expected is None:  # not disabled: whatever the installed build provides, which the test above pins
        expected = "python" if os.environ.get("ETCDSTREAM_NO_EXTENSIONS", "") not in ("", "0") else "cython"
    assert out[0] == expected
    assert out[1] == ("etcdstream._codec_py" if expected == "python" else "etcdstream._codec")


def test_surfaces_match():
    from etcdstream import _codec_py

    compiled = pytest.importorskip("etcdstream._codec") if live_codec.IMPLEMENTATION == "cython" else None
    if compiled is None:
        pytest.skip("compiled codec disabled")
    assert compiled.__all__ == _codec_py.__all__
    for name in _codec_py.__all__:
        twin, built = getattr(_codec_py, name), getattr(compiled, name)
        if isinstance(twin, type) and name not in ("DecodeError", "EventType"):
            public = lambda cls: {a for a in dir(cls) if not a.startswith("_")}  # noqa: E731
            assert public(twin) == public(built), name


# --- decoding watch responses ------------------------------------------------


def test_decodes_a_watch_response(codec):
    data = gateway_watch_response()
    resp = codec.decode_watch_response(data)
    assert watch_tuple(resp) == pb_watch_tuple(data)
    assert resp.revision == 1000 and resp.cluster_id == 2**64 - 1 and resp.watch_id == 4
    assert [e.type for e in resp.events] == [EventType.PUT, EventType.DELETE, EventType.PUT]
    assert all(type(e.type) is EventType for e in resp.events)
    first = resp.events[0]
    assert first.key == b"/apisix/routes/00000000" == first.kv.key
    assert first.value == b'{"uri":"/0"}' == first.kv.value
    assert first.mod_revision == 998 == first.kv.mod_revision
    assert first.prev_kv is None
    assert first.kv is first.kv  # made once


def test_empty_bytes_are_an_empty_response(codec):
    resp = codec.decode_watch_response(b"")
    assert watch_tuple(resp) == ((0, 0, 0, 0), 0, False, False, 0, "", False, [])
    assert range_tuple(codec.decode_range_response(b"")) == ((0, 0, 0, 0), [], False, 0)


def test_created_canceled_and_compacted(codec):
    data = _proto.WatchResponse(
        watch_id=9, created=True, canceled=True, compact_revision=77, cancel_reason="mvcc: requested revision has been compacted ✓"
    ).SerializeToString()
    resp = codec.decode_watch_response(data)
    assert (resp.created, resp.canceled, resp.compact_revision) == (True, True, 77)
    assert resp.cancel_reason == "mvcc: requested revision has been compacted ✓"


def test_prev_kv_present_even_when_empty(codec):
    event = bytes_field(2, kv_bytes(b"k", b"v", 1, 2, 1)) + bytes_field(3, b"")
    resp = codec.decode_watch_response(bytes_field(11, event))
    assert resp.events[0].prev_kv is not None
    assert kv_tuple(resp.events[0].prev_kv) == (b"", b"", 0, 0, 0, 0)


def test_negative_int64_take_ten_bytes(codec):
    data = varint_field(2, -1) + bytes_field(11, bytes_field(2, kv_bytes(b"k", lease=-5, version=-(2**63))))
    assert len(varint(-1)) == 10
    resp = codec.decode_watch_response(data)
    assert resp.watch_id == -1
    assert resp.events[0].kv.lease == -5
    assert resp.events[0].kv.version == -(2**63)
    assert watch_tuple(resp) == pb_watch_tuple(data)


def test_huge_unsigned_header_fields(codec):
    header = varint_field(1, 2**64 - 1) + varint_field(2, 2**63) + varint_field(3, 2**63 - 1) + varint_field(4, 2**64 - 2)
    resp = codec.decode_range_response(bytes_field(1, header))
    assert (resp.cluster_id, resp.member_id, resp.revision, resp.raft_term) == (2**64 - 1, 2**63, 2**63 - 1, 2**64 - 2)


def test_unknown_event_type_stays_an_int(codec):
    data = bytes_field(11, varint_field(1, 7) + bytes_field(2, kv_bytes(b"k")))
    event = codec.decode_watch_response(data).events[0]
    assert event.type == 7 and not isinstance(event.type, EventType)


UNKNOWN_FIELDS = [
    varint_field(15, 2**64 - 1),
    tag(16, FIXED64) + b"\x01" * 8,
    tag(17, FIXED32) + b"\x02" * 4,
    bytes_field(18, b"newer etcd"),
    tag(19, START_GROUP) + varint_field(1, 5) + tag(2, START_GROUP) + tag(2, END_GROUP) + tag(19, END_GROUP),
]


@pytest.mark.parametrize("unknown", UNKNOWN_FIELDS, ids=["varint", "fixed64", "fixed32", "bytes", "group"])
def test_unknown_fields_are_skipped_at_every_level(codec, unknown):
    kv = kv_bytes(b"/k", b"v", 3, 4, 1, 0)
    event = unknown + varint_field(1, 1) + unknown + bytes_field(2, unknown + kv + unknown) + unknown
    header = unknown + varint_field(3, 42) + unknown
    data = unknown + bytes_field(1, header) + unknown + bytes_field(11, event) + unknown
    resp = codec.decode_watch_response(data)
    assert watch_tuple(resp) == pb_watch_tuple(data)
    assert resp.revision == 42 and resp.events[0].kv.key == b"/k"
    rng = unknown + bytes_field(1, header) + bytes_field(2, unknown + kv) + unknown + varint_field(4, 1)
    assert range_tuple(codec.decode_range_response(rng)) == pb_range_tuple(rng)


def test_repeated_scalars_last_wins_and_messages_merge(codec):
    header_a = varint_field(1, 5) + varint_field(3, 10)
    header_b = varint_field(3, 11)
    event = (
        varint_field(1, 1)
        + bytes_field(2, kv_bytes(b"old", b"v1", 1, 2, 3, 4))
        + varint_field(1, 0)
        + bytes_field(2, kv_bytes(b"new", mod_revision=9))
    )
    data = (
        varint_field(2, 1)
        + bytes_field(1, header_a)
        + bytes_field(11, event)
        + varint_field(2, 2)
        + bytes_field(1, header_b)
        + bytes_field(6, b"a")
        + bytes_field(6, b"b")
    )
    resp = codec.decode_watch_response(data)
    assert watch_tuple(resp) == pb_watch_tuple(data)
    assert (resp.cluster_id, resp.revision, resp.watch_id, resp.cancel_reason) == (5, 11, 2, "b")
    assert event_tuple(resp.events[0]) == (0, (b"new", b"v1", 1, 9, 3, 4), None)


def test_decodes_a_range_response(codec):
    msg = _proto.RangeResponse(header=_proto.ResponseHeader(revision=55), more=True, count=10_000)
    for i in range(100):
        msg.kvs.add(key=b"/k/%d" % i, value=b"x" * i, create_revision=i, mod_revision=i + 1, version=1, lease=i - 50)
    data = msg.SerializeToString()
    resp = codec.decode_range_response(data)
    assert range_tuple(resp) == pb_range_tuple(data)
    assert resp.revision == 55 and resp.more and resp.count == 10_000
    assert resp.kvs[99].value == b"x" * 99 and resp.kvs[0].lease == -50


# --- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason", "offset"),
    [
        (b"\x10", "truncated varint", 1),
        (b"\x10\x80\x80", "truncated varint", 1),
        (b"\x10" + b"\xff" * 10 + b"\x01", "varint longer than 10 bytes", 1),
        (b"\x5a\x05abc", "length 5 runs past the end of the data", 1),
        (b"\x5a\x04\x12\x05abc", "length 5 runs past the end of its enclosing message", 3),
        (b"\x5a\x03\x12\x05abcdef", "length 5 runs past the end of its enclosing message", 3),
        (b"\x10\x01\x0a\x01\x18", "truncated varint", 5),
        (b"\x08\x01", "field 1 has wire type 0, expected 2", 0),
        (b"\x12\x00", "field 2 has wire type 2, expected 0", 0),
        (b"\x5a\x02\x08\x00\x5a\x02\x10\x00", "field 2 has wire type 0, expected 2", 6),
        (b"\x00\x00", "invalid field tag 0", 0),
        (b"\x10\x01\x7e", "invalid wire type 6", 2),
        (b"\x7f", "invalid wire type 7", 0),
        (b"\x7c", "end of group without a start", 0),
        (b"\x7b\x08\x01", "group without an end", 0),
        (b"\x7b\x84\x01", "mismatched end of group", 1),
        (b"\x79\x01\x02", "truncated fixed64 field", 1),
        (b"\x7d\x01", "truncated fixed32 field", 1),
        (b"\xf8\xff\xff\xff\xff\x01", "invalid field tag", 0),
        (b"\x32\x02\xc3\x28", "invalid UTF-8 in a string field", 2),
        (b"\x7b" * 70, "groups nested too deeply", 64),
    ],
)
def test_bad_bytes_raise_decode_error_with_offset(codec, data, reason, offset):
    with pytest.raises(DecodeError) as caught:
        codec.decode_watch_response(data)
    assert caught.value.reason.startswith(reason)
    assert caught.value.offset == offset
    assert f"at byte {offset}" in str(caught.value)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, etcdstream.EtcdError)


def test_every_truncation_of_a_valid_message_raises(codec):
    data = gateway_watch_response(n_events=2)
    for cut in range(1, len(data)):
        prefix = data[:cut]
        try:
            resp = codec.decode_watch_response(prefix)
        except DecodeError as error:
            assert 0 <= error.offset <= cut
        else:
            # A cut that falls between two top-level fields is itself a valid message.
            assert watch_tuple(resp) == pb_watch_tuple(prefix)


@pytest.mark.parametrize("bad", ["text", bytearray(b"\x08\x01"), memoryview(b""), None, 3])
def test_decoders_take_bytes_only(codec, bad):
    with pytest.raises(TypeError):
        codec.decode_watch_response(bad)
    with pytest.raises(TypeError):
        codec.decode_range_response(bad)


# --- the objects -------------------------------------------------------------


def test_key_value_is_a_read_only_value(codec):
    kv = codec.KeyValue(b"k", b"v", 1, 2, 3, 4)
    assert kv == codec.KeyValue(b"k", b"v", 1, 2, 3, 4) != codec.KeyValue(b"k", b"w", 1, 2, 3, 4)
    assert hash(kv) == hash(codec.KeyValue(b"k", b"v", 1, 2, 3, 4))
    assert repr(kv) == "KeyValue(key=b'k', value=b'v', create_revision=1, mod_revision=2, version=3, lease=4)"
    with pytest.raises(AttributeError):
        kv.value = b"x"
    assert pickle.loads(pickle.dumps(kv)) == kv


def test_event_built_by_hand(codec):
    kv = codec.KeyValue(b"k", b"v", 1, 2, 3, 4)
    event = codec.Event(EventType.DELETE, kv, codec.KeyValue(b"k", b"old"))
    assert (event.type, event.key, event.value, event.mod_revision) == (EventType.DELETE, b"k", b"v", 2)
    assert event.kv == kv and event.prev_kv.value == b"old"
    assert event == codec.Event(1, kv, codec.KeyValue(b"k", b"old"))
    assert codec.Event(0, kv).type is EventType.PUT
    with pytest.raises(TypeError):
        codec.Event(0, "not a KeyValue")
    with pytest.raises(AttributeError):
        event.type = 0


# --- encoders ----------------------------------------------------------------


def test_encode_watch_create_matches_protobuf(codec):
    data = codec.encode_watch_create(
        b"/apisix",
        b"/apisiy",
        start_revision=2**63 - 1,
        prev_kv=True,
        progress_notify=True,
        fragment=True,
        watch_id=300,
        filters=[etcdstream.WatchFilter.NODELETE, 0],
    )
    expected = _proto.WatchRequest(
        create_request=_proto.WatchCreateRequest(
            key=b"/apisix",
            range_end=b"/apisiy",
            start_revision=2**63 - 1,
            prev_kv=True,
            progress_notify=True,
            fragment=True,
            watch_id=300,
            filters=[1, 0],
        )
    )
    assert _proto.WatchRequest.FromString(data) == expected
    assert data == expected.SerializeToString()
    assert codec.encode_watch_create(b"") == _proto.WatchRequest(create_request=_proto.WatchCreateRequest()).SerializeToString()


def test_encode_watch_cancel_and_progress_match_protobuf(codec):
    for watch_id in (0, 1, 2**40):
        expected = _proto.WatchRequest(cancel_request=_proto.WatchCancelRequest(watch_id=watch_id))
        assert codec.encode_watch_cancel(watch_id) == expected.SerializeToString()
        assert _proto.WatchRequest.FromString(codec.encode_watch_cancel(watch_id)).HasField("cancel_request")
    progress = _proto.WatchRequest.FromString(codec.encode_watch_progress())
    assert progress.WhichOneof("request_union") == "progress_request"


def test_encode_range_request_matches_protobuf(codec):
    data = codec.encode_range_request(
        b"/a" * 100,
        b"/b",
        limit=5000,
        revision=123456789,
        keys_only=True,
        count_only=True,
        serializable=True,
        sort_order=etcdstream.SortOrder.DESCEND,
        sort_target=etcdstream.SortTarget.MOD,
    )
    expected = _proto.RangeRequest(
        key=b"/a" * 100,
        range_end=b"/b",
        limit=5000,
        revision=123456789,
        keys_only=True,
        count_only=True,
        serializable=True,
        sort_order=2,
        sort_target=3,
    )
    assert data == expected.SerializeToString()
    assert codec.encode_range_request(b"k") == _proto.RangeRequest(key=b"k").SerializeToString()


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.encode_range_request("text"), TypeError),
        (lambda c: c.encode_range_request(b"k", range_end=None), TypeError),
        (lambda c: c.encode_range_request(b"k", limit=-1), ValueError),
        (lambda c: c.encode_range_request(b"k", revision=2**63), ValueError),
        (lambda c: c.encode_range_request(b"k", limit="5"), TypeError),
        (lambda c: c.encode_range_request(b"k", sort_order=3), ValueError),
        (lambda c: c.encode_range_request(b"k", sort_target=-1), ValueError),
        (lambda c: c.encode_watch_create(b"k", start_revision=-1), ValueError),
        (lambda c: c.encode_watch_create(b"k", filters=[2]), ValueError),
        (lambda c: c.encode_watch_create(b"k", filters=["NOPUT"]), TypeError),
        (lambda c: c.encode_watch_create(b"k", watch_id=1.5), TypeError),
        (lambda c: c.encode_watch_cancel(-3), ValueError),
    ],
)
def test_encoders_reject_bad_arguments(codec, call, error):
    with pytest.raises(error):
        call(codec)


# --- batching ----------------------------------------------------------------


def watch_response(codec, revision, *events, fragment=False, created=False, canceled=False):
    """events: (type, key, value, mod_revision) tuples."""
    body = varint_field(7, 1) if fragment else b""
    body += varint_field(3, 1) if created else b""
    body += varint_field(4, 1) if canceled else b""
    for type_, key, value, mod in events:
        body += bytes_field(11, varint_field(1, type_) + bytes_field(2, kv_bytes(key, value, 1, mod, 1)))
    return codec.decode_watch_response(bytes_field(1, varint_field(3, revision)) + body)


def test_batch_events_joins_responses_in_order(codec):
    first = watch_response(codec, 11, (0, b"/a", b"1", 10), (0, b"/b", b"1", 11))
    fragment = watch_response(codec, 12, (0, b"/c", b"1", 12), fragment=True)
    rest = watch_response(codec, 12, (1, b"/a", b"", 12))
    progress = watch_response(codec, 15)
    batch = codec.batch_events([first, fragment, rest, progress])
    assert isinstance(batch, codec.EventBatch)
    assert batch.revision == 15 and len(batch) == 4
    assert [(e.key, e.mod_revision) for e in batch] == [(b"/a", 10), (b"/b", 11), (b"/c", 12), (b"/a", 12)]
    assert batch.events == list(batch)
    empty = codec.batch_events([])
    assert (empty.revision, len(empty), list(empty)) == (0, 0, [])


def test_batch_revision_is_what_the_events_cover(codec):
    # A catching-up watcher: the header runs ahead of the events sent so far.
    catching_up = watch_response(codec, 5000, (0, b"/a", b"1", 10), (0, b"/b", b"1", 20))
    assert codec.batch_events([catching_up]).revision == 20
    # A created (or canceled) response says nothing about events.
    created = watch_response(codec, 5000, created=True)
    assert codec.batch_events([created]).revision == 0
    assert codec.batch_events([catching_up, watch_response(codec, 5000, canceled=True)]).revision == 20
    # A progress notification: everything up to its header revision was sent.
    assert codec.batch_events([catching_up, watch_response(codec, 5000)]).revision == 5000


def test_batch_events_rejects_out_of_order_and_foreign_objects(codec):
    with pytest.raises(ValueError, match="out of order"):
        codec.batch_events([watch_response(codec, 12), watch_response(codec, 11)])
    with pytest.raises(ValueError, match="out of order"):
        codec.batch_events([watch_response(codec, 30, (0, b"/a", b"1", 20)), watch_response(codec, 30, (0, b"/a", b"1", 19))])
    with pytest.raises(TypeError):
        codec.batch_events([b"raw bytes"])


def test_coalesce_keeps_the_last_event_of_each_key(codec):
    responses = [
        watch_response(codec, 5, (0, b"/a", b"1", 2), (0, b"/b", b"1", 3), (0, b"/a", b"2", 4), (0, b"/c", b"1", 5)),
        watch_response(codec, 8, (1, b"/b", b"", 6), (0, b"/c", b"2", 7), (0, b"/d", b"1", 8)),
    ]
    batch = codec.batch_events(responses)
    merged = codec.coalesce(batch)
    assert merged.revision == 8
    assert [(e.type, e.key, e.value, e.mod_revision) for e in merged] == [
        (EventType.PUT, b"/a", b"2", 4),
        (EventType.DELETE, b"/b", b"", 6),
        (EventType.PUT, b"/c", b"2", 7),
        (EventType.PUT, b"/d", b"1", 8),
    ]
    assert len(batch) == 7  # the input is left as it was
    hot_key = codec.batch_events([watch_response(codec, 600, *[(0, b"/hot", b"%d" % i, 100 + i) for i in range(500)])])
    assert [(e.value, e.mod_revision) for e in codec.coalesce(hot_key)] == [(b"499", 599)]
    with pytest.raises(TypeError):
        codec.coalesce(responses)


def test_event_batch_by_hand(codec):
    kv = codec.KeyValue(b"k", b"v", 1, 2, 1)
    batch = codec.EventBatch([codec.Event(0, kv)], revision=2)
    assert len(batch) == 1 and batch.revision == 2 and list(batch)[0].kv == kv
    assert "revision=2" in repr(batch)


@pytest.mark.parametrize(
    ("key", "range_end", "inside", "outside"),
    [
        (b"/p1/", b"/p10", [b"/p1/", b"/p1/a", b"/p1/\xff"], [b"/p1", b"/p10", b"/p10/k", b"/p0/z", b"/p2/"]),
        (b"/k", b"", [b"/k"], [b"/k/", b"/", b"/j", b""]),  # one key
        (b"/m", b"\x00", [b"/m", b"/m0", b"\xff\xff"], [b"/l", b"/", b"\x00"]),  # from /m on
        (b"\x00", b"\x00", [b"\x00", b"/", b"\xff"], []),  # every key
    ],
)
def test_event_outside_range_finds_a_key_the_watch_did_not_ask_for(codec, key, range_end, inside, outside):
    events = [(0, k, b"v", 10 + i) for i, k in enumerate(inside)]
    assert codec.event_outside_range(watch_response(codec, 30, *events), key, range_end) is None
    for stray in outside:
        resp = watch_response(codec, 30, *events, (1, stray, b"", 29))
        found = codec.event_outside_range(resp, key, range_end)
        assert found is not None and (found.key, found.mod_revision) == (stray, 29)
    assert codec.event_outside_range(watch_response(codec, 30), key, range_end) is None


def test_event_outside_range_rejects_foreign_objects(codec):
    with pytest.raises(TypeError):
        codec.event_outside_range(b"raw bytes", b"/a", b"/b")
    with pytest.raises(TypeError):
        codec.event_outside_range(watch_response(codec, 1), "/a", b"/b")


def test_event_out_of_order_finds_an_event_a_watcher_must_not_deliver(codec):
    txn = watch_response(codec, 30, (0, b"/a", b"", 11), (0, b"/b", b"", 12), (0, b"/c", b"", 12), (1, b"/a", b"", 13))
    assert codec.event_out_of_order(txn, 10) is None  # a txn's events share a revision
    assert codec.event_out_of_order(watch_response(codec, 30), 29) is None  # a progress notification
    at_or_below = codec.event_out_of_order(txn, 11)
    assert (at_or_below.key, at_or_below.mod_revision) == (b"/a", 11)
    # Key order instead of revision order (etcd's stream as a stalled test once saw it).
    by_key = watch_response(codec, 30, (0, b"/0-1", b"", 20), (0, b"/0-2", b"", 22), (0, b"/1-1", b"", 21))
    going_back = codec.event_out_of_order(by_key, 19)
    assert (going_back.key, going_back.mod_revision) == (b"/1-1", 21)
    with pytest.raises(TypeError):
        codec.event_out_of_order(b"raw bytes", 0)


def test_without_prefix_copies_keys_out_of_a_namespace(codec):
    kv = codec.KeyValue(b"/ns/a", b"v", 3, 5, 2, 7)
    prev = codec.KeyValue(b"/ns/a", b"old", 3, 4, 1, 0)
    put = codec.Event(0, kv, prev)
    delete = codec.Event(1, codec.KeyValue(b"/ns/", b"", 0, 6, 0, 0))
    out = codec.without_prefix([kv, put, delete], b"/ns/")
    assert out[0] == codec.KeyValue(b"a", b"v", 3, 5, 2, 7)
    assert out[1] == codec.Event(0, codec.KeyValue(b"a", b"v", 3, 5, 2, 7), codec.KeyValue(b"a", b"old", 3, 4, 1, 0))
    assert (out[1].key, out[1].value, out[1].mod_revision) == (b"a", b"v", 5)
    assert out[2].type == EventType.DELETE and out[2].key == b"" and out[2].prev_kv is None
    assert kv.key == b"/ns/a" and put.key == b"/ns/a"  # the originals are left as they were
    assert codec.without_prefix([kv], b"") == [kv]
    assert codec.without_prefix((), b"/ns/") == []


@pytest.mark.parametrize("stray", [b"/nt/a", b"/n", b""])
def test_without_prefix_refuses_a_key_outside_the_namespace(codec, stray):
    with pytest.raises(ValueError, match="outside the namespace"):
        codec.without_prefix([codec.KeyValue(b"/ns/a"), codec.KeyValue(stray)], b"/ns/")
    with pytest.raises(ValueError, match="outside the namespace"):
        codec.without_prefix([codec.Event(0, codec.KeyValue(b"/ns/a"), codec.KeyValue(stray))], b"/ns/")


def test_without_prefix_rejects_foreign_objects(codec):
    with pytest.raises(TypeError):
        codec.without_prefix([b"/ns/a"], b"/ns/")
    with pytest.raises(TypeError):
        codec.without_prefix([codec.KeyValue(b"/ns/a")], "/ns/")
