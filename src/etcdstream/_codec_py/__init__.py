"""Pure-Python twin of the compiled codec (cext/_codec.pyx).

It has the same public surface and the same behaviour, byte for byte, and is
the source of the codec's types. Both are tested with the same test bodies.
Decoding follows protobuf's rules for proto3: absent fields are defaults, a
repeated occurrence of a scalar field wins, a repeated occurrence of a
message field merges into the first, unknown fields are skipped by wire type.
Unlike protobuf, a known field with the wrong wire type is an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from operator import attrgetter

from .._errors import DecodeError
from .._types import EventType, SortOrder, SortTarget, WatchFilter
from .._validate import check_count, check_enum, check_key

__all__ = [
    "DecodeError",
    "Event",
    "EventBatch",
    "EventType",
    "KeyValue",
    "RangeResponse",
    "WatchResponse",
    "batch_events",
    "coalesce",
    "decode_range_response",
    "decode_watch_response",
    "encode_range_request",
    "encode_watch_cancel",
    "encode_watch_create",
    "encode_watch_progress",
    "event_outside_range",
]

_VARINT, _FIXED64, _LENGTH, _START_GROUP, _END_GROUP, _FIXED32 = 0, 1, 2, 3, 4, 5
_UINT64_MASK = (1 << 64) - 1
_INT64_MAX = (1 << 63) - 1
_MAX_GROUP_DEPTH = 64
_EVENT_TYPES = (EventType.PUT, EventType.DELETE)


def _readonly(name: str) -> property:
    return property(attrgetter("_" + name))


# --- reading -----------------------------------------------------------------


def _read_varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    start = pos
    result = 0
    shift = 0
    while pos < end:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            # Bits past 64 in a 10th byte are dropped, as protobuf does.
            return result & _UINT64_MASK, pos
        shift += 7
        if shift == 70:
            raise DecodeError("varint longer than 10 bytes", start)
    raise DecodeError("truncated varint", start)


def _signed64(value: int) -> int:
    return value - (1 << 64) if value > _INT64_MAX else value


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value > 0x7FFFFFFF else value


def _read_tag(data: bytes, pos: int, end: int) -> tuple[int, int]:
    tag, after = _read_varint(data, pos, end)
    if tag > 0xFFFFFFFF or tag >> 3 == 0:
        raise DecodeError(f"invalid field tag {tag}", pos)
    return tag, after


def _read_length(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """Read a length prefix and check that what it announces fits in [pos, end)."""
    length, after = _read_varint(data, pos, end)
    if length > end - after:
        where = "the data" if end == len(data) else "its enclosing message"
        raise DecodeError(f"length {length} runs past the end of {where}", pos)
    return length, after


def _skip_field(data: bytes, tag_pos: int, pos: int, end: int, tag: int, depth: int = 0) -> int:
    """Skip the value of an unknown field; return the position after it."""
    wire_type = tag & 7
    if wire_type == _VARINT:
        return _read_varint(data, pos, end)[1]
    if wire_type == _LENGTH:
        length, pos = _read_length(data, pos, end)
        return pos + length
    if wire_type == _FIXED64 or wire_type == _FIXED32:
        size = 8 if wire_type == _FIXED64 else 4
        if end - pos < size:
            raise DecodeError(f"truncated fixed{size * 8} field", pos)
        return pos + size
    if wire_type == _START_GROUP:
        if depth == _MAX_GROUP_DEPTH:
            raise DecodeError("groups nested too deeply", tag_pos)
        while True:
            if pos >= end:
                raise DecodeError("group without an end", tag_pos)
            inner_pos = pos
            inner, pos = _read_tag(data, pos, end)
            if inner & 7 == _END_GROUP:
                if inner >> 3 != tag >> 3:
                    raise DecodeError("mismatched end of group", inner_pos)
                return pos
            pos = _skip_field(data, inner_pos, pos, end, inner, depth + 1)
    if wire_type == _END_GROUP:
        raise DecodeError("end of group without a start", tag_pos)
    raise DecodeError(f"invalid wire type {wire_type}", tag_pos)


def _wrong_wire_type(tag: int, expected: int, tag_pos: int):
    raise DecodeError(f"field {tag >> 3} has wire type {tag & 7}, expected {expected}", tag_pos)


def _decode_utf8(data: bytes, pos: int, length: int) -> str:
    try:
        return data[pos : pos + length].decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("invalid UTF-8 in a string field", pos) from None


# --- messages ----------------------------------------------------------------


class KeyValue:
    """One key of etcd (mvccpb.KeyValue): key and value are bytes, revisions ints."""

    __slots__ = ("_key", "_value", "_create_revision", "_mod_revision", "_version", "_lease")

    key: bytes = _readonly("key")  # type: ignore[assignment]
    value: bytes = _readonly("value")  # type: ignore[assignment]
    create_revision: int = _readonly("create_revision")  # type: ignore[assignment]
    mod_revision: int = _readonly("mod_revision")  # type: ignore[assignment]
    version: int = _readonly("version")  # type: ignore[assignment]
    lease: int = _readonly("lease")  # type: ignore[assignment]

    def __init__(
        self,
        key: bytes = b"",
        value: bytes = b"",
        create_revision: int = 0,
        mod_revision: int = 0,
        version: int = 0,
        lease: int = 0,
    ) -> None:
        self._key = bytes(key)
        self._value = bytes(value)
        self._create_revision = int(create_revision)
        self._mod_revision = int(mod_revision)
        self._version = int(version)
        self._lease = int(lease)

    def _fields(self) -> tuple:
        return (self._key, self._value, self._create_revision, self._mod_revision, self._version, self._lease)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeyValue):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (
            f"KeyValue(key={self._key!r}, value={self._value!r}, create_revision={self._create_revision}, "
            f"mod_revision={self._mod_revision}, version={self._version}, lease={self._lease})"
        )


class Event:
    """A change to one key (mvccpb.Event): `type`, `kv`, `prev_kv` (None unless asked for)."""

    __slots__ = ("_type", "_kv", "_prev_kv")

    type: EventType = _readonly("type")  # type: ignore[assignment]
    kv: KeyValue = _readonly("kv")  # type: ignore[assignment]
    prev_kv: KeyValue | None = _readonly("prev_kv")  # type: ignore[assignment]

    def __init__(self, type: int, kv: KeyValue, prev_kv: KeyValue | None = None) -> None:
        if not isinstance(kv, KeyValue) or not (prev_kv is None or isinstance(prev_kv, KeyValue)):
            raise TypeError("kv and prev_kv must be KeyValue objects")
        self._type = _event_type(int(type))
        self._kv = kv
        self._prev_kv = prev_kv

    @property
    def key(self) -> bytes:
        """The event's key (kv.key)."""
        return self._kv._key

    @property
    def value(self) -> bytes:
        """The value after the event (kv.value); empty for a DELETE."""
        return self._kv._value

    @property
    def mod_revision(self) -> int:
        """The revision of the event (kv.mod_revision)."""
        return self._kv._mod_revision

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (self._type, self._kv, self._prev_kv) == (other._type, other._kv, other._prev_kv)

    def __hash__(self) -> int:
        return hash((self._type, self._kv, self._prev_kv))

    def __repr__(self) -> str:
        return f"Event(type={self._type!r}, kv={self._kv!r}, prev_kv={self._prev_kv!r})"


def _event_type(value: int) -> int:
    # Open enum, as in proto3: a type newer than this client stays a plain int.
    return _EVENT_TYPES[value] if 0 <= value <= 1 else value


class _Header:
    """ResponseHeader fields, shared by the response classes."""

    __slots__ = ()

    revision: int = _readonly("revision")  # type: ignore[assignment]
    cluster_id: int = _readonly("cluster_id")  # type: ignore[assignment]
    member_id: int = _readonly("member_id")  # type: ignore[assignment]
    raft_term: int = _readonly("raft_term")  # type: ignore[assignment]


class WatchResponse(_Header):
    """A decoded etcdserverpb.WatchResponse; `revision` is the header's revision."""

    __slots__ = (
        "_revision",
        "_cluster_id",
        "_member_id",
        "_raft_term",
        "_watch_id",
        "_created",
        "_canceled",
        "_compact_revision",
        "_cancel_reason",
        "_fragment",
        "_events",
    )

    watch_id: int = _readonly("watch_id")  # type: ignore[assignment]
    created: bool = _readonly("created")  # type: ignore[assignment]
    canceled: bool = _readonly("canceled")  # type: ignore[assignment]
    compact_revision: int = _readonly("compact_revision")  # type: ignore[assignment]
    cancel_reason: str = _readonly("cancel_reason")  # type: ignore[assignment]
    fragment: bool = _readonly("fragment")  # type: ignore[assignment]
    events: list[Event] = _readonly("events")  # type: ignore[assignment]

    def __init__(self) -> None:
        self._revision = self._cluster_id = self._member_id = self._raft_term = 0
        self._watch_id = self._compact_revision = 0
        self._created = self._canceled = self._fragment = False
        self._cancel_reason = ""
        self._events: list[Event] = []

    def __repr__(self) -> str:
        return (
            f"<WatchResponse watch_id={self._watch_id} revision={self._revision} events={len(self._events)} "
            f"created={self._created} canceled={self._canceled} compact_revision={self._compact_revision} "
            f"fragment={self._fragment}>"
        )


class RangeResponse(_Header):
    """A decoded etcdserverpb.RangeResponse; `revision` is the header's revision."""

    __slots__ = ("_revision", "_cluster_id", "_member_id", "_raft_term", "_kvs", "_more", "_count")

    kvs: list[KeyValue] = _readonly("kvs")  # type: ignore[assignment]
    more: bool = _readonly("more")  # type: ignore[assignment]
    count: int = _readonly("count")  # type: ignore[assignment]

    def __init__(self) -> None:
        self._revision = self._cluster_id = self._member_id = self._raft_term = 0
        self._kvs: list[KeyValue] = []
        self._more = False
        self._count = 0

    def __repr__(self) -> str:
        return f"<RangeResponse revision={self._revision} kvs={len(self._kvs)} more={self._more} count={self._count}>"


# --- decoding ----------------------------------------------------------------


def _check_bytes(data: object) -> None:
    if not isinstance(data, bytes):
        raise TypeError(f"expected bytes, got {type(data).__name__}")


def _decode_header(data: bytes, pos: int, end: int, resp: WatchResponse | RangeResponse) -> None:
    while pos < end:
        tag_pos = pos
        tag, pos = _read_tag(data, pos, end)
        field = tag >> 3
        if 1 <= field <= 4:
            if tag & 7 != _VARINT:
                _wrong_wire_type(tag, _VARINT, tag_pos)
            value, pos = _read_varint(data, pos, end)
            if field == 1:
                resp._cluster_id = value
            elif field == 2:
                resp._member_id = value
            elif field == 3:
                resp._revision = _signed64(value)
            else:
                resp._raft_term = value
        else:
            pos = _skip_field(data, tag_pos, pos, end, tag)


def _decode_key_value(data: bytes, pos: int, end: int, kv: KeyValue) -> None:
    while pos < end:
        tag_pos = pos
        tag, pos = _read_tag(data, pos, end)
        field = tag >> 3
        if field == 1 or field == 5:
            if tag & 7 != _LENGTH:
                _wrong_wire_type(tag, _LENGTH, tag_pos)
            length, pos = _read_length(data, pos, end)
            if field == 1:
                kv._key = data[pos : pos + length]
            else:
                kv._value = data[pos : pos + length]
            pos += length
        elif 2 <= field <= 6:
            if tag & 7 != _VARINT:
                _wrong_wire_type(tag, _VARINT, tag_pos)
            value, pos = _read_varint(data, pos, end)
            value = _signed64(value)
            if field == 2:
                kv._create_revision = value
            elif field == 3:
                kv._mod_revision = value
            elif field == 4:
                kv._version = value
            else:
                kv._lease = value
        else:
            pos = _skip_field(data, tag_pos, pos, end, tag)


def _decode_event(data: bytes, pos: int, end: int) -> Event:
    event = Event.__new__(Event)
    event._type = EventType.PUT
    event._kv = KeyValue()
    event._prev_kv = None
    while pos < end:
        tag_pos = pos
        tag, pos = _read_tag(data, pos, end)
        field = tag >> 3
        if field == 1:
            if tag & 7 != _VARINT:
                _wrong_wire_type(tag, _VARINT, tag_pos)
            value, pos = _read_varint(data, pos, end)
            event._type = _event_type(_signed32(value))
        elif field == 2 or field == 3:
            if tag & 7 != _LENGTH:
                _wrong_wire_type(tag, _LENGTH, tag_pos)
            length, pos = _read_length(data, pos, end)
            if field == 2:
                target = event._kv
            else:
                if event._prev_kv is None:
                    event._prev_kv = KeyValue()
                target = event._prev_kv
            _decode_key_value(data, pos, pos + length, target)
            pos += length
        else:
            pos = _skip_field(data, tag_pos, pos, end, tag)
    return event


def decode_watch_response(data: bytes) -> WatchResponse:
    """Decode an etcdserverpb.WatchResponse; raise DecodeError on bad bytes."""
    _check_bytes(data)
    resp = WatchResponse()
    events = resp._events
    pos, end = 0, len(data)
    while pos < end:
        tag_pos = pos
        tag, pos = _read_tag(data, pos, end)
        field = tag >> 3
        if field == 11 or field == 1 or field == 6:
            if tag & 7 != _LENGTH:
                _wrong_wire_type(tag, _LENGTH, tag_pos)
            length, pos = _read_length(data, pos, end)
            if field == 11:
                events.append(_decode_event(data, pos, pos + length))
            elif field == 1:
                _decode_header(data, pos, pos + length, resp)
            else:
                resp._cancel_reason = _decode_utf8(data, pos, length)
            pos += length
        elif 2 <= field <= 7:
            if tag & 7 != _VARINT:
                _wrong_wire_type(tag, _VARINT, tag_pos)
            value, pos = _read_varint(data, pos, end)
            if field == 2:
                resp._watch_id = _signed64(value)
            elif field == 3:
                resp._created = value != 0
            elif field == 4:
                resp._canceled = value != 0
            elif field == 5:
                resp._compact_revision = _signed64(value)
            else:
                resp._fragment = value != 0
        else:
            pos = _skip_field(data, tag_pos, pos, end, tag)
    return resp


def decode_range_response(data: bytes) -> RangeResponse:
    """Decode an etcdserverpb.RangeResponse; raise DecodeError on bad bytes."""
    _check_bytes(data)
    resp = RangeResponse()
    kvs = resp._kvs
    pos, end = 0, len(data)
    while pos < end:
        tag_pos = pos
        tag, pos = _read_tag(data, pos, end)
        field = tag >> 3
        if field == 1 or field == 2:
            if tag & 7 != _LENGTH:
                _wrong_wire_type(tag, _LENGTH, tag_pos)
            length, pos = _read_length(data, pos, end)
            if field == 2:
                kv = KeyValue()
                _decode_key_value(data, pos, pos + length, kv)
                kvs.append(kv)
            else:
                _decode_header(data, pos, pos + length, resp)
            pos += length
        elif field == 3 or field == 4:
            if tag & 7 != _VARINT:
                _wrong_wire_type(tag, _VARINT, tag_pos)
            value, pos = _read_varint(data, pos, end)
            if field == 3:
                resp._more = value != 0
            else:
                resp._count = _signed64(value)
        else:
            pos = _skip_field(data, tag_pos, pos, end, tag)
    return resp


# --- encoding ----------------------------------------------------------------


def _varint(value: int) -> bytes:
    value &= _UINT64_MASK
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _bytes_field(field: int, value: bytes) -> bytes:
    return _varint(field << 3 | _LENGTH) + _varint(len(value)) + value if value else b""


def _varint_field(field: int, value: int) -> bytes:
    return _varint(field << 3 | _VARINT) + _varint(value) if value else b""


def encode_watch_create(
    key: bytes,
    range_end: bytes = b"",
    *,
    start_revision: int = 0,
    prev_kv: bool = False,
    progress_notify: bool = False,
    fragment: bool = False,
    watch_id: int = 0,
    filters: Iterable[int] = (),
) -> bytes:
    """Encode a WatchRequest carrying a WatchCreateRequest."""
    key = check_key("key", key)
    range_end = check_key("range_end", range_end)
    start_revision = check_count("start_revision", start_revision)
    watch_id = check_count("watch_id", watch_id)
    packed = b"".join(_varint(check_enum("filter", f, WatchFilter)) for f in filters)
    create = b"".join(
        (
            _bytes_field(1, key),
            _bytes_field(2, range_end),
            _varint_field(3, start_revision),
            _varint_field(4, bool(progress_notify)),
            _bytes_field(5, packed),
            _varint_field(6, bool(prev_kv)),
            _varint_field(7, watch_id),
            _varint_field(8, bool(fragment)),
        )
    )
    return _varint(1 << 3 | _LENGTH) + _varint(len(create)) + create


def encode_watch_cancel(watch_id: int) -> bytes:
    """Encode a WatchRequest carrying a WatchCancelRequest."""
    cancel = _varint_field(1, check_count("watch_id", watch_id))
    return _varint(2 << 3 | _LENGTH) + _varint(len(cancel)) + cancel


def encode_watch_progress() -> bytes:
    """Encode a WatchRequest carrying a WatchProgressRequest."""
    return bytes((3 << 3 | _LENGTH, 0))


def encode_range_request(
    key: bytes,
    range_end: bytes = b"",
    *,
    limit: int = 0,
    revision: int = 0,
    keys_only: bool = False,
    count_only: bool = False,
    serializable: bool = False,
    sort_order: int = 0,
    sort_target: int = 0,
) -> bytes:
    """Encode an etcdserverpb.RangeRequest."""
    return b"".join(
        (
            _bytes_field(1, check_key("key", key)),
            _bytes_field(2, check_key("range_end", range_end)),
            _varint_field(3, check_count("limit", limit)),
            _varint_field(4, check_count("revision", revision)),
            _varint_field(5, check_enum("sort_order", sort_order, SortOrder)),
            _varint_field(6, check_enum("sort_target", sort_target, SortTarget)),
            _varint_field(7, bool(serializable)),
            _varint_field(8, bool(keys_only)),
            _varint_field(9, bool(count_only)),
        )
    )


# --- batching ----------------------------------------------------------------


class EventBatch:
    """Events of one watch ready at one moment, in revision order.

    `revision` is the revision up to which the watch has seen everything.
    """

    __slots__ = ("_events", "_revision")

    events: list[Event] = _readonly("events")  # type: ignore[assignment]
    revision: int = _readonly("revision")  # type: ignore[assignment]

    def __init__(self, events: Iterable[Event] = (), revision: int = 0) -> None:
        self._events = list(events)
        self._revision = int(revision)

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events)

    def __repr__(self) -> str:
        return f"<EventBatch revision={self._revision} events={len(self._events)}>"


def batch_events(responses: Iterable[WatchResponse]) -> EventBatch:
    """Join the events of consecutive responses of one watch into one batch.

    Fragments of one revision are joined back together. The batch's revision
    is the revision up to which the responses show every event: the last
    event's revision, or a progress notification's header revision (a
    catching-up watcher's header revision runs ahead of its events, and a
    created or canceled response says nothing about events). Responses must
    come in the order the stream delivered them (ValueError if they go back).
    """
    events: list[Event] = []
    revision = 0
    for resp in responses:
        if not isinstance(resp, WatchResponse):
            raise TypeError(f"batch_events takes WatchResponse objects, got {type(resp).__name__}")
        if resp._events:
            seen = resp._events[-1]._kv._mod_revision
        elif resp._created or resp._canceled:
            continue
        else:
            seen = resp._revision
        if seen < revision:
            raise ValueError(f"responses out of order: revision {seen} after {revision}")
        revision = seen
        events.extend(resp._events)
    batch = EventBatch.__new__(EventBatch)
    batch._events = events
    batch._revision = revision
    return batch


def coalesce(batch: EventBatch) -> EventBatch:
    """Keep only the last event of each key, in revision order."""
    if not isinstance(batch, EventBatch):
        raise TypeError(f"coalesce takes an EventBatch, got {type(batch).__name__}")
    seen: set[bytes] = set()
    kept: list[Event] = []
    for event in reversed(batch._events):
        key = event._kv._key
        if key not in seen:
            seen.add(key)
            kept.append(event)
    kept.reverse()
    out = EventBatch.__new__(EventBatch)
    out._events = kept
    out._revision = batch._revision
    return out


def event_outside_range(resp: WatchResponse, key: bytes, range_end: bytes) -> Event | None:
    """The first event of resp whose key is outside the watched range, or None.

    The range is etcd's: [key, range_end), the one key when range_end is empty,
    every key from key on when range_end is b"\\x00". A watcher checks its
    events with it: a proxy that answers creates out of order could otherwise
    hand it another range's events.
    """
    if not isinstance(resp, WatchResponse):
        raise TypeError(f"event_outside_range takes a WatchResponse, got {type(resp).__name__}")
    if not isinstance(key, bytes) or not isinstance(range_end, bytes):
        raise TypeError("event_outside_range takes key and range_end as bytes")
    to_the_end = range_end == b"\x00"
    for event in resp._events:
        event_key = event._kv._key
        if range_end:
            if event_key < key or (not to_the_end and event_key >= range_end):
                return event
        elif event_key != key:
            return event
    return None
