"""Model-based test against real etcd: a seeded random workload with faults; Mirrors and watchers of both
clients must follow it exactly, keeping etcd's six watch guarantees (against etcd's history, as etcdctl
watched it), and a model must predict etcd's final state.

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
import threading
import time

import pytest
from _clients import *
from _testbase.history import HistoryRecorder
from _testbase.proxy import FaultProxy
from _testbase.workload import (
    AsyncWatchRecorder,
    MirrorLog,
    MirrorObserver,
    ModelRun,
    ProxiedServer,
    Put,
    Report,
    SyncWatchRecorder,
    Threaded,
    WatchLog,
    Workload,
    key_ranges,
    overlaps,
    unary_calls,
)

import etcdstream

pytestmark = pytest.mark.every_version  # tests/run runs this module on every etcd version
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
            # etcd's history, for the watch guarantees: etcdctl watches every key straight from etcd all along
            # (the history would be compacted by the end).
            history = HistoryRecorder(server, direct.status().revision + 1)
            observers = [
                MirrorObserver(client, prefix, MirrorLog("Mirror", report)),
                MirrorObserver(async_client, prefix, MirrorLog("AsyncMirror", report)),
                SyncWatchRecorder(client, prefix, WatchLog("watchdir", report)),
                AsyncWatchRecorder(async_client, prefix, WatchLog("async watchdir", report)),
            ]
            try:
                run = ModelRun(Workload(seed, prefix), ProxiedServer(server, proxy, direct),
                               [Threaded(client), async_client], report)
                run.history = history
                plan = run.workload.fault_plan(OPS_PER_RUN, FAULTS)
                for i in range(OPS_PER_RUN):
                    if i in plan:
                        await run.step(run.workload.fault(plan[i]))
                    await run.step(run.next_op())
                await run.check(observers)
            finally:
                for observer in observers:
                    await observer.close()
                history.close()
                if history.gaps:
                    print(f"etcd's history lacks revisions {history.gaps} (compacted while etcdctl was away)")
    return report


@pytest.mark.parametrize("seed", seeds(), ids=lambda seed: f"seed={seed}")
def test_random_workload_with_faults(seed, make_etcd_server):
    server = make_etcd_server(name="model", extra_args=["--grpc-keepalive-min-time=500ms"])
    started = time.monotonic()
    report = asyncio.run(asyncio.wait_for(run_model(seed, server), RUN_TIMEOUT))
    print(f"{report.summary()} in {time.monotonic() - started:.1f} s")
    replay = f"seed {seed} (replay: ETCDSTREAM_MODEL_SEED={seed})"
    problems = report.divergences + report.guarantee_violations + report.library_errors
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


# --- the causes of the seed-1201 soak divergences, one by one ---


def wait_handled(server, method: str, calls: float, timeout: float = 30) -> None:
    """Wait until etcd `server` has handled `calls` unary calls of `method` in all."""
    deadline = time.monotonic() + timeout
    while unary_calls(server, method)[1] < calls:
        assert time.monotonic() < deadline, f"etcd handled {unary_calls(server, method)[1]:g} {method} calls, not {calls:g}"
        time.sleep(0.02)


def test_a_write_the_network_held_lands_after_its_error_and_the_model_waits_for_it(run, make_etcd_server):
    """A put stalled in the proxy fails (keepalive gives up on the connection) with OutcomeUnknown, and reading
    its key then shows the old value; but the bytes the path held reach etcd on resume (the client's hang-up
    is lost on the way) and the put lands. The model keeps it in doubt, leaves its key alone, and takes
    its outcome from etcd once the run has settled."""
    server = make_etcd_server(name="late", extra_args=["--grpc-keepalive-min-time=500ms"])
    prefix = b"/late/"
    key = prefix + b"k/0/0"
    with (
        FaultProxy(server.endpoint, pass_hangups=False) as proxy,
        etcdstream.Client(server.endpoint, timeout=30) as direct,
    ):

        async def body(etcd):
            report = Report(0)
            model_run = ModelRun(Workload(0, prefix), ProxiedServer(server, proxy, direct), [etcd], report)
            await model_run.step(Put(key, b"before"))  # connected through the proxy
            puts_before = unary_calls(server, "Put")[1]
            proxy.stall()
            await model_run.step(Put(key, b"held"))
            [(_, error)] = model_run.in_doubt
            assert isinstance(error, etcdstream.WriteConnectionLost) and "may still apply it" in str(error)
            assert (await model_run.read(key))[key].value == b"before"  # reading now does not tell
            for _ in range(50):  # later operations leave the key in doubt alone
                assert not overlaps(key_ranges(model_run.next_op()), [(key, key + b"\0")])
            proxy.resume()
            await asyncio.to_thread(wait_handled, server, "Put", puts_before + 1)  # the held put reached etcd
            await model_run.check([])
            kv = direct.get(key)
            assert (kv.value, kv.version) == (b"held", 2)  # landed after its error, once
            assert model_run.model.kvs[key] == kv
            assert report.ambiguous == 1 and not report.divergences, report.divergences

        run(body, proxy.endpoint, keepalive_time=1, keepalive_timeout=1)


def test_a_write_a_killed_leader_proposed_is_committed_by_the_next_one_and_never_sent_twice(run, etcd_cluster,
                                                                                           fresh_prefix):
    """The leader proposes a put its frozen followers cannot acknowledge yet, and is killed: the put raises
    OutcomeUnknown, and once the followers wake up, the next leader commits it. Sent again (as the client
    once did after etcd's "server stopped") it would land twice: version 2."""
    leader = etcd_cluster.leader(timeout=30)
    followers = [m for m in etcd_cluster.members if m is not leader]
    key = fresh_prefix + "/proposed"

    async def body(etcd):
        await etcd.get(key)  # connected to the leader
        for follower in followers:
            follower.freeze()
        killer = threading.Timer(0.5, leader.kill)  # a thread: the blocking client's put blocks the loop
        try:
            killer.start()
            with pytest.raises(etcdstream.OutcomeUnknown):
                await etcd.put(key, "once")
        finally:
            killer.join()
            for follower in followers:
                follower.thaw()
        with etcdstream.Client([f.endpoint for f in followers], timeout=30) as other:
            deadline = time.monotonic() + 30
            while (kv := other.get(key)) is None and time.monotonic() < deadline:
                time.sleep(0.1)
        assert kv is not None and (kv.value, kv.version) == (b"once", 1)

    run(body, leader.endpoint)


def test_the_readmes_guarded_retry_applies_once_though_the_first_try_lands_later(run, make_etcd_server):
    """The pattern "Writes that fail" recommends: a compare_and_put whose outcome is unknown, sent again with the
    same guard, applies once; the first try, held by the path and delivered after the retry, fails its compare."""
    server = make_etcd_server(name="guarded", extra_args=["--grpc-keepalive-min-time=500ms"])
    key = "/guarded/cfg"
    with (
        FaultProxy(server.endpoint, pass_hangups=False) as proxy,
        etcdstream.Client(server.endpoint, timeout=30) as direct,
    ):
        kv = direct.put(key, "old") and direct.get(key)

        async def body(etcd):
            await etcd.get(key)  # connected through the proxy
            txns_before = unary_calls(server, "Txn")[1]
            proxy.stall()
            with pytest.raises(etcdstream.OutcomeUnknown):
                await etcd.compare_and_put(key, "first try", kv.mod_revision)
            direct.compare_and_put(key, "first try", kv.mod_revision)  # the retry (through the direct path)
            proxy.resume()
            await asyncio.to_thread(wait_handled, server, "Txn", txns_before + 2)  # the first try, after the retry
            now = direct.get(key)
            assert (now.value, now.version) == (b"first try", kv.version + 1)

        run(body, proxy.endpoint, keepalive_time=1, keepalive_timeout=1)
