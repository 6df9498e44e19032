"""Connections, watch streams and etcd watchers used by 1,000 watches (on distinct prefixes), side by side.

etcd counts its watch streams and watchers (`etcd_debugging_mvcc_watch_stream_total`,
`etcd_debugging_mvcc_watcher_total` on /metrics); TCP connections are this
process's sockets to etcd's client port (/proc). The timed part opens every
watch and waits until etcd reports all of them. Run: pytest bench/test_connections.py
"""

from __future__ import annotations

import re
import time

import pytest
from _testbase.proc import connections_to
from bench_settings import N_WATCHES

import etcdstream

PREFIX = "/conn-bench/"
TIMEOUT = 60.0


def _etcd_counts(etcd) -> tuple[int, int]:
    """(watch streams, watchers) etcd has now."""
    text = etcd.metrics()
    found = {}
    for name in ("etcd_debugging_mvcc_watch_stream_total", "etcd_debugging_mvcc_watcher_total"):
        match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        found[name] = int(float(match.group(1))) if match else 0
    return found["etcd_debugging_mvcc_watch_stream_total"], found["etcd_debugging_mvcc_watcher_total"]


def _settled_counts(etcd, quiet: float = 0.5) -> tuple[int, int]:
    """etcd's counts once they stop changing: watches a previous client closed are cancelled asynchronously."""
    deadline = time.monotonic() + TIMEOUT
    counts, since = _etcd_counts(etcd), time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(0.05)
        now = _etcd_counts(etcd)
        if now != counts:
            counts, since = now, time.monotonic()
    return counts


def _measure(benchmark, etcd, name: str, open_all, close_all) -> None:
    benchmark.group = f"{N_WATCHES:,} watches: connections"
    benchmark.extra_info["items"] = N_WATCHES
    streams0, watchers0 = _settled_counts(etcd)
    counts = {}

    def run() -> None:
        open_all()
        deadline = time.monotonic() + TIMEOUT
        while True:
            streams, watchers = _etcd_counts(etcd)
            if watchers - watchers0 >= N_WATCHES or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        counts.update(streams=streams - streams0, watchers=watchers - watchers0,
                      connections=connections_to(etcd.client_port))

    try:
        benchmark.pedantic(run, rounds=1, iterations=1)
    finally:
        close_all()
    benchmark.extra_info.update(counts)
    assert counts["watchers"] >= N_WATCHES, f"{name}: etcd saw {counts['watchers']} of {N_WATCHES} watchers"


def test_connections_etcdstream(benchmark, bench_etcd):
    with etcdstream.Client(bench_etcd.endpoint, timeout=TIMEOUT) as client:
        watchers = []
        _measure(benchmark, bench_etcd, "etcdstream",
                 lambda: watchers.extend(client.watchdir(f"{PREFIX}{i:05d}/") for i in range(N_WATCHES)),
                 lambda: [w.close() for w in watchers])


def test_connections_etcd_sdk_python(benchmark, bench_etcd):
    pyetcd = pytest.importorskip("pyetcd", reason="etcd-sdk-python is not installed")
    host, port = bench_etcd.endpoint.split(",")[0].rsplit(":", 1)
    client = pyetcd.client(host, int(port), timeout=TIMEOUT)
    ids = []
    try:
        _measure(benchmark, bench_etcd, "etcd-sdk-python",
                 lambda: ids.extend(client.add_watch_prefix_callback(f"{PREFIX}{i:05d}/", lambda response: None)
                                    for i in range(N_WATCHES)),
                 lambda: [client.cancel_watch(i) for i in ids])
    finally:
        client.close()
