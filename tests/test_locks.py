"""Locks (issue 14): Go's concurrency.Mutex, interoperable with `etcdctl lock`, with both clients."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time

import pytest
from _clients import *
from _testbase.children import child_env

import etcdstream


async def keys_of(etcd, name: str) -> list[bytes]:
    return [kv.key for kv in (await etcd.range(name + "/", prefix=True, sort_target="create_revision")).kvs]


def test_contenders_hold_the_lock_one_at_a_time_in_their_order(run, etcd_server, fresh_prefix):
    name = fresh_prefix + "lock"

    async def body(etcd):
        inside, most_inside, held = 0, 0, []

        async def contender(number: int) -> None:
            nonlocal inside, most_inside
            for _ in range(3):
                lock = client_of(etcd).lock(name, ttl=10)
                assert await call(lock.acquire, 20)
                inside += 1
                most_inside = max(most_inside, inside)
                assert await call(lock.is_owner)
                await asyncio.sleep(0.02)
                inside -= 1
                held.append(number)
                await call(lock.release)
                assert lock.key is None and not await call(lock.is_owner)

        await asyncio.gather(*(contender(n) for n in range(4)))
        assert most_inside == 1 and sorted(held) == sorted(list(range(4)) * 3)
        assert await keys_of(etcd, name) == []  # every key deleted, every session ended

    run(body, etcd_server.endpoint)


def test_a_contender_that_times_out_gives_up_its_place(run, etcd_server, fresh_prefix):
    name = fresh_prefix + "lock"

    async def body(etcd):
        holder, other = client_of(etcd).lock(name), client_of(etcd).lock(name)
        assert await call(holder.acquire, 10)
        assert not await call(other.acquire, 0.3)
        assert other.key is None and await keys_of(etcd, name) == [holder.key]
        assert holder.key == (name + "/%x" % holder.session.lease.id).encode()  # Go's key: name/<lease hex>
        await call(holder.release)
        assert await call(other.acquire, 10)
        await call(other.release)

    run(body, etcd_server.endpoint)


def test_a_holder_whose_lease_is_lost_is_no_longer_owner_and_the_next_one_gets_the_lock(run, etcd_server,
                                                                                         fresh_prefix):
    name = fresh_prefix + "lock"

    async def body(etcd):
        holder, waiter = client_of(etcd).lock(name, ttl=5), client_of(etcd).lock(name, ttl=5)
        assert await call(holder.acquire, 10)
        waiting = asyncio.ensure_future(call(waiter.acquire, 20))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        with etcdstream.Client(etcd_server.endpoint) as other:  # as if it expired: etcd deletes the holder's key
            other.revoke(holder.session.lease)
        assert await waiting
        assert await call(waiter.is_owner) and not await call(holder.is_owner)
        assert await call(holder.session.wait_done, 10) and isinstance(holder.session.lost, etcdstream.LeaseNotFound)
        await call(holder.release)  # its key is gone already: no error
        await call(waiter.release)

    run(body, etcd_server.endpoint)


def test_our_lock_and_etcdctl_lock_exclude_each_other(run, etcd_server, fresh_prefix):
    name = fresh_prefix + "shared"
    etcdctl = [*etcd_server.etcdctl_args(), "lock", name]

    async def body(etcd):
        # etcdctl holds it while its command runs: we wait, then get it.
        theirs = subprocess.Popen([*etcdctl, "sleep", "2"], stdout=subprocess.PIPE, env=child_env(ETCDCTL_API="3"))
        try:
            deadline = time.monotonic() + 10
            while not await keys_of(etcd, name):
                assert time.monotonic() < deadline, "etcdctl lock did not take the lock"
                await asyncio.sleep(0.05)
            ours = client_of(etcd).lock(name)
            assert not await call(ours.acquire, 0.5)
            assert await call(ours.acquire, 20)
            assert theirs.wait(10) == 0
        finally:
            theirs.kill()
        # We hold it: etcdctl waits until we release.
        theirs = subprocess.Popen([*etcdctl, "echo", "theirs"], stdout=subprocess.PIPE, env=child_env(ETCDCTL_API="3"))
        try:
            await asyncio.sleep(1.0)
            assert theirs.poll() is None, "etcdctl took a lock we hold"
            await call(ours.release)
            out, _ = await asyncio.to_thread(theirs.communicate, timeout=20)
            assert theirs.returncode == 0 and b"theirs" in out
        finally:
            theirs.kill()

    run(body, etcd_server.endpoint)


def test_a_lock_as_a_context_manager(run, etcd_server, fresh_prefix):
    name = fresh_prefix + "cm"

    async def body(etcd):
        lock = client_of(etcd).lock(name)
        if isinstance(lock, etcdstream.AsyncLock):
            async with lock:
                assert await lock.is_owner()
        else:
            with lock:
                assert lock.is_owner()
        assert lock.key is None and await keys_of(etcd, name) == []
        with pytest.raises(ValueError, match="name must not be empty"):
            client_of(etcd).lock("")

    run(body, etcd_server.endpoint)


#: A process that takes the lock `rounds` times and, inside, creates a marker file that must not exist
#: (O_EXCL): two holders at once make the second one fail. Exit 3 on an overlap.
_CONTENDER = """
import os, sys, time, etcdstream
endpoint, name, marker, rounds = sys.argv[1:5]
with etcdstream.Client(endpoint) as client:
    for _ in range(int(rounds)):
        with client.lock(name, ttl=10):
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                sys.exit(3)
            time.sleep(0.01)
            os.close(fd)
            os.unlink(marker)
"""


def test_processes_and_threads_never_hold_the_lock_at_once(etcd_server, fresh_prefix, tmp_path):
    name, marker = fresh_prefix + "lock", tmp_path / "inside"
    processes = [subprocess.Popen([sys.executable, "-c", _CONTENDER, etcd_server.endpoint, name, str(marker), "5"],
                                  env=child_env()) for _ in range(3)]
    overlaps = []

    def thread_contender() -> None:
        with etcdstream.Client(etcd_server.endpoint) as client:
            for _ in range(5):
                with client.lock(name, ttl=10):
                    try:
                        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                    except FileExistsError:
                        overlaps.append(1)
                        continue
                    time.sleep(0.01)
                    os.close(fd)
                    os.unlink(marker)

    threads = [threading.Thread(target=thread_contender) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert [p.wait(120) for p in processes] == [0, 0, 0], "a process found the lock held by another"
    finally:
        for p in processes:
            p.kill()
            p.wait()
    assert not overlaps and not any(t.is_alive() for t in threads)
    with etcdstream.Client(etcd_server.endpoint) as client:
        assert client.range(name + "/", prefix=True).kvs == []


_KILLED_HOLDER = """
import sys, time, etcdstream
client = etcdstream.Client(sys.argv[1])
lock = client.lock(sys.argv[2], ttl=2)
lock.acquire()
print(lock.key.decode(), flush=True)
time.sleep(600)
"""


def test_a_killed_holder_loses_the_lock_when_its_lease_expires(etcd_server, fresh_prefix):
    name = fresh_prefix + "lock"
    holder = subprocess.Popen([sys.executable, "-c", _KILLED_HOLDER, etcd_server.endpoint, name],
                              stdout=subprocess.PIPE, text=True, env=child_env())
    try:
        key = holder.stdout.readline().strip()
        assert key.startswith(name + "/"), key
        with etcdstream.Client(etcd_server.endpoint) as client:
            lock = client.lock(name, ttl=10)
            assert not lock.acquire(0.5)  # held
            holder.kill()  # no release, no revoke: only the 2 s lease's expiry frees the lock
            holder.wait()
            assert lock.acquire(30), "the lock stayed taken after its holder's lease should have expired"
            assert client.get(key) is None
            lock.release()
    finally:
        holder.kill()
        holder.wait()
