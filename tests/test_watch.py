"""watchdir and watch against real etcd: one body for the blocking and the asyncio client."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time

import pytest
from _clients import *
from _testbase.guarantees import WatchRequest, assert_watch_guarantees
from _testbase.history import read_history
from _testbase.proc import connections_to
from _testbase.proxy import FaultProxy

import etcdstream
from etcdstream import (
    CompactedError,
    EventType,
    PermissionDenied,
    RevisionWentBackwards,
)
from etcdstream._watch_progress import synchronises_progress


pytestmark = pytest.mark.every_version  # tests/run runs this module on every etcd version


def test_watchdir_delivers_every_change_in_order(run, etcd_path, fresh_prefix):
    p = fresh_prefix.encode()

    async def body(etcd):
        watcher = await open_watch(etcd, fresh_prefix, prev_kv=True)
        first = (await etcd.put(p + b"a", b"1")).revision
        await etcd.put(p + b"b", "2")
        await etcd.put(p + b"a", b"3")
        await etcd.txn([], [etcdstream.Put(p + b"c", b"4"), etcdstream.Delete(p + b"b")])
        await etcd.put(b"/elsewhere", b"x")
        await etcd.delete(p + b"a")
        events = await collect(watcher, 6)
        assert events == [
            (EventType.PUT, p + b"a", b"1", first),
            (EventType.PUT, p + b"b", b"2", first + 1),
            (EventType.PUT, p + b"a", b"3", first + 2),
            (EventType.PUT, p + b"c", b"4", first + 3),
            (EventType.DELETE, p + b"b", b"", first + 3),
            (EventType.DELETE, p + b"a", b"", first + 5),
        ]
        assert watcher.revision == first + 5
        await watcher.close()

    run(body, etcd_path.endpoint, history=etcd_path.etcd)


def test_prev_kv(run, etcd_path, fresh_prefix):
    p = fresh_prefix.encode()

    async def body(etcd):
        start = (await etcd.put(p + b"k", b"0")).revision
        await etcd.put(p + b"k", b"1")
        await etcd.delete(p + b"k")
        watcher = await open_watch(etcd, fresh_prefix, start_revision=start + 1, prev_kv=True)
        batch = await watcher.get(5)
        assert [(e.type, e.value, e.prev_kv.value) for e in batch] == [
            (EventType.PUT, b"1", b"0"),
            (EventType.DELETE, b"", b"1"),
        ]
        await watcher.close()

    run(body, etcd_path.endpoint, history=etcd_path.etcd)


def test_coalesced_batch_keeps_the_last_event_per_key(run, etcd_path, fresh_prefix):
    p = fresh_prefix.encode()

    async def body(etcd):
        start = (await etcd.put(p + b"k", b"0")).revision
        for i in range(1, 20):
            await etcd.put(p + b"k", b"%d" % i)
        await etcd.delete(p + b"k")
        await etcd.put(p + b"j", b"last")
        watcher = await open_watch(etcd, fresh_prefix, start_revision=start, coalesce=True)
        events = []
        while not events or events[-1][1] != p + b"j":
            events += [(e.type, e.key, e.value) for e in await watcher.get(5)]
        # Catch-up may split the range into batches; within each, a key appears once.
        assert events[-2:] == [(EventType.DELETE, p + b"k", b""), (EventType.PUT, p + b"j", b"last")]
        assert len(events) < 21
        await watcher.close()

    run(body, etcd_path.endpoint, history=etcd_path.etcd)


def test_watch_one_key_and_from_a_readdir_revision(run, etcd_path, fresh_prefix):
    p = fresh_prefix.encode()

    async def body(etcd):
        await etcd.put(p + b"a", b"before")
        snapshot = await etcd.readdir(p)
        await etcd.put(p + b"a", b"after")
        await etcd.put(p + b"ab", b"other key")
        await etcd.put(p + b"a", b"again")
        key_watcher = await open_watch(etcd, p + b"a", one_key=True, start_revision=snapshot.revision + 1)
        assert [e[2] for e in await collect(key_watcher, 2)] == [b"after", b"again"]
        dir_watcher = await open_watch(etcd, p, start_revision=snapshot.revision + 1)
        assert [e[2] for e in await collect(dir_watcher, 3)] == [b"after", b"other key", b"again"]
        await key_watcher.close()
        await dir_watcher.close()

    run(body, etcd_path.endpoint, history=etcd_path.etcd)


def test_resumes_after_etcd_restarts_without_loss_or_repeat(run, make_etcd_server):
    server = make_etcd_server(name="restart")

    async def body(etcd):
        watcher = await open_watch(etcd, "/r/")
        for i in range(5):
            await etcd.put(f"/r/{i}", str(i))
        seen = await collect(watcher, 5)
        server.kill()
        server.start()
        for i in range(5, 10):
            await etcd.put(f"/r/{i}", str(i))
        seen += await collect(watcher, 5, timeout=20)
        assert [e[1] for e in seen] == [f"/r/{i}".encode() for i in range(10)]
        revisions = [e[3] for e in seen]
        assert revisions == sorted(set(revisions))
        await watcher.close()

    run(body, server.endpoint, history=server)


def test_compacted_start_revision_raises_compacted_error(run, etcd_server, fresh_prefix):
    async def body(etcd):
        first = (await etcd.put(fresh_prefix + "k", "1")).revision
        latest = (await etcd.put(fresh_prefix + "k", "2")).revision
        etcd_server.etcdctl("compact", str(latest))
        with pytest.raises(CompactedError) as caught:
            watcher = await open_watch(etcd, fresh_prefix, start_revision=first)
            await watcher.get(10)
        assert caught.value.compact_revision >= latest
        assert "read the prefix again" in str(caught.value)

    run(body, etcd_server.endpoint, history=etcd_server)


def test_permission_denied_watch_fails_instead_of_hanging(run, etcd_auth):
    async def body(etcd):
        with pytest.raises(PermissionDenied):
            await open_watch(etcd, "/secret/")
        allowed = await open_watch(etcd, "/readonly/")
        assert await allowed.get(0.5) is None  # created, quiet, alive
        await allowed.close()

    run(body, etcd_auth.endpoint, history=etcd_auth, username="reader", password=etcd_auth.reader_password)


def test_watch_survives_token_expiry(run, make_etcd_server):
    server = make_etcd_server(name="ttl", auth=True, auth_token_ttl=1)

    async def body(etcd):
        first = await open_watch(etcd, "/a/")
        await etcd.put("/a/1", "1")
        assert len(await collect(first, 1)) == 1
        await asyncio.sleep(3)  # the token has expired: new watches need a new one
        second = await open_watch(etcd, "/b/")
        await etcd.put("/b/1", "1")
        await etcd.put("/a/2", "2")
        assert [e[1] for e in await collect(second, 1)] == [b"/b/1"]
        assert [e[1] for e in await collect(first, 1)] == [b"/a/2"]
        await first.close()
        await second.close()

    run(body, server.endpoint, history=server, username="root", password=server.root_password)


def test_progress_advances_a_quiet_watcher_where_etcd_answers_it_in_order(run, etcd_server, fresh_prefix):
    """etcd 3.4.25+ and 3.5.8+ answer a progress request in order with the events: a quiet watcher's revision
    catches up. Older ones answer ahead of events still to come (etcd #15220): nothing is asked of them."""
    synchronised = synchronises_progress(etcd_server.binaries.version)

    async def body(etcd):
        watcher = await open_watch(etcd, fresh_prefix)
        await etcd.put(fresh_prefix + "first", "x")  # etcd before 3.5.13 never answers for a watcher without events
        first = await collect(watcher, 1)
        latest = (await etcd.put("/somewhere/else", "x")).revision
        sent = etcd.request_progress()
        if inspect.isawaitable(sent):  # the blocking client's methods are wrapped as coroutines
            sent = await sent
        assert sent is synchronised
        if synchronised:
            await wait_for_revision(watcher, latest)
        else:
            assert await watcher.get(0.5) is None and watcher.revision == first[-1][3] < latest
        await watcher.close()

    run(body, etcd_server.endpoint, history=etcd_server)


def test_a_slow_watcher_does_not_hold_up_a_fast_one(run, etcd_server, fresh_prefix):
    p = fresh_prefix.encode()

    async def body(etcd):
        slow = await open_watch(etcd, fresh_prefix, max_buffered_events=10)
        fast = await open_watch(etcd, fresh_prefix)
        await fast.get(0.3)
        for i in range(100):
            await etcd.put(p + b"%03d" % i, b"v")
        assert len(await collect(fast, 100)) == 100
        # The slow one was paused at its bound and resumes from where it stopped.
        events = await collect(slow, 100, timeout=20)
        assert [e[1] for e in events] == [p + b"%03d" % i for i in range(100)]
        await slow.close()
        await fast.close()

    run(body, etcd_server.endpoint, history=etcd_server)


@pytest.mark.parametrize("grpc_proxy", [False, True], ids=["direct", "grpc-proxy"])
def test_fragmented_responses_are_joined(run, make_etcd_server, make_etcd_proxy, grpc_proxy):
    """Behind etcd's gRPC proxy, fragment=True is not passed on: the same events come in whole responses."""
    server = make_etcd_server(name="fragments", extra_args=["--max-request-bytes=4096"])

    async def body(etcd):
        watcher = await open_watch(etcd, "/f/", prev_kv=True, fragment=True)
        puts = [etcdstream.Put(f"/f/{i}", b"x" * 900) for i in range(4)]
        await etcd.txn([], puts)
        await etcd.txn([], puts)  # with prev_kv, ~7 KB of events at one revision
        events = await collect(watcher, 8)
        assert len({e[3] for e in events[4:]}) == 1

    run(body, make_etcd_proxy(server).endpoint if grpc_proxy else server.endpoint, history=server)


def test_another_cluster_behind_the_same_address_is_detected(run, make_etcd_server):
    first = make_etcd_server(name="first")

    async def body(etcd):
        watcher = await open_watch(etcd, "/c/")
        await etcd.put("/c/1", "1")
        await collect(watcher, 1)
        first.stop()
        other = make_etcd_server(name="other", client_port=int(first.endpoint.rsplit(":", 1)[1]))
        other.etcdctl("put", "/c/2", "2")
        with pytest.raises(RevisionWentBackwards):
            await watcher.get(20)

    run(body, first.endpoint)


def test_bad_watch_arguments_fail_before_any_call(run, etcd_server):
    async def body(etcd):
        with pytest.raises(ValueError):
            await open_watch(etcd, "/x/", start_revision=0)
        with pytest.raises(TypeError):
            await open_watch(etcd, 5)
        with pytest.raises(ValueError):
            await open_watch(etcd, "", one_key=True)
        with pytest.raises(ValueError):
            await open_watch(etcd, "/x/", max_buffered_events=0)

    run(body, etcd_server.endpoint, history=etcd_server)


def test_a_thousand_watches_and_key_calls_share_one_connection(run, make_etcd_server):
    server = make_etcd_server(name="many")
    port = int(server.endpoint.rsplit(":", 1)[1])

    async def body(etcd):
        watchers = [await open_watch(etcd, f"/m/{i}/") for i in range(1000)]
        await etcd.put("/m/999/k", "v")
        assert [e[1] for e in await collect(watchers[999], 1)] == [b"/m/999/k"]
        await etcd.get("/m/1/k")
        assert server.metric("etcd_debugging_mvcc_watch_stream_total") == 1
        assert connections_to(port) == 1
        for watcher in watchers[:500]:
            await watcher.close()
        await etcd.put("/m/0/k", "v")
        await etcd.put("/m/500/k", "v")
        assert [e[1] for e in await collect(watchers[500], 1)] == [b"/m/500/k"]
        for watcher in watchers[500:]:
            await watcher.close()

    run(body, server.endpoint, history=server)


def test_iterating_consumers_read_the_stream_themselves_and_resume(make_etcd_server):
    """Blocking iteration reads the stream in the consumer's thread: restarts and close still work."""
    server = make_etcd_server(name="iterate")
    seen: dict[str, list[int]] = {"a": [], "b": []}
    batches: dict[str, list[etcdstream.EventBatch]] = {"a": [], "b": []}
    errors = []

    def consume(watcher, name):
        try:
            for batch in watcher:
                batches[name].append(batch)
                seen[name] += [e.mod_revision for e in batch]
        except etcdstream.ClientClosed:
            pass
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    with etcdstream.Client(server.endpoint) as client:
        watchers = {name: client.watchdir(f"/{name}/") for name in ("a", "b")}
        requests = {name: WatchRequest.prefix(f"/{name}/", created_revision=w.revision) for name, w in watchers.items()}
        threads = [threading.Thread(target=consume, args=(watchers[name], name)) for name in ("a", "b")]
        for thread in threads:
            thread.start()
        revisions = {"a": [], "b": []}
        for i in range(30):
            name = "ab"[i % 2]
            revisions[name].append(client.put(f"/{name}/{i}", "v").revision)
            if i == 14:
                server.kill()
                server.start()
        deadline = time.monotonic() + 20
        while any(len(seen[n]) < 15 for n in seen) and time.monotonic() < deadline:
            time.sleep(0.05)
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()
    assert not errors
    assert seen == revisions
    history = read_history(server, min(r.first_revision for r in requests.values()))
    for name, request in requests.items():
        assert_watch_guarantees(batches[name], request, history, name=f"watchdir /{name}/")


def test_a_silently_stalled_connection_is_noticed_and_left(run, make_etcd_server):
    """A path that drops everything without a reset: keepalive pings notice it; the watch moves on, losing nothing."""
    # etcd refuses pings more often than every 5 s unless told otherwise.
    server = make_etcd_server(name="stall", extra_args=["--grpc-keepalive-min-time=500ms"])
    with FaultProxy(server.endpoint) as proxy:

        async def body(etcd):
            watcher = await open_watch(etcd, "/s/")
            first = (await etcd.put("/s/1", "1")).revision
            assert [e[3] for e in await collect(watcher, 1)] == [first]
            proxy.stall()
            server.etcdctl("put", "/s/2", "2")
            server.etcdctl("put", "/s/3", "3")
            events = await collect(watcher, 2, timeout=20)
            assert [(e[1], e[3]) for e in events] == [(b"/s/2", first + 1), (b"/s/3", first + 2)]
            await watcher.close()

        run(body, [proxy.endpoint, server.endpoint], history=server, keepalive_time=1, keepalive_timeout=1)


def test_the_default_keepalive_stays_within_etcds_default_ping_policy(run, etcd_server, fresh_prefix):
    """Pings every 6 s on an idle watch stream: etcd (at least 5 s between pings, GOAWAY after 3 faster
    ones) never ends the stream."""
    async def body(etcd):
        watcher = await open_watch(etcd, fresh_prefix)
        await asyncio.sleep(20)  # three pings or more
        revision = (await etcd.put(fresh_prefix + "k", "v")).revision
        assert [e[3] for e in await collect(watcher, 1)] == [revision]
        stats = client_of(etcd).stats()
        assert (stats.watch_streams, stats.reconnects, stats.last_error) == (1, 0, None)
        await watcher.close()

    run(body, etcd_server.endpoint, history=etcd_server)


def test_an_iterating_consumer_is_handed_the_stream_after_a_read_that_woke_nobody(etcd_server, fresh_prefix):
    """A consumer that found the stream thread reading must take over when that read was for nobody."""
    with etcdstream.Client(etcd_server.endpoint) as client:
        watcher = client.watchdir(fresh_prefix + "a/")
        created = watcher.revision
        other = client.watchdir(fresh_prefix + "b/")
        stream = client._watches
        other_id = other._state.watch_id
        wait_until_true(stream._reading.locked, "the stream thread waits for the next response, holding the stream")
        batches = []
        consumer = threading.Thread(target=lambda: batches.append(next(watcher)), daemon=True)
        consumer.start()
        wait_until_true(lambda: stream._waiting_readers == 1, "the consumer found the stream busy and waits")
        other.close()  # etcd's answer to the cancel wakes no watcher
        wait_until_true(lambda: other_id not in stream._state.by_id, "etcd answered the cancel")
        revision = client.put(fresh_prefix + "a/k", "v").revision
        consumer.join(10)
        assert not consumer.is_alive(), "the consumer was never handed the stream"
        assert [e.mod_revision for e in batches[0]] == [revision]
        assert_watch_guarantees(batches, WatchRequest.prefix(fresh_prefix + "a/", created_revision=created),
                                read_history(etcd_server, created + 1))
        watcher.close()


def wait_until_true(condition, what, timeout=20.0):
    """Poll condition() until it is true; fail with `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        time.sleep(0.01)


def test_a_closed_watcher_says_so_every_time(run, etcd_server, fresh_prefix):
    async def body(etcd):
        watcher = await open_watch(etcd, fresh_prefix)
        await watcher.close()
        for _ in range(2):
            with pytest.raises(etcdstream.ClientClosed):
                await watcher.get(1)

    run(body, etcd_server.endpoint, history=etcd_server)


def test_filters_leave_out_puts_or_deletes(run, etcd_server, fresh_prefix):
    p = fresh_prefix.encode()

    async def body(etcd):
        no_puts = await open_watch(etcd, p, filters=[etcdstream.WatchFilter.NOPUT])
        no_deletes = await open_watch(etcd, p, filters=(etcdstream.WatchFilter.NODELETE,))
        for key in (p + b"a", p + b"b"):
            await etcd.put(key, "v")
            await etcd.delete(key)
        assert [e[:2] for e in await collect(no_puts, 2)] == [(EventType.DELETE, p + b"a"), (EventType.DELETE, p + b"b")]
        assert [e[:2] for e in await collect(no_deletes, 2)] == [(EventType.PUT, p + b"a"), (EventType.PUT, p + b"b")]
        for watcher in (no_puts, no_deletes):
            await watcher.close()
        with pytest.raises(TypeError, match="filters item must be one of WatchFilter.NOPUT, WatchFilter.NODELETE or "
                                            "its name as a str .*, got int 7"):
            await open_watch(etcd, p, filters=[7])
        with pytest.raises(TypeError, match="filters must be an iterable of WatchFilter"):
            await open_watch(etcd, p, filters=etcdstream.WatchFilter.NOPUT)

    run(body, etcd_server.endpoint, history=etcd_server)


def test_a_watch_of_a_key_range_or_from_a_key_sees_only_its_keys(run, etcd_server, fresh_prefix):
    p = fresh_prefix.encode()

    async def body(etcd):
        in_range = await open_watch(etcd, p + b"b", one_key=True, range_end=p + b"d")
        from_c = await open_watch(etcd, p + b"c", one_key=True, from_key=True)
        for name in (b"a", b"b", b"c", b"d", b"bz"):
            await etcd.put(p + name, "v")
        assert [e[1] for e in await collect(in_range, 3)] == [p + b"b", p + b"c", p + b"bz"]
        assert [e[1] for e in await collect(from_c, 2)] == [p + b"c", p + b"d"]
        await etcd.put(p + b"zz", "v")  # after b"bz", which from_c leaves out
        assert [e[1] for e in await collect(from_c, 1)] == [p + b"zz"]
        for watcher in (in_range, from_c):
            await watcher.close()
        with pytest.raises(ValueError, match="at most one of range_end, prefix=True and from_key=True"):
            await open_watch(etcd, p + b"b", one_key=True, range_end=p + b"d", from_key=True)

    run(body, etcd_server.endpoint, history=etcd_server)


def test_run_checks_the_watch_guarantees_against_etcds_history(run, etcd_server, fresh_prefix):
    """The check every test using `run` gets: a batch the record lost is found missing from etcd's history."""
    async def body(etcd):
        watcher = await open_watch(etcd, fresh_prefix)
        revisions = [(await etcd.put(fresh_prefix + f"{i}", "v")).revision for i in range(3)]
        await collect(watcher, 3)
        watcher.record.batches[:] = [etcdstream.EventBatch([e for e in batch if e.mod_revision != revisions[1]],
                                                           batch.revision) for batch in watcher.record.batches]
        await watcher.close()
        return revisions

    with pytest.raises(AssertionError, match=r"\[reliable\] .*1 events of etcd's history in revisions \d+\.\.\d+ "
                                             r"never delivered"):
        run(body, etcd_server.endpoint, history=etcd_server)
