"""Elections (issue 14): Go's concurrency.Election, interoperable with `etcdctl elect`, with both clients."""

from __future__ import annotations

import asyncio
import inspect
import signal
import subprocess
import time

import pytest
from _clients import *
from _testbase.children import child_env

import etcdstream


async def observe_into(election, values: list[bytes], count: int, timeout: float = 20) -> None:
    """Append the values of the first `count` leaders (or proclamations) observe() yields to values."""
    if inspect.isasyncgenfunction(election.observe):
        async for kv in election.observe(timeout):
            values.append(kv.value)
            if len(values) == count:
                return
        return

    def blocking() -> None:
        for kv in election.observe(timeout):
            values.append(kv.value)
            if len(values) == count:
                return

    await asyncio.to_thread(blocking)


async def seen(values: list[bytes], value: bytes, timeout: float = 20) -> None:
    """Wait until an observer has seen value (each change is then observed, not skipped by a later one)."""
    deadline = time.monotonic() + timeout
    while value not in values:
        assert time.monotonic() < deadline, f"the observer saw {values}, not {value!r}"
        await asyncio.sleep(0.01)


def test_the_first_candidate_leads_until_it_resigns_and_observers_see_each_leader(run, etcd_server, fresh_prefix):
    name = fresh_prefix + "election"

    async def body(etcd):
        a, b = client_of(etcd).election(name, ttl=10), client_of(etcd).election(name, ttl=10)
        values: list[bytes] = []
        watching = asyncio.ensure_future(observe_into(client_of(etcd).election(name), values, 4))
        assert await call(a.campaign, "a1", 10)
        await seen(values, b"a1")
        assert not await call(b.campaign, "b1", 0.3)  # a leads: b's candidacy is withdrawn
        assert b.key is None
        assert await call(a.is_leader) and not await call(b.is_leader)
        await call(a.proclaim, "a2")
        assert (await call(a.leader)).value == b"a2"
        await seen(values, b"a2")
        standing = asyncio.ensure_future(call(b.campaign, "b1", 20))
        await asyncio.sleep(0.3)
        assert not standing.done()
        await call(a.resign)
        assert await standing and await call(b.is_leader)
        assert (await call(b.leader)).value == b"b1"
        await seen(values, b"b1")
        await call(b.proclaim, "b2")
        await watching
        assert values == [b"a1", b"a2", b"b1", b"b2"]
        await call(b.resign)
        assert await call(b.leader) is None
        with pytest.raises(etcdstream.NotElected):
            await call(a.proclaim, "a3")

    run(body, etcd_server.endpoint)


def test_etcdctl_elect_and_our_election_see_each_other(run, etcd_server, fresh_prefix):
    name = fresh_prefix + "shared"
    etcdctl = [*etcd_server.etcdctl_args(), "elect"]

    async def body(etcd):
        ours = client_of(etcd).election(name)
        theirs = subprocess.Popen([*etcdctl, name, "theirs"], stdout=subprocess.PIPE, env=child_env(ETCDCTL_API="3"))
        try:
            deadline = time.monotonic() + 10
            while (leader := await call(ours.leader)) is None:
                assert time.monotonic() < deadline, "etcdctl elect did not stand"
                await asyncio.sleep(0.05)
            assert leader.value == b"theirs"
            assert not await call(ours.campaign, "ours", 0.5)
            theirs.send_signal(signal.SIGINT)  # etcdctl resigns on an interrupt
            assert await call(ours.campaign, "ours", 20)
            theirs.wait(10)
        finally:
            theirs.kill()
        listener = subprocess.Popen([*etcdctl, "-l", name], stdout=subprocess.PIPE, env=child_env(ETCDCTL_API="3"))
        try:
            first_lines = await asyncio.to_thread(lambda: [listener.stdout.readline() for _ in range(2)])
            assert first_lines == [ours.key + b"\n", b"ours\n"]  # etcdctl prints the leader's key, then its value
        finally:
            listener.kill()
            listener.wait()
        await call(ours.resign)

    run(body, etcd_server.endpoint)
