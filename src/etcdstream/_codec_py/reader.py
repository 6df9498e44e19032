"""Reading protobuf's wire format: varints, tags, length prefixes, skipping unknown fields, UTF-8."""

from __future__ import annotations

from .._errors import DecodeError

_VARINT, _FIXED64, _LENGTH, _START_GROUP, _END_GROUP, _FIXED32 = 0, 1, 2, 3, 4, 5
_UINT64_MASK = (1 << 64) - 1
_INT64_MAX = (1 << 63) - 1
_MAX_GROUP_DEPTH = 64


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
