"""Decoders of etcd's watch and range responses."""

from __future__ import annotations

from .._types import EventType
from .messages import Event, KeyValue, RangeResponse, WatchResponse, _event_type
from .reader import (
    _LENGTH,
    _VARINT,
    _decode_utf8,
    _read_length,
    _read_tag,
    _read_varint,
    _signed32,
    _signed64,
    _skip_field,
    _wrong_wire_type,
)


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
