"""The blocking client, watcher and Mirror are generated from the asyncio ones (tests/unasync.py): the
committed files must match."""

from __future__ import annotations

import inspect

import pytest

import unasync  # tests/unasync.py (pytest puts tests/ on sys.path)

import etcdstream


def test_the_committed_blocking_modules_are_what_the_asyncio_ones_generate():
    assert not unasync.stale(), f"differ from what their sources generate: run `{unasync.COMMAND}`"


@pytest.mark.parametrize("sync_class, async_class", [
    (etcdstream.Client, etcdstream.AsyncClient),
    (etcdstream._admin_sync.ClusterAdmin, etcdstream._admin_async.AsyncClusterAdmin),
    (etcdstream.Watcher, etcdstream.AsyncWatcher),
    (etcdstream.Mirror, etcdstream.AsyncMirror),
    (etcdstream.Session, etcdstream.AsyncSession),
    (etcdstream.Lock, etcdstream.AsyncLock),
    (etcdstream.Election, etcdstream.AsyncElection),
])
def test_both_flavours_have_the_same_public_methods_and_signatures(sync_class, async_class):
    def public(cls):  # what each class defines (a shared base class is the same for both)
        return {name: member for name, member in vars(cls).items() if not name.startswith("_")}

    sync, asynchronous = public(sync_class), public(async_class)
    assert sync.keys() == asynchronous.keys()
    for name, method in asynchronous.items():
        if isinstance(method, property):
            assert isinstance(sync[name], property), name
            continue
        assert str(inspect.signature(sync[name])).replace("Async", "") == str(inspect.signature(method))\
            .replace("Async", ""), name
        assert not inspect.iscoroutinefunction(sync[name]) and not inspect.isasyncgenfunction(sync[name]), name
        # request_progress only queues a message, lock and election only make an object: plain in both.
        awaited = inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method)
        assert awaited == (name not in ("request_progress", "lock", "election")), name
