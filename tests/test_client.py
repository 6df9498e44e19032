"""Client and AsyncClient against a real etcd: key operations, readdir, leases, maintenance, errors."""

from __future__ import annotations

import asyncio
import threading
import time

import grpc
import pytest
from _clients import *
from _clients import connect, keepers_running

import etcdstream
from etcdstream import Compare, Delete, Get, Put
from etcdstream._endpoints import Endpoint
from etcdstream._keys import prefix_range
from etcdstream import _kv_ops, _proto
from etcdstream._kv_ops import DEFAULT_PAGE_SIZE
from etcdstream._retry import error_from_rpc


async def _load(etcd, prefix: str, n: int, value: bytes = b"v") -> None:
    """n keys prefix%06d in txns of 128 puts (etcd's default --max-txn-ops)."""
    for start in range(0, n, 128):
        await etcd.txn([], [Put(f"{prefix}{i:06d}", value) for i in range(start, min(n, start + 128))])


# --- key operations ---


def test_put_get_delete(run, etcd_server, fresh_prefix):
    async def body(etcd):
        key = fresh_prefix + "k"
        assert await etcd.get(key) is None
        first = await etcd.put(key, "v1")
        kv = await etcd.get(key)
        assert isinstance(kv, etcdstream.KeyValue)
        assert (kv.key, kv.value, kv.mod_revision, kv.version) == (key.encode(), b"v1", first.revision, 1)
        second = await etcd.put(key.encode(), b"v2", prev_kv=True)
        assert second.prev_kv.value == b"v1" and second.revision > first.revision
        assert (await etcd.get(key, revision=first.revision)).value == b"v1"
        deleted = await etcd.delete(key, prev_kv=True)
        assert deleted == 1 and [kv.value for kv in deleted.prev_kvs] == [b"v2"]
        assert await etcd.delete(key) == 0
        assert await etcd.get(key) is None

    run(body, etcd_server.endpoint)


def test_str_and_bytes_keys_and_values(run, etcd_server, fresh_prefix):
    async def body(etcd):
        await etcd.put(fresh_prefix + "ünï", "välue")
        kv = await etcd.get((fresh_prefix + "ünï").encode())
        assert kv.key == (fresh_prefix + "ünï").encode() and kv.value == "välue".encode()
        binary = fresh_prefix.encode() + b"\xff\x00\x01"
        await etcd.put(binary, b"\x00\xff")
        assert (await etcd.get(binary)).value == b"\x00\xff"
        await etcd.put(fresh_prefix + "empty", b"")
        assert (await etcd.get(fresh_prefix + "empty")).value == b""

    run(body, etcd_server.endpoint)


def test_delete_prefix_and_count(run, etcd_server, fresh_prefix):
    async def body(etcd):
        await _load(etcd, fresh_prefix + "a/", 5)
        await etcd.put(fresh_prefix + "b", "x")
        assert await etcd.count(fresh_prefix) == 6
        assert await etcd.count(fresh_prefix + "a/") == 5
        deleted = await etcd.delete(fresh_prefix + "a/", prefix=True)
        assert deleted == 5
        for revision, count in ((deleted.revision - 1, 5), (deleted.revision, 0)):  # the delete's revision
            assert (await etcd.range(fresh_prefix + "a/", prefix=True, revision=revision, count_only=True)).count == count
        assert await etcd.count(fresh_prefix) == 1
        result = await etcd.txn([], [etcdstream.Delete(fresh_prefix + "b")])
        assert result.responses[0] == 1 and result.responses[0].revision == result.revision

    run(body, etcd_server.endpoint)


def test_create_and_key_exists(run, etcd_server, fresh_prefix):
    async def body(etcd):
        key = fresh_prefix + "k"
        revision = await etcd.create(key, "first")
        assert (await etcd.get(key)).create_revision == revision
        with pytest.raises(etcdstream.KeyExistsError) as e:
            await etcd.create(key, "second")
        assert e.value.key == key.encode() and "put()" in str(e.value)
        assert (await etcd.get(key)).value == b"first"

    run(body, etcd_server.endpoint)


def test_compare_and_put_and_delete(run, etcd_server, fresh_prefix):
    async def body(etcd):
        key = fresh_prefix + "k"
        assert await etcd.compare_and_put(key, "v1", 0)  # 0: only if absent
        kv = await etcd.get(key)
        revision = await etcd.compare_and_put(key, "v2", kv.mod_revision)
        with pytest.raises(etcdstream.ConflictError) as e:
            await etcd.compare_and_put(key, "v3", kv.mod_revision)  # stale
        assert e.value.current.mod_revision == revision and e.value.current.value == b"v2"
        assert "read it again" in str(e.value)
        with pytest.raises(etcdstream.ConflictError):
            await etcd.compare_and_delete(key, kv.mod_revision)
        await etcd.compare_and_delete(key, revision)
        assert await etcd.get(key) is None
        with pytest.raises(etcdstream.ConflictError) as e:
            await etcd.compare_and_delete(key, revision)
        assert e.value.current is None

    run(body, etcd_server.endpoint)


def test_push_makes_unique_increasing_keys(run, etcd_server, fresh_prefix):
    async def body(etcd):
        directory = fresh_prefix + "upstreams"
        keys = [await etcd.push(directory, f"u{i}") for i in range(5)]
        assert keys == sorted(keys) and len(set(keys)) == 5
        assert all(k.startswith(directory.encode() + b"/") for k in keys)
        snapshot = await etcd.readdir(directory + "/")
        assert [kv.key for kv in snapshot.kvs] == keys
        assert [kv.value for kv in snapshot.kvs] == [f"u{i}".encode() for i in range(5)]

    run(body, etcd_server.endpoint)


def test_push_from_concurrent_writers_never_collides(etcd_server, fresh_prefix):
    directory = fresh_prefix + "q/"
    results: list[bytes] = []

    def writer() -> None:
        with etcdstream.Client(etcd_server.endpoint) as etcd:
            results.extend(etcd.push(directory, "x") for _ in range(10))

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 30
    with etcdstream.Client(etcd_server.endpoint) as etcd:
        assert etcd.count(directory) == 30


def test_txn(run, etcd_server, fresh_prefix):
    async def body(etcd):
        a, b = fresh_prefix + "a", fresh_prefix + "b"
        await etcd.put(a, "1")
        result = await etcd.txn(
            [Compare(a, "value", "==", "1"), Compare(b, "version", "==", 0)],
            [Put(b, "2"), Get(fresh_prefix, prefix=True), Delete(a, prev_kv=True)],
            [Put(b, "never")],
        )
        assert result.succeeded
        put, got, deleted = result.responses
        assert put == etcdstream.PutResult(result.revision, None)
        assert [kv.key for kv in got.kvs] == [a.encode(), b.encode()] and got.count == 2
        assert deleted == 1 and deleted.prev_kvs[0].value == b"1"
        result = await etcd.txn([Compare(a, "create_revision", ">", 0)], [], [Get(b)])
        assert not result.succeeded and result.responses[0].kvs[0].value == b"2"

    run(body, etcd_server.endpoint)


def test_txn_over_ranges_leases_nested_and_with_range_options(run, etcd_server, fresh_prefix):
    p = fresh_prefix

    async def body(etcd):
        for name in ("a", "b", "c"):
            await etcd.put(p + name, "1")
        lease = await etcd.grant(30)
        await etcd.put(p + "leased", "x", lease=lease)
        # A compare over a range holds only if it holds for every key in it.
        every_v1 = Compare(p + "a", "version", "==", 1, range_end=p + "d")
        assert (await etcd.txn([every_v1])).succeeded
        await etcd.put(p + "c", "2")
        assert not (await etcd.txn([every_v1])).succeeded
        assert (await etcd.txn([Compare(p, "create_revision", ">", 0, prefix=True)])).succeeded
        assert (await etcd.txn([Compare(p + "leased", "lease", "==", lease.id)])).succeeded
        assert (await etcd.txn([Compare(p + "a", "lease", "==", 0)])).succeeded
        # Range options inside a txn, and a nested txn with its own branches; results typed per operation.
        result = await etcd.txn([], [
            Get(p, prefix=True, limit=2, sort_order="descend", keys_only=True),
            Get(p + "a", p + "c", count_only=True),
            etcdstream.Txn([Compare(p + "a", "value", "==", "nope")], [Put(p + "n", "no")],
                           [Put(p + "n", "yes", prev_kv=True), Get(p + "n")]),
        ])
        read, counted, nested = result.responses
        assert [kv.key for kv in read.kvs] == [(p + "leased").encode(), (p + "c").encode()]
        assert read.more and read.count == 4 and read.kvs[0].value == b"" and read.revision == result.revision
        assert (counted.kvs, counted.count) == ([], 2)
        assert isinstance(nested, etcdstream.TxnResult) and not nested.succeeded
        assert nested.responses[0] == etcdstream.PutResult(result.revision, None)
        assert nested.responses[1].kvs[0].value == b"yes"
        with pytest.raises(TypeError, match="txn operations must be Get, Put, Delete or Txn"):
            await etcd.txn([], [(p + "a", "x")])
        with pytest.raises(ValueError, match="sort_order must be one of"):
            Get(p, prefix=True, sort_order="up")

    run(body, etcd_server.endpoint)


# --- readdir ---


def test_readdir_pages_across_boundaries(run, etcd_server, fresh_prefix):
    async def body(etcd):
        await _load(etcd, fresh_prefix, 25)
        await etcd.put(fresh_prefix[:-1] + "0", "outside")  # sorts after the prefix: must not show up
        expected = [f"{fresh_prefix}{i:06d}".encode() for i in range(25)]
        for page_size in (1, 5, 7, 24, 25, 26, DEFAULT_PAGE_SIZE):
            snapshot = await etcd.readdir(fresh_prefix, page_size=page_size)
            assert [kv.key for kv in snapshot.kvs] == expected, page_size
        keys_only = await etcd.readdir(fresh_prefix, keys_only=True, page_size=10)
        assert [kv.key for kv in keys_only.kvs] == expected and {kv.value for kv in keys_only.kvs} == {b""}
        assert (await etcd.readdir(fresh_prefix + "none/")).kvs == []

    run(body, etcd_server.endpoint)


def test_range_has_every_option_of_etcds_range_request(run, etcd_server, fresh_prefix):
    async def body(etcd):
        p = fresh_prefix
        first = (await etcd.put(p + "a", "3")).revision
        await etcd.put(p + "b", "1")
        await etcd.put(p + "c", "2")
        last = (await etcd.put(p + "a", "4")).revision  # a: version 2, the newest mod_revision
        await etcd.put(p[:-1] + "0", "outside")  # sorts after the prefix

        def keys(result):
            # errors="replace": from_key also reads other tests' keys, some of them not UTF-8
            # (test_str_and_bytes_keys_and_values's sort after this test's prefix).
            return [kv.key.decode(errors="replace")[len(p):] for kv in result.kvs]

        one = await etcd.range(p + "b")
        assert keys(one) == ["b"] and one.count == 1 and not one.more and one.revision > last
        assert keys(await etcd.range(p + "a", p + "c")) == ["a", "b"]
        assert keys(await etcd.range(p, prefix=True)) == ["a", "b", "c"]
        assert keys(await etcd.range(p + "b", from_key=True))[:2] == ["b", "c"]
        assert (await etcd.range("", from_key=True, count_only=True)).count >= 4  # every key
        limited = await etcd.range(p, prefix=True, limit=2)
        assert keys(limited) == ["a", "b"] and limited.more and limited.count == 3
        assert keys(await etcd.range(p, prefix=True, sort_order="descend")) == ["c", "b", "a"]
        assert keys(await etcd.range(p, prefix=True, sort_order="ascend", sort_target="value")) == ["b", "c", "a"]
        assert keys(await etcd.range(p, prefix=True, sort_order="descend", sort_target="mod_revision")) == ["a", "c", "b"]
        assert keys(await etcd.range(p, prefix=True, sort_order="descend", sort_target="version"))[0] == "a"
        assert keys(await etcd.range(p, prefix=True, sort_order="ascend", sort_target="create_revision")) == \
            ["a", "b", "c"]
        old = await etcd.range(p + "a", revision=first)
        assert old.kvs[0].value == b"3" and old.kvs[0].version == 1
        assert {kv.value for kv in (await etcd.range(p, prefix=True, keys_only=True)).kvs} == {b""}
        counted = await etcd.range(p, prefix=True, count_only=True)
        assert counted.count == 3 and counted.kvs == []
        assert keys(await etcd.range(p, prefix=True, min_mod_revision=last)) == ["a"]
        assert keys(await etcd.range(p, prefix=True, max_mod_revision=last - 1)) == ["b", "c"]
        assert keys(await etcd.range(p, prefix=True, min_create_revision=first + 1)) == ["b", "c"]
        assert keys(await etcd.range(p, prefix=True, max_create_revision=first)) == ["a"]
        assert keys(await etcd.range(p, prefix=True, serializable=True)) == ["a", "b", "c"]
        with pytest.raises(ValueError, match="at most one of"):
            await etcd.range(p, prefix=True, from_key=True)
        with pytest.raises(ValueError, match="sort_order must be one of"):
            await etcd.range(p, sort_order="up")
        with pytest.raises(ValueError, match="must not be empty"):
            await etcd.range("")

    run(body, etcd_server.endpoint)


def test_readdir_reports_each_page_to_on_page(run, etcd_server, fresh_prefix):
    async def body(etcd):
        await _load(etcd, fresh_prefix, 25)
        pages = []
        snapshot = await etcd.readdir(fresh_prefix, page_size=10, on_page=lambda *page: pages.append(page))
        assert len(snapshot.kvs) == 25
        assert pages == [(10, 25, True), (20, 25, True), (25, 25, False)]
        pages.clear()
        await etcd.readdir(fresh_prefix + "none/", on_page=lambda *page: pages.append(page))
        assert pages == [(0, 0, False)]

    run(body, etcd_server.endpoint)


def test_alarm_list_and_endpoint(run, make_etcd_server):
    server = make_etcd_server(extra_args=["--quota-backend-bytes=1"])  # the first write raises NOSPACE

    async def body(etcd):
        assert etcd.endpoint == server.endpoint
        assert await etcd.alarm_list() == []
        with pytest.raises(etcdstream.EtcdError, match="database space exceeded"):
            await etcd.put("/k", "v")
        [alarm] = await etcd.alarm_list()
        assert alarm.alarm == "NOSPACE" and alarm.member_id == (await etcd.status()).member_id

    run(body, server.endpoint)


def test_readdir_is_pinned_to_one_revision_while_a_writer_writes(run, etcd_server, fresh_prefix):
    stop = threading.Event()
    writes = []

    def writer() -> None:
        with etcdstream.Client(etcd_server.endpoint) as etcd:
            i = 0
            while not stop.is_set():
                etcd.put(f"{fresh_prefix}{i:06d}", "changed")  # rewrites keys readdir has not reached yet
                etcd.put(f"{fresh_prefix}new{i:06d}", "new")
                writes.append(i)
                i += 1

    thread = threading.Thread(target=writer)

    async def wait_for_writes(count: int) -> None:
        while len(writes) < count:
            assert thread.is_alive(), "the writer failed"
            await asyncio.sleep(0.01)

    async def body(etcd):
        await _load(etcd, fresh_prefix, 300)
        thread.start()
        try:
            await wait_for_writes(3)
            snapshot = await etcd.readdir(fresh_prefix, page_size=3)
            # Two more rounds: the second began after the snapshot's revision, however slow the writer.
            await wait_for_writes(len(writes) + 2)
        finally:
            stop.set()
            thread.join()
        assert all(kv.mod_revision <= snapshot.revision for kv in snapshot.kvs)
        at_revision = await etcd.readdir(fresh_prefix, revision=snapshot.revision, page_size=100_000)
        assert snapshot.kvs == at_revision.kvs  # paged == one Range at the same revision
        assert await etcd.count(fresh_prefix) > len(snapshot.kvs)  # the writer went on after it

    run(body, etcd_server.endpoint)


def test_readdir_prefix_with_trailing_0xff(run, etcd_server, fresh_prefix):
    async def body(etcd):
        base = fresh_prefix.encode() + b"\xfe\xff"
        inside = [base + b"", base + b"\x00", base + b"\xff", base + b"\xff\xff"]
        outside = [fresh_prefix.encode() + b"\xff", fresh_prefix.encode() + b"\xfe\xfe"]
        for key in inside + outside:
            await etcd.put(key, "x")
        snapshot = await etcd.readdir(base, page_size=2)
        assert [kv.key for kv in snapshot.kvs] == sorted(inside)
        assert await etcd.count(base) == len(inside)

    run(body, etcd_server.endpoint)


def test_prefix_range():
    assert prefix_range(b"/a/") == (b"/a/", b"/a0")
    assert prefix_range(b"a\xff\xff") == (b"a\xff\xff", b"b")
    assert prefix_range(b"\xff\xff") == (b"\xff\xff", b"\0")
    assert prefix_range(b"") == (b"\0", b"\0")


@pytest.fixture(scope="module")
def many_keys(etcd_server):
    """20,500 keys of ~180 B under one prefix: more than one default page."""
    prefix = "/t/many/"
    value = b"x" * 150
    with etcdstream.Client(etcd_server.endpoint) as etcd:
        if etcd.count(prefix) != 20_500:
            for start in range(0, 20_500, 128):
                etcd.txn([], [Put(f"{prefix}{i:08d}", value) for i in range(start, min(20_500, start + 128))])
    return prefix


def test_readdir_many_keys_with_defaults(run, etcd_server, many_keys):
    async def body(etcd):
        snapshot = await etcd.readdir(many_keys)
        keys = [kv.key for kv in snapshot.kvs]
        assert len(keys) == 20_500 and keys == sorted(keys)
        assert keys[0] == f"{many_keys}{0:08d}".encode() and keys[-1] == f"{many_keys}{20_499:08d}".encode()
        # One page of everything: far above grpcio's default 4 MiB receive limit.
        everything = await etcd.readdir(many_keys, page_size=1_000_000)
        assert everything.kvs == snapshot.kvs

    run(body, etcd_server.endpoint)


def test_readdir_reads_the_rest_in_one_range_when_it_fits_else_in_pages(monkeypatch):
    kv = _proto.KeyValue(key=b"p/a", value=b"v" * 100, create_revision=3, mod_revision=3, version=1)
    page = _proto.RangeResponse(header=_proto.ResponseHeader(revision=8), kvs=[kv], more=True,
                                count=3).SerializeToString()

    def second_request(**options):
        op = _kv_ops.readdir("p/", **options)
        assert _proto.RangeRequest.FromString(next(op).request).limit == options.get("page_size", DEFAULT_PAGE_SIZE)
        return _proto.RangeRequest.FromString(op.send(page).request)

    rest = second_request()
    assert (rest.limit, rest.revision, rest.key) == (0, 8, b"p/a\0")  # two keys of ~120 B: at once
    assert second_request(page_size=1).limit == 1  # an explicit page size pages throughout
    monkeypatch.setattr(_kv_ops, "ONE_RANGE_BYTES", 200)  # the rest, ~240 B, no longer fits
    assert second_request().limit == DEFAULT_PAGE_SIZE


def test_timeout(run, etcd_server, many_keys):
    async def body(etcd):
        with pytest.raises(etcdstream.Timeout) as e:
            await etcd.readdir(many_keys, page_size=1_000_000, timeout=0.001)
        assert "raise timeout=" in str(e.value) and isinstance(e.value, TimeoutError)
        assert await etcd.count(many_keys) == 20_500  # the client still works

    run(body, etcd_server.endpoint)


# --- interop with etcdctl ---


def test_etcdctl_reads_what_we_write_and_the_other_way_round(run, etcd_server, fresh_prefix):
    async def body(etcd):
        await etcd.put(fresh_prefix + "ours", "from etcdstream")
        out = etcd_server.etcdctl("get", fresh_prefix + "ours", "--print-value-only").stdout
        assert out.strip() == "from etcdstream"
        etcd_server.etcdctl("put", fresh_prefix + "theirs", "from etcdctl")
        assert (await etcd.get(fresh_prefix + "theirs")).value == b"from etcdctl"
        listed = etcd_server.etcdctl("get", fresh_prefix, "--prefix", "--keys-only").stdout.split()
        snapshot = await etcd.readdir(fresh_prefix)
        assert [kv.key.decode() for kv in snapshot.kvs] == listed

    run(body, etcd_server.endpoint)


# --- leases ---


def test_lease_grant_ttl_revoke(run, etcd_server, fresh_prefix):
    async def body(etcd):
        lease = await etcd.grant(30)
        assert lease.ttl == 30 and lease.id in await etcd.leases()
        await etcd.put(fresh_prefix + "k", "v", lease=lease)
        info = await etcd.time_to_live(lease, keys=True)
        assert 0 < info.ttl <= 30 and info.granted_ttl == 30 and info.keys == [(fresh_prefix + "k").encode()]
        assert (await etcd.get(fresh_prefix + "k")).lease == lease.id
        assert await etcd.keep_alive_once(lease) == 30
        await etcd.revoke(lease)
        assert await etcd.get(fresh_prefix + "k") is None
        assert (await etcd.time_to_live(lease)).ttl == -1
        with pytest.raises(etcdstream.LeaseNotFound):
            await etcd.keep_alive_once(lease)
        with pytest.raises(etcdstream.LeaseNotFound):
            await etcd.put(fresh_prefix + "k", "v", lease=lease)

    run(body, etcd_server.endpoint)


def test_put_with_ttl_expires(run, etcd_server, fresh_prefix):
    async def body(etcd):
        await etcd.put(fresh_prefix + "short", "v", ttl=1)
        await etcd.create(fresh_prefix + "created", "v", ttl=1)
        kv = await etcd.get(fresh_prefix + "short")
        assert kv.lease != 0
        # etcd revokes an expired lease when its own timers get to it (later on a busy machine):
        # the deadline only catches keys that never expire.
        deadline = time.monotonic() + 30
        while await etcd.count(fresh_prefix) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert await etcd.count(fresh_prefix) == 0

    run(body, etcd_server.endpoint)


def test_keepalive_keeps_a_key_alive_and_stops_on_revoke(run, etcd_server, fresh_prefix):
    async def body(etcd):
        lease = await etcd.grant(2, keep_alive=True)
        await etcd.put(fresh_prefix + "k", "v", lease=lease)
        assert keepers_running() == 1
        await asyncio.sleep(3.2)  # past the ttl: only the keepalive keeps it
        assert (await etcd.get(fresh_prefix + "k")).value == b"v"
        await etcd.revoke(lease)
        assert keepers_running() == 0
        assert await etcd.get(fresh_prefix + "k") is None

    run(body, etcd_server.endpoint)


def test_keepalive_stops_on_close(client_kind, etcd_server):
    async def main():
        async with connect(client_kind, etcd_server.endpoint) as etcd:
            await etcd.grant(5, keep_alive=True)
            await etcd.grant(6, keep_alive=True)
            assert keepers_running() == 2
        assert keepers_running() == 0
        with pytest.raises(etcdstream.ClientClosed):
            await etcd.get("k")

    asyncio.run(main())


# --- maintenance ---


def test_maintenance(run, etcd_server):
    async def body(etcd):
        status = await etcd.status()
        assert status.version == etcd_server.version and status.leader == status.member_id
        assert status.revision > 0 and status.db_size > 0
        version = await etcd.version()
        assert version.server == etcd_server.version
        assert etcd_server.version.startswith(version.cluster.rsplit(".", 1)[0])  # e.g. "3.5.0" for 3.5.1
        (member,) = await etcd.member_list()
        assert member.id == status.member_id and member.client_urls == [etcd_server.url]
        assert await etcd.health() is True

    run(body, etcd_server.endpoint)


# --- errors ---


def test_unreachable_endpoint(run):
    async def body(etcd):
        started = time.monotonic()
        with pytest.raises(etcdstream.ConnectionFailed) as e:
            await etcd.get("k")
        assert time.monotonic() - started < 5
        assert "127.0.0.1:1" in str(e.value) and "is etcd running? check --endpoints" in str(e.value)
        assert await etcd.health() is False

    run(body, "127.0.0.1:1", timeout=2)


def test_revision_errors(run, etcd_server, fresh_prefix):
    async def body(etcd):
        first = await etcd.put(fresh_prefix + "k", "1")
        second = await etcd.put(fresh_prefix + "k", "2")
        with pytest.raises(etcdstream.FutureRevisionError):
            await etcd.get(fresh_prefix + "k", revision=second.revision + 1_000_000)
        etcd_server.etcdctl("compact", str(second.revision))
        with pytest.raises(etcdstream.CompactedError) as e:
            await etcd.readdir(fresh_prefix, revision=first.revision)
        assert "compacted" in str(e.value)

    run(body, etcd_server.endpoint)


def test_error_mapping_by_code_and_etcd_message():
    endpoint = Endpoint("127.0.0.1", 2379)
    cases = [
        (grpc.StatusCode.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted", etcdstream.CompactedError),
        (grpc.StatusCode.OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision", etcdstream.FutureRevisionError),
        (grpc.StatusCode.UNAUTHENTICATED, "etcdserver: invalid auth token", etcdstream.AuthFailed),
        (grpc.StatusCode.INVALID_ARGUMENT, "etcdserver: authentication failed, invalid user ID or password", etcdstream.AuthFailed),
        (grpc.StatusCode.PERMISSION_DENIED, "etcdserver: permission denied", etcdstream.PermissionDenied),
        (grpc.StatusCode.UNAVAILABLE, "etcdserver: no leader", etcdstream.NoLeader),
        (grpc.StatusCode.UNAVAILABLE, "etcdserver: leader changed", etcdstream.NoLeader),
        (grpc.StatusCode.NOT_FOUND, "etcdserver: requested lease not found", etcdstream.LeaseNotFound),
        (grpc.StatusCode.INVALID_ARGUMENT, "etcdserver: request is too large", etcdstream.RequestTooLarge),
        (grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses", etcdstream.ConnectionFailed),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", etcdstream.Timeout),
        (grpc.StatusCode.INTERNAL, "something else", etcdstream.EtcdError),
    ]
    for code, details, expected in cases:
        error = error_from_rpc(code, details, endpoint)
        assert type(error) is expected, (details, error)
        assert error.code == code.name and error.details == details
        assert "(" in str(error)  # every message carries advice in parentheses


# --- bad input: raised before any network call (the endpoint is unreachable) ---


def test_bad_input_raises_before_any_call(run):
    async def body(etcd):
        bad_calls = [
            (ValueError, etcd.get, ("",), {}),
            (TypeError, etcd.get, (42,), {}),
            (TypeError, etcd.put, ("k", 1), {}),
            (ValueError, etcd.put, ("k", "v"), {"ttl": -1}),
            (ValueError, etcd.put, ("k", "v"), {"ttl": 0}),
            (ValueError, etcd.put, ("k", "v"), {"ttl": 5, "lease": 7}),
            (TypeError, etcd.put, ("k", "v"), {"ttl": "5"}),
            (ValueError, etcd.grant, (-5,), {}),
            (ValueError, etcd.create, ("", "v"), {}),
            (ValueError, etcd.delete, ("",), {}),
            (ValueError, etcd.get, ("k",), {"timeout": 0}),
            (ValueError, etcd.get, ("k",), {"revision": -1}),
            (ValueError, etcd.readdir, ("/p/",), {"page_size": 0}),
            (TypeError, etcd.readdir, (None,), {}),
            (ValueError, etcd.compare_and_put, ("k", "v", -1), {}),
            (TypeError, etcd.txn, (["not a Compare"],), {}),
            (TypeError, etcd.keep_alive, (5,), {}),
        ]
        for error, method, args, kwargs in bad_calls:
            with pytest.raises(error):
                await method(*args, **kwargs)

    run(body, "127.0.0.1:1", timeout=1)


@pytest.mark.parametrize("client_class", [etcdstream.Client, etcdstream.AsyncClient])
def test_bad_client_arguments(client_class, tmp_path):
    for endpoints in ["ftp://127.0.0.1:2379", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:99999", "http://h:1/path",
                      "", [], ["http://a:1", "https://b:2"]]:
        with pytest.raises(ValueError):
            client_class(endpoints)
    with pytest.raises(TypeError):
        client_class(2379)
    with pytest.raises(ValueError):
        client_class("127.0.0.1:2379", username="u")  # no password
    with pytest.raises(ValueError):
        client_class("127.0.0.1:2379", cert_file=tmp_path / "c.pem")  # no key
    with pytest.raises(ValueError, match="cannot read"):
        client_class("127.0.0.1:2379", ca_file=tmp_path / "missing.pem")
    with pytest.raises(ValueError):
        client_class("127.0.0.1:2379", timeout=-1)
    client_class(["127.0.0.1:2379", "http://[::1]:2380", "localhost:2381"])
    client_class("127.0.0.1:2379,127.0.0.1:2380")
