"""The blocking client, watcher and Mirror are generated from the asyncio ones (tests/unasync.py): the
committed files must match."""

from __future__ import annotations

import inspect
import re

import pytest

import unasync  # tests/unasync.py (pytest puts tests/ on sys.path)

import etcdstream


def test_the_committed_blocking_modules_are_what_the_asyncio_ones_generate():
    assert not unasync.stale(), f"differ from what their sources generate: run `{unasync.COMMAND}`"


def blocking_spelling(text: str) -> str:
    """text as unasync writes it in a blocking module (AsyncSTM -> STM, Awaitable[T] -> T, ...)."""
    for pattern, replacement in unasync.RULES:
        text = re.sub(pattern, replacement, text)
    return text


#: (blocking class, asyncio class, the public methods that do no I/O: plain functions in both)
@pytest.mark.parametrize("sync_class, async_class, plain", [
    # request_progress only queues a message; lock, election, namespace and with_watch_stream only make an object;
    # stats reads counters
    (etcdstream.Client, etcdstream.AsyncClient, {"request_progress", "lock", "election", "namespace",
                                                 "with_watch_stream", "stats"}),
    (etcdstream._admin_sync.ClusterAdmin, etcdstream._admin_async.AsyncClusterAdmin, set()),
    (etcdstream.Watcher, etcdstream.AsyncWatcher, set()),
    (etcdstream.Mirror, etcdstream.AsyncMirror, set()),
    (etcdstream.Session, etcdstream.AsyncSession, set()),
    (etcdstream.Lock, etcdstream.AsyncLock, set()),
    (etcdstream.Election, etcdstream.AsyncElection, set()),
    (etcdstream.STM, etcdstream.AsyncSTM, {"put", "delete"}),  # buffered until the commit
])
def test_both_flavours_have_the_same_public_methods_and_signatures(sync_class, async_class, plain):
    def public(cls):  # what each class defines (a shared base class is the same for both)
        return {name: member for name, member in vars(cls).items() if not name.startswith("_")}

    sync, asynchronous = public(sync_class), public(async_class)
    assert sync.keys() == asynchronous.keys()
    for name, method in asynchronous.items():
        if isinstance(method, property):
            assert isinstance(sync[name], property), name
            continue
        assert str(inspect.signature(sync[name])) == blocking_spelling(str(inspect.signature(method))), name
        assert not inspect.iscoroutinefunction(sync[name]) and not inspect.isasyncgenfunction(sync[name]), name
        awaited = inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method)
        assert awaited == (name not in plain), name
