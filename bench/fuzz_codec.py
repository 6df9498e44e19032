"""Mutation fuzzing of the codec: only DecodeError may come out of the decoders.

    python bench/fuzz_codec.py [COUNT] [SEED] [--impl c|py] [--twin-every N]

Inputs are random bytes and valid watch and range responses (bench/corpus.py
plus hand-made ones: prev_kv, DELETE, created/canceled with a reason,
negative int64, unknown fields of every wire type, groups), with bytes
flipped, inserted, deleted, cut off, spliced from another seed, or replaced by
over-long varints. Each input goes through decode_watch_response and
decode_range_response; the watch responses that decode are batched
(batch_events over the last 1-4 of them, then coalesce) and checked against a
model of both: the batch holds every event in order with the right revision
(or a ValueError for responses that go back), and coalesce keeps the last
event of each key, in order. Every field of every result is read (Event.kv is
built lazily by the compiled codec), repr'd and pickled.

--impl c (the default when compiled) fuzzes the compiled module and runs the
pure-Python twin on every Nth input too (--twin-every, 50 by default; 1 in CI),
whose results must be equal; --impl py fuzzes the twin alone. A crash ends
the process (the point of the run; under AddressSanitizer, see
bench/asan_fuzz.sh, so does any out-of-bounds access); any other exception or
disagreement is printed with the seed and the input, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import os
import pickle
import random
import sys
import time
from collections import Counter
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # corpus.py, when run from elsewhere

from corpus import range_response, watch_responses  # noqa: E402

from etcdstream import DecodeError, _codec_py, _proto  # noqa: E402


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


# One unknown field of each wire type (varint, fixed64, bytes, group, fixed32), field number 99.
UNKNOWN_FIELDS = (
    _varint(99 << 3 | 0) + _varint(-1)
    + _varint(99 << 3 | 1) + bytes(8)
    + _varint(99 << 3 | 2) + b"\x03abc"
    + _varint(99 << 3 | 3) + _varint(7 << 3 | 0) + b"\x01" + _varint(99 << 3 | 4)
    + _varint(99 << 3 | 5) + bytes(4)
)


def seeds() -> list[bytes]:
    """Valid responses covering every field the decoders read, and unknown ones they skip."""
    out = list(watch_responses(4, 5)) + [range_response(5)]
    header = _proto.ResponseHeader(cluster_id=1 << 63, member_id=2, revision=90, raft_term=3)
    kv = _proto.KeyValue(key=b"/k", value=b"v", create_revision=-5, mod_revision=88, version=2, lease=-1)
    events = [
        _proto.Event(type=_proto.Event.PUT, kv=kv, prev_kv=_proto.KeyValue(key=b"/k", value=b"old", mod_revision=7)),
        _proto.Event(type=_proto.Event.DELETE, kv=_proto.KeyValue(key=b"/k", mod_revision=89)),
        _proto.Event(type=_proto.Event.PUT, kv=_proto.KeyValue(key=b"/j\xff", value=b"\x00" * 3, mod_revision=90)),
    ]
    out += [
        _proto.WatchResponse(header=header, watch_id=3, events=events, fragment=True).SerializeToString(),
        _proto.WatchResponse(header=header, watch_id=-1, created=True).SerializeToString(),
        _proto.WatchResponse(header=header, canceled=True, compact_revision=40,
                             cancel_reason="mvcc: required revision has been compacted é").SerializeToString(),
        _proto.WatchResponse(header=header).SerializeToString(),  # a progress notification
        _proto.RangeResponse(header=header, kvs=[kv, kv], more=True, count=-2).SerializeToString(),
        b"",
    ]
    # Unknown fields at the top level and inside the header, an event and a key.
    unknown_inside = _proto.WatchResponse.FromString(out[-6])
    unknown_inside.header.MergeFromString(UNKNOWN_FIELDS)
    unknown_inside.events[0].MergeFromString(UNKNOWN_FIELDS)
    unknown_inside.events[0].kv.MergeFromString(UNKNOWN_FIELDS)
    out.append(unknown_inside.SerializeToString() + UNKNOWN_FIELDS)
    out.append(out[-2] + UNKNOWN_FIELDS + _proto.RangeResponse(kvs=[kv]).SerializeToString())
    return out


# Varints a decoder must reject or read right: over-long, the largest, negative int64, 2^63.
NASTY_VARINTS = [b"\xff" * 10 + b"\x01", b"\x80" * 11, b"\xff" * 9 + b"\x01", b"\x80" * 9 + b"\x01",
                 b"\xff\xff\xff\xff\x0f", b"\x80\x80\x80\x80\x10"]


def mutate(rng: random.Random, data: bytes, corpus: list[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 4))):  # mostly one change: more inputs decode and reach batching
        where = rng.randint(0, len(out))
        action = rng.random()
        if action < 0.3 and out:
            out[min(where, len(out) - 1)] ^= rng.randint(1, 255)
        elif action < 0.45:
            out[where:where] = rng.randbytes(rng.randint(1, 8))
        elif action < 0.6:
            del out[where : where + rng.randint(1, 8)]
        elif action < 0.7:
            del out[where:]
        elif action < 0.85:
            out[where : where + rng.randint(0, 2)] = rng.choice(NASTY_VARINTS)
        else:
            other = rng.choice(corpus)
            start = rng.randint(0, len(other))
            out[where:] = other[start : start + rng.randint(1, 64)]
    return bytes(out)


def kv_fields(kv: Any) -> tuple:
    return (kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)


def event_fields(event: Any) -> tuple:
    prev = event.prev_kv
    kv = event.kv
    assert (event.key, event.value, event.mod_revision) == (kv.key, kv.value, kv.mod_revision)
    return (int(event.type), kv_fields(kv), None if prev is None else kv_fields(prev))


def outcome(decode: Any, data: bytes) -> tuple:
    """What decoding data gives, as plain values: every field, or the DecodeError's reason and offset."""
    try:
        resp = decode(data)
    except DecodeError as e:
        return ("DecodeError", e.reason, e.offset)
    header = (resp.revision, resp.cluster_id, resp.member_id, resp.raft_term)
    repr(resp)
    if hasattr(resp, "events"):
        return ("watch", header, resp.watch_id, resp.created, resp.canceled, resp.compact_revision,
                resp.cancel_reason, resp.fragment, tuple(event_fields(e) for e in resp.events), resp)
    return ("range", header, resp.more, resp.count, tuple(kv_fields(kv) for kv in resp.kvs), resp)


def plain(result: tuple) -> tuple:
    """An outcome without the response object (which differs in type between implementations)."""
    return result if result[0] == "DecodeError" else result[:-1]


def model_batch(responses: list[Any]) -> tuple:
    """batch_events as documented: every event in order; the revision seen up to; ValueError going back."""
    events: list[Any] = []
    revision = 0
    for resp in responses:
        if resp.events:
            seen = resp.events[-1].mod_revision
        elif resp.created or resp.canceled:
            continue
        else:
            seen = resp.revision
        if seen < revision:
            return ("ValueError",)
        revision = seen
        events += resp.events
    return ("batch", revision, [event_fields(e) for e in events])


def model_coalesce(events: list[tuple]) -> list[tuple]:
    last = {fields[1][0]: i for i, fields in enumerate(events)}
    return [fields for i, fields in enumerate(events) if last[fields[1][0]] == i]


def batch_outcome(codec: Any, responses: list[Any]) -> tuple:
    """batch_events, then coalesce, over decoded responses, checked against the models."""
    try:
        batch = codec.batch_events(responses)
    except ValueError:
        got: tuple = ("ValueError",)
    else:
        events = [event_fields(e) for e in batch]
        assert len(batch) == len(events) and [event_fields(e) for e in batch.events] == events
        got = ("batch", batch.revision, events)
        repr(batch)
        coalesced = codec.coalesce(batch)
        assert coalesced.revision == batch.revision
        assert [event_fields(e) for e in coalesced] == model_coalesce(events), "coalesce differs from the model"
        got += ([event_fields(e) for e in coalesced],)
    want = model_batch(responses)
    assert got[:3] == want, f"batch_events differs from the model: {got[:3]} != {want}"
    return got


def check_pickle(resp: Any) -> None:
    items = resp.events if hasattr(resp, "events") else resp.kvs
    for item in items[:2]:
        assert pickle.loads(pickle.dumps(item)) == item
        hash(item)
        repr(item)


def fuzz(count: int, seed: int, codec: Any, twin: Any | None, twin_every: int) -> tuple[int, Counter]:
    """Run count inputs; return (findings, statistics)."""
    rng = random.Random(seed)
    corpus = seeds()
    stats: Counter = Counter()
    findings = 0
    decoded: list[tuple[Any, Any]] = []  # recent (codec, twin) watch responses that decoded
    for i in range(count):
        data = rng.randbytes(rng.randint(0, 64)) if i % 10 == 0 else mutate(rng, rng.choice(corpus), corpus)
        compare = twin is not None and i % twin_every == 0
        for name in ("decode_watch_response", "decode_range_response"):
            try:
                result = outcome(getattr(codec, name), data)
                stats[f"{name}: {'DecodeError' if result[0] == 'DecodeError' else 'decoded'}"] += 1
                if compare:
                    expected = outcome(getattr(twin, name), data)
                    if plain(result) != plain(expected):
                        raise AssertionError(f"the implementations disagree: {result!r} != {expected!r}")
                if result[0] == "DecodeError":
                    continue
                if i % 97 == 0:
                    check_pickle(result[-1])
                if result[0] == "watch":
                    decoded.append((result[-1], expected[-1] if compare else None))
                    del decoded[:-4]
                    window = decoded[-rng.randint(1, len(decoded)):]
                    got = batch_outcome(codec, [own for own, _ in window])
                    stats[f"batch_events: {got[0]}"] += 1
                    if all(other is not None for _, other in window):
                        if batch_outcome(twin, [other for _, other in window]) != got:
                            raise AssertionError("the implementations batch differently")
            except Exception as e:  # noqa: BLE001 - anything but DecodeError is a finding
                findings += 1
                print(f"input {i} (seed {seed}), {name}: {type(e).__name__}: {e}: {data!r}")
    return findings, stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", type=int, nargs="?", default=100_000)
    parser.add_argument("seed", type=int, nargs="?", default=1)
    parser.add_argument("--impl", choices=("c", "py"), default="c", help="the codec to fuzz (default c: compiled)")
    parser.add_argument("--twin-every", type=int, default=50, metavar="N",
                        help="with --impl c, compare with the pure-Python twin on every Nth input (0: never)")
    args = parser.parse_args(argv)
    if args.impl == "c":
        from etcdstream import _codec

        codec, twin = _codec, (_codec_py if args.twin_every else None)
    else:
        codec, twin = _codec_py, None
    started = time.perf_counter()
    findings, stats = fuzz(args.count, args.seed, codec, twin, max(args.twin_every, 1))
    elapsed = time.perf_counter() - started
    for what, n in sorted(stats.items()):
        print(f"  {what}: {n}")
    compared = f", twin compared on every {args.twin_every}th" if twin is not None else ""
    print(f"{args.count} inputs ({args.impl}{compared}) in {elapsed:.1f} s, seed {args.seed}: {findings} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
