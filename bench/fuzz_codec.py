"""Mutation fuzzing of the compiled codec: N inputs, only DecodeError may come out.

    python bench/fuzz_codec.py 1000000 [SEED]

Inputs are random bytes and valid watch/range responses (bench/corpus.py)
with bytes flipped, inserted, deleted or cut off. Every input goes through
the compiled decoders; one in 50 also through the pure-Python twin, whose
outcome must be the same. A crash ends the process (the point of the run);
any other exception or a disagreement is printed with the seed and the input.
"""

from __future__ import annotations

import random
import sys
import time

from corpus import range_response, watch_responses

from etcdstream import DecodeError, _codec, _codec_py


def outcome(decode, data: bytes) -> object:
    try:
        resp = decode(data)
    except DecodeError as e:
        return ("DecodeError", e.reason, e.offset)
    if hasattr(resp, "events"):
        return [(int(e.type), e.key, e.value, e.mod_revision, e.prev_kv is None) for e in resp.events] + [resp.revision]
    return [(kv.key, kv.value, kv.mod_revision) for kv in resp.kvs] + [resp.revision, resp.more, resp.count]


def mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        where = rng.randint(0, len(out))
        action = rng.random()
        if action < 0.4 and out:
            out[min(where, len(out) - 1)] ^= rng.randint(1, 255)
        elif action < 0.6:
            out[where:where] = rng.randbytes(rng.randint(1, 8))
        elif action < 0.8:
            del out[where : where + rng.randint(1, 8)]
        else:
            del out[where:]
    return bytes(out)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    rng = random.Random(seed)
    seeds = [m for m in watch_responses(4, 5)] + [range_response(5)]
    decoders = [(_codec.decode_watch_response, _codec_py.decode_watch_response),
                (_codec.decode_range_response, _codec_py.decode_range_response)]
    started = time.perf_counter()
    errors = 0
    for i in range(count):
        data = rng.randbytes(rng.randint(0, 64)) if i % 10 == 0 else mutate(rng, rng.choice(seeds))
        for compiled, twin in decoders:
            try:
                result = outcome(compiled, data)
            except Exception as e:  # noqa: BLE001 - anything but DecodeError is a finding
                errors += 1
                print(f"input {i} (seed {seed}): {type(e).__name__}: {e}: {data!r}")
                continue
            if i % 50 == 0 and outcome(twin, data) != result:
                errors += 1
                print(f"input {i} (seed {seed}): the implementations disagree on {data!r}")
    elapsed = time.perf_counter() - started
    print(f"{count} inputs x 2 decoders in {elapsed:.1f} s, seed {seed}: {errors} findings")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
