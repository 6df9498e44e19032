"""readdir of 100,000 keys (~180 B each, ~19 MB) from a local etcd, side by side with etcdctl.

Variants, all in one run against the same server and keys:
- etcdstream Client.readdir with default settings (pages of DEFAULT_PAGE_SIZE),
- the same with AsyncClient,
- Client.readdir in one Range (page_size above the key count),
- `etcdctl get --prefix /apisix/routes/ > /dev/null` (a Go process, its start-up included).
Peak Python memory per key of a readdir (tracemalloc, measured once outside
the timed rounds) goes into extra_info. Run: pytest bench/test_readdir.py
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from corpus import KEY_FORMAT, route_value

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _testbase import EtcdServer

import etcdstream
from etcdstream import Put

N_KEYS = 100_000
PREFIX = "/apisix/routes/"
ROUNDS = 5
TXN_OPS = 128  # etcd's default --max-txn-ops


@pytest.fixture(scope="module")
def loaded_etcd():
    """An etcd holding N_KEYS route-like keys under PREFIX."""
    with EtcdServer(name="bench") as server:
        with etcdstream.Client(server.endpoint, timeout=60) as etcd:
            for start in range(0, N_KEYS, TXN_OPS):
                etcd.txn([], [Put(KEY_FORMAT % i, route_value(i)) for i in range(start, min(N_KEYS, start + TXN_OPS))])
            assert etcd.count(PREFIX) == N_KEYS
        yield server


def _peak_bytes_per_key(read) -> float:
    tracemalloc.start()
    try:
        snapshot = read()
        assert len(snapshot.kvs) == N_KEYS
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / N_KEYS


def _bench(benchmark, read, memory: bool = True) -> None:
    benchmark.group = f"readdir {N_KEYS:,} keys"
    benchmark.extra_info["items"] = N_KEYS
    if memory:
        benchmark.extra_info["peak_bytes_per_key"] = round(_peak_bytes_per_key(read), 1)
    result = benchmark.pedantic(read, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    if result is not None:
        assert len(result.kvs) == N_KEYS


def test_readdir_sync_default(benchmark, loaded_etcd):
    with etcdstream.Client(loaded_etcd.endpoint) as etcd:
        _bench(benchmark, lambda: etcd.readdir(PREFIX))


def test_readdir_sync_one_range(benchmark, loaded_etcd):
    with etcdstream.Client(loaded_etcd.endpoint) as etcd:
        _bench(benchmark, lambda: etcd.readdir(PREFIX, page_size=10 * N_KEYS))


def test_readdir_async_default(benchmark, loaded_etcd):
    loop = asyncio.new_event_loop()
    etcd = etcdstream.AsyncClient(loaded_etcd.endpoint)
    try:
        _bench(benchmark, lambda: loop.run_until_complete(etcd.readdir(PREFIX)))
    finally:
        loop.run_until_complete(etcd.close())
        loop.close()


def test_etcdctl_get_prefix(benchmark, loaded_etcd):
    command = loaded_etcd.etcdctl_args() + ["get", "--prefix", PREFIX]

    def read() -> None:
        subprocess.run(command, stdout=subprocess.DEVNULL, check=True)

    _bench(benchmark, read, memory=False)
