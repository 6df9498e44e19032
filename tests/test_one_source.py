"""The blocking client is generated from the asyncio one (tests/unasync.py): the committed _sync.py must match."""

from __future__ import annotations

import inspect

import unasync  # tests/unasync.py (pytest puts tests/ on sys.path)

import etcdstream


def test_the_committed_blocking_client_is_what_the_asyncio_one_generates():
    expected = unasync.unasync(unasync.SOURCE.read_text(encoding="utf-8"))
    assert unasync.TARGET.read_text(encoding="utf-8") == expected, (
        f"src/etcdstream/_sync.py differs from what _async.py generates: run `{unasync.COMMAND}`"
    )


def test_both_clients_have_the_same_public_methods_and_signatures():
    def public(cls):
        return {name: member for name, member in vars(cls).items() if not name.startswith("_")}

    sync, asynchronous = public(etcdstream.Client), public(etcdstream.AsyncClient)
    assert sync.keys() == asynchronous.keys()
    for name, method in asynchronous.items():
        if isinstance(method, property):
            assert isinstance(sync[name], property), name
            continue
        assert str(inspect.signature(sync[name])).replace("Async", "") == str(inspect.signature(method))\
            .replace("Async", ""), name
        assert not inspect.iscoroutinefunction(sync[name]), name
        # request_progress only queues a message: a plain method in both.
        assert inspect.iscoroutinefunction(method) == (name != "request_progress"), name
