"""python-etcd3's helpers (etcd3.utils)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..._keys import prefix_range


def increment_last_byte(byte_string: bytes) -> bytes:
    """byte_string with its last byte plus one (python-etcd3's range end of a prefix; see prefix_range_end)."""
    s = bytearray(byte_string)
    s[-1] = s[-1] + 1
    return bytes(s)


def prefix_range_end(prefix: bytes) -> bytes:
    """The range end that covers every key under prefix (trailing 0xff bytes handled, unlike increment_last_byte)."""
    return prefix_range(prefix)[1]


def to_bytes(maybe_bytestring: str | bytes) -> bytes:
    """str as UTF-8 bytes; bytes unchanged."""
    if isinstance(maybe_bytestring, bytes):
        return maybe_bytestring
    return maybe_bytestring.encode("utf-8")


def lease_to_id(lease: Any) -> int:
    """A Lease's id, or the lease id given (0 for none)."""
    if hasattr(lease, "id"):
        return int(lease.id)
    try:
        return int(lease)
    except TypeError:
        return 0


def response_to_event_iterator(response_iterator: Iterable[Any]) -> Iterator[Any]:
    """The events of each watch response in turn."""
    for response in response_iterator:
        yield from response.events
