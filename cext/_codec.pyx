# cython: language_level=3, freethreading_compatible=False
"""Compiled codec of etcdstream: decodes watch and range responses, batches events.

Its pure-Python twin is the package etcdstream/_codec_py/: same surface, same behaviour.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.set cimport PySet_Add, PySet_Contains
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy

from etcdstream._errors import DecodeError
from etcdstream._types import EventType, SortOrder, SortTarget, WatchFilter
from etcdstream._validate import check_count, check_enum, check_key, enum_member

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

include "reader.pxi"
include "messages.pxi"
include "decode.pxi"
include "encode.pxi"
include "batch.pxi"
