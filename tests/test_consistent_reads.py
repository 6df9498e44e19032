"""Consistent reads from a Mirror against real etcd (both clients, every version, direct and behind etcd's gRPC
proxy): a read sees every write that completed before it began, from the copy where progress answers may be
waited on, from etcd otherwise; the Mirrors' streams are checked against the watch guarantees."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

import pytest
from _clients import *
from _testbase.proxy import FaultProxy

import etcdstream
from etcdstream._watch_progress import progress_wait_problem

pytestmark = pytest.mark.every_version  # tests/run runs this module on every etcd version


def waits_on_progress(server) -> bool:
    """Whether this etcd's progress answers may be waited on (the rule under test, restated by version)."""
    version = server.binaries.version_info
    return version >= ((3, 4, 31) if version[:2] == (3, 4) else (3, 5, 13))


def outcomes(mirror) -> dict[str, int]:
    return mirror.mirror.stats().consistent_reads.by_outcome


def test_every_read_sees_its_write_or_a_later_one(run, etcd_path, fresh_prefix):
    """Writes from another client, each followed by a consistent read of its key from the Mirror: the read
    sees that write or a later one. Direct to etcd where progress works, every read is the copy's."""
    writes = 10_000 if etcd_path.proxy is None else 2_000
    keys = [f"{fresh_prefix}{i:02d}" for i in range(20)]

    async def body(etcd):
        with etcdstream.Client(etcd_path.etcd_endpoints) as writer:
            mirror = MirrorOf(etcd, fresh_prefix)
            assert await mirror.wait_synced()
            latest: dict[str, int] = {}
            for i in range(writes):
                key = keys[i % len(keys)]
                if i % 7 == 3:
                    revision = writer.put(f"/outside{fresh_prefix}", str(i)).revision  # the prefix stays quiet
                revision = writer.put(key, str(i)).revision
                latest[key] = revision
                kv = await mirror.consistent_get(key)
                assert kv is not None and kv.mod_revision >= revision, (i, key, revision, kv)
                assert kv.mod_revision > revision or kv.value == str(i).encode()
            snapshot = await mirror.consistent_snapshot()
            assert snapshot.revision >= max(latest.values())
            assert {kv.key.decode(): kv.mod_revision for kv in snapshot.kvs} == latest
            counts = outcomes(mirror)
            assert sum(counts.values()) == writes + 1 and counts["timeout"] == 0, counts
            if etcd_path.proxy is None and waits_on_progress(etcd_path.etcd):
                assert counts["unsupported"] == 0, counts
            await mirror.close()

    run(body, etcd_path.endpoint, history=etcd_path.etcd)


def test_a_quiet_prefix_reaches_revisions_written_elsewhere_through_progress(run, etcd_server, fresh_prefix):
    """Writes outside the prefix move the copy only through progress answers: where they may be waited on,
    wait_for() and consistent reads get there from the copy; elsewhere wait_for() times out and the reads ask
    etcd, saying why."""

    async def body(etcd):
        await etcd.put(fresh_prefix + "a", "1")
        mirror = MirrorOf(etcd, fresh_prefix)
        assert await mirror.wait_synced()
        revision = (await etcd.put("/elsewhere" + fresh_prefix, "x")).revision
        if waits_on_progress(etcd_server):
            await mirror.wait_for(revision)
            assert mirror.mirror.revision >= revision
        else:
            with pytest.raises(etcdstream.Timeout, match=f"did not reach revision {revision}"):
                await mirror.wait_for(revision, 0.5)
        revision = (await etcd.put("/elsewhere" + fresh_prefix, "y")).revision
        kv = await mirror.consistent_get(fresh_prefix + "a")
        assert kv.value == b"1"
        assert await mirror.consistent_get(fresh_prefix + "missing", "none") == "none"
        snapshot = await mirror.consistent_snapshot()
        assert snapshot.revision >= revision and [kv.key for kv in snapshot.kvs] == [(fresh_prefix + "a").encode()]
        counts = outcomes(mirror)
        if waits_on_progress(etcd_server):
            assert counts == {"copy": 3, "timeout": 0, "unsupported": 0}
        else:
            assert counts == {"copy": 0, "timeout": 0, "unsupported": 3}
        with pytest.raises(ValueError, match="not under the mirror's prefix"):
            await mirror.consistent_get("/elsewhere" + fresh_prefix)
        await mirror.close()
        with pytest.raises(etcdstream.ClientClosed):
            await mirror.wait_for(revision + 1_000)

    run(body, etcd_server.endpoint, history=etcd_server)


class WatchesThrough:
    """The client a Mirror is given, whose watches take another path (a FaultProxy that stalls them) while
    its reads go straight to etcd."""

    def __init__(self, client, watch_client):
        self._client = client
        self._watch_client = watch_client

    def with_watch_stream(self):
        return self._watch_client

    def __getattr__(self, name):
        return getattr(self._client, name)


def mirror_watching_through(etcd, endpoint, prefix, **options):
    """A Mirror (MirrorOf, checked against the watch guarantees) whose watch goes through endpoint, its reads
    straight to etcd."""
    watch_client = etcdstream.Client(endpoint) if etcd.kind == "sync" else etcdstream.AsyncClient(endpoint)
    return MirrorOf(etcd, prefix, wrap=lambda client: WatchesThrough(client, watch_client), **options)


def test_a_read_during_a_stalled_watch_falls_back_after_its_wait_and_is_right(run, etcd_server, fresh_prefix):
    """The watch path stalls: a consistent read waits consistent_wait for the copy, then asks etcd, and sees
    the latest write; once the path is back the copy catches up."""
    with FaultProxy(etcd_server.endpoint) as proxy:

        async def body(etcd):
            await etcd.put(fresh_prefix + "k", "before")
            mirror = mirror_watching_through(etcd, proxy.endpoint, fresh_prefix, consistent_wait=0.5)
            try:
                assert await mirror.wait_synced(10)
                assert (await mirror.consistent_get(fresh_prefix + "k")).value == b"before"
                proxy.stall()
                revision = (await etcd.put(fresh_prefix + "k", "during")).revision
                began = time.monotonic()
                kv = await mirror.consistent_get(fresh_prefix + "k")
                assert time.monotonic() - began >= 0.5, "the read did not wait for the copy first"
                assert (kv.value, kv.mod_revision) == (b"during", revision)
                assert mirror.mirror[fresh_prefix + "k"].value == b"before"  # the copy itself is behind
                snapshot = await mirror.consistent_snapshot()
                assert snapshot.revision >= revision and snapshot.kvs[0].value == b"during"
                stats = mirror.mirror.stats().consistent_reads
                assert stats.by_outcome == {"copy": 1, "timeout": 2, "unsupported": 0}, stats
                assert sum(stats.wait_counts) == 3 and stats.wait_sum >= 1.0
                proxy.resume()
                await mirror.wait_for(revision, 20)
                assert mirror.mirror[fresh_prefix + "k"].value == b"during"
            finally:
                proxy.resume()
                await mirror.close()

        run(body, etcd_server.endpoint, history=etcd_server)


def test_reads_during_a_resync_after_compaction_are_right(run, etcd_server, fresh_prefix):
    """The watch path stalls while the prefix changes and etcd compacts past the copy: the Mirror reads its
    prefix again (a resync), and consistent reads before, during and after it see the latest writes."""
    with FaultProxy(etcd_server.endpoint) as proxy:

        async def body(etcd):
            for i in range(20):
                await etcd.put(f"{fresh_prefix}{i:02d}", "0")
            mirror = mirror_watching_through(etcd, proxy.endpoint, fresh_prefix, consistent_wait=0.3)
            try:
                assert await mirror.wait_synced(10)
                proxy.stall()
                for i in range(20):
                    await etcd.put(f"{fresh_prefix}{i:02d}", "1")
                await etcd.delete(f"{fresh_prefix}00")
                revision = (await etcd.put(f"{fresh_prefix}new", "1")).revision
                await etcd.compact(revision)
                expected = {f"{fresh_prefix}{i:02d}".encode() for i in range(1, 20)} | {f"{fresh_prefix}new".encode()}
                snapshot = await mirror.consistent_snapshot()  # stalled: from etcd
                assert {kv.key for kv in snapshot.kvs} == expected and all(kv.value == b"1" for kv in snapshot.kvs)
                proxy.resume()
                for _ in range(200):  # during the resync and after it
                    assert (await mirror.consistent_get(f"{fresh_prefix}00")) is None
                    assert (await mirror.consistent_get(f"{fresh_prefix}05")).value == b"1"
                    if mirror.mirror.resyncs:
                        break
                    await asyncio.sleep(0.02)
                assert mirror.mirror.resyncs == 1
                snapshot = await mirror.consistent_snapshot()
                assert {kv.key for kv in snapshot.kvs} == expected
                assert mirror.mirror.stats().consistent_reads.by_outcome["copy"] >= 1
            finally:
                proxy.resume()
                await mirror.close()

        run(body, etcd_server.endpoint, history=etcd_server)


async def maybe(result):
    return (await result) if asyncio.iscoroutine(result) else result


def test_concurrent_reads_share_one_revision_fetch(run, etcd_server, fresh_prefix):
    """Many reads at once: each is right, and fewer revision fetches (count-only Ranges) than reads reach etcd."""

    async def body(etcd):
        await etcd.put(fresh_prefix + "k", "v")
        mirror = MirrorOf(etcd, fresh_prefix)
        assert await mirror.wait_synced()
        before = (await maybe(etcd.stats())).calls.get(("Range", "ok"), 0)
        readers = 50
        if etcd.kind == "sync":
            with concurrent.futures.ThreadPoolExecutor(readers) as pool:
                values = list(pool.map(lambda _: mirror.mirror.consistent_get(fresh_prefix + "k").value,
                                       range(readers)))
        else:
            values = [kv.value for kv in await asyncio.gather(
                *(mirror.consistent_get(fresh_prefix + "k") for _ in range(readers)))]
        assert values == [b"v"] * readers
        fetches = (await maybe(etcd.stats())).calls.get(("Range", "ok"), 0) - before
        assert 1 <= fetches < readers, fetches
        await mirror.close()

    run(body, etcd_server.endpoint, history=etcd_server)


def test_the_version_rules_match_the_etcd_under_test(etcd_server):
    """The rule the client applies to this server's Status (PROGRESS_RULES) is the one this test restates."""
    version = etcd_server.binaries.version
    assert (progress_wait_problem(version) is None) is waits_on_progress(etcd_server), version
    assert "proxy" in progress_wait_problem(version, behind_proxy=True)

