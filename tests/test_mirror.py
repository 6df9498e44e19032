"""Mirror and AsyncMirror against real etcd: the copy equals `etcdctl get --prefix` at its revision."""

from __future__ import annotations

import asyncio
import json
import random
import threading

import pytest
from _clients import *
from _clients import MirrorRecord, ReadsSeen
from _testbase.proxy import FaultProxy

import etcdstream
from etcdstream import EventType


pytestmark = pytest.mark.every_version  # tests/run runs this module on every etcd version


def test_mirror_follows_puts_deletes_txns_and_lease_expiry(run, etcd_path, fresh_prefix):
    p = fresh_prefix.encode()
    rng = random.Random(20261127)

    async def body(etcd):
        for i in range(50):
            await etcd.put(p + b"%02d" % i, b"initial")
        mirror = MirrorOf(etcd, p)
        assert await mirror.wait_synced()
        assert len(mirror.mirror) == 50
        lease = await etcd.grant(1)
        await etcd.put(p + b"leased", b"short-lived", lease=lease)
        revision = 0
        for step in range(200):
            key = p + b"%02d" % rng.randrange(60)
            action = rng.random()
            if action < 0.6:
                revision = (await etcd.put(key, b"v%d" % step)).revision
            elif action < 0.85:
                await etcd.delete(key)
            else:
                other = p + b"%02d" % rng.randrange(60)
                revision = (await etcd.txn([], [etcdstream.Put(key, b"t%d" % step), etcdstream.Delete(other)])).revision
        deadline = asyncio.get_running_loop().time() + 30
        while await etcd.get(p + b"leased") is not None:  # the lease expires: etcd deletes its key itself
            assert asyncio.get_running_loop().time() < deadline, "the leased key outlived its lease by 30 s"
            await asyncio.sleep(0.2)
        revision = (await etcd.put(p + b"last", b"x")).revision
        assert await mirror.wait_revision(revision)
        assert p + b"leased" not in mirror.mirror
        assert content(mirror.mirror) == etcdctl_prefix(etcd_path.etcd, fresh_prefix, mirror.mirror.revision)
        assert mirror.mirror.resyncs == 0
        assert mirror.batches[0][1] is False and len(mirror.batches[0][0]) == 50  # the first full read
        await mirror.close()

    run(body, etcd_path.endpoint, history=etcd_path.etcd)


def test_mirror_reads_again_when_the_cluster_changes(run, make_etcd_server):
    first = make_etcd_server(name="first")

    async def body(etcd):
        await etcd.put("/m/kept", "same")
        await etcd.put("/m/gone", "old")
        mirror = MirrorOf(etcd, "/m/")
        assert await mirror.wait_synced()
        first.stop()
        other = make_etcd_server(name="other", client_port=int(first.endpoint.rsplit(":", 1)[1]))
        other.etcdctl("put", "/m/kept", "same")
        other.etcdctl("put", "/m/new", "fresh")
        for _ in range(200):
            if mirror.mirror.resyncs and b"/m/new" in mirror.mirror and len(mirror.batches) > 1:
                break
            await asyncio.sleep(0.1)
        assert mirror.mirror.resyncs == 1
        assert {k: v for k, (v, _) in content(mirror.mirror).items()} == {b"/m/kept": b"same", b"/m/new": b"fresh"}
        first_read, resync = mirror.batches[0]
        assert not resync and mirror.batches[1][1], "the first change after the first read is the resync"
        # Replaying the changes over the first read gives the new copy. (What the resync itself
        # shows depends on how far the new cluster got before the mirror read it again.)
        replayed = {e.key: e.value for e in first_read}
        for batch, _ in mirror.batches[1:]:
            for e in batch:
                if e.type == EventType.DELETE:
                    replayed.pop(e.key, None)
                else:
                    replayed[e.key] = e.value
        assert replayed == {b"/m/kept": b"same", b"/m/new": b"fresh"}
        await mirror.close()

    run(body, first.endpoint)


def _etcdstream_threads() -> set[threading.Thread]:
    # By name: grpc's own pool threads come and go with the load.
    return {t for t in threading.enumerate() if t.name.startswith("etcdstream-")}


def test_mirror_threads_end_on_close(etcd_server, fresh_prefix):
    before = _etcdstream_threads()
    with etcdstream.Client(etcd_server.endpoint) as client:
        with etcdstream.Mirror(client, fresh_prefix) as mirror:
            assert mirror.wait_synced(10)
            client.put(fresh_prefix + "k", "v")
            changes = mirror.changes(timeout=5)
            batch, resync = next(changes)  # the first full read
            batch, resync = next(changes)
            assert [e.key for e in batch] == [(fresh_prefix + "k").encode()] and not resync
            assert {t.name for t in _etcdstream_threads() - before} == {"etcdstream-mirror", "etcdstream-watch"}
    assert _etcdstream_threads() <= before


def test_mirror_of_an_unknown_type_fails_early(etcd_server):
    with etcdstream.Client(etcd_server.endpoint) as client:
        with pytest.raises(TypeError):
            etcdstream.Mirror(client, 42)


def test_unread_changes_are_merged_not_hoarded(run, etcd_server, fresh_prefix, monkeypatch):
    """A long-lived Mirror whose changes() nobody reads keeps a bounded backlog, still the same net change."""
    monkeypatch.setattr(etcdstream._mirror, "_MAX_PENDING_BATCHES", 5)
    p = fresh_prefix.encode()

    async def body(etcd):
        await etcd.put(p + b"gone", b"x")
        mirror = MirrorOf(etcd, p)
        assert await mirror.wait_synced()
        await etcd.delete(p + b"gone")
        for i in range(30):
            revision = (await etcd.put(p + b"%d" % (i % 4), b"%d" % i)).revision
            assert await mirror.wait_revision(revision)
        assert len(mirror.mirror._pending) <= 5
        changes = mirror.mirror.changes(timeout=0.5)
        if etcd.kind == "sync":
            backlog = list(changes)
        else:
            backlog = [item async for item in changes]
        replayed = {}
        for batch, _ in backlog:
            for e in batch:
                if e.type == EventType.DELETE:
                    replayed.pop(e.key, None)
                else:
                    replayed[e.key] = (e.value, e.mod_revision)
        assert replayed == content(mirror.mirror)
        await mirror.close()

    run(body, etcd_server.endpoint, history=etcd_server)


def test_mirror_waits_out_a_watch_create_that_times_out(run, etcd_server, fresh_prefix):
    """A path stalled right after the full read: the watch create times out, is tried again, and the Mirror goes on."""
    with FaultProxy(etcd_server.endpoint) as proxy:

        async def body(etcd):
            stalled = []
            client = ReadsSeen(etcd.client if etcd.kind == "sync" else etcd)
            record = recorded(MirrorRecord(f"{etcd.kind} Mirror", fresh_prefix.encode(), coalesce=True))

            def stall_after_the_full_read(batch, resync):
                record.feed.append((batch, resync, client.published()))
                if not stalled:
                    stalled.append(True)
                    proxy.stall()

            if etcd.kind == "sync":
                mirror = etcdstream.Mirror(client, fresh_prefix, on_change=stall_after_the_full_read)
            else:
                mirror = etcdstream.AsyncMirror(client, fresh_prefix, on_change=stall_after_the_full_read)
            deadline = asyncio.get_running_loop().time() + 30
            while not stalled:  # the full read is done: the path stalls under the watch create
                assert asyncio.get_running_loop().time() < deadline, "the Mirror never finished its full read"
                await asyncio.sleep(0.05)
            await asyncio.sleep(3)  # longer than the client's timeout: the first create timed out
            proxy.resume()
            out = etcd_server.etcdctl("put", fresh_prefix + "k", "v", "-w", "json").stdout
            revision = int(json.loads(out)["header"]["revision"])
            waited = mirror.wait_revision(revision, 20)
            assert (await waited) if asyncio.iscoroutine(waited) else waited
            assert_mirror_equals_etcd(mirror, etcd_server, fresh_prefix)
            closed = mirror.close()
            if asyncio.iscoroutine(closed):
                await closed

        run(body, proxy.endpoint, history=etcd_server, timeout=2)


def test_a_serializable_mirror_reads_from_its_member_without_a_quorum(run, etcd_cluster, fresh_prefix):
    """serializable=True: the full read is the member's own (no quorum round), so it works with the other
    members frozen, where a linearizable one cannot; the Mirror then follows the cluster."""
    member, others = etcd_cluster.members[0], etcd_cluster.members[1:]

    async def body(etcd):
        await etcd.put(fresh_prefix + "a", "v")
        await etcd.get(fresh_prefix + "a")  # linearizable: the member has applied it
        for other in others:
            other.freeze()
        try:
            linearizable = MirrorOf(etcd, fresh_prefix)
            serializable = MirrorOf(etcd, fresh_prefix, serializable=True)
            assert await serializable.wait_synced(20) and len(serializable.mirror) == 1
            assert not await linearizable.wait_synced(1), "a linearizable read without a quorum"
            await linearizable.close()
        finally:
            for other in others:
                other.thaw()
        revision = (await etcd.put(fresh_prefix + "b", "v")).revision
        assert await serializable.wait_revision(revision, 30)
        assert content(serializable.mirror) == etcdctl_prefix(etcd_cluster, fresh_prefix, serializable.mirror.revision)
        await serializable.close()

    run(body, member.endpoint, history=etcd_cluster)
