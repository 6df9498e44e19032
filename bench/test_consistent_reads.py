"""Consistent reads from a Mirror's copy vs the same reads from etcd, with and without a writer on the prefix.

What Kubernetes' watch cache does (KEP-2340): `mirror.consistent_get(key)` and `mirror.consistent_snapshot()`
take etcd's current revision with one count-only read, wait until the copy reaches it (progress requests every
100 ms while they wait, on etcd >= 3.4.31 / 3.5.13) and answer from memory; elsewhere they read etcd. Groups,
each with its baseline measured in the same run:
- one key of a N_KEYS-key prefix: `client.get(key)` (linearizable; baseline) vs `mirror.consistent_get(key)`;
- the whole prefix (N_KEYS keys, ~100 B values): `client.readdir(prefix)` (baseline) vs
  `mirror.consistent_snapshot()`;
each with an idle prefix and with a writer process of its own (AsyncClient, paced to WRITE_RATE puts/s
round-robin over the prefix's keys). The writer, etcd and this process share the machine's cores (2 on the
machines this project runs on), which the notes say.

Each round is one read: latency p50/p99 come from the raw rounds. etcd's CPU per read: the etcd process's
utime + stime (/proc/PID/stat) over the fixed number of timed reads, less etcd's CPU over a window of
BACKGROUND_S seconds just before them with the same setup (the writer's puts and the Mirror's watch cost etcd
CPU too); skipped on --endpoints (no pid). The Mirror's `stats().consistent_reads` must show no fallback where
etcd's progress answers can be waited on (>= 3.4.31 / 3.5.13); on older etcd the fallbacks are recorded.
Targets are reported, never failed on: a consistent get within 1.5x of a get, a consistent snapshot at least
10x faster than readdir, etcd CPU per read at least 10x lower.
Run: pytest bench/test_consistent_reads.py (ETCDSTREAM_BENCH_SIZE=quick: fewer reads).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from bench_etcd import cleanup_prefix
from bench_settings import QUICK, progress

import etcdstream
from etcdstream import Put

N_KEYS = 10_000
PREFIX = "/consistent-bench/"
KEY_FORMAT = PREFIX + "%08d"
READ_KEY = KEY_FORMAT % 4_242
WRITE_RATE = 1_000
TXN_OPS = 128  # etcd's default --max-txn-ops
#: Timed reads per variant, also the reads etcd's CPU is counted over. A read from the copy costs etcd one
#: count-only read (~tens of µs): enough of them to span many clock ticks (10 ms each).
ROUNDS = ({"get": 1_000, "consistent_get": 1_000, "readdir": 30, "consistent_snapshot": 300} if QUICK else
          {"get": 3_000, "consistent_get": 3_000, "readdir": 100, "consistent_snapshot": 1_000})
WARMUP = 5
#: Seconds etcd's CPU is measured without reads, before them, to subtract what the setup costs it.
BACKGROUND_S = 1.0 if QUICK else 2.0
WRITERS = [0, WRITE_RATE]
WRITER_IDS = ["idle prefix", f"{WRITE_RATE:,} puts per s"]
_TICK = os.sysconf("SC_CLK_TCK")

#: Medians and etcd CPU of the baselines, for the ratios in the consistent variants' notes: (group) -> info.
_BASELINES: dict[str, dict] = {}
_SUMMARY: list[str] = []

_WRITER = """
import asyncio, sys, threading, time
import etcdstream
endpoint, key_format, n_keys, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
TICK = 0.01  # puts go out in bursts of rate * TICK, one burst per tick; a late burst is not skipped

async def main():
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True).start()
    async with etcdstream.AsyncClient(endpoint, timeout=60) as client:
        await client.put(key_format % 0, b"w" * 100)
        print("ready", flush=True)
        per_tick, done, ticks, began = max(1, round(rate * TICK)), 0, 0, time.monotonic()
        while not stop.is_set():
            await asyncio.gather(*(client.put(key_format % ((done + i) % n_keys), b"%0100d" % (done + i))
                                   for i in range(per_tick)))
            done += per_tick
            ticks += 1
            wait = began + ticks * TICK - time.monotonic()
            if wait > 0:
                try:
                    await asyncio.wait_for(stop.wait(), wait)
                except asyncio.TimeoutError:
                    pass
        print(done, time.monotonic() - began, flush=True)

asyncio.run(main())
"""


def _value(i: int) -> bytes:
    """About 100 bytes."""
    return b'{"id":"%08d","upstream":"10.0.%d.%d:8080","weight":1,"note":"%s"}' % (i, i % 250, i % 200, b"x" * 28)


def _progress_answers_waited_on(version: str) -> bool:
    """Whether a Mirror waits for progress answers from etcd at this version (>= 3.4.31 on 3.4, >= 3.5.13)."""
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:3])
    return parts >= ((3, 4, 31) if parts[:2] == (3, 4) else (3, 5, 13))


def _etcd_pid(etcd) -> int | None:
    """The etcd server process's pid: the started one's (setpriv execs etcd), none on --endpoints."""
    pid = getattr(etcd, "pid", None)
    if pid is None:
        return None
    try:
        return pid if Path(f"/proc/{pid}/comm").read_text().strip() == "etcd" else None
    except OSError:
        return None


def _cpu_ticks(pid: int) -> int:
    """utime + stime of a process so far, in clock ticks (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


@pytest.fixture(scope="module")
def loaded(bench_etcd, request):
    """The bench etcd holding N_KEYS keys under PREFIX: (etcd, its version, its pid or None)."""
    progress(f"loading {N_KEYS:,} keys under {PREFIX} (txns of {TXN_OPS})")
    with etcdstream.Client(bench_etcd.endpoint, timeout=60) as client:
        client.delete(PREFIX, prefix=True)
        for start in range(0, N_KEYS, TXN_OPS):
            client.txn([], [Put(KEY_FORMAT % i, _value(i)) for i in range(start, min(N_KEYS, start + TXN_OPS))])
        assert client.count(PREFIX) == N_KEYS
        version = client.status().version
    yield bench_etcd, version, _etcd_pid(bench_etcd)
    cleanup_prefix(bench_etcd, PREFIX)
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if reporter is not None and capture is not None and _SUMMARY:
        with capture.global_and_fixture_disabled():  # a module's teardown output is captured otherwise
            reporter.ensure_newline()
            reporter.section(f"consistent reads against etcd {version}, {os.cpu_count()} cores shared by etcd, "
                             "this process and the writer")
            for line in _SUMMARY:
                reporter.write_line(line)


@contextmanager
def _writer(endpoint: str, rate: int):
    """A writer process putting rate keys/s over the prefix while the block runs; yields a dict that gets
    its "puts" and "seconds" once it stopped (nothing when rate is 0)."""
    result: dict = {}
    if not rate:
        yield result
        return
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, endpoint, KEY_FORMAT, str(N_KEYS), str(rate)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if proc.stdout.readline().strip() != "ready":
            proc.kill()
            raise RuntimeError(f"the writer did not start: {proc.communicate()[1][-2000:]}")
        yield result
    finally:
        out, err = proc.communicate("", timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"the writer failed ({proc.returncode}): {err[-2000:]}")
        puts, seconds = out.split()
        result.update(puts=int(puts), seconds=float(seconds))


def _percentile(data: list[float], q: float) -> float:
    ordered = sorted(data)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _measure(benchmark, loaded, group: str, variant: str, read, rate: int, items: int, mirror=None) -> list[str]:
    """Time ROUNDS[variant] reads, one per round, and count etcd's CPU over them; fill extra_info; the notes."""
    etcd, version, pid = loaded
    rounds = ROUNDS[variant]
    benchmark.group = group
    for _ in range(WARMUP):
        read()
    background = None
    if pid is not None:
        ticks, began = _cpu_ticks(pid), time.monotonic()
        time.sleep(BACKGROUND_S)
        background = (_cpu_ticks(pid) - ticks) / _TICK / (time.monotonic() - began)
        ticks, began = _cpu_ticks(pid), time.monotonic()
    benchmark.pedantic(read, rounds=rounds, iterations=1, warmup_rounds=0)
    info = benchmark.extra_info
    if pid is not None:
        elapsed, used = time.monotonic() - began, (_cpu_ticks(pid) - ticks) / _TICK
        net = max(0.0, used - background * elapsed)
        info.update(etcd_cpu_s=round(used, 3), etcd_cpu_ticks=round(used * _TICK),
                    etcd_background_cpu_per_s=round(background, 4),
                    etcd_cpu_us_per_read=round(net / rounds * 1e6, 2),
                    etcd_cpu_us_per_read_gross=round(used / rounds * 1e6, 2),
                    # one tick more or less on either measurement:
                    etcd_cpu_resolution_us_per_read=round((1 + elapsed / BACKGROUND_S) / _TICK / rounds * 1e6, 2))
    data = benchmark.stats.stats.data
    info.update(items=items, reads=rounds, etcd_version=version, cores=os.cpu_count(), writer_rate=rate,
                p50_ms=round(_percentile(data, 0.50) * 1e3, 4), p99_ms=round(_percentile(data, 0.99) * 1e3, 4))
    notes = [f"p50 {info['p50_ms']:.3f} ms, p99 {info['p99_ms']:.3f} ms of {rounds:,} reads"]
    if pid is not None:
        notes.append(f"etcd CPU {info['etcd_cpu_us_per_read']:,.1f} µs/read "
                     f"(±{info['etcd_cpu_resolution_us_per_read']:,.1f}; gross {info['etcd_cpu_us_per_read_gross']:,.1f}, "
                     f"less {background * 100:.1f}% background)")
    else:
        notes.append("etcd CPU not measured (--endpoints: no pid)")
    if mirror is not None:
        reads = mirror.stats().consistent_reads
        waited = sum(reads.wait_counts)
        info.update(from_copy=reads.from_copy, fallbacks=reads.fallbacks, by_outcome=dict(reads.by_outcome),
                    copy_wait_mean_ms=round(reads.wait_sum / waited * 1e3, 4) if waited else None,
                    copy_wait_buckets_s=list(reads.wait_buckets), copy_wait_counts=list(reads.wait_counts))
        notes.append(f"from the copy {reads.from_copy:,}, fallbacks {reads.fallbacks:,} {dict(reads.by_outcome)}"
                     + (f", mean wait for the copy {info['copy_wait_mean_ms']:.3f} ms" if waited else ""))
    median = benchmark.stats.stats.median
    baseline = _BASELINES.get(group)
    if mirror is None:
        _BASELINES[group] = {"median": median, "cpu": info.get("etcd_cpu_us_per_read"), "variant": variant}
    elif baseline is not None:
        speed = baseline["median"] / median
        target = 1 / 1.5 if variant == "consistent_get" else 10.0
        info["speedup"] = round(speed, 3)
        notes.append(f"{speed:.2f}x {baseline['variant']}'s speed (target >= {target:.2f}x: "
                     f"{'met' if speed >= target else 'missed'})")
        if baseline["cpu"] and "etcd_cpu_us_per_read" in info:
            lower = baseline["cpu"] / max(info["etcd_cpu_us_per_read"], 1e-9)
            info["etcd_cpu_lower_by"] = round(lower, 2)
            notes.append(f"etcd CPU per read: {baseline['variant']}'s / this one's = {lower:,.2f} "
                         f"(target >= 10: {'met' if lower >= 10 else 'missed'})")
    return notes


def _finish(benchmark, variant: str, notes: list[str], writer: dict) -> None:
    """The note, once the writer stopped and said how many puts it made."""
    info = benchmark.extra_info
    if writer:
        rate = writer["puts"] / writer["seconds"]
        info["writer_puts_per_s"] = round(rate)
        notes.append(f"writer: its own process, paced to {info['writer_rate']:,} puts/s ({rate:,.0f} made), "
                     f"sharing {os.cpu_count()} cores with etcd and this process")
    info["note"] = "; ".join(notes)
    _SUMMARY.append(f"{benchmark.group} / {variant}: {info['note']}")


def _check_copy(mirror, version: str, reads: int) -> None:
    """Every read from the copy where etcd's progress answers can be waited on; elsewhere only recorded."""
    stats = mirror.stats().consistent_reads
    assert sum(stats.by_outcome.values()) == reads
    if _progress_answers_waited_on(version):
        assert stats.fallbacks == 0, f"etcd {version}: {stats.by_outcome}"


def _one_key_group(rate: int) -> str:
    return f"consistent read of one key ({N_KEYS:,}-key prefix), {WRITER_IDS[WRITERS.index(rate)]}"


def _prefix_group(rate: int) -> str:
    return f"consistent snapshot of {N_KEYS:,} keys, {WRITER_IDS[WRITERS.index(rate)]}"


@pytest.mark.parametrize("rate", WRITERS, ids=WRITER_IDS)
def test_one_key_get(benchmark, loaded, rate):
    etcd = loaded[0]
    with _writer(etcd.endpoint, rate) as writer, etcdstream.Client(etcd.endpoint) as client:
        def read():
            assert client.get(READ_KEY) is not None

        notes = _measure(benchmark, loaded, _one_key_group(rate), "get", read, rate, 1)
    _finish(benchmark, "get", notes, writer)


@pytest.mark.parametrize("rate", WRITERS, ids=WRITER_IDS)
def test_one_key_consistent_get(benchmark, loaded, rate):
    etcd, version, _ = loaded
    with (_writer(etcd.endpoint, rate) as writer, etcdstream.Client(etcd.endpoint) as client,
          etcdstream.Mirror(client, PREFIX, own_stream=True) as mirror):
        assert mirror.wait_synced(60)

        def read():
            assert mirror.consistent_get(READ_KEY) is not None

        notes = _measure(benchmark, loaded, _one_key_group(rate), "consistent_get", read, rate, 1, mirror)
        _check_copy(mirror, version, WARMUP + ROUNDS["consistent_get"])
    _finish(benchmark, "consistent_get", notes, writer)


@pytest.mark.parametrize("rate", WRITERS, ids=WRITER_IDS)
def test_prefix_readdir(benchmark, loaded, rate):
    etcd = loaded[0]
    with _writer(etcd.endpoint, rate) as writer, etcdstream.Client(etcd.endpoint) as client:
        def read():
            assert len(client.readdir(PREFIX).kvs) == N_KEYS

        notes = _measure(benchmark, loaded, _prefix_group(rate), "readdir", read, rate, N_KEYS)
    _finish(benchmark, "readdir", notes, writer)


@pytest.mark.parametrize("rate", WRITERS, ids=WRITER_IDS)
def test_prefix_consistent_snapshot(benchmark, loaded, rate):
    etcd, version, _ = loaded
    with (_writer(etcd.endpoint, rate) as writer, etcdstream.Client(etcd.endpoint) as client,
          etcdstream.Mirror(client, PREFIX, own_stream=True) as mirror):
        assert mirror.wait_synced(60)

        def read():
            assert len(mirror.consistent_snapshot().kvs) == N_KEYS

        notes = _measure(benchmark, loaded, _prefix_group(rate), "consistent_snapshot", read, rate, N_KEYS, mirror)
        _check_copy(mirror, version, WARMUP + ROUNDS["consistent_snapshot"])
    _finish(benchmark, "consistent_snapshot", notes, writer)
