"""Building blocks of a transaction: Compare, and the Get/Put/Delete/Txn operations it runs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Union

from ._calls import check_int, check_revision
from ._keys import Key, key_range, to_bytes
from ._types import SortOrder, SortTarget
from ._validate import enum_member

__all__ = ["Compare", "Delete", "Get", "Put", "Txn"]

_TARGETS = ("version", "create_revision", "mod_revision", "value", "lease")
_OPS = ("==", "!=", "<", ">")


@dataclass(frozen=True, slots=True, init=False)
class Compare:
    """One comparison of a txn: ``Compare(key, target, op, value)``.

    target is "version", "create_revision", "mod_revision", "value" or "lease"
    (the lease id, 0 for none); op is "==", "!=", "<" or ">".
    ``Compare(k, "create_revision", "==", 0)`` holds when k does not exist.
    Over a range (range_end, prefix=True or from_key=True) it must hold for
    every key in it.
    """

    key: bytes
    target: str
    op: str
    value: int | bytes
    range_end: bytes

    def __init__(self, key: Key, target: str, op: str, value: int | bytes | str, *, range_end: Key | None = None,
                 prefix: bool = False, from_key: bool = False) -> None:
        if target not in _TARGETS:
            raise ValueError(f"Compare target must be one of {', '.join(_TARGETS)}; got {target!r}")
        if op not in _OPS:
            raise ValueError(f"Compare op must be one of {' '.join(_OPS)}; got {op!r}")
        if target == "value":
            value = to_bytes("value", value)
        elif not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"Compare on {target} takes an int, got {type(value).__name__}")
        start, end = key_range(key, range_end, prefix=prefix, from_key=from_key)
        object.__setattr__(self, "key", start)
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "range_end", end)


@dataclass(frozen=True, slots=True, init=False)
class Get:
    """A read of one key, [key, range_end), the keys under the prefix key or every key from key on, with
    every option of etcd's RangeRequest (range() takes the same): as a txn operation, or range()'s request.

    sort_order: a SortOrder or its name as a str, any case ("none", "ascend", "descend"); sort_target: a
    SortTarget or its name ("key", "version", "create_revision" or "create", "mod_revision" or "mod", "value").
    """

    key: bytes
    range_end: bytes
    revision: int
    limit: int
    sort_order: SortOrder
    sort_target: SortTarget
    keys_only: bool
    count_only: bool
    min_mod_revision: int
    max_mod_revision: int
    min_create_revision: int
    max_create_revision: int

    def __init__(self, key: Key, range_end: Key | None = None, *, prefix: bool = False, from_key: bool = False,
                 revision: int | None = None, limit: int = 0, sort_order: SortOrder | str = "none",
                 sort_target: SortTarget | str = "key", keys_only: bool = False, count_only: bool = False,
                 min_mod_revision: int = 0, max_mod_revision: int = 0, min_create_revision: int = 0,
                 max_create_revision: int = 0) -> None:
        start, end = key_range(key, range_end, prefix=prefix, from_key=from_key)
        fields = {
            "key": start, "range_end": end, "revision": check_revision(revision), "limit": check_int("limit", limit, 0),
            "sort_order": enum_member("sort_order", sort_order, SortOrder),
            "sort_target": enum_member("sort_target", sort_target, SortTarget),
            "keys_only": bool(keys_only), "count_only": bool(count_only),
            "min_mod_revision": check_int("min_mod_revision", min_mod_revision, 0),
            "max_mod_revision": check_int("max_mod_revision", max_mod_revision, 0),
            "min_create_revision": check_int("min_create_revision", min_create_revision, 0),
            "max_create_revision": check_int("max_create_revision", max_create_revision, 0),
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    @property
    def revision_filters(self) -> dict[str, int]:
        """The min/max mod/create revision filters that are set."""
        return {name: value for name in ("min_mod_revision", "max_mod_revision", "min_create_revision",
                                          "max_create_revision") if (value := getattr(self, name))}


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
    """A txn operation deleting one key, [key, range_end), the keys under the prefix key or every key from key on."""

    key: bytes
    range_end: bytes
    prev_kv: bool

    def __init__(self, key: Key, range_end: Key | None = None, *, prefix: bool = False, from_key: bool = False,
                 prev_kv: bool = False) -> None:
        start, end = key_range(key, range_end, prefix=prefix, from_key=from_key)
        object.__setattr__(self, "key", start)
        object.__setattr__(self, "range_end", end)
        object.__setattr__(self, "prev_kv", bool(prev_kv))


#: What a txn runs: reads, writes, deletes and nested transactions.
Operation = Union[Get, Put, "Delete", "Txn"]


@dataclass(frozen=True, slots=True, init=False)
class Txn:
    """A nested transaction, as a txn operation: if every comparison holds, success runs, else failure.
    Its result is a TxnResult. (etcd refuses a nested txn that writes a key twice in all.)"""

    compare: tuple[Compare, ...]
    success: tuple[Operation, ...]
    failure: tuple[Operation, ...]

    def __init__(self, compare: Iterable[Compare], success: Iterable[Operation] = (),
                 failure: Iterable[Operation] = ()) -> None:
        object.__setattr__(self, "compare", checked_compares(compare))
        object.__setattr__(self, "success", checked_operations(success))
        object.__setattr__(self, "failure", checked_operations(failure))


def checked_compares(compare: Iterable[Compare]) -> tuple[Compare, ...]:
    """compare as a tuple, if every item is a Compare, else raise TypeError."""
    compares = tuple(compare)
    for c in compares:
        if not isinstance(c, Compare):
            raise TypeError(f"txn comparisons must be Compare objects, got {type(c).__name__}")
    return compares


def checked_operations(operations: Iterable[Operation]) -> tuple[Operation, ...]:
    """operations as a tuple, if each is a Get, Put, Delete or Txn, else raise TypeError."""
    ops = tuple(operations)
    for op in ops:
        if not isinstance(op, (Get, Put, Delete, Txn)):
            raise TypeError(f"txn operations must be Get, Put, Delete or Txn, got {type(op).__name__}")
    return ops
