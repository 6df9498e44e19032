"""`etcdstream bench`: every headline benchmark in one run, printed as one table.

Runs the pytest-benchmark suites of bench/ (codec, readdir, watch, connections, proxy, fleet)
in a child pytest with --benchmark-json, against one etcd it starts on free
loopback ports (or --endpoints), then builds the table from that JSON. Each row
is a median over the rounds of that variant; ratios are between variants
measured in the same run. A missing peer (pip install '.[bench]') shows as
skipped. Run: python bench/harness.py [--quick] [--fleet] [--json FILE] [--plot DIR] [--endpoints H:P]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
SUITES = ["test_codec.py", "test_readdir.py", "test_watch.py", "test_catch_up.py", "test_mirrors.py",
          "test_consistent_reads.py", "test_connections.py", "test_proxy.py", "test_fleet.py"]
FLEET_SUITE = "test_fleet.py"

# Per group (by its start): the variant the others are compared with, and what is compared.
# "time": speed-up = baseline median / median; "cpu": client CPU per event relative to the baseline.
BASELINES = [
    ("watch response", "protobuf-upb", "time"),
    ("range response", "protobuf-upb", "time"),
    ("readdir", "etcdctl", "time"),
    ("watch replay", "grpcio_raw", "cpu"),
    ("watch catch-up", "catchup_etcdstream", "time"),
    ("mirror catch-up", "catch_up_replay", "time"),
    ("mirrors on one client", "[1 Mirror]", "cpu"),
    ("consistent read of one key", "test_one_key_get[", "time"),
    ("consistent snapshot of", "test_prefix_readdir[", "time"),
    ("fleet:", "[direct]", "time"),
    ("fleet restart storm", "[linearizable]", "time"),
]

LABELS = {
    "test_watch_1000_events": "decode + read 4 fields",
    "test_range_page_10000_keys": "decode + read 3 fields",
    "test_batch_and_coalesce": "etcdstream batch_events + coalesce",
    "test_readdir_sync_default": "etcdstream readdir (default)",
    "test_readdir_sync_one_range": "etcdstream readdir (one Range)",
    "test_readdir_async_default": "etcdstream AsyncClient readdir",
    "test_etcdctl_get_prefix": "etcdctl get --prefix (Go process)",
    "test_etcd_sdk_python_get_prefix": "etcd-sdk-python get_prefix",
    "test_replay_grpcio_raw": "grpcio raw bytes (floor)",
    "test_replay_grpcio_protobuf": "grpcio + protobuf upb",
    "test_replay_etcd_sdk_python": "etcd-sdk-python watch_prefix",
    "test_replay_etcdstream": "etcdstream watchdir",
    "test_pipeline_overhead": "etcdstream pipeline vs grpcio raw, alternating",
    "test_catchup_etcdstream": "etcdstream watchdir",
    "test_catchup_grpcio_protobuf_unfragmented": "grpcio + protobuf",
    "test_catchup_readdir": "etcdstream readdir instead",
    "test_mirrors_on_one_client": "etcdstream, one client",
    "test_catch_up_replay": "Mirror(start=saved copy, catch_up='replay')",
    "test_catch_up_auto": "Mirror(start=saved copy), catch_up='auto' (default)",
    "test_live_etcdstream": "etcdstream watchdir",
    "test_one_key_get": "client.get (linearizable)",
    "test_one_key_consistent_get": "Mirror.consistent_get",
    "test_prefix_readdir": "client.readdir",
    "test_prefix_consistent_snapshot": "Mirror.consistent_snapshot",
    "test_connections_etcdstream": "etcdstream watchdir",
    "test_connections_etcd_sdk_python": "etcd-sdk-python add_watch_prefix_callback",
    "test_open_watches_at_once": "etcdstream watchdir, direct vs grpc-proxy, alternating",
    "test_resume_after_the_path_returns": "etcdstream watchdir, direct vs grpc-proxy, alternating",
    "test_fleet_converge": "etcdstream AsyncMirrors",
    "test_fleet_restart_storm": "etcdstream AsyncMirrors",
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="etcdstream bench",
        description="Start a local etcd, run etcdstream's headline benchmarks side by side with etcdctl and "
                    "other Python clients, print one table.")
    parser.add_argument("--quick", action="store_true", help="a small version (under a minute)")
    parser.add_argument("--fleet", action="store_true",
                        help=f"only the fleet benchmark ({FLEET_SUITE}: worker processes' Mirrors on a 3-member cluster)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--plot", metavar="DIR", help="also draw PNG charts of the results into DIR "
                        "(needs matplotlib: pip install '.[plot]'); bench/plot.py draws them from a --json file too")
    parser.add_argument("--endpoints", metavar="HOST:PORT[,...]",
                        help="use this etcd (plain http) instead of starting one; the bench deletes what it writes")
    parser.add_argument("-k", metavar="EXPR", help="only the benchmarks pytest -k EXPR selects")
    parser.add_argument("-v", "--verbose", action="store_true", help="show pytest's own output")
    return parser.parse_args(argv)


class Progress:
    """One status line: what runs now and for how long (rewritten in place on a terminal)."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.start = time.monotonic()
        self.done = 0
        self.total = 0

    def show(self, text: str) -> None:
        elapsed = time.monotonic() - self.start
        if text.startswith("RUN "):
            self.done += 1
            nodeid = text[4:]
            text = f"[{self.done}/{self.total or '?'}] {nodeid.rsplit('bench/', 1)[-1]}"
        line = f"{elapsed:6.1f}s {text}"
        if self.tty:
            self.stream.write("\r\033[K" + line[:150])
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def end(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _count_tests(python: str, paths: list[str], env: dict[str, str], extra: list[str]) -> int:
    out = subprocess.run([python, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *extra, *paths],
                         cwd=BENCH_DIR.parent, env=env, capture_output=True, text=True, check=False)
    return sum(1 for line in out.stdout.splitlines() if "::" in line)


def run_suites(args: argparse.Namespace, json_path: str, log_path: str) -> int:
    """Run the pytest-benchmark suites in a child pytest; return its exit code."""
    read_fd, write_fd = os.pipe()
    env = dict(os.environ, ETCDSTREAM_BENCH_SIZE="quick" if args.quick else "full",
               ETCDSTREAM_BENCH_PROGRESS_FD=str(write_fd))
    if args.endpoints:
        env["ETCDSTREAM_BENCH_ENDPOINTS"] = args.endpoints
    env.pop("ETCDSTREAM_NO_EXTENSIONS", None)  # the compiled codec is what is measured (the suites time the twin too)
    paths = [str(BENCH_DIR / name) for name in ([FLEET_SUITE] if args.fleet else SUITES)]
    extra = ["-k", args.k] if args.k else []
    timing = (["--benchmark-max-time=0.25", "--benchmark-min-rounds=3", "--benchmark-warmup-iterations=1"]
              if args.quick else ["--benchmark-max-time=1.0", "--benchmark-min-rounds=5"])
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", "--rootdir", str(BENCH_DIR),
               "-o", "addopts=", f"--benchmark-json={json_path}", "--benchmark-columns=median,iqr,rounds",
               "--benchmark-sort=name", *timing, *extra, *paths]
    progress = Progress()
    progress.total = _count_tests(sys.executable, paths, env, extra)

    def relay() -> None:
        with os.fdopen(read_fd, "rb") as pipe:
            for line in pipe:
                progress.show(line.decode(errors="replace").rstrip())

    reader = threading.Thread(target=relay, daemon=True)
    reader.start()
    progress.show(f"running {progress.total} benchmarks ({'quick' if args.quick else 'full'}); "
                  f"pytest output: {log_path}")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, cwd=BENCH_DIR.parent, env=env, pass_fds=(write_fd,),
                                stdout=None if args.verbose else log, stderr=subprocess.STDOUT if not args.verbose else None)
        os.close(write_fd)
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise
    reader.join(timeout=5)
    progress.end()
    return code


def _fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def _fmt_per_item(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.2f} µs"
    return f"{seconds * 1e9:.0f} ns"


def _variant(bench: dict) -> str:
    name = bench["name"]
    base = name.split("[")[0]
    label = LABELS.get(base, base.removeprefix("test_"))
    param = bench.get("param")
    if base in ("test_watch_1000_events", "test_range_page_10000_keys"):
        return {"cython": "etcdstream compiled", "python": "etcdstream pure Python", "protobuf-upb": "protobuf (upb)",
                "cython-via-kv": "etcdstream compiled, via .kv",
                "floor": "floor: the same objects, no parsing"}.get(param, param)
    if base in ("test_fleet_converge", "test_fleet_restart_storm", "test_mirrors_on_one_client"):
        return f"{label}, {param}"
    return label


def build_rows(results: dict) -> list[dict]:
    """One row per benchmark, grouped in suite order, with the ratio to its group's baseline."""
    rows = []
    groups: dict[str, list[dict]] = {}
    for bench in results.get("benchmarks", []):
        groups.setdefault(bench["group"] or bench["name"], []).append(bench)
    for group, benches in groups.items():
        spec = next((b for b in BASELINES if group.startswith(b[0])), None)
        baseline = None
        if spec is not None:
            baseline = next((b for b in benches if spec[1] in b["name"]), None)
        for bench in benches:
            info = bench.get("extra_info", {})
            median = bench["stats"]["median"]
            items = info.get("items", 1)
            row = {"scenario": group, "variant": _variant(bench), "test": bench["fullname"],
                   "median_s": median, "rounds": bench["stats"]["rounds"], "items": items,
                   "per_item_s": median / items if items else None, "extra_info": info}
            ratio = ""
            if baseline is not None:
                base_info = baseline.get("extra_info", {})
                if spec[2] == "cpu" and "cpu_us_per_event" in info and base_info.get("cpu_us_per_event"):
                    row["ratio"] = info["cpu_us_per_event"] / base_info["cpu_us_per_event"]
                    ratio = f"{row['ratio']:.2f}x CPU"
                else:
                    row["ratio"] = baseline["stats"]["median"] / median
                    ratio = f"{row['ratio']:.2f}x speed"
            row["ratio_text"] = ratio if bench is not baseline else "baseline"
            notes = []
            floor = next((b for b in benches if b.get("param") == "floor"), None)
            if floor is not None and bench is not floor:
                notes.append(f"{median / floor['stats']['median']:.2f}x floor")
            if "peak_bytes_per_key" in info:
                notes.append(f"peak {info['peak_bytes_per_key']:,.0f} B/key")
            if "events_per_s" in info:
                notes.append(f"{info['events_per_s']:,} events/s")
            if "cpu_us_per_event" in info:
                notes.append(f"{info['cpu_us_per_event']:.2f} µs CPU/event")
            if "connections" in info and "streams" in info:
                notes.append(f"{info['connections']} TCP connection(s), {info['streams']} watch stream(s), "
                             f"{info['watchers']:,} watchers")
            if "converge_s" in info:  # the fleet: the median is the same burst timed by the parent
                cpu = [f"{name} {info[key]:.1f}" for name, key in (
                    ("leader", "leader_cpu_us_per_event"), ("other members", "others_cpu_us_per_event"),
                    ("proxies", "proxy_cpu_us_per_event"), ("workers", "workers_cpu_us_per_event")) if key in info]
                notes.append(f"{info['mirrors']:,} Mirrors, {info['delivered_events']:,} events; etcd: "
                             f"{info['server_watchers']:,} watchers, {info['watch_streams']} streams, "
                             f"{info['connections']} connections; CPU µs/event: {', '.join(cpu)}")
            if "proxy_restart_s" in info:
                notes.append(f"proxy restart: synced again in {info['proxy_restart_s']:.2f} s")
            if "storm_s" in info:
                notes.append(f"{info['mirrors']:,} Mirrors; CPU meanwhile: leader {info['leader_cpu_s']:.2f} s, "
                             f"other members {info['others_cpu_s']:.2f} s")
            if "note" in info:
                notes.append(info["note"])
            row["notes"] = "; ".join(notes)
            rows.append(row)
    return rows


def print_table(rows: list[dict], skipped: list[str], out=sys.stdout) -> None:
    header = ("scenario", "variant", "median", "per item", "vs baseline", "notes")
    cells = [(r["scenario"], r["variant"], _fmt_time(r["median_s"]),
              _fmt_per_item(r["per_item_s"]) if r["items"] > 1 else "", r["ratio_text"], r["notes"]) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(header)]
    line = lambda values: "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " |"
    out.write(line(header) + "\n")
    out.write("|" + "|".join("-" * (w + 2) for w in widths) + "|\n")
    previous = None
    for c in cells:
        out.write(line((c[0] if c[0] != previous else "",) + c[1:]) + "\n")
        previous = c[0]
    for reason in skipped:
        out.write(f"skipped: {reason}\n")


def _skipped(log_path: str) -> list[str]:
    out = []
    with open(log_path, errors="replace") as f:
        for line in f:
            if line.startswith("SKIPPED"):
                reason = line.split("] ", 1)[-1].strip() if "] " in line else line.strip()
                if "not installed" in reason:
                    reason += " (pip install '.[bench]')"
                out.append(reason)
    return out


def _machine(results: dict) -> str:
    info = results.get("machine_info", {})
    cpu = info.get("cpu", {}).get("brand_raw") or platform.processor() or platform.machine()
    return (f"{cpu}, {os.cpu_count()} cores, {info.get('system', platform.system())} "
            f"{info.get('release', platform.release())}, Python {platform.python_version()}, "
            f"codec {info.get('etcdstream_codec', '?')}")


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for name in ("etcdstream", "grpcio", "protobuf", "etcd-sdk-python", "aetcd"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} not installed")
    return ", ".join(parts)


def _can_plot() -> bool:
    """Whether --plot can draw, checked before the run rather than after minutes of benchmarks."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        sys.stderr.write("etcdstream bench: --plot needs matplotlib: pip install '.[plot]' "
                         "(bash bench/run --plot installs it)\n")
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print the table; return an exit code."""
    args = _parse(argv)
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    if args.plot and not _can_plot():
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="etcdstream-bench-") as tmp:
        json_path = os.path.join(tmp, "pytest-benchmark.json")
        log_path = os.path.join(tmp, "pytest.log")
        code = run_suites(args, json_path, log_path)
        try:
            with open(json_path) as f:
                results = json.load(f)
        except (OSError, ValueError):
            results = {}
        skipped = _skipped(log_path) if not args.verbose else []
        if code not in (0, 5) or not results:
            if not args.verbose:
                with open(log_path, errors="replace") as f:
                    sys.stderr.write(f.read()[-20000:])
            sys.stderr.write(f"etcdstream bench: pytest exited with {code}\n")
            if not results:
                return 1
    rows = build_rows(results)
    elapsed = time.monotonic() - started
    size = "quick" if args.quick else "full"
    from bench_settings import describe

    print(f"etcdstream bench ({size}, {elapsed:.0f} s): medians over repeated rounds; ratios between variants "
          "of the same run")
    print(f"machine: {_machine(results)}")
    print(f"versions: {_versions()}")
    print(describe(args.quick, args.endpoints))
    print("vs baseline: in the same run, speed = baseline median / median (higher is faster); "
          "CPU = client CPU per event / the floor's (lower is better)")
    print()
    print_table(rows, skipped)
    summary = {"size": size, "seconds": round(elapsed, 1), "date": time.strftime("%Y-%m-%d"),
               "machine": _machine(results), "versions": _versions(), "rows": rows, "skipped": skipped,
               "pytest_benchmark": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1, default=str)
        print(f"\nresults written to {args.json}")
    if args.plot:
        from plot import write_charts

        written = write_charts(summary, args.plot)
        print(f"\ncharts written to {args.plot}: {', '.join(p.name for p in written) or 'none (no rows to draw)'}")
    return 0 if code in (0, 5) else 1


if __name__ == "__main__":
    sys.exit(main())
