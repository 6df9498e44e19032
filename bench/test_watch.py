"""Watch throughput: etcdstream side by side with grpcio and etcd-sdk-python (issue 4 §5).

Replay (bench/replay_server.py, in its own process so the client's CPU is the
client's): recorded WatchResponses of 1 and of 100 events each, sent as fast as
gRPC takes them. Variants, same server, same run:
- grpcio receiving raw bytes on the Watch stream (the floor),
- grpcio + protobuf (upb) decode + type/key/value/mod_revision per event,
- etcdstream Client.watchdir, reading the same four fields,
- etcd-sdk-python (pyetcd, python-etcd3's API) watch_prefix_response, same fields.
- the pipeline overhead (issue 4 (c)): etcdstream counting events against the
  raw floor, in alternating rounds, as a median of paired CPU ratios.
Real etcd 3.5 (tests/_testbase):
- catch-up: a watcher from the first revision of 100,000 keys written in txns of
  100 (1,000 revisions; one key per revision would take etcd minutes to write), next to a raw grpcio watch asking for no fragments and
  to readdir of the same keys,
- live: a writer process putting as fast as it can for ~2 s while a watcher
  consumes (the writer is another process, so its CPU is not counted).

extra_info per variant: events, events_per_s and cpu_us_per_event (medians over
the timed rounds; CPU is time.process_time of this process, all threads), and
where that CPU went (cpu_share_*: the consuming main thread, named Python
threads such as etcdstream's stream reader or grpcio's channel_spin, threads
that ended). The targets of the issue are checked in a summary printed at the
end of the module. Run: pytest bench/test_watch.py
"""

from __future__ import annotations

import contextlib
import os
import queue
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from bench_etcd import cleanup_prefix
from bench_settings import (
    CATCHUP_KEYS,
    LIVE_SECONDS,
    REPLAY_SIZES,
    WATCH_ROUNDS,
    progress,
)
from corpus import KEY_FORMAT, route_value
from replay_server import ReplayProcess

import etcdstream
from etcdstream import Put, _proto

PREFIX = "/apisix/routes/"
ROUNDS = WATCH_ROUNDS
WARMUP = 1
WATCH_METHOD = _proto.method_path("Watch", "Watch")
TIMEOUT = 30.0

CATCHUP_PREFIX = "/catchup/routes/"
TXN_OPS = 100
LIVE_PREFIX = "/live/routes/"

_summary: dict[str, dict[str, float]] = {}


# --- measuring ---------------------------------------------------------------


def _task_cpu_ns() -> dict[int, int]:
    """CPU time so far of each thread of this process (Linux; empty elsewhere)."""
    out = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                out[int(tid)] = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return out


def _thread_label(thread: threading.Thread) -> str:
    if thread is threading.main_thread():
        return "main"
    name = thread.name
    if name.endswith("(_run)"):  # grpcio's ForkManagedThread: channel_spin, the request iterator's consumer
        return "grpc-python"
    if "(" in name:  # "Thread-3 (target)"
        name = name[name.index("(") + 1:].rstrip(")")
    return "pyetcd-watch" if name.startswith("pyetcd_watch") else name


class Meter:
    """Wall time, process CPU and per-thread CPU of each round of one variant."""

    def __init__(self, benchmark, group: str, events_per_round: int | None = None) -> None:
        self.benchmark = benchmark
        benchmark.group = group
        self.rounds: list[tuple[int, float, float, dict[str, float]]] = []
        if events_per_round is not None:
            benchmark.extra_info["items"] = events_per_round

    def measure(self, consume: Callable[[], int]) -> int:
        before = _task_cpu_ns()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        events = consume()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        after = _task_cpu_ns()
        labels = {t.native_id: _thread_label(t) for t in threading.enumerate()}
        shares: dict[str, float] = {}
        for tid, ns in after.items():
            label = labels.get(tid, "grpc-core")  # threads Python did not start
            shares[label] = shares.get(label, 0.0) + (ns - before.get(tid, 0)) / 1e9
        shares["ended"] = max(0.0, cpu - sum(shares.values()))
        self.rounds.append((events, wall, cpu, shares))
        return events

    def report(self, name: str, warmup: int = WARMUP) -> dict[str, float]:
        timed = self.rounds[warmup:] or self.rounds
        events = timed[-1][0]
        info = self.benchmark.extra_info
        info["items"] = events
        info["events"] = events
        info["events_per_s"] = round(statistics.median(e / w for e, w, _, _ in timed))
        info["cpu_us_per_event"] = round(statistics.median(c / e for e, _, c, _ in timed) * 1e6, 3)
        total = sum(c for _, _, c, _ in timed) or 1.0
        labels = sorted({label for *_, s in timed for label in s})
        for label in labels:
            share = sum(s.get(label, 0.0) for *_, s in timed) / total
            if share >= 0.01:
                info[f"cpu_share_{label}"] = round(share, 3)
        _summary[name] = {"events_per_s": info["events_per_s"], "cpu_us_per_event": info["cpu_us_per_event"]}
        return info


def _read_fields(event_type, key, value, mod_revision) -> None:
    """Where an application would use the four fields."""


# --- replay: grpcio, protobuf, etcdstream, etcd-sdk-python -------------------


@pytest.fixture(scope="module")
def replay_servers():
    """One replay process per corpus, started together (each builds its corpus)."""
    servers = {label: ReplayProcess(*size).spawn() for label, size in REPLAY_SIZES.items()}
    try:
        for server in servers.values():
            server.wait_ready()
        yield servers
    finally:
        for server in servers.values():
            server.close()


@pytest.fixture(scope="module", autouse=True)
def print_summary(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or not _summary:
        return
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        _write_summary(reporter)


def _write_summary(reporter) -> None:
    reporter.write_line("")
    reporter.write_line("watch benchmarks: median events/s and client CPU per event")
    for name, row in _summary.items():
        if "cpu_ratio" in row:
            continue
        reporter.write_line(f"  {name:38s} {row['events_per_s']:>10,} events/s  {row['cpu_us_per_event']:9.3f} µs CPU/event")
    for label in REPLAY_SIZES:
        raw, ours, peer = (_summary.get(f"replay {label} {v}") for v in ("grpcio-raw", "etcdstream", "etcd-sdk-python"))
        if raw and ours:
            reporter.write_line(f"  {label}: etcdstream CPU/event, reading 4 fields = "
                                f"{ours['cpu_us_per_event'] / raw['cpu_us_per_event']:.2f}x grpcio raw bytes")
        pipeline = _summary.get(f"pipeline {label}")
        if pipeline:
            reporter.write_line(f"  {label}: etcdstream pipeline CPU = {pipeline['cpu_ratio']:.2f}x grpcio raw bytes, "
                                f"median of {pipeline['rounds']} paired rounds (target: <= 1.15x)")
        if peer and ours:
            reporter.write_line(f"  {label}: etcdstream events/s = {ours['events_per_s'] / peer['events_per_s']:.2f}x "
                                "etcd-sdk-python (target: >= 3x)")


def _create_request(watch_id: int = 1, **fields) -> bytes:
    create = _proto.WatchCreateRequest(key=PREFIX.encode(), range_end=b"/apisix/routes0", watch_id=watch_id, **fields)
    return _proto.WatchRequest(create_request=create).SerializeToString()


def _grpc_stream(channel: grpc.Channel, request: bytes):
    """A Watch call over raw bytes, its request stream held open until the call ends."""
    requests: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    requests.put(request)
    call = channel.stream_stream(WATCH_METHOD)(iter(requests.get, None))
    return call, lambda: (requests.put(None), call.cancel())


def _variant(benchmark, group: str, name: str, consume: Callable[[], int], rounds: int = ROUNDS,
             warmup: int = WARMUP) -> dict[str, float]:
    meter = Meter(benchmark, group)
    benchmark.pedantic(meter.measure, args=(consume,), rounds=rounds, iterations=1, warmup_rounds=warmup)
    return meter.report(name, warmup=warmup)


def _raw_consumer(channel: grpc.Channel, server: ReplayProcess) -> Callable[[], int]:
    """One round of the floor: the recorded responses received as raw bytes, nothing else."""
    def consume() -> int:
        call, end = _grpc_stream(channel, _create_request())
        seen = -1  # the created response
        for _raw in call:
            seen += 1
            if seen == server.messages:
                break
        end()
        return server.events

    return consume


@pytest.mark.parametrize("label", REPLAY_SIZES)
def test_replay_grpcio_raw(benchmark, replay_servers, label):
    server = replay_servers[label]
    with grpc.insecure_channel(server.endpoint) as channel:
        _variant(benchmark, f"watch replay {label}", f"replay {label} grpcio-raw", _raw_consumer(channel, server))


@pytest.mark.parametrize("label", REPLAY_SIZES)
def test_replay_grpcio_protobuf(benchmark, replay_servers, label):
    server = replay_servers[label]
    decode = _proto.WatchResponse.FromString
    with grpc.insecure_channel(server.endpoint) as channel:
        def consume() -> int:
            call, end = _grpc_stream(channel, _create_request())
            seen = 0
            for raw in call:
                for ev in decode(raw).events:
                    kv = ev.kv
                    _read_fields(ev.type, kv.key, kv.value, kv.mod_revision)
                    seen += 1
                if seen >= server.events:
                    break
            end()
            return seen

        _variant(benchmark, f"watch replay {label}", f"replay {label} grpcio-protobuf", consume)


@pytest.mark.parametrize("label", REPLAY_SIZES)
def test_replay_etcd_sdk_python(benchmark, replay_servers, label):
    pyetcd = pytest.importorskip("pyetcd", reason="etcd-sdk-python is not installed")
    server = replay_servers[label]
    client = pyetcd.client("127.0.0.1", server.port, timeout=TIMEOUT)
    try:
        def consume() -> int:
            responses, cancel = client.watch_prefix_response(PREFIX)
            seen = 0
            for resp in responses:
                for ev in resp.events:  # PutEvent/DeleteEvent: the class is the type
                    _read_fields(type(ev), ev.key, ev.value, ev.mod_revision)
                    seen += 1
                if seen >= server.events:
                    break
            cancel()
            return seen

        _variant(benchmark, f"watch replay {label}", f"replay {label} etcd-sdk-python", consume)
    finally:
        client.close()


@pytest.mark.parametrize("label", REPLAY_SIZES)
def test_replay_etcdstream(benchmark, replay_servers, label):
    server = replay_servers[label]
    batches: list[int] = []
    with etcdstream.Client(server.endpoint, timeout=TIMEOUT) as client:
        def consume() -> int:
            watcher = client.watchdir(PREFIX)
            seen = n_batches = 0
            for batch in watcher:  # iteration: the consumer reads the stream itself
                n_batches += 1
                for ev in batch.events:
                    _read_fields(ev.type, ev.key, ev.value, ev.mod_revision)
                    seen += 1
                if seen >= server.events:
                    break
            watcher.close()
            batches.append(n_batches)
            return seen

        info = _variant(benchmark, f"watch replay {label}", f"replay {label} etcdstream", consume)
    info["events_per_batch"] = round(server.events / statistics.median(batches), 1)


@pytest.mark.parametrize("label", REPLAY_SIZES)
def test_pipeline_overhead(benchmark, replay_servers, label):
    """Issue 4 (c): etcdstream's watch pipeline (receive, decode, batch, deliver) over grpcio receiving the same bytes.

    The two run in alternating rounds of one process, since the host's speed drifts
    between variants measured one after the other; the result is the median of the
    paired rounds' CPU ratios. The consumer only counts events: reading fields is
    the application's work, which the raw floor does not do either.
    """
    server = replay_servers[label]
    ratios: list[float] = []
    with grpc.insecure_channel(server.endpoint) as channel, \
            etcdstream.Client(server.endpoint, timeout=TIMEOUT) as client:
        raw = _raw_consumer(channel, server)

        def pipeline() -> int:
            seen = 0
            with client.watchdir(PREFIX) as watcher:
                for batch in watcher:
                    seen += len(batch.events)
                    if seen >= server.events:
                        break
            return seen

        def pair() -> None:
            cpu = {}
            order = (raw, pipeline) if len(ratios) % 2 else (pipeline, raw)
            for consume in order:
                start = time.process_time()
                consume()
                cpu[consume] = time.process_time() - start
            ratios.append(cpu[pipeline] / cpu[raw])

        benchmark.group = f"watch pipeline {label}"
        benchmark.pedantic(pair, rounds=2 * ROUNDS, iterations=1, warmup_rounds=WARMUP)
    timed = ratios[WARMUP:]
    ratio = statistics.median(timed)
    benchmark.extra_info["items"] = 2 * server.events
    benchmark.extra_info["cpu_ratio"] = round(ratio, 3)
    benchmark.extra_info["note"] = (f"etcdstream pipeline CPU = {ratio:.2f}x grpcio raw bytes, median of "
                                    f"{len(timed)} paired rounds (target <= 1.15x)")
    _summary[f"pipeline {label}"] = {"cpu_ratio": ratio, "rounds": len(timed)}


# --- real etcd: catch-up and live ------------------------------------------


@pytest.fixture(scope="module")
def etcd_server(bench_etcd):
    yield bench_etcd
    cleanup_prefix(bench_etcd, LIVE_PREFIX)
    cleanup_prefix(bench_etcd, "/live-writer-ready")


@pytest.fixture(scope="module")
def catchup_keys(etcd_server):
    """CATCHUP_KEYS keys in txns of TXN_OPS (one revision each); returns the first revision."""
    progress(f"loading {CATCHUP_KEYS:,} keys under {CATCHUP_PREFIX} (txns of {TXN_OPS} ops)")
    with etcdstream.Client(etcd_server.endpoint, timeout=60) as etcd:
        first = 0
        for start in range(0, CATCHUP_KEYS, TXN_OPS):
            ops = [Put(KEY_FORMAT.replace("/apisix/routes/", CATCHUP_PREFIX) % i, route_value(i))
                   for i in range(start, min(CATCHUP_KEYS, start + TXN_OPS))]
            revision = etcd.txn([], ops).revision
            first = first or revision
        assert etcd.count(CATCHUP_PREFIX) == CATCHUP_KEYS
    yield first
    cleanup_prefix(etcd_server, CATCHUP_PREFIX)


def test_catchup_etcdstream(benchmark, etcd_server, catchup_keys):
    """etcdstream's default watch: no fragments (etcd 3.5 builds them in quadratic time), unlimited receive size."""
    with etcdstream.Client(etcd_server.endpoint, timeout=TIMEOUT) as client:
        def consume() -> int:
            seen = 0
            with client.watchdir(CATCHUP_PREFIX, start_revision=catchup_keys) as watcher:
                while seen < CATCHUP_KEYS:
                    batch = watcher.get(TIMEOUT)
                    assert batch is not None, f"catch-up stalled after {seen} events"
                    for ev in batch.events:
                        _read_fields(ev.type, ev.key, ev.value, ev.mod_revision)
                        seen += 1
            return seen

        _variant(benchmark, f"watch catch-up {CATCHUP_KEYS:,} events", "catch-up etcdstream", consume, warmup=0)


def test_catchup_grpcio_protobuf_unfragmented(benchmark, etcd_server, catchup_keys):
    """The same watch over grpcio + protobuf without fragment=True (and a receive limit raised to fit)."""
    options = [("grpc.max_receive_message_length", 64 << 20)]
    request = _proto.WatchRequest(create_request=_proto.WatchCreateRequest(
        key=CATCHUP_PREFIX.encode(), range_end=CATCHUP_PREFIX[:-1].encode() + b"0", start_revision=catchup_keys,
    )).SerializeToString()
    decode = _proto.WatchResponse.FromString
    with grpc.insecure_channel(etcd_server.endpoint, options=options) as channel:
        def consume() -> int:
            call, end = _grpc_stream(channel, request)
            seen = 0
            for raw in call:
                for ev in decode(raw).events:
                    kv = ev.kv
                    _read_fields(ev.type, kv.key, kv.value, kv.mod_revision)
                    seen += 1
                if seen >= CATCHUP_KEYS:
                    break
            end()
            return seen

        _variant(benchmark, f"watch catch-up {CATCHUP_KEYS:,} events", "catch-up grpcio-protobuf no-fragment", consume,
                 warmup=0)


def test_catchup_readdir(benchmark, etcd_server, catchup_keys):
    """Re-listing the prefix instead of replaying its history."""
    with etcdstream.Client(etcd_server.endpoint, timeout=TIMEOUT) as client:
        def consume() -> int:
            snapshot = client.readdir(CATCHUP_PREFIX)
            for kv in snapshot.kvs:
                _read_fields(None, kv.key, kv.value, kv.mod_revision)
            return len(snapshot.kvs)

        _variant(benchmark, f"watch catch-up {CATCHUP_KEYS:,} events", "catch-up etcdstream readdir", consume, warmup=0)


_WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    import etcdstream
    from corpus import route_value
    with etcdstream.Client(sys.argv[2]) as etcd:
        etcd.put("/live-writer-ready", "1")
        print("READY", flush=True)
        sys.stdin.readline()
        n, revision, deadline = 0, 0, time.monotonic() + float(sys.argv[3])
        while time.monotonic() < deadline:
            revision = etcd.put("%s%%08d" %% (n %% 1000), route_value(n)).revision
            n += 1
        print(n, revision, flush=True)
""")


def test_live_etcdstream(benchmark, etcd_server):
    """One writer (another process, one put per revision) against one watcher."""
    writers: list[subprocess.Popen[str]] = []
    bench_dir = str(Path(__file__).resolve().parent)

    def setup():
        proc = subprocess.Popen([sys.executable, "-c", _WRITER % LIVE_PREFIX, bench_dir, etcd_server.endpoint,
                                 str(LIVE_SECONDS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        writers.append(proc)
        assert proc.stdout.readline().strip() == "READY"
        return (proc,), {}

    with etcdstream.Client(etcd_server.endpoint, timeout=TIMEOUT) as client:
        meter = Meter(benchmark, "watch live (one writer process)")

        def run(proc: subprocess.Popen[str]) -> int:
            def consume() -> int:
                seen = 0
                with client.watchdir(LIVE_PREFIX) as watcher:
                    proc.stdin.write("go\n")
                    proc.stdin.flush()
                    last_revision = None
                    while last_revision is None or watcher.revision < last_revision:
                        batch = watcher.get(0.1)
                        if batch is not None:
                            for ev in batch.events:
                                _read_fields(ev.type, ev.key, ev.value, ev.mod_revision)
                                seen += 1
                        if last_revision is None and proc.poll() is not None:
                            puts, last_revision = map(int, proc.stdout.read().split())
                            assert proc.returncode == 0
                    assert seen == puts, (seen, puts)
                return seen

            return meter.measure(consume)

        try:
            benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
        finally:
            for proc in writers:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
        meter.report("live etcdstream", warmup=0)
