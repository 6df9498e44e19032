"""python-etcd3's watch events: PutEvent and DeleteEvent, whose attributes are the KeyValue's (prev_* the
previous KeyValue's)."""

from __future__ import annotations

from typing import Any

from ..._types import EventType
from ...codec import KeyValue

_ABSENT = KeyValue()  # what protobuf shows for an unset prev_kv: empty key and value, zero revisions


class Event:
    def __init__(self, event: Any) -> None:
        self.key = event.kv.key
        self._event = event

    def __getattr__(self, name: str) -> Any:
        if name.startswith("prev_"):
            prev = self._event.prev_kv
            return getattr(_ABSENT if prev is None else prev, name[5:])
        return getattr(self._event.kv, name)

    def __str__(self) -> str:
        return f"{type(self)} key={self.key!r} value={self.value!r}"


class PutEvent(Event):
    pass


class DeleteEvent(Event):
    pass


def new_event(event: Any) -> Event:
    """A PutEvent or DeleteEvent around an etcdstream (or protobuf) event."""
    if event.type == EventType.PUT:
        return PutEvent(event)
    if event.type == EventType.DELETE:
        return DeleteEvent(event)
    raise ValueError(f"invalid event type {event.type!r}")
