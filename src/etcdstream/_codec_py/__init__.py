"""Pure-Python twin of the compiled codec (cext/_codec.pyx).

It has the same public surface and the same behaviour, byte for byte, and is
the source of the codec's types. Both are tested with the same test bodies.
Decoding follows protobuf's rules for proto3: absent fields are defaults, a
repeated occurrence of a scalar field wins, a repeated occurrence of a
message field merges into the first, unknown fields are skipped by wire type.
Unlike protobuf, a known field with the wrong wire type is an error.

Its modules follow cext's includes: reader (the wire format), messages (the
decoded objects), decode, encode and batch; this package re-exports their
public names.
"""

from __future__ import annotations

from .._errors import DecodeError
from .._types import EventType
from .batch import EventBatch, batch_events, coalesce, event_out_of_order, event_outside_range, without_prefix
from .decode import decode_range_response, decode_watch_response
from .encode import encode_range_request, encode_watch_cancel, encode_watch_create, encode_watch_progress
from .messages import Event, KeyValue, RangeResponse, WatchResponse

__all__ = [
    "DecodeError",
    "Event",
    "EventBatch",
    "EventType",
    "KeyValue",
    "RangeResponse",
    "WatchResponse",
    "batch_events",
    "coalesce",
    "decode_range_response",
    "decode_watch_response",
    "encode_range_request",
    "encode_watch_cancel",
    "encode_watch_create",
    "encode_watch_progress",
    "event_out_of_order",
    "event_outside_range",
    "without_prefix",
]

# The public objects are this package's, as the compiled ones are etcdstream._codec's:
# reprs and pickles name etcdstream._codec_py, not the submodule that defines them.
for _name in __all__:
    _obj = globals()[_name]
    if _obj.__module__.startswith(__name__ + "."):
        _obj.__module__ = __name__
del _name, _obj
