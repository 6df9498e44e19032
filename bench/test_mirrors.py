"""Many Mirrors on one client: the client's CPU per event with 1 Mirror and with MANY_MIRRORS.

A gateway mirrors many prefixes from one Client; every Mirror's watcher rides the
client's one watch stream. The blocking Client keeps a thread per Mirror, and a
response must wake only the Mirror it is for (each waiting consumer sleeps on a
condition of its own): waking every Mirror thread per response cost 2.8 ms of CPU
per event with 100 Mirrors, against 0.23 ms with one. A writer process puts
MIRROR_WRITES keys round-robin over the prefixes, one key per revision (one event
per message), then one key more in each; a round ends when every Mirror has its
last key. CPU: this process, all threads, per event received.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest
from bench_etcd import cleanup_prefix
from bench_settings import MIRROR_ROUNDS, MIRROR_WRITES

import etcdstream

MANY_MIRRORS = 100
PREFIX = "/mirrors-bench/"

_WRITER = """
import sys
import etcdstream
endpoint, prefixes, writes = sys.argv[1], sys.argv[2:-1], int(sys.argv[-1])
with etcdstream.Client(endpoint) as client:
    for i in range(writes):
        client.put(prefixes[i % len(prefixes)] + "k%d" % i, "v")
    print(" ".join(str(client.put(prefix + "~last", "x").revision) for prefix in prefixes))
"""


def _write(endpoint: str, prefixes: list[str]) -> list[int]:
    """Run the writer; the revision of each prefix's last key."""
    out = subprocess.run([sys.executable, "-c", _WRITER, endpoint, *prefixes, str(MIRROR_WRITES)],
                         check=True, capture_output=True, text=True).stdout
    return [int(revision) for revision in out.split()]


def _blocking_round(endpoint: str, prefixes: list[str]) -> float:
    """CPU seconds of this process while the Mirrors of one Client follow a writer."""
    with etcdstream.Client(endpoint) as client:
        mirrors = [etcdstream.Mirror(client, prefix) for prefix in prefixes]
        assert all(mirror.wait_synced(30) for mirror in mirrors)
        began = time.process_time()
        for mirror, last in zip(mirrors, _write(endpoint, prefixes)):
            assert mirror.wait_revision(last, 120)
        cpu = time.process_time() - began
        for mirror in mirrors:
            mirror.close()
    return cpu


def _async_round(endpoint: str, prefixes: list[str]) -> float:
    async def main() -> float:
        async with etcdstream.AsyncClient(endpoint) as client:
            mirrors = [etcdstream.AsyncMirror(client, prefix) for prefix in prefixes]
            for mirror in mirrors:
                assert await mirror.wait_synced(30)
            began = time.process_time()
            lasts = await asyncio.to_thread(_write, endpoint, prefixes)
            for mirror, last in zip(mirrors, lasts):
                assert await mirror.wait_revision(last, 120)
            cpu = time.process_time() - began
            for mirror in mirrors:
                await mirror.close()
            return cpu

    return asyncio.run(main())


@pytest.mark.parametrize("mirrors, kind", [(1, "blocking"), (MANY_MIRRORS, "blocking"), (MANY_MIRRORS, "async")],
                         ids=["1 Mirror", f"{MANY_MIRRORS} Mirrors", f"{MANY_MIRRORS} AsyncMirrors"])
def test_mirrors_on_one_client(benchmark, bench_etcd, mirrors, kind):
    prefixes = [f"{PREFIX}{kind}-{mirrors}/{i:03d}/" for i in range(mirrors)]
    events = MIRROR_WRITES + mirrors
    cpu = []

    def one_round() -> None:
        cpu.append((_blocking_round if kind == "blocking" else _async_round)(bench_etcd.endpoint, prefixes))

    benchmark.group = f"mirrors on one client ({MIRROR_WRITES:,} puts over them, one event per message)"
    benchmark.pedantic(one_round, rounds=MIRROR_ROUNDS, iterations=1, warmup_rounds=0)
    cpu_us = sorted(cpu)[len(cpu) // 2] / events * 1e6
    benchmark.extra_info.update({"items": events, "mirrors": mirrors, "cpu_us_per_event": round(cpu_us, 1)})
    cleanup_prefix(bench_etcd, PREFIX)
