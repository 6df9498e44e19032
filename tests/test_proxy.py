"""Watches and Mirrors direct and behind etcd's gRPC proxy, with both clients.

The proxy (`etcd grpc-proxy start`) coalesces identical watches of all its
clients into one watch on etcd. It renumbers watches and answers a create that
joins one of its existing server watches at once, ahead of older creates: a
client that paired `created` responses with creates by their order handed one
prefix's events to another prefix's watcher. Each test runs on every path to
etcd: direct (through a TCP fault proxy, to cut it), behind a gRPC proxy in
front of one node, behind one in front of the 3-node cluster. What must hold everywhere: every watcher gets its own
events, each once, in order, also across a restart of what its stream talks to.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from _clients import *  # noqa: F403
from _testbase.proxy import FaultProxy

class CuttablePath:
    """A way to etcd whose peer (what the client's stream talks to) can be killed and started again."""

    def __init__(self, path, kill_peer, start_peer):
        self.name, self.endpoint, self.etcd, self.etcd_endpoints = path.name, path.endpoint, path.etcd, \
            path.etcd_endpoints
        self.kill_peer, self.start_peer = kill_peer, start_peer


@pytest.fixture
def path(etcd_path):
    """etcd_path, its peer the gRPC proxy or, when direct, a TCP fault proxy in front of etcd whose drop()
    cuts the client off while etcd takes writes."""
    if etcd_path.proxy is not None:
        yield CuttablePath(etcd_path, etcd_path.proxy.kill, etcd_path.proxy.start)
        return
    with FaultProxy(etcd_path.endpoint) as tcp:
        yield CuttablePath(EtcdPath("direct", tcp.endpoint, etcd_path.etcd), tcp.drop, tcp.resume)


async def open_many(etcd, prefixes, **kwargs):
    """watchdir of every prefix at once: gathered (AsyncClient) or from 16 threads (Client)."""
    if etcd.kind == "sync":
        with ThreadPoolExecutor(16) as pool:
            return list(pool.map(lambda p: AwaitableWatcher(etcd.client.watchdir(p, **kwargs)), prefixes))
    return list(await asyncio.gather(*(etcd.watchdir(p, **kwargs) for p in prefixes)))


async def put_each(etcd, prefixes, keys):
    """Put every key under every prefix; return {prefix: [(key, revision), ...]} in write order."""
    written = {}
    for prefix in prefixes:
        written[prefix] = [(f"{prefix}{k}".encode(), (await etcd.put(prefix + k, k)).revision) for k in keys]
    return written


async def assert_each_got_its_own(watchers, written, timeout=20.0):
    """Every watcher delivers exactly the (key, revision) pairs written under its prefix, in order."""
    for prefix, watcher in watchers.items():
        expected = written[prefix]
        got = [(key, revision) for _, key, _, revision in await collect(watcher, len(expected), timeout)]
        assert got == expected, f"watcher of {prefix} got {got[:4]}..., expected {expected[:4]}..."


def test_many_clients_creating_watches_at_once_each_get_their_own_events(run, path, fresh_prefix, client_kind):
    prefixes = [f"{fresh_prefix}p{i:02d}/" for i in range(40)]

    async def body(etcd):
        start = (await etcd.readdir(fresh_prefix)).revision + 1
        async with connect(client_kind, path.endpoint) as other:
            # The other client already watches a third of the prefixes (shared) from the same revision:
            # behind the proxy, these creates join its server watches and are answered at once.
            shared = await open_many(other, prefixes[::3], start_revision=start)
            mine = dict(zip(prefixes, await open_many(etcd, prefixes, start_revision=start)))
            written = await put_each(etcd, prefixes, ["k0", "k1", "k2"])
            await assert_each_got_its_own(mine, written)
            await assert_each_got_its_own(dict(zip(prefixes[::3], shared)), written)
            for watcher in [*mine.values(), *shared]:
                await watcher.close()

    run(body, path.endpoint)


def test_every_watch_resumes_once_after_the_stream_peer_restarts(run, path, fresh_prefix):
    """Events written while the proxy (or etcd) is down come once, to their own watcher, after it returns."""
    prefixes = [f"{fresh_prefix}p{i:02d}/" for i in range(20)]

    async def body(etcd):
        watchers = dict(zip(prefixes, await open_many(etcd, prefixes)))
        async with connect("sync", path.etcd_endpoints) as writer:
            before = await put_each(writer, prefixes, ["a0", "a1"])
            await assert_each_got_its_own(watchers, before)
            path.kill_peer()
            try:
                during = await put_each(writer, prefixes, ["b0", "b1", "b2"])
            finally:
                path.start_peer()
            after = await put_each(writer, prefixes, ["c0"])
        await assert_each_got_its_own(watchers, {p: during[p] + after[p] for p in prefixes}, timeout=30.0)
        for watcher in watchers.values():
            await watcher.close()

    run(body, path.endpoint)


def test_a_paused_slow_watcher_is_created_again_beside_live_ones(run, path, fresh_prefix):
    """A watcher past max_buffered_events is canceled and re-created once read: its re-create must not steal
    another watcher's created response."""
    prefixes = [f"{fresh_prefix}p{i:02d}/" for i in range(10)]

    async def body(etcd):
        start = (await etcd.readdir(fresh_prefix)).revision + 1
        watchers = dict(zip(prefixes, await open_many(etcd, prefixes, start_revision=start, max_buffered_events=5)))
        written = await put_each(etcd, prefixes, [f"k{i}" for i in range(12)])
        await assert_each_got_its_own(watchers, written, timeout=30.0)
        more = await put_each(etcd, prefixes[::2], ["z"])
        await assert_each_got_its_own({p: watchers[p] for p in prefixes[::2]}, more)
        for watcher in watchers.values():
            await watcher.close()

    run(body, path.endpoint)


def test_request_progress_returns_and_watching_goes_on(run, path, fresh_prefix):
    """The proxy drops progress requests (etcd issue 19710): asking must not hang or break the stream."""

    async def body(etcd):
        watcher = await open_watch(etcd, fresh_prefix)
        asked = etcd.request_progress()
        if asyncio.iscoroutine(asked):  # Client's methods are awaited through BlockingAsAsync
            await asked
        revision = (await etcd.put(fresh_prefix + "k", "v")).revision
        assert [e[1:] for e in await collect(watcher, 1)] == [(f"{fresh_prefix}k".encode(), b"v", revision)]
        await watcher.close()

    run(body, path.endpoint)


def test_mirrors_equal_etcd_across_a_restart_of_the_stream_peer(run, path, fresh_prefix):
    async def body(etcd):
        for i in range(5):
            await etcd.put(f"{fresh_prefix}seed{i}", "v")
        prefixes = [fresh_prefix, fresh_prefix + "seed"]
        mirrors = [MirrorOf(etcd, prefix) for prefix in prefixes]
        for mirror in mirrors:
            await mirror.wait_synced(20)
        async with connect("sync", path.etcd_endpoints) as writer:
            await writer.put(fresh_prefix + "seed1", "changed")
            path.kill_peer()
            try:
                await writer.delete(fresh_prefix + "seed2")
                await writer.put(fresh_prefix + "other", "x")
            finally:
                path.start_peer()
            last = (await writer.put(fresh_prefix + "seed9", "new")).revision
        for mirror, prefix in zip(mirrors, prefixes):
            await mirror.wait_revision(last, 30)
            assert_mirror_equals_etcd(mirror.mirror, path.etcd, prefix)
            await mirror.close()

    run(body, path.endpoint)


def test_a_watch_from_now_sees_every_change_after_it_returns(run, path, fresh_prefix):
    async def body(etcd):
        deadline = time.monotonic() + 5
        seen = 0
        while time.monotonic() < deadline and seen < 20:
            watcher = await open_watch(etcd, fresh_prefix)
            revision = (await etcd.put(f"{fresh_prefix}k{seen}", "v")).revision
            assert [e[3] for e in await collect(watcher, 1)] == [revision]
            await watcher.close()
            seen += 1

    run(body, path.endpoint)


def test_watches_behind_the_proxy_go_on_when_etcd_restarts(run, etcd_proxy, fresh_prefix):
    """The proxy re-creates its own watches on etcd and sends each client watch a second `created`:
    it must neither cancel a live watch nor shift one watch's events to another."""
    prefixes = [f"{fresh_prefix}p{i:02d}/" for i in range(10)]
    server = etcd_proxy.backend

    async def body(etcd):
        watchers = dict(zip(prefixes, await open_many(etcd, prefixes)))
        before = await put_each(etcd, prefixes, ["a"])
        await assert_each_got_its_own(watchers, before)
        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(server.start)
        async with connect("sync", server.endpoint) as writer:
            after = await put_each(writer, prefixes, ["b0", "b1"])
        await assert_each_got_its_own(watchers, after, timeout=30.0)
        for watcher in watchers.values():
            await watcher.close()

    run(body, etcd_proxy.endpoint)
