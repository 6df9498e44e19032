"""Namespaces (Go's client/v3/namespace): the keys a client view sees live under a prefix of etcd's keys.

Requests gain the prefix on the way in, results lose it on the way out; a range
that runs to the end of the key space ends at the end of the namespace instead,
so no read, delete, compare or watch reaches outside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from . import codec
from ._keys import prefix_range
from .codec import EventBatch, KeyValue

T = TypeVar("T", KeyValue, codec.Event)


@dataclass(frozen=True, slots=True)
class KeySpace:
    """The prefix under which a client's keys live (b"": etcd's whole key space)."""

    prefix: bytes = b""

    def key(self, key: bytes) -> bytes:
        """etcd's key for a key of the namespace."""
        return self.prefix + key

    def interval(self, key: bytes, range_end: bytes) -> tuple[bytes, bytes]:
        """etcd's (key, range_end) for a range of the namespace (as Go's prefixInterval): range_end b"" (one
        key) stays; b"\\0" (to the end) becomes the end of the namespace."""
        if not self.prefix:
            return key, range_end
        if range_end == b"\0":
            return self.prefix + key, prefix_range(self.prefix)[1]
        return self.prefix + key, self.prefix + range_end if range_end else b""

    def strip(self, items: list[T]) -> list[T]:
        """KeyValues or Events as the namespace shows them (etcd answers only keys inside it)."""
        return codec.without_prefix(items, self.prefix) if self.prefix else items

    def strip_kv(self, kv: KeyValue | None) -> KeyValue | None:
        """A KeyValue (or None) as the namespace shows it."""
        return kv if kv is None else self.strip([kv])[0]

    def strip_batch(self, batch: EventBatch) -> EventBatch:
        """A watch's EventBatch as the namespace shows it (watchers call it only inside a namespace)."""
        return EventBatch(codec.without_prefix(batch.events, self.prefix), batch.revision)

    def keys_inside(self, keys: Iterable[bytes]) -> list[bytes]:
        """The keys that lie in the namespace, as it shows them (a lease's keys may be anywhere; Go's leasePrefix)."""
        n = len(self.prefix)
        return [key[n:] for key in keys if key.startswith(self.prefix)]

    def child(self, prefix: bytes) -> KeySpace:
        """The namespace `prefix` inside this one."""
        return KeySpace(self.prefix + prefix)


#: etcd's whole key space: a client that is not a namespace view.
ROOT = KeySpace()
