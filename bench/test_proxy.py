"""Watches direct and behind etcd's gRPC proxy, in alternating rounds of one process.

- Opening N_WATCHES watchdirs at once (AsyncClient, asyncio.gather): behind the
  proxy a stream keeps one watch create in flight (the proxy renumbers watches
  and answers creates out of order); direct, etcd echoes our watch ids and the
  creates are pipelined once it has.
- Resuming after the path to etcd returns: a watcher is open, its path goes
  away (direct: a TCP proxy refuses and resets connections; behind the proxy:
  the gRPC proxy is killed), RESUME_EVENTS puts are written to etcd meanwhile,
  the path comes back; timed from its return to the watcher having delivered
  the last put. The client's reconnect pause is at most 2 s, grpc's own
  reconnect backoff too.

Needs an etcd this run started (the proxy is started in front of it). Run: pytest bench/test_proxy.py
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time

import pytest
from _testbase.grpcproxy import EtcdGrpcProxy
from _testbase.proxy import FaultProxy
from bench_etcd import ExistingEtcd
from bench_settings import N_WATCHES, QUICK

import etcdstream

ROUNDS = 2 if QUICK else 5
RESUME_EVENTS = 600
DOWNTIME = 1.0  # seconds the path stays away at least (the puts may take longer)
TIMEOUT = 60.0
_rounds = itertools.count()


@pytest.fixture(scope="module")
def grpc_proxy(bench_etcd):
    if isinstance(bench_etcd, ExistingEtcd):
        pytest.skip("the proxy is started in front of an etcd this run started (not with --endpoints)")
    with EtcdGrpcProxy(bench_etcd) as proxy:
        yield proxy


def _alternate(benchmark, group: str, items: int, measure) -> None:
    """Run measure(path) for "direct" and "proxy" in alternating order; note both medians."""
    times: dict[str, list[float]] = {"direct": [], "proxy": []}

    def pair() -> None:
        order = ("direct", "proxy") if len(times["direct"]) % 2 else ("proxy", "direct")
        for path in order:
            times[path].append(measure(path))

    benchmark.group = group
    benchmark.pedantic(pair, rounds=ROUNDS, iterations=1)
    direct, proxy = statistics.median(times["direct"]), statistics.median(times["proxy"])
    benchmark.extra_info["items"] = items
    benchmark.extra_info["note"] = (f"direct {direct * 1e3:,.0f} ms, behind etcd grpc-proxy {proxy * 1e3:,.0f} ms "
                                    f"({proxy / direct:.1f}x); medians of {ROUNDS} alternating rounds")


def test_open_watches_at_once(benchmark, bench_etcd, grpc_proxy):
    endpoints = {"direct": bench_etcd.endpoint, "proxy": grpc_proxy.endpoint}

    async def open_all(endpoint: str, prefix: str) -> float:
        async with etcdstream.AsyncClient(endpoint, timeout=TIMEOUT) as etcd:
            await etcd.get(prefix)  # connected before the clock starts
            start = time.perf_counter()
            watchers = await asyncio.gather(*(etcd.watchdir(f"{prefix}{i:05d}/") for i in range(N_WATCHES)))
            took = time.perf_counter() - start
            for watcher in watchers:
                await watcher.close()
            return took

    _alternate(benchmark, f"{N_WATCHES:,} watchdirs opened at once (AsyncClient)", N_WATCHES,
               lambda path: asyncio.run(open_all(endpoints[path], f"/proxy-bench/open/{next(_rounds)}/")))


def test_resume_after_the_path_returns(benchmark, bench_etcd, grpc_proxy):
    with FaultProxy(bench_etcd.endpoint) as tcp_path, etcdstream.Client(bench_etcd.endpoint) as writer:

        def measure(path: str) -> float:
            prefix = f"/proxy-bench/resume/{next(_rounds)}/"
            endpoint = tcp_path.endpoint if path == "direct" else grpc_proxy.endpoint
            with etcdstream.Client(endpoint, timeout=TIMEOUT) as client, client.watchdir(prefix) as watcher:
                if path == "direct":
                    tcp_path.drop()
                else:
                    grpc_proxy.kill()
                away = time.monotonic()
                last = 0
                for i in range(RESUME_EVENTS):
                    last = writer.put(f"{prefix}{i:04d}", b"x").revision
                time.sleep(max(0.0, DOWNTIME - (time.monotonic() - away)))
                if path == "direct":
                    tcp_path.resume()
                else:
                    grpc_proxy.start()  # returns once the proxy serves
                back = time.monotonic()
                seen = delivered = 0
                while delivered < last:  # watcher.revision counts what is buffered, not yet read
                    batch = watcher.get(TIMEOUT - (time.monotonic() - back))
                    assert batch is not None, f"{path}: {seen} of {RESUME_EVENTS} events within {TIMEOUT:g} s"
                    seen += len(batch)
                    delivered = batch.revision
                took = time.monotonic() - back
                assert seen == RESUME_EVENTS, f"{path}: {seen} events delivered, {RESUME_EVENTS} written"
                return took

        _alternate(benchmark, f"resume: {RESUME_EVENTS} events written while the path was away", RESUME_EVENTS,
                   measure)
