"""python-etcd3's transaction building blocks: compares written `Value(key) == b"x"`, `Version(key) > 0`, ...,
and the Put, Get, Delete and Txn operations."""

from __future__ import annotations

from typing import Any

from ..._proto import Compare
from .utils import lease_to_id, to_bytes

_OPERATORS = {Compare.EQUAL: "==", Compare.NOT_EQUAL: "!=", Compare.LESS: "<",
              Compare.GREATER: ">"}


class BaseCompare:
    """A comparison on key (or [key, range_end)); the operator applied to it sets op and value."""

    def __init__(self, key: str | bytes, range_end: str | bytes | None = None) -> None:
        self.key = key
        self.range_end = range_end
        self.value: Any = None
        self.op: int | None = None

    def _compare(self, op: int, other: Any) -> BaseCompare:
        self.value, self.op = other, op
        return self

    def __eq__(self, other: Any) -> BaseCompare:  # type: ignore[override]
        return self._compare(Compare.EQUAL, other)

    def __ne__(self, other: Any) -> BaseCompare:  # type: ignore[override]
        return self._compare(Compare.NOT_EQUAL, other)

    def __lt__(self, other: Any) -> BaseCompare:
        return self._compare(Compare.LESS, other)

    def __gt__(self, other: Any) -> BaseCompare:
        return self._compare(Compare.GREATER, other)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        keys = self.key if self.range_end is None else f"[{self.key}, {self.range_end})"
        return f"{type(self)}: {keys} {_OPERATORS.get(self.op)} '{self.value}'"  # type: ignore[arg-type]

    def build_message(self) -> Any:
        compare = Compare()
        compare.key = to_bytes(self.key)
        if self.range_end is not None:
            compare.range_end = to_bytes(self.range_end)
        if self.op is None:
            raise ValueError("op must be one of =, !=, < or >")
        compare.result = self.op
        self.build_compare(compare)
        return compare

    def build_compare(self, compare: Any) -> None:
        raise NotImplementedError


class Value(BaseCompare):
    def build_compare(self, compare: Any) -> None:
        compare.target = Compare.VALUE
        compare.value = to_bytes(self.value)


class Version(BaseCompare):
    def build_compare(self, compare: Any) -> None:
        compare.target = Compare.VERSION
        compare.version = int(self.value)


class Create(BaseCompare):
    def build_compare(self, compare: Any) -> None:
        compare.target = Compare.CREATE
        compare.create_revision = int(self.value)


class Mod(BaseCompare):
    def build_compare(self, compare: Any) -> None:
        compare.target = Compare.MOD
        compare.mod_revision = int(self.value)


class Lease(BaseCompare):
    def build_compare(self, compare: Any) -> None:
        compare.target = Compare.LEASE
        compare.lease = lease_to_id(self.value)


class Put:
    def __init__(self, key: str | bytes, value: str | bytes, lease: Any = None, prev_kv: bool = False) -> None:
        self.key, self.value, self.lease, self.prev_kv = key, value, lease, prev_kv


class Get:
    def __init__(self, key: str | bytes, range_end: str | bytes | None = None) -> None:
        self.key, self.range_end = key, range_end


class Delete:
    def __init__(self, key: str | bytes, range_end: str | bytes | None = None, prev_kv: bool = False) -> None:
        self.key, self.range_end, self.prev_kv = key, range_end, prev_kv


class Txn:
    def __init__(self, compare: list[BaseCompare], success: list[Any] | None = None,
                 failure: list[Any] | None = None) -> None:
        self.compare, self.success, self.failure = compare, success, failure
