"""Leaks: making and closing many clients and watches leaves threads, fds and memory flat.

Each check runs _leak_probe.py in a fresh interpreter against its own etcd, for
Client and AsyncClient: "clients" makes, uses (one call; every 10th also opens
a watch) and closes clients; "watches" opens and closes watches on one client,
a thousand open at a time. The probe measures itself after a warm-up (a tenth
of the work) and at the end; see the bounds below.

Counts: 10,000 clients and 20,000 watches by default: 65 s on a quiet 2-core
machine, up to 110 s on a busy one. A watch costs 0.5-0.9 ms of client CPU
(grpcio's cost of four stream messages: create, created, cancel, canceled; the
blocking client adds thread hand-offs) and 0.2-0.3 ms of etcd's, so the
issue's 100,000 watches take about 4 minutes: ETCDSTREAM_LEAK_SCALE=1 (a factor
on 10,000 clients and 100,000 watches; 0.1 for a quick run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

PROBE = Path(__file__).with_name("_leak_probe.py")

FULL_COUNTS = {"clients": 10_000, "watches": 100_000}
DEFAULT_COUNTS = {"clients": 10_000, "watches": 20_000}

# Back exactly at their warm values (the probe waits up to 15 s for closes to settle).
EXACT = ("threads", "os_threads", "fds", "tasks", "etcd_watch_streams", "etcd_watchers")
# grpc's EventEngine pool grows by a thread a second while busy and shrinks after
# 20 s idle: it may end a few threads larger (not by one per client or watch).
GRPC_POOL_GROWTH = 8


def blocks_allowed(count: int) -> int:
    """Python blocks the end may hold above the warm point.

    A leak of one object per client or watch leaves `count` more blocks
    (sys.getallocatedblocks counts every object, even an int in a set): 5x
    this bound at 10,000 items, 9x at 100,000. Runs without a leak grow by 10-500 blocks
    (asyncio's and traceback's caches filling up).
    """
    return 1_000 + count // 10


# RSS catches memory outside Python's allocator (grpc's C core). Runs without a
# leak grow 0.5-8 MiB (allocator arenas of grpc's threads). 16 MiB is 1.6 KiB
# per client at 10,000 (a Client left open holds ~14 KiB) and 0.8 KiB per watch
# at 20,000 (a closed watcher kept by AsyncClient held 2.5 KiB); smaller leaks
# of Python objects are caught by the blocks.
RSS_GROWTH_KIB = 16 * 1024


def leak_count(scenario: str) -> int:
    scale = os.environ.get("ETCDSTREAM_LEAK_SCALE")
    if scale is None:
        return DEFAULT_COUNTS[scenario]
    return max(10, round(FULL_COUNTS[scenario] * float(scale)))


def run_probe(scenario: str, kind: str, endpoint: str, count: int) -> dict:
    command = [sys.executable, str(PROBE), scenario, kind, endpoint, str(count), str(max(1, count // 10))]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, f"probe failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(result: dict, count: int) -> str:
    """The measurements as a table, for the failure message."""
    warm, end = result["warm"], result["end"]
    threads = ", ".join(f"{name} x{n}" for name, n in sorted(Counter(result["end_threads"]).items()))
    lines = [f"{count} items in {result['seconds']} s; OS threads at the end: {threads}",
             f"{'':20} {'warm':>10} {'end':>10} {'growth':>10}"]
    lines += [f"{name:20} {warm[name]:>10} {end[name]:>10} {end[name] - warm[name]:>+10}" for name in warm]
    return "\n".join(lines)


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("scenario", ["clients", "watches"])
def test_no_leak(scenario, kind, make_etcd_server):
    server = make_etcd_server(name=f"leaks-{scenario}")
    count = leak_count(scenario)
    result = run_probe(scenario, kind, server.endpoint, count)
    warm, end = result["warm"], result["end"]
    numbers = report(result, count)
    print(numbers)  # shown with -s or -rA: the numbers of a passing run too
    assert {k: end[k] for k in EXACT if k in warm} == {k: warm[k] for k in EXACT if k in warm}, numbers
    assert end["grpc_pool_threads"] <= warm["grpc_pool_threads"] + GRPC_POOL_GROWTH, numbers
    assert end["py_blocks"] - warm["py_blocks"] < blocks_allowed(count), numbers
    assert end["rss_kib"] - warm["rss_kib"] < RSS_GROWTH_KIB, numbers
