"""Differential property tests: each codec against protobuf's own parse, and against each other.

Messages are built field by field in random order, with repeats, defaults
written out and unknown fields of every wire type at every level; protobuf's
parse of the very same bytes is the expected result.
"""

import importlib
import os

import pytest
from _wire import (
    END_GROUP,
    FIXED32,
    FIXED64,
    START_GROUP,
    bytes_field,
    pb_range_tuple,
    pb_watch_tuple,
    range_tuple,
    tag,
    varint_field,
    watch_tuple,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etcdstream import DecodeError

settings.register_profile(
    "default", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# ETCDSTREAM_FUZZ_EXAMPLES=1000000 for a long run (see README).
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("ETCDSTREAM_FUZZ_EXAMPLES", "0") or 0) or 200,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile("fuzz" if os.environ.get("ETCDSTREAM_FUZZ_EXAMPLES") else "default")

int64 = st.one_of(st.integers(0, 2000), st.integers(-(2**63), 2**63 - 1))
uint64 = st.one_of(st.integers(0, 2000), st.integers(0, 2**64 - 1))
boolean = st.one_of(st.integers(0, 1), st.integers(0, 2**64 - 1))
raw = st.binary(max_size=48)

# Field numbers from 12 up are unknown in every message decoded here.
unknown_number = st.integers(12, 2**29 - 1)
leaf_unknown = st.one_of(
    st.builds(varint_field, unknown_number, uint64),
    st.builds(lambda n, b: tag(n, FIXED64) + b, unknown_number, st.binary(min_size=8, max_size=8)),
    st.builds(lambda n, b: tag(n, FIXED32) + b, unknown_number, st.binary(min_size=4, max_size=4)),
    st.builds(bytes_field, unknown_number, raw),
)
unknown = st.one_of(
    leaf_unknown,
    st.builds(
        lambda n, inner: tag(n, START_GROUP) + b"".join(inner) + tag(n, END_GROUP),
        unknown_number,
        st.lists(leaf_unknown, max_size=3),
    ),
)


def message(*field_strategies):
    """Any number of the given fields and unknown ones, in any order, repeats allowed."""
    return st.lists(st.one_of(*field_strategies, unknown), max_size=10).map(b"".join)


key_value = message(
    st.builds(bytes_field, st.just(1), raw),
    st.builds(varint_field, st.just(2), int64),
    st.builds(varint_field, st.just(3), int64),
    st.builds(varint_field, st.just(4), int64),
    st.builds(bytes_field, st.just(5), st.binary(max_size=200)),
    st.builds(varint_field, st.just(6), int64),
)
event = message(
    st.builds(varint_field, st.just(1), st.one_of(st.integers(0, 1), st.integers(-(2**31), 2**31 - 1))),
    st.builds(bytes_field, st.just(2), key_value),
    st.builds(bytes_field, st.just(3), key_value),
)
header = message(*(st.builds(varint_field, st.just(n), uint64 if n != 3 else int64) for n in (1, 2, 3, 4)))
watch_response = message(
    st.builds(bytes_field, st.just(1), header),
    st.builds(varint_field, st.just(2), int64),
    st.builds(varint_field, st.just(3), boolean),
    st.builds(varint_field, st.just(4), boolean),
    st.builds(varint_field, st.just(5), int64),
    st.builds(bytes_field, st.just(6), st.text(max_size=30).map(str.encode)),
    st.builds(varint_field, st.just(7), boolean),
    st.builds(bytes_field, st.just(11), event),
    st.builds(bytes_field, st.just(11), event),
)
range_response = message(
    st.builds(bytes_field, st.just(1), header),
    st.builds(bytes_field, st.just(2), key_value),
    st.builds(bytes_field, st.just(2), key_value),
    st.builds(varint_field, st.just(3), boolean),
    st.builds(varint_field, st.just(4), int64),
)


@given(data=watch_response)
def test_watch_responses_decode_as_protobuf_does(codec, data):
    assert watch_tuple(codec.decode_watch_response(data)) == pb_watch_tuple(data)


@given(data=range_response)
def test_range_responses_decode_as_protobuf_does(codec, data):
    assert range_tuple(codec.decode_range_response(data)) == pb_range_tuple(data)


def outcome(decode, view, data):
    """What decoding gives: the plain values, or the DecodeError's reason and offset."""
    try:
        return view(decode(data))
    except DecodeError as error:
        return ("DecodeError", error.reason, error.offset)


@st.composite
def mutated(draw, valid):
    """A valid message with bytes flipped, inserted, deleted or cut off."""
    data = bytearray(draw(valid))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        if action == "insert" or not data:
            data[where:where] = draw(st.binary(min_size=1, max_size=4))
        elif action == "flip":
            data[min(where, len(data) - 1)] ^= draw(st.integers(1, 255))
        elif action == "delete":
            del data[where : where + draw(st.integers(1, 4))]
        else:
            del data[where:]
    return bytes(data)


IMPLEMENTATIONS = ["etcdstream._codec_py", "etcdstream._codec"]
both_codecs = pytest.mark.skipif(
    os.environ.get("ETCDSTREAM_NO_EXTENSIONS", "") not in ("", "0"), reason="compiled codec disabled"
)


def check_any_bytes(data, decoder, view, pb_view):
    """Both codecs give the same outcome; a successful decode is protobuf's decode too."""
    results = [
        outcome(getattr(importlib.import_module(name), decoder), view, data) for name in IMPLEMENTATIONS
    ]
    assert results[0] == results[1]
    if results[0][0] != "DecodeError":
        assert results[0] == pb_view(data)


@both_codecs
@given(data=st.one_of(st.binary(max_size=300), mutated(watch_response)))
def test_any_bytes_give_a_response_or_decode_error_watch(data):
    check_any_bytes(data, "decode_watch_response", watch_tuple, pb_watch_tuple)


@both_codecs
@given(data=st.one_of(st.binary(max_size=300), mutated(range_response)))
def test_any_bytes_give_a_response_or_decode_error_range(data):
    check_any_bytes(data, "decode_range_response", range_tuple, pb_range_tuple)
