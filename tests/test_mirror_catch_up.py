"""A Mirror resuming from far behind: replaying the gap or reading its prefix again (catch_up), against real etcd.

Either way its copy equals etcd at its revision, and its callbacks receive the
net difference from the copy it had (no resync): folding them over the old copy
gives the new one.
"""

from __future__ import annotations

import asyncio
import logging
import pickle

import pytest
from _clients import *
from _testbase.proxy import FaultProxy

import etcdstream
from etcdstream import EventType
from etcdstream._mirror import MIN_MAX_REPLAY

READ_INSTEAD = "reading is cheaper than replaying"
KEYS = 100


def write_gap(endpoint: str, prefix: bytes, writes: int) -> int:
    """`writes` single writes over KEYS keys under prefix, each tenth a delete; etcd's revision after."""
    with etcdstream.Client(endpoint) as writer:
        for i in range(writes):
            key = prefix + b"%03d" % (i * 7 % KEYS)
            if i % 10 == 9:
                writer.delete(key)  # a revision of its own, when the key is there
            else:
                writer.put(key, b"v%d" % i)
        return writer.put(prefix + b"last", b"x").revision


def fold(copy: dict[bytes, bytes], batches) -> dict[bytes, bytes]:
    """What a consumer of the changes holds: each event applied to its own dict."""
    copy = dict(copy)
    for batch, resync in batches:
        assert not resync, "a catch-up is no resync"
        for event in batch:
            if event.type == EventType.DELETE:
                copy.pop(event.key, None)
            else:
                copy[event.key] = event.value
    return copy


async def seeded_copy(etcd, prefix: bytes) -> etcdstream.Snapshot:
    for i in range(KEYS):
        await etcd.put(prefix + b"%03d" % i, b"seed")
    return await etcd.readdir(prefix)


@pytest.mark.parametrize("gap, catch_up, reads", [
    (50, "auto", False),
    (MIN_MAX_REPLAY + 500, "auto", True),
    (MIN_MAX_REPLAY + 500, "replay", False),
])
def test_a_mirror_continues_a_saved_copy_by_replay_or_reading_again(run, etcd_server, fresh_prefix, caplog,
                                                                     gap, catch_up, reads):
    p = fresh_prefix.encode()
    caplog.set_level(logging.INFO, logger="etcdstream.mirror")

    async def body(etcd):
        saved = await seeded_copy(etcd, p)
        last = write_gap(etcd_server.endpoint, p, gap)
        kept = pickle.loads(pickle.dumps(saved))  # as a previous process would have kept it
        mirror = MirrorOf(etcd, p, start=kept, catch_up=catch_up)
        assert await mirror.wait_synced(0)  # the saved copy is a copy at once
        assert await mirror.wait_revision(last, 30)
        assert_mirror_equals_etcd(mirror.mirror, etcd_server, fresh_prefix)
        new = {kv.key: kv.value for kv in mirror.mirror.snapshot().kvs}
        assert fold({kv.key: kv.value for kv in saved.kvs}, mirror.batches) == new
        assert mirror.mirror.resyncs == 0
        await mirror.close()

    run(body, etcd_server.endpoint)
    assert any(READ_INSTEAD in r.getMessage() for r in caplog.records) == reads


def test_a_saved_copy_of_another_history_is_read_again_as_a_resync(run, etcd_server, fresh_prefix):
    p = fresh_prefix.encode()

    async def body(etcd):
        saved = await seeded_copy(etcd, p)
        other = etcdstream.Snapshot(saved.revision, saved.kvs, saved.cluster_id ^ 1, saved.member_id)
        last = (await etcd.put(p + b"last", b"x")).revision
        mirror = MirrorOf(etcd, p, start=other)
        assert await mirror.wait_revision(last, 30)
        assert mirror.mirror.resyncs == 1 and mirror.batches[0][1]
        assert_mirror_equals_etcd(mirror.mirror, etcd_server, fresh_prefix)
        await mirror.close()

    run(body, etcd_server.endpoint)


def test_a_mirror_cut_off_for_a_long_gap_reads_again_instead_of_replaying(run, etcd_path, fresh_prefix, caplog):
    p = fresh_prefix.encode()
    caplog.set_level(logging.INFO, logger="etcdstream.mirror")
    with FaultProxy(etcd_path.endpoint) as proxy:

        async def body(etcd):
            await seeded_copy(etcd, p)
            mirror = MirrorOf(etcd, p)
            assert await mirror.wait_synced()
            # A change seen: the watch is created (the first create after a read always replays).
            assert await mirror.wait_revision((await etcd.put(p + b"watched", b"1")).revision)
            before = {kv.key: kv.value for kv in mirror.mirror.snapshot().kvs}
            first_batches = len(mirror.batches)
            proxy.drop()  # etcd unreachable for the client while the gap grows
            last = write_gap(etcd_path.etcd_endpoints, p, MIN_MAX_REPLAY + 500)
            proxy.resume()
            assert await mirror.wait_revision(last, 30)
            assert_mirror_equals_etcd(mirror.mirror, etcd_path.etcd, fresh_prefix)
            after = {kv.key: kv.value for kv in mirror.mirror.snapshot().kvs}
            assert fold(before, mirror.batches[first_batches:]) == after
            assert mirror.mirror.resyncs == 0
            await mirror.close()

        run(body, proxy.endpoint)
    assert any(READ_INSTEAD in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("outage", ["short", "longer than the client's timeout"])
def test_a_mirror_cut_off_before_etcd_confirmed_its_watch_reads_a_long_gap_again(run, etcd_server, fresh_prefix,
                                                                                 caplog, outage):
    """Issue 25: the connection cut right after the first read, before etcd answered the watch's create; a
    10,000-revision gap written meanwhile. The first create after a read replays whatever its gap (the writes
    made during the read), but sent again after the cut, or by a new watchdir() after one timed out, the gap
    holds the outage: it is read again, not replayed."""
    p = fresh_prefix.encode()
    caplog.set_level(logging.INFO, logger="etcdstream.mirror")
    gap = 10_000 if outage == "short" else 2_000
    with FaultProxy(etcd_server.endpoint) as proxy:

        async def body(etcd):
            await seeded_copy(etcd, p)
            cut = []

            def cut_after_the_first_read(batch, resync):
                if not cut:  # in the Mirror's thread or task, before it creates its watch
                    cut.append(batch.revision)
                    proxy.drop()

            mirror = MirrorOf(etcd, p)
            mirror.mirror.on_change(cut_after_the_first_read)
            assert await mirror.wait_synced(10)
            last = write_gap(etcd_server.endpoint, p, gap)
            if outage != "short":
                await asyncio.sleep(2.5)  # past the client's timeout: watchdir() gives up and is called again
            proxy.resume()
            assert await mirror.wait_revision(last, 30)
            assert_mirror_equals_etcd(mirror.mirror, etcd_server, fresh_prefix)
            assert mirror.mirror.resyncs == 0
            await mirror.close()

        run(body, proxy.endpoint, timeout=2)
    assert any(READ_INSTEAD in r.getMessage() for r in caplog.records)


def test_catch_up_and_start_are_checked_before_any_io(etcd_server):
    with etcdstream.Client(etcd_server.endpoint) as client:
        with pytest.raises(ValueError, match="catch_up must be one of 'auto', 'replay'"):
            etcdstream.Mirror(client, "/p/", catch_up="never")
        with pytest.raises(TypeError, match="start must be a Snapshot"):
            etcdstream.Mirror(client, "/p/", start={"k": "v"})
        with pytest.raises(ValueError, match="max_replay must be an int >= 1"):
            client.watchdir("/p/", max_replay=0)
