"""Keys and values as etcd wants them: bytes, and the range end of a prefix."""

from __future__ import annotations

from typing import TypeAlias

Key: TypeAlias = str | bytes  #: a key or value: str (encoded as UTF-8) or bytes


def to_bytes(name: str, value: object, *, allow_empty: bool = True) -> bytes:
    """Return value as bytes (str is UTF-8 encoded); TypeError for other types, ValueError if empty and not allowed."""
    if isinstance(value, str):
        data = value.encode()
    elif isinstance(value, bytes):
        data = value
    else:
        raise TypeError(f"{name} must be str or bytes, got {type(value).__name__}")
    if not data and not allow_empty:
        raise ValueError(f"{name} must not be empty (etcd has no empty key)")
    return data


def prefix_range(prefix: bytes) -> tuple[bytes, bytes]:
    """Return (key, range_end) covering every key that starts with prefix.

    The range end is the prefix with its last byte incremented; trailing 0xFF
    bytes cannot be incremented and are dropped first. A prefix of only 0xFF
    bytes, or an empty one, has no such end: b"\\0" tells etcd "to the end".
    """
    if not prefix:
        return b"\0", b"\0"
    end = bytearray(prefix)
    while end and end[-1] == 0xFF:
        end.pop()
    if not end:
        return prefix, b"\0"
    end[-1] += 1
    return prefix, bytes(end)


def key_range(key: Key, range_end: Key | None = None, *, prefix: bool = False,
              from_key: bool = False) -> tuple[bytes, bytes]:
    """etcd's (key, range_end) for one key, [key, range_end), every key under the prefix key (prefix=True), or
    every key from key on (from_key=True); an empty key with prefix or from_key: every key."""
    if (range_end is not None) + bool(prefix) + bool(from_key) > 1:
        raise ValueError("give at most one of range_end, prefix=True and from_key=True")
    start = to_bytes("prefix" if prefix else "key", key)
    if prefix:
        return prefix_range(start)
    if from_key:
        return start or b"\0", b"\0"
    if not start:
        raise ValueError("key must not be empty (etcd has no empty key; from_key=True covers every key)")
    if range_end is None:
        return start, b""
    return start, to_bytes("range_end", range_end, allow_empty=False)
