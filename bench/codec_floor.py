"""etcdstream's compiled codec next to its floor and to protobuf (upb), in one process.

    python bench/codec_floor.py time [--rounds 400] [--cpu 1] [--baseline PATH.so]
    python bench/codec_floor.py instr [--baseline PATH.so]

The floor (bench/_codec_floor.pyx, built by bench/build_floor.py) makes the
objects a consumer gets from precomputed offsets, with no parsing: no decoder
can do less. Every variant decodes the same corpus (bench/corpus.py: 10
WatchResponses of 1,000 PUT events, one RangeResponse page of 10,000 keys)
and, in the "+ reads" rows, reads type/key/value/mod_revision of each event
(key/value/mod_revision of each key).

`time` pins the process to one CPU, turns the GC off and runs the variants in
interleaved rounds (the order reversed every other round), then prints medians
per item and the ratios to the floor and to upb. `instr` runs each variant
under `valgrind --tool=callgrind` and counts the instructions of 3 warmed
passes exactly (repeatable on a loaded machine, unlike timings). `--baseline`
adds the variants of another build of etcdstream._codec (say, main's), loaded
beside the live one, for before/after comparisons.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import pickle
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

WATCH_RESPONSES, EVENTS_PER_RESPONSE, RANGE_KEYS = 10, 1000, 10_000


def load_corpus(path: str | None = None) -> tuple[list[bytes], bytes]:
    if path:
        with open(path, "rb") as f:
            return pickle.load(f)
    from corpus import range_response, watch_responses

    return watch_responses(WATCH_RESPONSES, EVENTS_PER_RESPONSE), range_response(RANGE_KEYS)


def load_build(path: str):
    """Another build of etcdstream._codec, loaded beside the live one."""
    spec = importlib.util.spec_from_file_location("etcdstream._codec", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def variants(watch: list[bytes], page: bytes, baseline_path: str | None = None) -> dict:
    """name -> (items, run): each run decodes the whole watch corpus or the page once."""
    import _codec_floor as floor

    from etcdstream import _codec

    watch_offsets = [floor.watch_offsets(data) for data in watch]
    range_offsets = floor.range_offsets(page)

    def decode_only(decode, inputs):
        def run():
            for data in inputs:
                decode(data)

        return run

    def read_events(decode, inputs):
        def run():
            for data in inputs:
                for event in decode(data).events:
                    event.type, event.key, event.value, event.mod_revision

        return run

    def read_kvs(decode, data):
        def run():
            for kv in decode(data).kvs:
                kv.key, kv.value, kv.mod_revision

        return run

    def upb_events():
        from etcdstream import _proto

        parse = _proto.WatchResponse.FromString

        def run():
            for data in watch:
                for event in parse(data).events:
                    kv = event.kv
                    event.type, kv.key, kv.value, kv.mod_revision

        return run

    def upb_kvs():
        from etcdstream import _proto

        parse = _proto.RangeResponse.FromString

        def run():
            for kv in parse(page).kvs:
                kv.key, kv.value, kv.mod_revision

        return run

    builds = {"etcdstream": _codec}
    if baseline_path:
        builds["baseline"] = load_build(baseline_path)
    events = WATCH_RESPONSES * EVENTS_PER_RESPONSE
    out = {
        "watch decode: floor": (events, decode_only(floor.build_watch, watch_offsets)),
        "watch decode+reads: floor": (events, read_events(floor.build_watch, watch_offsets)),
        "range decode: floor": (RANGE_KEYS, decode_only(floor.build_range, [range_offsets])),
        "range decode+reads: floor": (RANGE_KEYS, read_kvs(floor.build_range, range_offsets)),
        "watch decode+reads: protobuf-upb": (events, upb_events()),
        "range decode+reads: protobuf-upb": (RANGE_KEYS, upb_kvs()),
    }
    for name, module in builds.items():
        out[f"watch decode: {name}"] = (events, decode_only(module.decode_watch_response, watch))
        out[f"watch decode+reads: {name}"] = (events, read_events(module.decode_watch_response, watch))
        out[f"range decode: {name}"] = (RANGE_KEYS, decode_only(module.decode_range_response, [page]))
        out[f"range decode+reads: {name}"] = (RANGE_KEYS, read_kvs(module.decode_range_response, page))
    return dict(sorted(out.items()))


def report(per_item: dict[str, float], unit: str) -> None:
    groups: dict[str, dict[str, float]] = {}
    for name, value in per_item.items():
        group, variant = name.split(": ")
        groups.setdefault(group, {})[variant] = value
    for group, values in groups.items():
        print(group)
        floor = values.get("floor")
        upb = values.get("protobuf-upb") or groups.get(group.replace("decode:", "decode+reads:").replace("decode ", "decode+reads "), {}).get("protobuf-upb")
        for variant, value in values.items():
            line = f"  {variant:14s} {value:9.1f} {unit}/item"
            if floor:
                line += f"  {value / floor:5.2f}x floor"
            if upb and "+reads" in group:
                line += f"  {upb / value:5.2f}x faster than upb"
            print(line)


def time_variants(args) -> None:
    os.sched_setaffinity(0, {args.cpu})
    watch, page = load_corpus()
    runs = variants(watch, page, args.baseline)
    names = list(runs)
    for _, run in runs.values():
        run()  # warm: freelists, pymalloc pools, upb's tables
    gc.collect()
    gc.disable()
    samples: dict[str, list[float]] = {name: [] for name in names}
    clock = time.perf_counter_ns
    for i in range(args.rounds):
        for name in names if i % 2 == 0 else reversed(names):
            items, run = runs[name]
            start = clock()
            run()
            samples[name].append((clock() - start) / items)
    gc.enable()
    print(f"medians of {args.rounds} interleaved rounds, CPU {args.cpu}, GC off; load average {os.getloadavg()[0]:.2f}")
    report({name: statistics.median(values) for name, values in samples.items()}, "ns")


def count_instructions(args) -> None:
    watch, page = load_corpus()
    names = [name for name in variants(watch, page, args.baseline) if re.search(args.only, name)]
    with tempfile.TemporaryDirectory() as tmp:
        corpus_path = os.path.join(tmp, "corpus.pickle")
        with open(corpus_path, "wb") as f:
            pickle.dump((watch, page), f)
        per_item = {}
        for name in names:
            out = os.path.join(tmp, "callgrind.out")
            cmd = [
                "valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=*_codec_floor_*measured*",
                f"--callgrind-out-file={out}", sys.executable, __file__, "_child", name, corpus_path,
                "--passes", str(args.passes),
            ]
            if args.baseline:
                cmd += ["--baseline", args.baseline]
            env = dict(os.environ, PYTHONHASHSEED="0")
            subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if args.keep:
                os.makedirs(args.keep, exist_ok=True)
                out_kept = os.path.join(args.keep, re.sub(r"\W+", "-", name) + ".callgrind")
                os.replace(out, out_kept)
                out = out_kept
            with open(out) as f:
                total = int(re.search(r"^summary: (\d+)", f.read(), re.MULTILINE).group(1))
            items = {"watch": WATCH_RESPONSES * EVENTS_PER_RESPONSE, "range": RANGE_KEYS}[name.split()[0]]
            per_item[name] = total / (args.passes * items)
            print(f"  {name}: {per_item[name]:.0f} instructions/item", file=sys.stderr)
    print(f"callgrind instructions per item, {args.passes} warmed passes")
    report(per_item, "instr")


def child(args) -> None:
    import _codec_floor as floor

    watch, page = load_corpus(args.corpus)
    _, run = variants(watch, page, args.baseline)[args.name]
    run()
    run()
    floor.measured(run, args.passes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("time")
    p.add_argument("--rounds", type=int, default=400)
    p.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)))
    p.add_argument("--baseline")
    p = sub.add_parser("instr")
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--only", default="", help="a regex: only the variants it matches")
    p.add_argument("--keep", help="a directory to keep each variant's callgrind output in")
    p.add_argument("--baseline")
    p = sub.add_parser("_child")
    p.add_argument("name")
    p.add_argument("corpus")
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--baseline")
    args = parser.parse_args()
    {"time": time_variants, "instr": count_instructions, "_child": child}[args.mode](args)


if __name__ == "__main__":
    main()
