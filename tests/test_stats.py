"""client.stats() and mirror.stats() (issue 16 §2), with both clients, against etcd."""

from __future__ import annotations

import asyncio
import time

import pytest
from _clients import *
from _testbase.proxy import FaultProxy

import etcdstream


async def eventually(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.05)


def test_calls_are_counted_by_method_and_outcome_with_failovers_and_retries(run, etcd_server, fresh_prefix):
    async def body(etcd):
        client = client_of(etcd)
        assert client.stats() == etcdstream.ClientStats(endpoint="127.0.0.1:1")
        await etcd.put(fresh_prefix + "k", "v")
        await etcd.get(fresh_prefix + "k")
        await etcd.get(fresh_prefix + "k")
        with pytest.raises(etcdstream.LeaseNotFound):
            await etcd.revoke(0x1234)
        stats = client.stats()
        assert stats.calls == {("Put", "ok"): 1, ("Range", "ok"): 2, ("LeaseRevoke", "LeaseNotFound"): 1}
        assert stats.failovers == 1 and stats.retries == 1 and stats.endpoint == etcd_server.endpoint
        assert stats.last_error.startswith("LeaseNotFound: ") and abs(stats.last_error_time - time.time()) < 60
        assert client.namespace(fresh_prefix).stats().calls == stats.calls  # a view counts with its client

    run(body, ["127.0.0.1:1", etcd_server.endpoint])


def test_watch_streams_events_and_reconnects_are_counted(run, etcd_server, fresh_prefix):
    with FaultProxy(etcd_server.endpoint) as proxy:

        async def body(etcd):
            client = client_of(etcd)
            watcher = await open_watch(etcd, fresh_prefix)
            other = await open_watch(etcd, fresh_prefix + "other/")
            for i in range(10):
                await etcd.put(f"{fresh_prefix}{i}", "v")
            await collect(watcher, 10)
            stats = client.stats()
            assert (stats.watchers, stats.watch_streams, stats.reconnects) == (2, 1, 0)
            assert stats.events_received == 10 and stats.events_delivered == 10 and stats.bytes_received > 10 * 20
            proxy.drop()
            await eventually(lambda: client.stats().last_error is not None, "the break noted")
            proxy.resume()
            await etcd.put(fresh_prefix + "after", "v")
            await collect(watcher, 1)
            await eventually(lambda: client.stats().reconnects == 1, "a reconnect counted")
            assert client.stats().watch_streams >= 2
            await other.close()
            await eventually(lambda: client.stats().watchers == 1, "a closed watcher leaves")
            await watcher.close()

        run(body, [proxy.endpoint])


def test_a_mirror_tells_its_lag_and_last_contact_and_resyncs_are_counted(run, etcd_server, fresh_prefix):
    with FaultProxy(etcd_server.endpoint) as proxy:

        async def body(etcd):
            client = client_of(etcd)
            await etcd.put(fresh_prefix + "a", "v")
            mirror = MirrorOf(etcd, fresh_prefix)
            assert await mirror.wait_synced(20)
            revision = (await etcd.put(fresh_prefix + "b", "v")).revision
            assert await mirror.wait_revision(revision)
            stats = mirror.mirror.stats()
            assert (stats.revision, stats.lag, stats.keys, stats.resyncs, stats.synced) == (revision, 0, 2, 0, True)
            assert stats.etcd_revision == revision and stats.last_contact < 10 and mirror.mirror.lag() == 0
            proxy.drop()
            with etcdstream.Client(etcd_server.endpoint) as writer:
                writer.put(fresh_prefix + "c", "v")
                latest = writer.put(fresh_prefix + "d", "v").revision
                writer.compact(latest)  # the mirror's next revision is gone: it reads the prefix again
            stalled = mirror.mirror.stats().last_contact
            await asyncio.sleep(1)
            assert mirror.mirror.stats().last_contact >= stalled + 0.9, "the last contact ages while cut off"
            proxy.resume()
            assert await mirror.wait_revision(latest, 30)
            after = mirror.mirror.stats()
            assert (after.lag, after.keys, after.resyncs) == (0, 4, 1) and after.last_contact < 10
            assert client.stats().resyncs == 1
            await mirror.close()

        run(body, [proxy.endpoint])
