"""etcdstream: an etcd v3 client over native gRPC with a compiled codec for watch and range responses."""

from ._errors import DecodeError, EtcdError
from ._types import EventType, SortOrder, SortTarget, WatchFilter
from .codec import Event, EventBatch, KeyValue

__all__ = [
    "DecodeError",
    "EtcdError",
    "Event",
    "EventBatch",
    "EventType",
    "KeyValue",
    "SortOrder",
    "SortTarget",
    "WatchFilter",
]
__version__ = "0.1.0"
