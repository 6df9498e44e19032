"""Encoders of the requests the hot path sends: watch create, cancel and progress, range."""

from __future__ import annotations

from collections.abc import Iterable

from .._types import SortOrder, SortTarget, WatchFilter
from .._validate import check_count, check_enum, check_key
from .reader import _LENGTH, _UINT64_MASK, _VARINT


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
