"""Test helpers: hand-written protobuf wire bytes and comparable views of messages.

Tests build bytes by hand (to place unknown fields, repeats and errors where
they want) and take protobuf's own parse of the same bytes as the truth.
"""

from etcdstream import _proto

VARINT, FIXED64, LENGTH, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def tag(field: int, wire_type: int) -> bytes:
    return varint(field << 3 | wire_type)


def varint_field(field: int, value: int) -> bytes:
    return tag(field, VARINT) + varint(value)


def bytes_field(field: int, payload: bytes) -> bytes:
    return tag(field, LENGTH) + varint(len(payload)) + payload


def kv_tuple(kv):
    """(key, value, create_revision, mod_revision, version, lease) of an etcdstream or protobuf KeyValue."""
    return (kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)


def event_tuple(event):
    return (int(event.type), kv_tuple(event.kv), None if event.prev_kv is None else kv_tuple(event.prev_kv))


def watch_tuple(resp):
    """A decoded WatchResponse as plain values."""
    return (
        (resp.cluster_id, resp.member_id, resp.revision, resp.raft_term),
        resp.watch_id,
        resp.created,
        resp.canceled,
        resp.compact_revision,
        resp.cancel_reason,
        resp.fragment,
        [event_tuple(e) for e in resp.events],
    )


def pb_header_tuple(header):
    return (header.cluster_id, header.member_id, header.revision, header.raft_term)


def pb_watch_tuple(data: bytes):
    """protobuf's parse of WatchResponse bytes as the same plain values."""
    msg = _proto.WatchResponse.FromString(data)
    return (
        pb_header_tuple(msg.header),
        msg.watch_id,
        msg.created,
        msg.canceled,
        msg.compact_revision,
        msg.cancel_reason,
        msg.fragment,
        [
            (e.type, kv_tuple(e.kv), kv_tuple(e.prev_kv) if e.HasField("prev_kv") else None)
            for e in msg.events
        ],
    )


def range_tuple(resp):
    """A decoded RangeResponse as plain values."""
    return (
        (resp.cluster_id, resp.member_id, resp.revision, resp.raft_term),
        [kv_tuple(kv) for kv in resp.kvs],
        resp.more,
        resp.count,
    )


def pb_range_tuple(data: bytes):
    """protobuf's parse of RangeResponse bytes as the same plain values."""
    msg = _proto.RangeResponse.FromString(data)
    return (pb_header_tuple(msg.header), [kv_tuple(kv) for kv in msg.kvs], msg.more, msg.count)
