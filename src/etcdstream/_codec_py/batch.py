"""Batching: the events of a watch ready at one moment, their coalesced form, the range check."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .messages import Event, KeyValue, WatchResponse, _readonly


class EventBatch:
    """Events of one watch ready at one moment, in revision order.

    `revision` is the revision up to which the watch has seen everything.
    """

    __slots__ = ("_events", "_revision")

    events: list[Event] = _readonly("events")  # type: ignore[assignment]
    revision: int = _readonly("revision")  # type: ignore[assignment]

    def __init__(self, events: Iterable[Event] = (), revision: int = 0) -> None:
        self._events = list(events)
        self._revision = int(revision)

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events)

    def __repr__(self) -> str:
        return f"<EventBatch revision={self._revision} events={len(self._events)}>"


def batch_events(responses: Iterable[WatchResponse]) -> EventBatch:
    """Join the events of consecutive responses of one watch into one batch.

    Fragments of one revision are joined back together. The batch's revision
    is the revision up to which the responses show every event: the last
    event's revision, or a progress notification's header revision (a
    catching-up watcher's header revision runs ahead of its events, and a
    created or canceled response says nothing about events). Responses must
    come in the order the stream delivered them (ValueError if they go back).
    """
    events: list[Event] = []
    revision = 0
    for resp in responses:
        if not isinstance(resp, WatchResponse):
            raise TypeError(f"batch_events takes WatchResponse objects, got {type(resp).__name__}")
        if resp._events:
            seen = resp._events[-1]._kv._mod_revision
        elif resp._created or resp._canceled:
            continue
        else:
            seen = resp._revision
        if seen < revision:
            raise ValueError(f"responses out of order: revision {seen} after {revision}")
        revision = seen
        events.extend(resp._events)
    batch = EventBatch.__new__(EventBatch)
    batch._events = events
    batch._revision = revision
    return batch


def coalesce(batch: EventBatch) -> EventBatch:
    """Keep only the last event of each key, in revision order."""
    if not isinstance(batch, EventBatch):
        raise TypeError(f"coalesce takes an EventBatch, got {type(batch).__name__}")
    seen: set[bytes] = set()
    kept: list[Event] = []
    for event in reversed(batch._events):
        key = event._kv._key
        if key not in seen:
            seen.add(key)
            kept.append(event)
    kept.reverse()
    out = EventBatch.__new__(EventBatch)
    out._events = kept
    out._revision = batch._revision
    return out


def event_out_of_order(resp: WatchResponse, after_revision: int) -> Event | None:
    """The first event of resp at or below after_revision, or below the event before it, or None.

    etcd promises each watch its events once, in revision order (the events of
    one revision may be several: a txn). A watcher checks every response with
    it against the revision it has delivered up to, so that an old server's bug
    or a mixed-up stream is caught before anything of it is delivered.
    """
    if not isinstance(resp, WatchResponse):
        raise TypeError(f"event_out_of_order takes a WatchResponse, got {type(resp).__name__}")
    floor = after_revision + 1
    for event in resp._events:
        revision = event._kv._mod_revision
        if revision < floor:
            return event
        floor = revision
    return None


def event_outside_range(resp: WatchResponse, key: bytes, range_end: bytes) -> Event | None:
    """The first event of resp whose key is outside the watched range, or None.

    The range is etcd's: [key, range_end), the one key when range_end is empty,
    every key from key on when range_end is b"\\x00". A watcher checks its
    events with it: a proxy that answers creates out of order could otherwise
    hand it another range's events.
    """
    if not isinstance(resp, WatchResponse):
        raise TypeError(f"event_outside_range takes a WatchResponse, got {type(resp).__name__}")
    if not isinstance(key, bytes) or not isinstance(range_end, bytes):
        raise TypeError("event_outside_range takes key and range_end as bytes")
    to_the_end = range_end == b"\x00"
    for event in resp._events:
        event_key = event._kv._key
        if range_end:
            if event_key < key or (not to_the_end and event_key >= range_end):
                return event
        elif event_key != key:
            return event
    return None


def _key_without_prefix(key: bytes, prefix: bytes) -> bytes:
    if not key.startswith(prefix):
        raise ValueError(f"key {key!r} is outside the namespace {prefix!r}")
    return key[len(prefix):]


def _kv_without_prefix(kv: KeyValue, prefix: bytes) -> KeyValue:
    return KeyValue(_key_without_prefix(kv._key, prefix), kv._value, kv._create_revision, kv._mod_revision,
                    kv._version, kv._lease)


def without_prefix(items: Iterable[KeyValue | Event], prefix: bytes) -> list[KeyValue | Event]:
    """Copies of items (KeyValue or Event objects, an Event's kv and prev_kv alike) whose keys lose
    the leading prefix: what a namespace shows of etcd's keys. ValueError for a key outside it."""
    if not isinstance(prefix, bytes):
        raise TypeError(f"without_prefix takes the prefix as bytes, got {type(prefix).__name__}")
    out: list[KeyValue | Event] = []
    for item in items:
        if isinstance(item, Event):
            prev = item._prev_kv
            out.append(Event(item._type, _kv_without_prefix(item._kv, prefix),
                             None if prev is None else _kv_without_prefix(prev, prefix)))
        elif isinstance(item, KeyValue):
            out.append(_kv_without_prefix(item, prefix))
        else:
            raise TypeError(f"without_prefix takes KeyValue or Event objects, got {type(item).__name__}")
    return out
