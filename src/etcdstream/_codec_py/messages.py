"""The objects the decoders hand to users: KeyValue, Event, WatchResponse, RangeResponse."""

from __future__ import annotations

from operator import attrgetter

from .._types import EventType
from .._validate import enum_member

_EVENT_TYPES = (EventType.PUT, EventType.DELETE)


def _readonly(name: str) -> property:
    return property(attrgetter("_" + name))


class KeyValue:
    """One key of etcd (mvccpb.KeyValue): key and value are bytes, revisions ints."""

    __slots__ = ("_key", "_value", "_create_revision", "_mod_revision", "_version", "_lease")

    key: bytes = _readonly("key")  # type: ignore[assignment]
    value: bytes = _readonly("value")  # type: ignore[assignment]
    create_revision: int = _readonly("create_revision")  # type: ignore[assignment]
    mod_revision: int = _readonly("mod_revision")  # type: ignore[assignment]
    version: int = _readonly("version")  # type: ignore[assignment]
    lease: int = _readonly("lease")  # type: ignore[assignment]

    def __init__(
        self,
        key: bytes = b"",
        value: bytes = b"",
        create_revision: int = 0,
        mod_revision: int = 0,
        version: int = 0,
        lease: int = 0,
    ) -> None:
        self._key = bytes(key)
        self._value = bytes(value)
        self._create_revision = int(create_revision)
        self._mod_revision = int(mod_revision)
        self._version = int(version)
        self._lease = int(lease)

    def _fields(self) -> tuple:
        return (self._key, self._value, self._create_revision, self._mod_revision, self._version, self._lease)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeyValue):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (
            f"KeyValue(key={self._key!r}, value={self._value!r}, create_revision={self._create_revision}, "
            f"mod_revision={self._mod_revision}, version={self._version}, lease={self._lease})"
        )


class Event:
    """A change to one key (mvccpb.Event): `type`, `kv`, `prev_kv` (None unless asked for).

    Event(type, kv, prev_kv=None): type an EventType, its name as a str in any case ("put", "delete"), or
    the number etcd sends (a type newer than this client stays a plain int).
    """

    __slots__ = ("_type", "_kv", "_prev_kv")

    type: EventType = _readonly("type")  # type: ignore[assignment]
    kv: KeyValue = _readonly("kv")  # type: ignore[assignment]
    prev_kv: KeyValue | None = _readonly("prev_kv")  # type: ignore[assignment]

    def __init__(self, type: EventType | str | int, kv: KeyValue, prev_kv: KeyValue | None = None) -> None:
        if not isinstance(kv, KeyValue) or not (prev_kv is None or isinstance(prev_kv, KeyValue)):
            raise TypeError("kv and prev_kv must be KeyValue objects")
        self._type = _event_type(type if isinstance(type, int) else enum_member("type", type, EventType))
        self._kv = kv
        self._prev_kv = prev_kv

    @property
    def key(self) -> bytes:
        """The event's key (kv.key)."""
        return self._kv._key

    @property
    def value(self) -> bytes:
        """The value after the event (kv.value); empty for a DELETE."""
        return self._kv._value

    @property
    def mod_revision(self) -> int:
        """The revision of the event (kv.mod_revision)."""
        return self._kv._mod_revision

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (self._type, self._kv, self._prev_kv) == (other._type, other._kv, other._prev_kv)

    def __hash__(self) -> int:
        return hash((self._type, self._kv, self._prev_kv))

    def __repr__(self) -> str:
        return f"Event(type={self._type!r}, kv={self._kv!r}, prev_kv={self._prev_kv!r})"


def _event_type(value: int) -> int:
    # Open enum, as in proto3: a type newer than this client stays a plain int.
    return _EVENT_TYPES[value] if 0 <= value <= 1 else value


class _Header:
    """ResponseHeader fields, shared by the response classes."""

    __slots__ = ()

    revision: int = _readonly("revision")  # type: ignore[assignment]
    cluster_id: int = _readonly("cluster_id")  # type: ignore[assignment]
    member_id: int = _readonly("member_id")  # type: ignore[assignment]
    raft_term: int = _readonly("raft_term")  # type: ignore[assignment]


class WatchResponse(_Header):
    """A decoded etcdserverpb.WatchResponse; `revision` is the header's revision."""

    __slots__ = (
        "_revision",
        "_cluster_id",
        "_member_id",
        "_raft_term",
        "_watch_id",
        "_created",
        "_canceled",
        "_compact_revision",
        "_cancel_reason",
        "_fragment",
        "_events",
    )

    watch_id: int = _readonly("watch_id")  # type: ignore[assignment]
    created: bool = _readonly("created")  # type: ignore[assignment]
    canceled: bool = _readonly("canceled")  # type: ignore[assignment]
    compact_revision: int = _readonly("compact_revision")  # type: ignore[assignment]
    cancel_reason: str = _readonly("cancel_reason")  # type: ignore[assignment]
    fragment: bool = _readonly("fragment")  # type: ignore[assignment]
    events: list[Event] = _readonly("events")  # type: ignore[assignment]

    def __init__(self) -> None:
        self._revision = self._cluster_id = self._member_id = self._raft_term = 0
        self._watch_id = self._compact_revision = 0
        self._created = self._canceled = self._fragment = False
        self._cancel_reason = ""
        self._events: list[Event] = []

    def __repr__(self) -> str:
        return (
            f"<WatchResponse watch_id={self._watch_id} revision={self._revision} events={len(self._events)} "
            f"created={self._created} canceled={self._canceled} compact_revision={self._compact_revision} "
            f"fragment={self._fragment}>"
        )


class RangeResponse(_Header):
    """A decoded etcdserverpb.RangeResponse; `revision` is the header's revision."""

    __slots__ = ("_revision", "_cluster_id", "_member_id", "_raft_term", "_kvs", "_more", "_count")

    kvs: list[KeyValue] = _readonly("kvs")  # type: ignore[assignment]
    more: bool = _readonly("more")  # type: ignore[assignment]
    count: int = _readonly("count")  # type: ignore[assignment]

    def __init__(self) -> None:
        self._revision = self._cluster_id = self._member_id = self._raft_term = 0
        self._kvs: list[KeyValue] = []
        self._more = False
        self._count = 0

    def __repr__(self) -> str:
        return f"<RangeResponse revision={self._revision} kvs={len(self._kvs)} more={self._more} count={self._count}>"
