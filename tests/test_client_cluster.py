"""Failover on a real 3-member etcd cluster (and between two paths to one etcd), with both clients."""

from __future__ import annotations

import asyncio
import inspect
import json
import time

from _clients import *
from _testbase.proxy import FaultProxy
from _testbase.workload import Threaded

import etcdstream


def _member_in_use(cluster, member_id, members):
    name = next(m.name for m in members if m.id == member_id)
    return next(m for m in cluster.members if m.name == name)


def test_members_of_the_cluster(run, etcd_cluster):
    async def body(etcd):
        members = await etcd.member_list()
        assert sorted(m.name for m in members) == ["m0", "m1", "m2"]
        assert sorted(url for m in members for url in m.client_urls) == sorted(etcd_cluster.urls)
        assert await etcd.health()

    run(body, etcd_cluster.endpoints)


def test_failover_when_the_member_in_use_dies(run, etcd_cluster, fresh_prefix):
    async def body(etcd):
        await etcd.put(fresh_prefix + "k", "before")
        status = await etcd.status()
        in_use = _member_in_use(etcd_cluster, status.member_id, await etcd.member_list())
        in_use.kill()
        # The next call goes to another member (through an election if the leader died).
        assert (await etcd.get(fresh_prefix + "k")).value == b"before"
        # A create is not retried after an ambiguous failure ("request timed out, possibly due
        # to previous leader failure" during an election), but with a leader back it just works.
        await etcd.create(fresh_prefix + "new", "v")
        await etcd.put(fresh_prefix + "k", "after")
        assert (await etcd.status()).member_id != status.member_id
        assert (await etcd.get(fresh_prefix + "k")).value == b"after"

    run(body, etcd_cluster.urls)


def test_failover_kills_the_leader_too(run, etcd_cluster, fresh_prefix):
    leader = etcd_cluster.leader()
    others = [m.endpoint for m in etcd_cluster.members if m is not leader]

    async def body(etcd):
        await etcd.put(fresh_prefix + "k", "v")
        leader.kill()
        # A read is retried through the election; a write is not ("request timed out" leaves
        # unknown whether etcd applied it), so it comes once a member has a leader again.
        assert (await etcd.get(fresh_prefix + "k")).value == b"v"
        await etcd.put(fresh_prefix + "k", "after the leader died")
        assert (await etcd.get(fresh_prefix + "k")).value == b"after the leader died"

    run(body, [leader.endpoint, *others])


def test_skips_a_dead_first_endpoint(run, etcd_cluster, fresh_prefix):
    async def body(etcd):
        await etcd.put(fresh_prefix + "k", "v")
        assert (await etcd.get(fresh_prefix + "k")).value == b"v"

    run(body, ["127.0.0.1:1", *etcd_cluster.endpoints])


def test_watch_and_mirror_go_on_when_the_member_in_use_dies(etcd_cluster, fresh_prefix):
    """No event lost or repeated, and the Mirror equals etcd, across the death of the member in use."""
    with etcdstream.Client(etcd_cluster.endpoints) as client:
        revisions = [client.put(fresh_prefix + f"{i}", "v").revision for i in range(5)]
        watcher = client.watchdir(fresh_prefix, start_revision=revisions[0])
        mirror = etcdstream.Mirror(client, fresh_prefix)
        assert mirror.wait_synced(10)
        in_use = _member_in_use(etcd_cluster, client.status().member_id, client.member_list())
        in_use.kill()
        survivors = [m for m in etcd_cluster.members if m is not in_use]
        etcd_cluster.leader(timeout=15)  # etcdctl does not wait out an election
        for i in range(5, 15):
            out = survivors[i % 2].etcdctl("put", fresh_prefix + f"{i}", "w", "-w", "json").stdout
            revisions.append(int(json.loads(out)["header"]["revision"]))
        seen = []
        deadline = time.monotonic() + 30
        while len(seen) < 15 and time.monotonic() < deadline:
            batch = watcher.get(1)
            seen += [e.mod_revision for e in batch or ()]
        assert seen == revisions
        assert mirror.wait_revision(revisions[-1], 30)
        out = survivors[0].etcdctl("get", fresh_prefix, "--prefix", f"--rev={mirror.revision}", "-w", "json").stdout
        expected = {kv["mod_revision"] for kv in json.loads(out)["kvs"]}
        assert {kv.mod_revision for kv in mirror.values()} == expected
        mirror.close()
        watcher.close()


def test_a_call_in_flight_on_the_old_channel_finishes_after_a_failover(run, make_etcd_server):
    """Both clients leave the channel a failover replaced open for the call timeout: a put held on the way
    (so still in flight) when another call fails over is answered on it, instead of being cancelled by the
    close (a write cancelled so would raise OutcomeUnknown)."""
    server = make_etcd_server(name="grace")
    with FaultProxy(server.endpoint) as first, FaultProxy(server.endpoint) as second:

        async def body(etcd):
            client = getattr(etcd, "client", etcd)
            await etcd.get("/grace/k")  # connected through the first proxy
            old = client._transport.connect()
            first.stall()
            in_background = Threaded(client) if client is not etcd else etcd  # the blocking put: in a thread
            put = asyncio.ensure_future(in_background.put("/grace/k", "held"))
            await asyncio.sleep(0.2)  # the put is on its way, held by the stall
            moved = client._transport.failover(old)
            if inspect.isawaitable(moved):
                await moved
            assert client._transport.connect() is not old
            first.resume()
            revision = (await put).revision
            kv = await etcd.get("/grace/k")  # through the second proxy now
            assert (kv.value, kv.mod_revision) == (b"held", revision)
            assert client.endpoint == second.endpoint

        run(body, [first.endpoint, second.endpoint], timeout=5)
