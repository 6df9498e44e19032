"""Model-based test against real etcd: a seeded random workload with faults; Mirrors and watchers of both
clients must follow it exactly, and a model must predict etcd's final state.

Each seed runs one etcd that the clients under test (Client and AsyncClient, writing in turn) reach only
through a FaultProxy; the proxy resets (between operations, and while writes are in flight) or stalls
(briefly, and past the keepalive timeout, sometimes with a compaction past the stalled watchers), etcd
is killed and restarted, and the history is compacted. Replay a seed with ETCDSTREAM_MODEL_SEED=<seed>; the workload itself lives in
_testbase/workload.py (bench/soak.py runs it for hours).
"""

from __future__ import annotations

import asyncio
import os
import random
import time

import pytest
from _testbase.proxy import FaultProxy
from _testbase.workload import (
    AsyncWatchRecorder,
    MirrorLog,
    MirrorObserver,
    ModelRun,
    ProxiedServer,
    Report,
    SyncWatchRecorder,
    Threaded,
    WatchLog,
    Workload,
)

import etcdstream

FIXED_SEEDS = [1, 20261127, 424242]
OPS_PER_RUN = 120
FAULTS = ["reset", "reset-midway", "stall", "stall-long", "kill", "compact"]
# A stall of more than keepalive_time + keepalive_timeout is noticed and left; etcd must allow such pings.
KEEPALIVE = {"keepalive_time": 1, "keepalive_timeout": 1}
RUN_TIMEOUT = 240


def seeds() -> list[int]:
    """ETCDSTREAM_MODEL_SEED's seed alone, else the fixed seeds and one new random one."""
    if os.environ.get("ETCDSTREAM_MODEL_SEED"):
        return [int(os.environ["ETCDSTREAM_MODEL_SEED"])]
    return FIXED_SEEDS + [random.SystemRandom().randrange(1, 2**31)]


async def run_model(seed: int, server, prefix: bytes = b"/model/") -> Report:
    """One seeded run; the returned Report holds its divergences."""
    report = Report(seed)
    with (
        FaultProxy(server.endpoint) as proxy,
        etcdstream.Client(server.endpoint, timeout=30) as direct,
        etcdstream.Client(proxy.endpoint, **KEEPALIVE) as client,
    ):
        async with etcdstream.AsyncClient(proxy.endpoint, **KEEPALIVE) as async_client:
            observers = [
                MirrorObserver(client, prefix, MirrorLog("Mirror", report)),
                MirrorObserver(async_client, prefix, MirrorLog("AsyncMirror", report)),
                SyncWatchRecorder(client, prefix, WatchLog("watchdir", report)),
                AsyncWatchRecorder(async_client, prefix, WatchLog("async watchdir", report)),
            ]
            try:
                run = ModelRun(Workload(seed, prefix), ProxiedServer(server, proxy, direct),
                               [Threaded(client), async_client], report)
                plan = run.workload.fault_plan(OPS_PER_RUN, FAULTS)
                for i in range(OPS_PER_RUN):
                    if i in plan:
                        await run.step(run.workload.fault(plan[i]))
                    await run.step(run.workload.next_op(run.model))
                await run.check(observers)
            finally:
                for observer in observers:
                    await observer.close()
    return report


@pytest.mark.parametrize("seed", seeds(), ids=lambda seed: f"seed={seed}")
def test_random_workload_with_faults(seed, make_etcd_server):
    server = make_etcd_server(name="model", extra_args=["--grpc-keepalive-min-time=500ms"])
    started = time.monotonic()
    report = asyncio.run(asyncio.wait_for(run_model(seed, server), RUN_TIMEOUT))
    print(f"{report.summary()} in {time.monotonic() - started:.1f} s")
    replay = f"seed {seed} (replay: ETCDSTREAM_MODEL_SEED={seed})"
    problems = report.divergences + report.library_errors
    assert not problems, f"{replay}: {report.summary()}\n" + "\n".join(problems[:30])
    assert report.events_checked > 0, f"{replay}: no event reached the watchers"
    assert set(report.faults) == set(FAULTS), f"{replay}: faults injected {report.faults}"


def test_async_watcher_iteration_ends_after_close(etcd_server, fresh_prefix):
    """Found by the model run's async watcher: `async for` over a watcher closed from elsewhere must just end."""

    async def body():
        async with etcdstream.AsyncClient(etcd_server.endpoint) as client:
            watcher = await client.watchdir(fresh_prefix)

            async def consume():
                async for _ in watcher:
                    pass

            task = asyncio.create_task(consume())
            await asyncio.sleep(0.2)
            await watcher.close()
            await asyncio.wait_for(task, 10)

    asyncio.run(body())
