"""Leak probe, run by test_leaks.py in a fresh interpreter: a workload, measured before and after.

    python _leak_probe.py {clients,watches} {sync,async} ENDPOINT COUNT WARMUP

clients: COUNT clients made, used for one call (every 10th also opens a
watch) and closed. watches: one client opens and closes COUNT watches, a batch
of them open at a time. The same workload runs WARMUP times first (caches,
freelists, grpc's threads and allocator arenas fill up), then the process is
measured ("warm"), the workload runs COUNT times and it is measured again
("end", after waiting for closes to settle). Prints one JSON line:
{"warm": {...}, "end": {...}, "seconds": ...}.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import etcdstream

# Watches open at a time in the watches workload (a gather of this many for AsyncClient).
WATCH_BATCH = 1_000
# AsyncClients made, used and closed concurrently; threads making blocking Clients.
ASYNC_CLIENT_BATCH = 100
CLIENT_THREADS = 4
# Every WATCH_EVERY-th client of the clients workload also opens a watch.
WATCH_EVERY = 10
SETTLE_SECONDS = 15.0

_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def etcd_gauges(endpoint: str) -> dict[str, int]:
    """etcd's server-side watch stream and watcher counts (from its /metrics)."""
    names = {"etcd_debugging_mvcc_watch_stream_total": "etcd_watch_streams",
             "etcd_debugging_mvcc_watcher_total": "etcd_watchers"}
    gauges = {}
    with _no_proxy.open(f"http://{endpoint}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            name, _, value = line.partition(" ")
            if name in names:
                gauges[names[name]] = int(float(value))
    return gauges


# grpc's EventEngine pool starts a thread a second while all of its threads are
# busy and ends the extra ones after 20 s idle: its size follows the load.
GRPC_POOL_THREAD = "event_engine"


def measure(endpoint: str, in_loop: bool) -> dict[str, int]:
    """The process's threads, fds, memory and (in a loop) tasks, and etcd's watch gauges."""
    gc.collect()
    page = os.sysconf("SC_PAGE_SIZE")
    os_threads = thread_names()
    pool_threads = os_threads.count(GRPC_POOL_THREAD)
    numbers = {
        "threads": threading.active_count(),
        "os_threads": len(os_threads) - pool_threads,  # grpc's other C threads too
        "grpc_pool_threads": pool_threads,
        "fds": len(os.listdir("/proc/self/fd")),
        "rss_kib": int(Path("/proc/self/statm").read_text().split()[1]) * page // 1024,
        # Every Python object (even an int in a set) is a block: finer than RSS.
        "py_blocks": sys.getallocatedblocks(),
        "gc_objects": len(gc.get_objects()),
    }
    if in_loop:
        numbers["tasks"] = len(asyncio.all_tasks())
    numbers.update(etcd_gauges(endpoint))
    return numbers


def thread_names() -> list[str]:
    """Names of the live OS threads (grpc's C threads included): says whose a leaked thread is."""
    return sorted(Path(f"/proc/self/task/{task}/comm").read_text().strip() for task in os.listdir("/proc/self/task"))


# Counts that must come back exactly to their warm values once closes have settled.
SETTLING = ("threads", "os_threads", "fds", "tasks", "etcd_watch_streams", "etcd_watchers")
SETTLE_POLL = 0.25


def settling(endpoint: str, target: dict[str, int] | None, in_loop: bool) -> Iterator[dict[str, int] | None]:
    """Measure until closes have settled, yielding None while not (the caller sleeps SETTLE_POLL), then the numbers.

    Settled: the counts are back at target's (with no target, at the warm point:
    etcd holds no watchers) and Python's blocks stopped shrinking (etcd's
    answers to the last cancels may still be on their way to the client).
    Gives up after SETTLE_SECONDS, yielding the numbers as they are.
    """
    deadline = time.monotonic() + SETTLE_SECONDS
    previous: dict[str, int] = {}
    while True:
        numbers = measure(endpoint, in_loop)
        if target is None:
            counts_back = numbers["etcd_watchers"] == 0
        else:
            counts_back = all(numbers.get(name) == target.get(name) for name in SETTLING)
        blocks_still = abs(numbers["py_blocks"] - previous.get("py_blocks", 0)) < 100
        if (counts_back and blocks_still) or time.monotonic() > deadline:
            yield numbers
            return
        previous = numbers
        yield None


def settled(endpoint: str, target: dict[str, int] | None) -> dict[str, int]:
    for numbers in settling(endpoint, target, False):
        if numbers is not None:
            return numbers
        time.sleep(SETTLE_POLL)
    raise AssertionError("settling() ends with the numbers")


# --- the blocking Client ---

def sync_clients(endpoint: str, count: int) -> None:
    def make(n: int) -> None:
        for i in range(n):
            client = etcdstream.Client(endpoint)
            client.get("/leak/k")
            if i % WATCH_EVERY == 0:
                watcher = client.watchdir("/leak/w/")
                if i % (2 * WATCH_EVERY) == 0:
                    watcher.close()  # the others end with client.close()
            client.close()

    # Threads, because one client at a time waits on connection setup more than it computes.
    share, extra = divmod(count, CLIENT_THREADS)
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        list(pool.map(make, [share + (i < extra) for i in range(CLIENT_THREADS)]))


def sync_watches(client: etcdstream.Client, count: int) -> None:
    for start in range(0, count, WATCH_BATCH):
        # Each watchdir() waits for etcd's "created": the stream thread reads it, so no threads here.
        watchers = [client.watchdir(f"/leak/w/{i}/") for i in range(min(WATCH_BATCH, count - start))]
        client.put("/leak/w/0/k", "v")
        assert watchers[0].get(10) is not None
        for watcher in watchers:
            watcher.close()


def run_sync(scenario: str, endpoint: str, count: int, warmup: int) -> dict[str, Any]:
    client = None
    if scenario == "watches":
        client = etcdstream.Client(endpoint)  # open from before the warm-up to after the end

    def workload(n: int) -> None:
        if client is None:
            sync_clients(endpoint, n)
        else:
            sync_watches(client, n)

    workload(warmup)
    warm = settled(endpoint, None)
    started = time.perf_counter()
    workload(count)
    seconds = time.perf_counter() - started
    end = settled(endpoint, warm)
    result = {"warm": warm, "end": end, "seconds": round(seconds, 2), "end_threads": thread_names()}
    if client is not None:
        client.close()
    return result


# --- AsyncClient ---

async def async_clients(endpoint: str, count: int) -> None:
    async def one(i: int) -> None:
        client = etcdstream.AsyncClient(endpoint)
        await client.get("/leak/k")
        if i % WATCH_EVERY == 0:
            watcher = await client.watchdir("/leak/w/")
            if i % (2 * WATCH_EVERY) == 0:
                await watcher.close()  # the others end with client.close()
        await client.close()

    for start in range(0, count, ASYNC_CLIENT_BATCH):
        await asyncio.gather(*(one(i) for i in range(start, min(start + ASYNC_CLIENT_BATCH, count))))


async def async_watches(client: etcdstream.AsyncClient, count: int) -> None:
    for start in range(0, count, WATCH_BATCH):
        # watchdir() waits for etcd's "created": open a batch concurrently.
        n = min(WATCH_BATCH, count - start)
        watchers = await asyncio.gather(*(client.watchdir(f"/leak/w/{i}/") for i in range(n)))
        await client.put("/leak/w/0/k", "v")
        assert await watchers[0].get(10) is not None
        for watcher in watchers:
            await watcher.close()


async def run_async(scenario: str, endpoint: str, count: int, warmup: int) -> dict[str, Any]:
    client = None
    if scenario == "watches":
        client = etcdstream.AsyncClient(endpoint)  # open from before the warm-up to after the end

    async def workload(n: int) -> None:
        if client is None:
            await async_clients(endpoint, n)
        else:
            await async_watches(client, n)

    async def settled_in_loop(target: dict[str, int] | None) -> dict[str, int]:
        # As settled(), sleeping in the loop: closes finish in tasks.
        for numbers in settling(endpoint, target, True):
            if numbers is not None:
                return numbers
            await asyncio.sleep(SETTLE_POLL)
        raise AssertionError("settling() ends with the numbers")

    await workload(warmup)
    warm = await settled_in_loop(None)
    started = time.perf_counter()
    await workload(count)
    seconds = time.perf_counter() - started
    end = await settled_in_loop(warm)
    result = {"warm": warm, "end": end, "seconds": round(seconds, 2), "end_threads": thread_names()}
    if client is not None:
        await client.close()
    return result


def main() -> None:
    scenario, kind, endpoint, count, warmup = sys.argv[1:]
    if scenario not in ("clients", "watches") or kind not in ("sync", "async"):
        raise SystemExit(__doc__)
    etcd_gauges(endpoint)  # its first call imports http.client's parsers: not part of any measurement
    if kind == "sync":
        result = run_sync(scenario, endpoint, int(count), int(warmup))
    else:
        result = asyncio.run(run_async(scenario, endpoint, int(count), int(warmup)))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
