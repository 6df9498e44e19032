"""Building blocks of a transaction: Compare, and the Get/Put/Delete operations it runs."""

from __future__ import annotations

from dataclasses import dataclass

from ._keys import Key, prefix_range, to_bytes

__all__ = ["Compare", "Delete", "Get", "Put"]

_TARGETS = ("version", "create_revision", "mod_revision", "value", "lease")
_OPS = ("==", "!=", "<", ">")


@dataclass(frozen=True, slots=True, init=False)
class Compare:
    """One comparison of a txn: ``Compare(key, target, op, value)``.

    target is "version", "create_revision", "mod_revision", "value" or "lease";
    op is "==", "!=", "<" or ">". ``Compare(k, "create_revision", "==", 0)``
    holds when k does not exist.
    """

    key: bytes
    target: str
    op: str
    value: int | bytes

    def __init__(self, key: Key, target: str, op: str, value: int | bytes | str) -> None:
        if target not in _TARGETS:
            raise ValueError(f"Compare target must be one of {', '.join(_TARGETS)}; got {target!r}")
        if op not in _OPS:
            raise ValueError(f"Compare op must be one of {' '.join(_OPS)}; got {op!r}")
        if target == "value":
            value = to_bytes("value", value)
        elif not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"Compare on {target} takes an int, got {type(value).__name__}")
        object.__setattr__(self, "key", to_bytes("key", key, allow_empty=False))
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "value", value)


@dataclass(frozen=True, slots=True, init=False)
class Get:
    """A txn operation reading a key (or every key under it with prefix=True)."""

    key: bytes
    range_end: bytes
    keys_only: bool

    def __init__(self, key: Key, *, prefix: bool = False, keys_only: bool = False) -> None:
        key_bytes = to_bytes("key", key, allow_empty=prefix)
        start, end = prefix_range(key_bytes) if prefix else (key_bytes, b"")
        object.__setattr__(self, "key", start)
        object.__setattr__(self, "range_end", end)
        object.__setattr__(self, "keys_only", bool(keys_only))


@dataclass(frozen=True, slots=True, init=False)
class Put:
    """A txn operation writing a key, optionally attached to a lease (an id)."""

    key: bytes
    value: bytes
    lease: int
    prev_kv: bool

    def __init__(self, key: Key, value: Key, *, lease: int = 0, prev_kv: bool = False) -> None:
        if not isinstance(lease, int) or lease < 0:
            raise TypeError(f"lease must be a lease id (int >= 0), got {lease!r}")
        object.__setattr__(self, "key", to_bytes("key", key, allow_empty=False))
        object.__setattr__(self, "value", to_bytes("value", value))
        object.__setattr__(self, "lease", lease)
        object.__setattr__(self, "prev_kv", bool(prev_kv))


@dataclass(frozen=True, slots=True, init=False)
class Delete:
    """A txn operation deleting a key (or every key under it with prefix=True)."""

    key: bytes
    range_end: bytes
    prev_kv: bool

    def __init__(self, key: Key, *, prefix: bool = False, prev_kv: bool = False) -> None:
        key_bytes = to_bytes("key", key, allow_empty=prefix)
        start, end = prefix_range(key_bytes) if prefix else (key_bytes, b"")
        object.__setattr__(self, "key", start)
        object.__setattr__(self, "range_end", end)
        object.__setattr__(self, "prev_kv", bool(prev_kv))
