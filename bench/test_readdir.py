"""readdir of 100,000 keys (~180 B each, ~19 MB) from a local etcd, side by side with etcdctl and etcd-sdk-python.

Variants, all in one run against the same server and keys:
- etcdstream Client.readdir with default settings (a first page, then the rest in one Range when it fits),
- the same with AsyncClient,
- Client.readdir in one Range (page_size above the key count),
- `etcdctl get --prefix /apisix/routes/ > /dev/null` (a Go process, its start-up included),
- etcd-sdk-python (pyetcd) `get_prefix`, one Range: its receive limit raised through
  grpc_options (at grpcio's default 4 MiB it fails with RESOURCE_EXHAUSTED).
Peak Python memory per key of a read (tracemalloc, measured once outside the
timed rounds) goes into extra_info. Run: pytest bench/test_readdir.py
(ETCDSTREAM_BENCH_SIZE=quick: 10,000 keys).
"""

from __future__ import annotations

import asyncio
import subprocess
import tracemalloc

import pytest
from bench_etcd import cleanup_prefix
from bench_settings import READDIR_KEYS, READDIR_ROUNDS, progress
from corpus import KEY_FORMAT, route_value

import etcdstream
from etcdstream import Put

N_KEYS = READDIR_KEYS
PREFIX = "/apisix/routes/"
ROUNDS = READDIR_ROUNDS
TXN_OPS = 128  # etcd's default --max-txn-ops


@pytest.fixture(scope="module")
def loaded_etcd(bench_etcd):
    """The bench etcd holding N_KEYS route-like keys under PREFIX."""
    progress(f"loading {N_KEYS:,} keys under {PREFIX} (txns of {TXN_OPS})")
    with etcdstream.Client(bench_etcd.endpoint, timeout=60) as etcd:
        for start in range(0, N_KEYS, TXN_OPS):
            etcd.txn([], [Put(KEY_FORMAT % i, route_value(i)) for i in range(start, min(N_KEYS, start + TXN_OPS))])
        assert etcd.count(PREFIX) == N_KEYS
    yield bench_etcd
    cleanup_prefix(bench_etcd, PREFIX)


def _peak_bytes_per_key(read) -> float:
    tracemalloc.start()
    try:
        result = read()
        assert len(result) == N_KEYS
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / N_KEYS


def _bench(benchmark, read, memory: bool = True, count=lambda result: len(result.kvs)) -> None:
    benchmark.group = f"readdir {N_KEYS:,} keys"
    benchmark.extra_info["items"] = N_KEYS
    if memory:
        benchmark.extra_info["peak_bytes_per_key"] = round(_peak_bytes_per_key(lambda: _kvs(read())), 1)
    result = benchmark.pedantic(read, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    if result is not None:
        assert count(result) == N_KEYS


def _kvs(result):
    return result.kvs if hasattr(result, "kvs") else result


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


def test_etcd_sdk_python_get_prefix(benchmark, loaded_etcd):
    """python-etcd3's API: one Range, (value, metadata) pairs; the receive limit raised to fit."""
    pyetcd = pytest.importorskip("pyetcd", reason="etcd-sdk-python is not installed")
    host, port = loaded_etcd.endpoint.split(",")[0].rsplit(":", 1)
    options = [("grpc.max_receive_message_length", 256 << 20)]
    client = pyetcd.client(host, int(port), timeout=60, grpc_options=options)
    benchmark.extra_info["note"] = "receive limit raised (fails at grpcio's 4 MiB default)"
    try:
        def read():
            return [(value, meta.key, meta.mod_revision) for value, meta in client.get_prefix(PREFIX)]

        _bench(benchmark, read, count=len)
    finally:
        client.close()
