"""Fault injection against real etcd (issue 7): members killed under writers, stalled and dropped
connections, an expired token, compaction while disconnected, a restored backup, a revoked
permission, 1,000 watchers closed.

Each scenario ends the same way: every Mirror equals `etcdctl get --prefix --rev=<its revision>`,
and every watcher delivered each revision once, in order (or ended with the error a user must see);
the watchers and Mirrors keep etcd's six watch guarantees (_testbase/guarantees.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from _clients import *
from _testbase.guarantees import History
from _testbase.proc import connections_to
from _testbase.proxy import FaultProxy

import etcdstream
from etcdstream import (
    CompactedError,
    EtcdError,
    KeyExistsError,
    PermissionDenied,
    RevisionWentBackwards,
)


pytestmark = pytest.mark.every_version  # tests/run runs this module on every etcd version


class Writers:
    """Threads creating new keys under a prefix through their own Client until the `with` block ends.

    Every key is created once (a create is never applied twice), so the keys' mod revisions in
    etcd are exactly the revisions written; `acknowledged` holds those the writers were told of
    (a write that failed during a fault may still have been applied).
    """

    def __init__(self, endpoints: list[str], prefix: str, threads: int = 2, **client_kwargs: object) -> None:
        self.prefix = prefix
        self.acknowledged: list[int] = []
        self._endpoints = endpoints
        self._client_kwargs = client_kwargs
        self._stop = threading.Event()
        self._turn = threading.Condition()  # guards _paused and _writing
        self._paused = False
        self._writing = 0
        self._threads = [threading.Thread(target=self._write, args=(n,), name=f"writer-{n}") for n in range(threads)]

    def __enter__(self) -> Writers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with self._turn:
            self._turn.notify_all()
        for thread in self._threads:
            thread.join(30)
            assert not thread.is_alive(), "a writer is stuck"

    def _write(self, n: int) -> None:
        with etcdstream.Client(self._endpoints, timeout=5, **self._client_kwargs) as client:
            for i in range(1_000_000):
                if self._stop.wait(0.005):  # leave the CPU to what is under test
                    return
                with self._turn:
                    self._turn.wait_for(lambda: not self._paused or self._stop.is_set())
                    self._writing += 1
                try:
                    self.acknowledged.append(client.create(f"{self.prefix}{n}-{i:06d}", "v"))
                except KeyExistsError:
                    pass  # applied by a try that timed out
                except EtcdError:
                    pass  # during a fault; applied or not, etcd says at the end
                finally:
                    with self._turn:
                        self._writing -= 1
                        self._turn.notify_all()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No write in flight or starting inside the block."""
        with self._turn:
            self._paused = True
            assert self._turn.wait_for(lambda: not self._writing, 30), "a write did not end within 30 s"
        try:
            yield
        finally:
            with self._turn:
                self._paused = False
                self._turn.notify_all()

    async def wait_for_more(self, count: int, timeout: float = 30.0) -> None:
        """Wait until `count` more writes than now were acknowledged."""
        target = len(self.acknowledged) + count
        await wait_until(lambda: len(self.acknowledged) >= target, timeout, f"{count} more writes")


async def wait_until(condition: Callable[[], bool], timeout: float, what: str,
                     details: Callable[[], object] = lambda: "") -> None:
    """Poll condition until it holds; fail after timeout seconds, saying what did not happen and details()."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s {details()}"
        await asyncio.sleep(0.05)


async def check_watcher_and_mirror(server, prefix: str, watcher, mirror, acknowledged: list[int]) -> None:
    """The invariant of every scenario, for keys written once each under prefix: and etcd's watch guarantees,
    for the watcher and the Mirror's change feed (whose first batch is its first read)."""
    keys = await asyncio.to_thread(etcdctl_prefix, server, prefix, 0)  # each written once: its revision is its key's
    revisions = sorted(mod_revision for _, mod_revision in keys.values())
    assert set(acknowledged) <= set(revisions)
    seen = [event[3] for event in await wait_for_revision(watcher, revisions[-1], timeout=30)]
    assert await mirror.wait_revision(revisions[-1], 30)
    # Every key created once: etcd's keys and their mod revisions are the whole history of the prefix.
    check_watch_guarantees(History.of_keys_written_once(keys), [watcher.record, mirror.record])
    assert seen == revisions  # each once, in order
    # Snapshot in the thread that applies changes: AsyncMirror's copy is not to be read from another.
    assert_mirror_equals_etcd(mirror.mirror, server, prefix)
    # The Mirror's change feed too (its first batch is the first read, made before any write).
    assert [event.mod_revision for batch, _ in mirror.batches[1:] for event in batch] == revisions
    assert mirror.mirror.resyncs == 0


def etcdctl_write(server, *args: str) -> int:
    """Run an etcdctl write ("put", key, value or "del", key); return etcd's revision after it."""
    return int(json.loads(server.etcdctl(*args, "-w", "json").stdout)["header"]["revision"])


async def assert_members_agree(cluster) -> None:
    """etcd itself lost nothing: every member holds the same keys at the latest revision.

    (etcd 3.5.0-3.5.2 may skip a write a member was applying when it was killed, etcd-io/etcd#13766:
    there kill_under_writers kills an idle member.)
    """
    revision = await asyncio.to_thread(etcdctl_write, cluster, "put", "/members-agree", "")
    deadline = time.monotonic() + 30
    while True:
        proc = await asyncio.to_thread(cluster.etcdctl, "endpoint", "hashkv", f"--rev={revision}", "-w", "json",
                                       check=False)
        hashes = {status["Endpoint"]: status["HashKV"]["hash"] for status in json.loads(proc.stdout or "[]")}
        if len(hashes) == len(cluster.members):
            break
        assert time.monotonic() < deadline, f"no hash of every member at revision {revision}: {proc.stderr}"
        await asyncio.sleep(0.2)  # a restarted member still catching up
    assert len(set(hashes.values())) == 1, f"etcd's members disagree at revision {revision}: {hashes}"


def kill_can_lose_a_write(cluster) -> bool:
    """etcd 3.5.0-3.5.2 can skip, for good, a write a member was applying when it was killed: its
    revision then stays behind the others' (etcd-io/etcd#13766, fixed in 3.5.3)."""
    return (3, 5) <= cluster.members[0].binaries.version_info < (3, 5, 3)


async def kill_under_writers(member, cluster, writers: Writers) -> None:
    """Kill member while writers write, or, where etcd has #13766, once every member applied every write."""
    if not kill_can_lose_a_write(cluster):
        await asyncio.to_thread(member.kill)
        return
    with writers.paused():
        for each in cluster.members:  # a linearizable read returns once that member applied all before it
            await asyncio.to_thread(each.etcdctl, "get", "/applied")
        await asyncio.to_thread(member.kill)


async def member_in_use(etcd, cluster):
    """The cluster member the client is connected to."""
    member_id = (await etcd.status()).member_id
    name = next(m.name for m in await etcd.member_list() if m.id == member_id)
    return next(m for m in cluster.members if m.name == name)


@pytest.mark.parametrize("victim", ["member in use", "leader", "leader in use"])
def test_a_member_killed_and_restarted_under_writers_loses_nothing(run, etcd_cluster, fresh_prefix, victim):
    """Writers go on through the other members; the watcher and the Mirror resume where they were."""
    leader = etcd_cluster.leader(timeout=30)
    followers = [m for m in etcd_cluster.members if m is not leader]
    # Killing a follower in use is a failover; killing the leader while the client is on a
    # follower is an election under a stream that stays up; the leader in use, both.
    in_use = leader if victim == "leader in use" else followers[0]
    dead = followers[0] if victim == "member in use" else leader

    async def body(etcd):
        assert await member_in_use(etcd, etcd_cluster) is in_use
        watcher = await open_watch(etcd, fresh_prefix)
        mirror = MirrorOf(etcd, fresh_prefix)
        assert await mirror.wait_synced(20)
        with Writers(etcd_cluster.endpoints, fresh_prefix) as writers:
            await writers.wait_for_more(20)
            await kill_under_writers(dead, etcd_cluster, writers)
            await writers.wait_for_more(20)
            await asyncio.to_thread(dead.start)
            await writers.wait_for_more(20)
        await assert_members_agree(etcd_cluster)
        await check_watcher_and_mirror(etcd_cluster, fresh_prefix, watcher, mirror, writers.acknowledged)
        await mirror.close()
        await watcher.close()

    run(body, [in_use.endpoint] + [m.endpoint for m in etcd_cluster.members if m is not in_use])


@pytest.mark.parametrize("failover", [True, False], ids=["failover", "one endpoint"])
def test_a_silent_stall_under_writers_loses_nothing(run, make_etcd_server, fresh_prefix, failover):
    """A connection that goes silent (no reset) past the keepalive timeout: the client leaves it for the
    other endpoint, or, with one endpoint, connects again once the path heals; nothing is lost."""
    # etcd refuses pings more often than every 5 s unless told otherwise.
    server = make_etcd_server(name="stall", extra_args=["--grpc-keepalive-min-time=500ms"])
    with FaultProxy(server.endpoint) as proxy:

        async def body(etcd):
            watcher = await open_watch(etcd, fresh_prefix)
            mirror = MirrorOf(etcd, fresh_prefix)
            assert await mirror.wait_synced(20)
            # Everything shares one connection. Polled: under load a keepalive ping of 1 s can time out
            # and grpc connect again, the old socket closing a moment later.
            await wait_until(lambda: connections_to(proxy.port) == 1, 10, "one connection to the path",
                             lambda: f"({connections_to(proxy.port)})")
            with Writers([server.endpoint], fresh_prefix) as writers:
                await writers.wait_for_more(10)
                proxy.stall()
                await asyncio.sleep(3)  # longer than keepalive_time + keepalive_timeout
                await writers.wait_for_more(10)
            if not failover:
                proxy.resume()
            await check_watcher_and_mirror(server, fresh_prefix, watcher, mirror, writers.acknowledged)
            if failover:  # still stalled: all of it came over the other endpoint
                await wait_until(lambda: connections_to(proxy.port) == 0, 10, "the stalled connection left")
                proxy.resume()
            await mirror.close()
            await watcher.close()

        endpoints = [proxy.endpoint, server.endpoint] if failover else [proxy.endpoint]
        run(body, endpoints, keepalive_time=1, keepalive_timeout=1)


def test_a_reconnect_after_the_token_expired_loses_nothing(run, make_etcd_server, fresh_prefix):
    """A long watch outlives its auth token; a reconnect then needs a new one: the watches resume, losing nothing."""
    server = make_etcd_server(name="token", auth=True, auth_token_ttl=1)
    credentials = {"username": "root", "password": server.root_password}
    with FaultProxy(server.endpoint) as proxy:

        async def body(etcd):
            watcher = await open_watch(etcd, fresh_prefix)
            mirror = MirrorOf(etcd, fresh_prefix)
            assert await mirror.wait_synced(20)
            with Writers([server.endpoint], fresh_prefix, **credentials) as writers:
                await writers.wait_for_more(10)
                await asyncio.sleep(2.5)  # the watching client's token expires unused
                proxy.reset()
                await writers.wait_for_more(10)
            await check_watcher_and_mirror(server, fresh_prefix, watcher, mirror, writers.acknowledged)
            await mirror.close()
            await watcher.close()

        run(body, [proxy.endpoint], **credentials)


def test_history_compacted_while_disconnected(run, etcd_server, fresh_prefix):
    """The watcher cannot resume: it ends with CompactedError; the Mirror reads the prefix again."""
    with FaultProxy(etcd_server.endpoint) as proxy:

        async def body(etcd):
            watcher = await open_watch(etcd, fresh_prefix)
            mirror = MirrorOf(etcd, fresh_prefix)
            assert await mirror.wait_synced(20)
            before = [(await etcd.put(fresh_prefix + f"before-{i}", "v")).revision for i in range(3)]
            assert [event[3] for event in await wait_for_revision(watcher, before[-1])] == before
            assert await mirror.wait_revision(before[-1])
            proxy.drop()
            await asyncio.to_thread(etcdctl_write, etcd_server, "del", fresh_prefix + "before-1")
            for i in range(3):
                latest = await asyncio.to_thread(etcdctl_write, etcd_server, "put", fresh_prefix + f"during-{i}", "v")
            await asyncio.to_thread(etcd_server.etcdctl, "compact", str(latest))
            proxy.resume()
            with pytest.raises(CompactedError) as caught:
                await wait_for_revision(watcher, latest, timeout=30)
            assert caught.value.compact_revision == latest
            await wait_until(lambda: mirror.mirror.resyncs == 1, 30, "resync")
            after = (await etcd.put(fresh_prefix + "after", "v")).revision
            assert await mirror.wait_revision(after, 30)
            assert_mirror_equals_etcd(mirror.mirror, etcd_server, fresh_prefix)
            assert fresh_prefix.encode() + b"before-1" not in mirror.mirror
            assert mirror.batches[-2][1], "the resync is reported as one"
            await mirror.close()

        run(body, [proxy.endpoint], history=etcd_server)  # from the compaction on


@pytest.mark.parametrize("grpc_proxy", [False, True], ids=["direct", "grpc-proxy"])
@pytest.mark.parametrize("written_since", [False, True], ids=["behind", "written past"])
def test_a_restored_backup_is_detected(run, make_etcd_server, make_etcd_proxy, tmp_path, written_since, grpc_proxy):
    """etcd restored to an older revision: the watcher raises RevisionWentBackwards, the Mirror reads again.

    written_since: the restored etcd is written past the watchers' revision before they reconnect.
    grpc_proxy: the client talks to etcd's gRPC proxy (through the fault proxy), which makes up some
    headers: the check must neither trip on those nor miss the real ones it relays.
    """
    server = make_etcd_server(name="restore")
    if written_since:  # then only the raft term tells: it grows with every start, a restore starts it over
        server.stop()
        server.start()
    backup = tmp_path / "backup.db"
    with FaultProxy(make_etcd_proxy(server).endpoint if grpc_proxy else server.endpoint) as proxy:

        async def body(etcd):
            await etcd.put("/b/kept", "v")
            await asyncio.to_thread(server.etcdctl, "snapshot", "save", str(backup))
            watcher = await open_watch(etcd, "/b/")
            mirror = MirrorOf(etcd, "/b/")
            assert await mirror.wait_synced(20)
            lost = [(await etcd.put(f"/b/lost-{i}", "v")).revision for i in range(3)]
            assert [event[3] for event in await wait_for_revision(watcher, lost[-1])] == lost
            assert await mirror.wait_revision(lost[-1])
            proxy.drop()
            await asyncio.to_thread(server.stop)
            await asyncio.to_thread(server.restore_snapshot, backup)
            await asyncio.to_thread(server.start)
            latest = lost[0] - 1
            for i in range(6 if written_since else 0):
                latest = await asyncio.to_thread(etcdctl_write, server, "put", f"/b/new-{i}", "v")
            assert latest > lost[-1] if written_since else latest < lost[-1]
            proxy.resume()
            with pytest.raises(RevisionWentBackwards):
                await wait_for_revision(watcher, latest + 1, timeout=30)
            await wait_until(lambda: mirror.mirror.resyncs == 1, 30, "resync")
            assert b"/b/lost-0" not in mirror.mirror
            after = (await etcd.put("/b/after", "v")).revision
            assert await mirror.wait_revision(after, 30)
            assert_mirror_equals_etcd(mirror.mirror, server, "/b/")
            await mirror.close()

        run(body, [proxy.endpoint])


def test_a_revoked_permission_ends_the_watch_at_its_next_create(run, make_etcd_server):
    """etcd checks read permission when a watch is created: a live watch goes on, a reconnect is refused."""
    server = make_etcd_server(name="revoke", auth=True)
    for step in [("role", "add", "config-reader"),
                 ("role", "grant-permission", "config-reader", "read", "/w/", "--prefix=true"),
                 ("user", "add", "gateway:gateway-secret"),
                 ("user", "grant-role", "gateway", "config-reader")]:
        server.etcdctl(*step)
    with FaultProxy(server.endpoint) as proxy:

        async def body(etcd):
            watcher = await open_watch(etcd, "/w/")
            mirror = MirrorOf(etcd, "/w/")
            assert await mirror.wait_synced(20)
            first = await asyncio.to_thread(etcdctl_write, server, "put", "/w/1", "v")
            assert [event[3] for event in await wait_for_revision(watcher, first)] == [first]
            await asyncio.to_thread(server.etcdctl, "role", "revoke-permission", "config-reader", "/w/",
                                    "--prefix=true")
            second = await asyncio.to_thread(etcdctl_write, server, "put", "/w/2", "v")
            assert [event[3] for event in await wait_for_revision(watcher, second)] == [second]
            assert await mirror.wait_revision(second)
            assert_mirror_equals_etcd(mirror.mirror, server, "/w/")
            proxy.reset()  # the watches are created again, and refused
            with pytest.raises(PermissionDenied):
                await wait_for_revision(watcher, second + 1, timeout=30)
            with pytest.raises(PermissionDenied):
                await mirror.wait_revision(second + 1, 30)
            await mirror.close()

        run(body, [proxy.endpoint], history=server, username="gateway", password="gateway-secret")


def test_a_thousand_watchers_closed_leave_nothing_behind(client_kind, make_etcd_server):
    """No thread, task or server-side watcher outlives the watchers that needed it."""
    server = make_etcd_server(name="leaks")

    def server_watchers() -> float:
        return server.metric("etcd_debugging_mvcc_watcher_total")

    def running() -> set[object]:
        return set(threading.enumerate()) | asyncio.all_tasks()  # all_tasks: the unfinished ones

    async def watch_and_close(idle_server: float) -> None:
        async with connect(client_kind, server.endpoint) as etcd:
            watchers = [await open_watch(etcd, f"/l/{i}/") for i in range(1000)]
            assert server_watchers() == idle_server + 1000
            while_open = running()
            for watcher in watchers[::2]:
                await watcher.close()
            await wait_until(lambda: server_watchers() == idle_server + 500, 20, "500 server-side watchers")
            latest = (await etcd.put("/l/1/k", "v")).revision
            assert [event[3] for event in await wait_for_revision(watchers[1], latest)] == [latest]
            assert not running() - while_open
            for watcher in watchers[1::2]:
                await watcher.close()
            await wait_until(lambda: server_watchers() == idle_server, 20, "no server-side watchers")
            assert not running() - while_open

    async def main():
        baseline, idle_server = running(), server_watchers()
        await watch_and_close(idle_server)  # which drops every reference to the client
        await wait_until(lambda: not running() - baseline, 10, "end of the client's threads and tasks",
                         lambda: running() - baseline)

    with guarantees_checked(history=server):
        asyncio.run(main())


def test_a_write_whose_answer_is_lost_is_not_sent_again(run, make_etcd_server):
    """A put on a path that stalls mid-call may have been applied: it raises instead of writing twice elsewhere.

    (A retried put would give the key version 2 and two watch events for one call.) A read on the
    same path is retried on the next endpoint.
    """
    server = make_etcd_server(name="lostanswer", extra_args=["--grpc-keepalive-min-time=500ms"])
    with FaultProxy(server.endpoint) as proxy:

        async def body(etcd):
            await etcd.put("/lost/warm", "v")  # connected through the proxy
            proxy.stall()
            with pytest.raises(etcdstream.ConnectionFailed, match="may have applied"):
                await etcd.put("/lost/k", "once")
            proxy.resume()
            assert (await etcd.get("/lost/warm")).value == b"v"  # on the direct endpoint now
            kv = await etcd.get("/lost/k")
            assert kv is None or kv.version == 1

        run(body, [proxy.endpoint, server.endpoint], keepalive_time=1, keepalive_timeout=1)


def test_a_failover_leaves_the_other_calls_and_the_watch_stream_going(run, etcd_server, fresh_prefix):
    """One call failing over replaces the client's channel under the others: calls in flight get the call timeout
    to finish on the old one (reads cut off then are sent again on the new channel), and the watch stream moves
    there, losing nothing (AsyncClient raised CancelledError here)."""

    async def body(etcd):
        client = etcd.client if etcd.kind == "sync" else etcd

        async def call(name, *args):
            method = getattr(client, name)
            return await (asyncio.to_thread(method, *args) if etcd.kind == "sync" else method(*args))

        watcher = await open_watch(etcd, fresh_prefix)
        stop = asyncio.Event()

        async def reader():
            reads = 0
            while not stop.is_set():
                await call("get", fresh_prefix + "k")
                reads += 1
            return reads

        readers = [asyncio.create_task(reader()) for _ in range(8)]
        revisions = []
        for i in range(5):
            await asyncio.sleep(0.2)
            failover = client._transport.failover(client._transport.connect())
            if asyncio.iscoroutine(failover):
                await failover
            revisions.append((await call("put", fresh_prefix + f"{i}", "v")).revision)
        await asyncio.sleep(1.5)  # past the grace the old channels get
        stop.set()
        assert all(await asyncio.gather(*readers))  # raises what a reader raised
        assert [e[3] for e in await collect(watcher, 5)] == revisions
        await watcher.close()

    # Both endpoints are the same etcd: a failover gives a new channel to it.
    run(body, [etcd_server.endpoint, etcd_server.endpoint], history=etcd_server, timeout=1)
