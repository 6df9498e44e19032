"""The exported enums as arguments (issue 25, item 2): a parameter that takes SortOrder, SortTarget,
WatchFilter, PermissionType or EventType takes a member or its name as a str, in any case (one helper,
_validate.enum_member), and refuses anything else with one error naming the parameter, the members, their
names and what was given, before any I/O.

perm_type took both spellings already; test_auth_admin grants with each, with both clients.
"""

from __future__ import annotations

import pytest
from _clients import *

from etcdstream import EventType, Get, PermissionType, SortOrder, SortTarget, WatchFilter
from etcdstream._watch_spec import watch_spec


def _keys(result) -> str:
    """The last letter of each key read, in order: "cba"."""
    return "".join(kv.key.decode()[-1] for kv in result.kvs)


async def _write_sortable(etcd, p: str) -> None:
    """Keys a, b, c whose every sort differs: created b, a, c; values a 2, b 3, c 1; versions a 1, c 2, b 3;
    last modified a, then c, then b."""
    for key, value in (("b", "3"), ("a", "2"), ("c", "1"), ("c", "1"), ("b", "3"), ("b", "3")):
        await etcd.put(p + key, value)


def _sorts() -> list[tuple[tuple, tuple, str]]:
    """(sort_order spellings, sort_target spellings, the keys in that order): the member first, then names."""
    return [
        ((SortOrder.DESCEND, "descend", "DESCEND"), (SortTarget.KEY, "key", "Key"), "cba"),
        ((SortOrder.ASCEND, "ascend", "Ascend"), (SortTarget.CREATE, SortTarget.CREATE_REVISION, "create_revision",
                                                  "create", "CREATE_REVISION"), "bac"),
        ((SortOrder.ASCEND, "ascend"), (SortTarget.VALUE, "value", "VALUE"), "cab"),
        ((SortOrder.ASCEND, "ascend"), (SortTarget.VERSION, "version", "Version"), "acb"),
        ((SortOrder.DESCEND, "descend"), (SortTarget.MOD, SortTarget.MOD_REVISION, "mod_revision", "mod", "MOD"),
         "bca"),
        ((SortOrder.NONE, "none", "NONE"), (SortTarget.KEY, "key"), "abc"),
    ]


def test_range_sorts_by_a_member_or_its_name(run, etcd_server, fresh_prefix):
    p = fresh_prefix

    async def body(etcd):
        await _write_sortable(etcd, p)
        assert _keys(await etcd.range(p, prefix=True, sort_order=SortOrder.DESCEND)) == "cba"  # issue 25's example
        for orders, targets, expected in _sorts():
            for order in orders:
                for target in targets:
                    result = await etcd.range(p, prefix=True, sort_order=order, sort_target=target)
                    assert _keys(result) == expected, (order, target)

    run(body, etcd_server.endpoint)


def test_txn_get_sorts_by_a_member_or_its_name(run, etcd_server, fresh_prefix):
    p = fresh_prefix

    async def body(etcd):
        await _write_sortable(etcd, p)
        read, = (await etcd.txn([], [Get(p, prefix=True, sort_order=SortOrder.DESCEND)])).responses
        assert _keys(read) == "cba"
        for orders, targets, expected in _sorts():
            gets = [Get(p, prefix=True, sort_order=order, sort_target=target) for order in orders for target in targets]
            result = await etcd.txn([], gets)
            assert [_keys(read) for read in result.responses] == [expected] * len(gets), (orders, targets)

    run(body, etcd_server.endpoint)


def test_watch_filters_by_a_member_or_its_name(run, etcd_server, fresh_prefix):
    p = fresh_prefix.encode()

    async def body(etcd):
        # Names as WatchFilter spells them: the guarantee checker behind open_watch reads them so.
        no_puts = [await open_watch(etcd, p, filters=filters) for filters in ([WatchFilter.NOPUT], ["NOPUT"])]
        no_deletes = [await open_watch(etcd, p + b"a", one_key=True, filters=filters)
                      for filters in ((WatchFilter.NODELETE,), ("NODELETE",))]
        both = await open_watch(etcd, p, filters=["NODELETE", WatchFilter.NOPUT, "NOPUT"])
        for key in (p + b"a", p + b"b", p + b"a"):
            await etcd.put(key, "v")
            await etcd.delete(key)
        for watcher in no_puts:
            deletes = [e[:2] for e in await collect(watcher, 3)]
            assert deletes == [(EventType.DELETE, p + b"a"), (EventType.DELETE, p + b"b"), (EventType.DELETE, p + b"a")]
        for watcher in no_deletes:
            assert [e[:2] for e in await collect(watcher, 2)] == [(EventType.PUT, p + b"a")] * 2
        assert await both.get(0.3) is None
        for watcher in no_puts + no_deletes + [both]:
            await watcher.close()

    run(body, etcd_server.endpoint, history=etcd_server)


def test_watch_filter_names_take_any_case():
    spec = watch_spec(b"/p/", prefix=True, start_revision=None, prev_kv=False, progress_notify=False,
                      coalesce=False, filters=["noput", "NoDelete", WatchFilter.NOPUT])
    assert spec.filters == (WatchFilter.NOPUT, WatchFilter.NODELETE)


def test_event_type_is_a_member_its_name_or_etcd_number(codec):
    kv = codec.KeyValue(b"k", b"v", 1, 2, 3, 4)
    for spelling in (EventType.DELETE, "delete", "DELETE", "Delete", 1):
        event = codec.Event(spelling, kv)
        assert event.type is EventType.DELETE and event == codec.Event(EventType.DELETE, kv)
    assert codec.Event("put", kv).type is EventType.PUT
    assert codec.Event(7, kv).type == 7  # open enum: a type newer than this client stays an int
    with pytest.raises(ValueError, match=r"type must be one of EventType.PUT, EventType.DELETE or its name as a "
                                         r"str \(any case: 'put', 'delete'\), got 'upsert'"):
        codec.Event("upsert", kv)
    with pytest.raises(TypeError, match=r"type must be one of EventType.PUT, .*, got float 1.5"):
        codec.Event(1.5, kv)


SORT_ORDER_CHOICES = (r"sort_order must be one of SortOrder.NONE, SortOrder.ASCEND, SortOrder.DESCEND or its name as "
                      r"a str \(any case: 'none', 'ascend', 'descend'\), got ")
SORT_TARGET_CHOICES = (r"sort_target must be one of SortTarget.KEY, SortTarget.VERSION, SortTarget.CREATE, "
                       r"SortTarget.MOD, SortTarget.VALUE or its name as a str \(any case: 'key', 'version', 'create', "
                       r"'mod', 'value', 'create_revision', 'mod_revision'\), got ")
FILTER_CHOICES = (r"filters item must be one of WatchFilter.NOPUT, WatchFilter.NODELETE or its name as a str "
                  r"\(any case: 'noput', 'nodelete'\), got ")
PERM_TYPE_CHOICES = (r"perm_type must be one of PermissionType.READ, PermissionType.WRITE, PermissionType.READWRITE "
                     r"or its name as a str \(any case: 'read', 'write', 'readwrite'\), got ")


@pytest.mark.parametrize("bad_call, error, message", [
    (lambda etcd: etcd.range("/k", sort_order="up"), ValueError, SORT_ORDER_CHOICES + "'up'"),
    (lambda etcd: etcd.range("/k", sort_order=2), TypeError, SORT_ORDER_CHOICES + "int 2"),
    (lambda etcd: etcd.range("/k", sort_order=SortTarget.KEY), TypeError,
     SORT_ORDER_CHOICES + "SortTarget <SortTarget.KEY: 0>"),
    (lambda etcd: etcd.range("/k", sort_target="modified"), ValueError, SORT_TARGET_CHOICES + "'modified'"),
    (lambda etcd: etcd.range("/k", sort_target=None), TypeError, SORT_TARGET_CHOICES + "NoneType None"),
    (lambda etcd: etcd.txn([], [Get("/k", sort_order="desc")]), ValueError, SORT_ORDER_CHOICES + "'desc'"),
    (lambda etcd: etcd.txn([], [Get("/k", sort_target=3)]), TypeError, SORT_TARGET_CHOICES + "int 3"),
    (lambda etcd: etcd.watchdir("/p/", filters=["no_put"]), ValueError, FILTER_CHOICES + "'no_put'"),
    (lambda etcd: etcd.watch("/k", filters=[0]), TypeError, FILTER_CHOICES + "int 0"),
    (lambda etcd: etcd.watch("/k", filters=[True]), TypeError, FILTER_CHOICES + "bool True"),
    (lambda etcd: etcd.role_grant_permission("r", "/k", perm_type="admin"), ValueError, PERM_TYPE_CHOICES + "'admin'"),
    (lambda etcd: etcd.role_grant_permission("r", "/k", perm_type=2), TypeError, PERM_TYPE_CHOICES + "int 2"),
], ids=["order-name", "order-int", "order-other-enum", "target-name", "target-none", "txn-order", "txn-target",
        "watchdir-filter-name", "watch-filter-int", "watch-filter-bool", "perm-name", "perm-int"])
def test_anything_else_is_refused_before_any_io(run, bad_call, error, message):
    assert_raises_before_any_io(run, bad_call, error, message)


def test_one_helper_names_what_was_given():
    from etcdstream._validate import enum_member

    assert enum_member("sort_target", "Mod_Revision", SortTarget) is SortTarget.MOD
    assert enum_member("perm_type", PermissionType.READ, PermissionType) is PermissionType.READ
    with pytest.raises(ValueError, match=r"got '(x){10,}\.\.\.(x){10,}'$"):  # a long value is shortened
        enum_member("sort_order", "x" * 1000, SortOrder)
