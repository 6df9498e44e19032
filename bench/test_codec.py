"""Codec benchmarks: compiled vs pure-Python twin vs protobuf (upb), on the same corpus.

Every variant decodes the same bytes and reads type, key, value and
mod_revision of every event (key and value of every key for range pages).
The "floor" variant makes the same objects from precomputed offsets without
parsing (bench/_codec_floor.pyx; build it with `python bench/build_floor.py`):
no decoder can do less.
Run: pytest bench/test_codec.py  (bench/conftest.py prints ratios to the floor and to protobuf).
"""

import pytest
from corpus import range_response, watch_responses

from etcdstream import _codec_py, _proto
from etcdstream import codec as live_codec

WATCH_CORPUS = watch_responses(n_responses=10, events_per_response=1000)
RANGE_PAGE = range_response(10_000)
EVENTS = 10 * 1000

compiled = pytest.importorskip("etcdstream._codec") if live_codec.IMPLEMENTATION == "cython" else None

try:
    import _codec_floor as floor
except ImportError:  # not built: bench/conftest.py says how
    floor = None


def read_events_etcdstream(decode, inputs=WATCH_CORPUS):
    def run():
        for data in inputs:
            for event in decode(data).events:
                event.type, event.key, event.value, event.mod_revision

    return run


def read_events_etcdstream_kv(decode):
    def run():
        for data in WATCH_CORPUS:
            for event in decode(data).events:
                kv = event.kv
                event.type, kv.key, kv.value, kv.mod_revision

    return run


def read_events_protobuf():
    parse = _proto.WatchResponse.FromString
    for data in WATCH_CORPUS:
        for event in parse(data).events:
            kv = event.kv
            event.type, kv.key, kv.value, kv.mod_revision


WATCH_VARIANTS = {
    "protobuf-upb": read_events_protobuf,
    "python": read_events_etcdstream(_codec_py.decode_watch_response),
}
if compiled is not None:
    WATCH_VARIANTS["cython"] = read_events_etcdstream(compiled.decode_watch_response)
    WATCH_VARIANTS["cython-via-kv"] = read_events_etcdstream_kv(compiled.decode_watch_response)
if floor is not None:
    WATCH_VARIANTS["floor"] = read_events_etcdstream(floor.build_watch, [floor.watch_offsets(data) for data in WATCH_CORPUS])


@pytest.mark.parametrize("variant", list(WATCH_VARIANTS))
def test_watch_1000_events(benchmark, variant):
    benchmark.group = "watch response, 1,000 events x 10"
    benchmark.extra_info["items"] = EVENTS
    run = WATCH_VARIANTS[variant]
    run()  # warm up: protobuf builds its per-class tables lazily, the allocators fill their pools
    benchmark(run)


def read_page_etcdstream(decode, page=RANGE_PAGE):
    def run():
        for kv in decode(page).kvs:
            kv.key, kv.value, kv.mod_revision

    return run


def read_page_protobuf():
    for kv in _proto.RangeResponse.FromString(RANGE_PAGE).kvs:
        kv.key, kv.value, kv.mod_revision


RANGE_VARIANTS = {
    "protobuf-upb": read_page_protobuf,
    "python": read_page_etcdstream(_codec_py.decode_range_response),
}
if compiled is not None:
    RANGE_VARIANTS["cython"] = read_page_etcdstream(compiled.decode_range_response)
if floor is not None:
    RANGE_VARIANTS["floor"] = read_page_etcdstream(floor.build_range, floor.range_offsets(RANGE_PAGE))


@pytest.mark.parametrize("variant", list(RANGE_VARIANTS))
def test_range_page_10000_keys(benchmark, variant):
    benchmark.group = "range response, 10,000 keys"
    benchmark.extra_info["items"] = 10_000
    run = RANGE_VARIANTS[variant]
    run()  # warm up, as above
    benchmark(run)


def test_batch_and_coalesce(benchmark):
    codec = compiled or _codec_py
    responses = [codec.decode_watch_response(data) for data in WATCH_CORPUS]
    benchmark.group = "batch_events + coalesce, 10,000 events"
    benchmark.extra_info["items"] = EVENTS
    benchmark(lambda: codec.coalesce(codec.batch_events(responses)))
