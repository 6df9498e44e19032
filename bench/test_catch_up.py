"""A Mirror catching up after a gap: replaying it vs etcdstream's choice (catch_up="auto"), by gap size.

A prefix of CATCH_UP_KEYS keys is read and saved (a Snapshot), then `gap` single-key
writes (one revision each) land on it. Each round starts a Mirror from the saved copy
(start=) and waits until it is at etcd's revision: "replay" watches from the saved
revision + 1 (etcd sends a watcher that is behind at most 1,000 revisions per 100 ms),
"auto" reads the prefix again when that is cheaper. Both end with the same copy.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from bench_etcd import cleanup_prefix
from bench_settings import CATCH_UP_GAPS, progress
from corpus import route_value

import etcdstream
from etcdstream import Put

CATCH_UP_KEYS = 1_000
#: Rounds per gap: a round of the largest replay takes etcd seconds.
ROUNDS = {1_000: 5, 10_000: 3, 100_000: 2}
#: Writes in flight while making a gap (one revision each).
WRITERS = 64


async def _write_gap(endpoint: str, prefix: str, gap: int) -> int:
    """gap single puts over the prefix's keys, WRITERS at a time; etcd's revision after the last."""
    async with etcdstream.AsyncClient(endpoint, timeout=60) as client:
        async def writer(first: int) -> int:
            revision = 0
            for i in range(first, gap, WRITERS):
                revision = (await client.put(f"{prefix}{i % CATCH_UP_KEYS:05d}", route_value(i))).revision
            return revision

        return max(await asyncio.gather(*(writer(w) for w in range(WRITERS))))


@pytest.fixture(scope="module")
def etcd_version(bench_etcd) -> str:
    with etcdstream.Client(bench_etcd.endpoint) as client:
        return client.status().version


@pytest.fixture(scope="module", params=CATCH_UP_GAPS, ids=lambda gap: f"gap {gap:,}")
def saved_copy(request, bench_etcd):
    """(gap, prefix, the saved Snapshot, etcd's revision gap writes later)."""
    gap = request.param
    prefix = f"/catch-up-{gap}/"
    with etcdstream.Client(bench_etcd.endpoint, timeout=60) as client:
        for first in range(0, CATCH_UP_KEYS, 100):  # etcd takes at most 128 operations per txn
            client.txn([], [Put(f"{prefix}{i:05d}", route_value(i)) for i in range(first, first + 100)])
        saved = client.readdir(prefix)
    progress(f"writing a gap of {gap:,} revisions under {prefix}")
    last = asyncio.run(_write_gap(bench_etcd.endpoint, prefix, gap))
    yield gap, prefix, saved, last
    cleanup_prefix(bench_etcd, prefix)


def _catch_up(benchmark, bench_etcd, etcd_version, saved_copy, strategy: str) -> None:
    gap, prefix, saved, last = saved_copy
    with etcdstream.Client(bench_etcd.endpoint, timeout=60) as client:
        received = []

        def one_round() -> None:
            events = client.stats().events_received
            with etcdstream.Mirror(client, prefix, start=saved, catch_up=strategy) as mirror:
                assert mirror.wait_revision(last, timeout=300), f"no catch-up to revision {last} in 300 s"
                assert len(mirror) == CATCH_UP_KEYS
            received.append(client.stats().events_received - events)

        began = time.monotonic()
        benchmark.group = f"mirror catch-up, gap {gap:,} revisions ({CATCH_UP_KEYS:,} keys)"
        benchmark.pedantic(one_round, rounds=ROUNDS.get(gap, 3), iterations=1, warmup_rounds=0)
        progress(f"{strategy} of a {gap:,} gap: {time.monotonic() - began:.1f} s")
        benchmark.extra_info.update({"gap": gap, "strategy": strategy, "etcd": etcd_version,
                                     "events_replayed": sorted(received)[len(received) // 2],
                                     "note": f"etcd {etcd_version}; {sorted(received)[len(received) // 2]:,} "
                                             "events replayed per round"})


def test_catch_up_replay(benchmark, bench_etcd, etcd_version, saved_copy):
    _catch_up(benchmark, bench_etcd, etcd_version, saved_copy, "replay")


def test_catch_up_auto(benchmark, bench_etcd, etcd_version, saved_copy):
    _catch_up(benchmark, bench_etcd, etcd_version, saved_copy, "auto")
