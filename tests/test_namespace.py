"""Namespaces (issue 14 §6): client.namespace(prefix), Go's client/v3/namespace, with both clients.

Each test surrounds the namespace with keys just outside it (just before it, at its range end, a
shorter prefix) and checks that no read, write, delete, txn or watch of the view reaches them, that
results come back without the prefix, and that etcdctl sees the full keys.
"""

from __future__ import annotations

import pytest
from _clients import *

import etcdstream
from etcdstream import Compare, Delete, Get, Put, Txn
from etcdstream._namespace import ROOT, KeySpace


# --- the I/O-free part: how a range of the namespace becomes etcd's ---

@pytest.mark.parametrize(
    ("key", "range_end", "expected"),
    [
        (b"k", b"", (b"/ns/k", b"")),  # one key
        (b"a", b"b", (b"/ns/a", b"/ns/b")),  # [a, b)
        (b"k", b"\0", (b"/ns/k", b"/ns0")),  # from k on: to the end of the namespace, not of etcd
        (b"\0", b"\0", (b"/ns/\0", b"/ns0")),  # every key (key_range's form of "all")
    ],
)
def test_a_range_of_the_namespace_stays_inside_it(key, range_end, expected):
    assert KeySpace(b"/ns/").interval(key, range_end) == expected
    assert ROOT.interval(key, range_end) == (key, range_end)


def test_a_namespace_of_0xff_bytes_runs_to_the_end_and_views_nest():
    assert KeySpace(b"\xff\xff").interval(b"a", b"\0") == (b"\xff\xffa", b"\0")
    assert KeySpace(b"/a/").child(b"b/") == KeySpace(b"/a/b/")
    assert KeySpace(b"/ns/").keys_inside([b"/ns/a", b"/nt/a", b"/ns", b"/ns/"]) == [b"a", b""]


# --- against etcd ---

def outside(fresh_prefix: str) -> list[str]:
    """Keys next to the namespace fresh_prefix + "ns/" that it must never reach."""
    return [fresh_prefix + "ns.", fresh_prefix + "ns0", fresh_prefix + "ns", fresh_prefix + "n/a"]


@pytest.fixture
def outside_keys(run, etcd_server, fresh_prefix) -> list[str]:
    """outside(fresh_prefix), written to etcd before the test."""
    keys = outside(fresh_prefix)

    async def put_all(etcd):
        for key in keys:
            await etcd.put(key, "outside")

    run(put_all, etcd_server.endpoint)
    return keys


def test_reads_writes_and_deletes_see_only_the_namespace_without_its_prefix(run, etcd_server, fresh_prefix,
                                                                             outside_keys):
    ns = fresh_prefix + "ns/"

    async def body(etcd):
        view = namespace_of(etcd, ns)
        assert view.prefix == ns.encode() and ns in repr(client_of(view))
        revision = (await view.put("a", "1")).revision
        await view.put("b", "2")
        await view.put("c/d", "3")
        assert (await view.get("a")).key == b"a" and (await etcd.get(ns + "a")).value == b"1"
        assert (await view.get(ns + "a")) is None  # no double prefix
        everything = await view.range("", from_key=True)
        assert [kv.key for kv in everything.kvs] == [b"a", b"b", b"c/d"] and everything.count == 3
        assert [kv.key for kv in (await view.range("", prefix=True)).kvs] == [b"a", b"b", b"c/d"]
        assert [kv.key for kv in (await view.range("b", from_key=True)).kvs] == [b"b", b"c/d"]
        assert [kv.key for kv in (await view.range("a", "c")).kvs] == [b"a", b"b"]
        assert await view.count("") == 3 and await view.count("c/") == 1
        snapshot = await view.readdir("", page_size=1)  # three pages: the next page's start is etcd's key
        assert [kv.key for kv in snapshot.kvs] == [b"a", b"b", b"c/d"]
        assert (await view.put("a", "1b", prev_kv=True)).prev_kv.key == b"a"
        assert (await view.get("a", revision=revision)).value == b"1"
        deleted = await view.delete("", prefix=True, prev_kv=True)
        assert deleted == 3 and sorted(kv.key for kv in deleted.prev_kvs) == [b"a", b"b", b"c/d"]
        # Nothing outside was read, counted or deleted.
        assert set(etcdctl_prefix(etcd_server, fresh_prefix, 0)) == {k.encode() for k in outside_keys}

    run(body, etcd_server.endpoint)


def test_etcdctl_sees_the_full_keys_and_nested_views_add_up(run, etcd_server, fresh_prefix):
    async def body(etcd):
        inner = namespace_of(namespace_of(etcd, fresh_prefix + "a/"), "b/")
        await inner.put("k", "v")
        assert set(etcdctl_prefix(etcd_server, fresh_prefix, 0)) == {(fresh_prefix + "a/b/k").encode()}
        assert (await inner.get("k")).key == b"k"

    run(body, etcd_server.endpoint)


def test_transactions_compare_and_write_inside_the_namespace(run, etcd_server, fresh_prefix, outside_keys):
    ns = fresh_prefix + "ns/"

    async def body(etcd):
        view = namespace_of(etcd, ns)
        revision = await view.create("x", "1")
        with pytest.raises(etcdstream.KeyExistsError) as exists:
            await view.create("x", "2")
        assert exists.value.key == b"x"
        with pytest.raises(etcdstream.ConflictError) as conflict:
            await view.compare_and_put("x", "3", revision + 100)
        assert conflict.value.current.key == b"x"
        await view.compare_and_put("x", "3", revision)
        pushed = await view.push("queue", "job")
        assert pushed.startswith(b"queue/") and (await etcd.get(ns.encode() + pushed)).value == b"job"
        # Over the whole namespace: "no key has version > 5" holds although keys outside it changed often.
        for _ in range(6):
            await etcd.put(fresh_prefix + "ns0", "busy")
        result = await view.txn(
            [Compare("", "version", "<", 5, prefix=True)],
            [Put("y", "new"), Get("", prefix=True), Txn([Compare("x", "value", "==", "3")], [Delete("x", prev_kv=True)])],
        )
        assert result.succeeded
        assert [kv.key for kv in result.responses[1].kvs] == [pushed, b"x", b"y"]
        assert [kv.key for kv in result.responses[2].responses[0].prev_kvs] == [b"x"]
        assert (await etcd.get(ns + "y")).value == b"new" and await etcd.get(ns + "x") is None
        for key in outside_keys:
            assert (await etcd.get(key)) is not None

    run(body, etcd_server.endpoint)


def test_watches_of_the_namespace_get_its_events_only_without_the_prefix(run, etcd_server, fresh_prefix):
    ns = fresh_prefix + "ns/"

    async def body(etcd):
        view = namespace_of(etcd, ns)
        everything = await open_watch(view, "", prev_kv=True)
        from_b = await open_watch(view, "b", one_key=True, from_key=True)
        await view.put("a", "1")
        for key in outside(fresh_prefix):
            await etcd.put(key, "outside")
        await view.put("b", "2")
        await view.put("a", "1b")
        await etcd.delete(ns + "b")
        events = await collect(everything, 4)
        assert [(e[0], e[1], e[2]) for e in events] == [
            (etcdstream.EventType.PUT, b"a", b"1"), (etcdstream.EventType.PUT, b"b", b"2"),
            (etcdstream.EventType.PUT, b"a", b"1b"), (etcdstream.EventType.DELETE, b"b", b"")]
        assert [(e[1], e[2]) for e in await collect(from_b, 2)] == [(b"b", b"2"), (b"b", b"")]
        assert await everything.get(0.3) is None and await from_b.get(0.3) is None  # nothing from outside
        await everything.close()
        await from_b.close()

    run(body, etcd_server.endpoint)


def test_a_mirror_lock_and_lease_of_a_namespace(run, etcd_server, fresh_prefix):
    ns = fresh_prefix + "ns/"

    async def body(etcd):
        view = namespace_of(etcd, ns)
        await etcd.put(fresh_prefix + "ns.", "outside")
        await view.put("conf/a", "1")
        mirror = MirrorOf(view, "conf/")
        try:
            await mirror.wait_synced()
            revision = (await view.put("conf/b", "2")).revision
            await mirror.wait_revision(revision)
            assert {kv.key: kv.value for kv in mirror.mirror.snapshot().kvs} == {b"conf/a": b"1", b"conf/b": b"2"}
        finally:
            await mirror.close()
        lock = client_of(view).lock("job")
        await call(lock.acquire)
        try:
            assert lock.key.startswith(b"job/")  # the view's key; etcd's is under the namespace
            assert [kv.key for kv in (await etcd.range(ns + "job/", prefix=True)).kvs] == [ns.encode() + lock.key]
        finally:
            await call(lock.release)
        lease = await view.grant(30)
        await view.put("leased", "v", lease=lease)
        await etcd.put(fresh_prefix + "elsewhere", "v", lease=lease)
        assert (await view.time_to_live(lease, keys=True)).keys == [b"leased"]
        assert len((await etcd.time_to_live(lease, keys=True)).keys) == 2
        await view.revoke(lease)

    run(body, etcd_server.endpoint)


def test_the_namespace_prefix_must_be_a_non_empty_key(run):
    async def body(etcd):
        with pytest.raises(ValueError, match="must not be empty"):
            client_of(etcd).namespace("")
        with pytest.raises(TypeError, match="str or bytes"):
            client_of(etcd).namespace(3)

    run(body, "127.0.0.1:1", timeout=5)
