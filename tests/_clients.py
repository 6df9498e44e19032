"""Run one test body with both clients: Client (blocking) and AsyncClient (asyncio).

A test takes the `run` fixture and writes its body once, as a coroutine
function of a client; `run` calls it with the blocking Client (wrapped so its
methods can be awaited) and, in the other parametrization, with AsyncClient::

    def test_put(run, etcd_server, fresh_prefix):
        async def body(etcd):
            await etcd.put(fresh_prefix + "k", "v")
        run(body, etcd_server.endpoint)

Import the fixtures and helpers (open_watch, collect, MirrorOf, etcdctl_prefix,
...) into a test module with ``from _clients import *``.

Every watcher open_watch opens and every MirrorOf records what it delivered (`.record`); when the body
returns, `run` checks etcd's watch guarantees on all of them (_testbase/guarantees.py): those that need
no history always, all six when given the etcd to read the history from, ``run(body, endpoint,
history=etcd_server)``. check_watch_guarantees does the same for a test that does not use `run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from _testbase.guarantees import History, MirrorChecker, ReadsSeen, WatchChecker, WatchRequest
from _testbase.history import read_history
from _testbase.workload import etcdctl_kvs

import etcdstream

__all__ = [
    "AwaitableWatcher",
    "BlockingAsAsync",
    "EtcdPath",
    "MirrorOf",
    "assert_mirror_equals_etcd",
    "assert_raises_before_any_io",
    "call",
    "check_watch_guarantees",
    "client_of",
    "client_kind",
    "collect",
    "connect",
    "content",
    "etcd_path",
    "etcdctl_prefix",
    "guarantees_checked",
    "keepers_running",
    "namespace_of",
    "open_watch",
    "recorded",
    "run",
    "wait_for_revision",
]


class BlockingAsAsync:
    """A Client whose methods are awaited like AsyncClient's (they still block: the call runs in place)."""

    kind = "sync"

    def __init__(self, client: etcdstream.Client) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)
        if not callable(method):
            return method

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call


@contextlib.asynccontextmanager
async def connect(kind: str, endpoints: Any, **kwargs: Any) -> AsyncIterator[Any]:
    """A client of `kind` ("sync" or "async") with awaitable methods, closed on exit."""
    if kind == "sync":
        with etcdstream.Client(endpoints, **kwargs) as client:
            yield BlockingAsAsync(client)
    else:
        async with etcdstream.AsyncClient(endpoints, **kwargs) as client:
            client.kind = "async"
            yield client


def keepers_running() -> int:
    """Lease keepalive threads (Client) and tasks (AsyncClient, in the running loop) still alive."""
    threads = [t for t in threading.enumerate() if t.name.startswith("etcdstream-lease-")]
    try:
        tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("etcdstream-lease-") and not t.done()]
    except RuntimeError:  # no running loop
        tasks = []
    return len(threads) + len(tasks)


@pytest.fixture(params=["sync", "async"])
def client_kind(request: pytest.FixtureRequest) -> str:
    """Which client a test runs with: "sync" (Client) or "async" (AsyncClient)."""
    return request.param


class EtcdPath:
    """A way to etcd: `endpoint` for clients, `etcd` behind it (EtcdServer or EtcdCluster, for etcdctl) and
    `proxy`, etcd's gRPC proxy in between (None when direct)."""

    def __init__(self, name: str, endpoint: str, etcd: Any, proxy: Any = None) -> None:
        self.name, self.endpoint, self.etcd, self.proxy = name, endpoint, etcd, proxy

    @property
    def etcd_endpoints(self) -> Any:
        """etcd's own endpoints, for a writer that must not depend on the path."""
        return getattr(self.etcd, "endpoints", None) or self.etcd.endpoint

    def __repr__(self) -> str:
        return f"<EtcdPath {self.name} {self.endpoint}>"


@pytest.fixture(params=["direct", "proxy", "cluster-proxy"])
def etcd_path(request: pytest.FixtureRequest) -> EtcdPath:
    """Each way to etcd in turn: etcd_server directly; etcd's gRPC proxy in front of it (etcd_proxy);
    the proxy in front of the 3-node cluster (etcd_cluster_proxy)."""
    if request.param == "direct":
        server = request.getfixturevalue("etcd_server")
        return EtcdPath("direct", server.endpoint, server)
    proxy = request.getfixturevalue("etcd_proxy" if request.param == "proxy" else "etcd_cluster_proxy")
    return EtcdPath(request.param, proxy.endpoint, proxy.backend, proxy)


@pytest.fixture
def run(client_kind: str) -> Callable[..., Any]:
    """run(body, endpoints, **client kwargs): await body(client) in a new event loop; return its result."""

    def run_body(body: Callable[[Any], Awaitable[Any]], endpoints: Any, *, history: Any = None,
                 **kwargs: Any) -> Any:
        """history: the etcd (EtcdServer, EtcdCluster) whose history the body's watchers and Mirrors are
        checked against; None: only the guarantees that need no history are checked."""
        async def main() -> Any:
            async with connect(client_kind, endpoints, **kwargs) as client:
                return await body(client)

        with guarantees_checked(history):
            return asyncio.run(main())

    return run_body


# --- watchers and mirrors of either client, awaited alike ---


class AwaitableWatcher:
    """A blocking Watcher whose get/close can be awaited like AsyncWatcher's (they block in place)."""

    def __init__(self, watcher: etcdstream._watch_sync.Watcher) -> None:
        self.watcher = watcher

    @property
    def revision(self) -> int:
        return self.watcher.revision

    async def get(self, timeout: float | None = None):
        return self.watcher.get(timeout)

    async def close(self) -> None:
        self.watcher.close()


def client_of(etcd):
    """The client a test body got: the blocking Client behind BlockingAsAsync, or the AsyncClient itself."""
    return getattr(etcd, "client", etcd)


def namespace_of(etcd, prefix):
    """etcd.namespace(prefix) of either client, with awaitable methods as the test body's client."""
    if etcd.kind == "sync":
        return BlockingAsAsync(etcd.client.namespace(prefix))
    return etcd.namespace(prefix)


async def call(method, *args, **kwargs):
    """A method of either flavour, awaited: a blocking one in a thread, so that several can wait in one
    event loop (contenders for a lock, candidates of an election)."""
    if inspect.iscoroutinefunction(method):
        return await method(*args, **kwargs)
    return await asyncio.to_thread(method, *args, **kwargs)


def assert_raises_before_any_io(run, bad_call, error, message) -> None:
    """await bad_call(client) raises error (matching message) with both clients, before any I/O: the client
    points where nothing listens, so a call that tried etcd first would raise ConnectionFailed instead."""
    async def body(etcd):
        with pytest.raises(error, match=message):
            await bad_call(etcd)

    run(body, "127.0.0.1:1", timeout=5)


# --- what watchers and Mirrors delivered, for the watch guarantee checkers ---

#: Records of the watchers and Mirrors opened since run() started the body (or since they were checked).
RECORDED: list[Any] = []


class WatchRecord:
    """What one watcher delivered: its request, every batch in order, the error it ended with."""

    def __init__(self, name: str, request: WatchRequest) -> None:
        self.name, self.request = name, request
        self.batches: list[etcdstream.EventBatch] = []
        self.error: BaseException | None = None

    def checker(self) -> WatchChecker:
        checker = WatchChecker(self.request, self.name)
        for batch in self.batches:
            checker.add(batch)
        return checker

    def first_revision(self) -> int:
        """Where etcd's history must start to check this watcher (0: it delivered nothing to check)."""
        first = self.request.first_revision
        events = [batch.events[0].mod_revision for batch in self.batches if len(batch)]
        return min([first] + events[:1]) if first else (events[0] if events else 0)


class MirrorRecord:
    """A Mirror's change feed: (batch, resync, read) as on_change got them; read: from a full read."""

    def __init__(self, name: str, prefix: bytes, coalesce: bool, start_revision: int = 0) -> None:
        self.name, self.prefix, self.coalesce, self.start_revision = name, prefix, coalesce, start_revision
        self.feed: list[tuple[etcdstream.EventBatch, bool, bool]] = []

    def checker(self) -> MirrorChecker:
        checker = MirrorChecker(self.prefix, self.name, coalesce=self.coalesce, start_revision=self.start_revision)
        for batch, resync, read in self.feed:
            checker.add(batch, read, resync)
        return checker

    def first_revision(self) -> int:
        reads = [batch.revision + 1 for batch, _, read in self.feed if read]
        return min(reads + [self.start_revision] if self.start_revision else reads, default=0)


def recorded(record: WatchRecord | MirrorRecord) -> WatchRecord | MirrorRecord:
    RECORDED.append(record)
    return record


def check_watch_guarantees(history: Any = None, records: list[Any] | None = None) -> None:
    """Check etcd's watch guarantees on the records (default: all those RECORDED, which are then forgotten):
    against etcd's history read from `history` (an EtcdServer, an EtcdCluster or a History), else only
    those that need none. AssertionError saying every violation."""
    if records is None:
        records, RECORDED[:] = list(RECORDED), []
    else:
        RECORDED[:] = [r for r in RECORDED if r not in records]
    checkers = [record.checker() for record in records]
    if history is not None and not isinstance(history, History):
        starts = [start for start in (record.first_revision() for record in records) if start]
        history = read_history(history, min(starts)) if starts else None
    problems = []
    for checker in checkers:
        if history is not None:
            checker.check(history)
        if checker.violations:
            problems.append(checker.describe())
    assert not problems, "\n".join(problems)


@contextlib.contextmanager
def guarantees_checked(history: Any = None) -> Iterator[None]:
    """Check the watch guarantees (check_watch_guarantees) of every watcher and Mirror recorded inside the block,
    when it ends without an error."""
    RECORDED.clear()
    yield
    check_watch_guarantees(history)


class RecordedWatcher:
    """A watcher of either client (awaitable get/close) whose batches go to its WatchRecord."""

    def __init__(self, watcher: Any, record: WatchRecord) -> None:
        self.watcher, self.record = watcher, record

    @property
    def revision(self) -> int:
        return self.watcher.revision

    async def get(self, timeout: float | None = None):
        try:
            batch = await self.watcher.get(timeout)
        except etcdstream.EtcdError as e:
            self.record.error = e
            raise
        if batch is not None:
            self.record.batches.append(batch)
        return batch

    async def close(self) -> None:
        await self.watcher.close()

    def __aiter__(self):
        return self

    async def __anext__(self):
        try:
            batch = await self.watcher.__anext__()
        except etcdstream.EtcdError as e:
            self.record.error = e
            raise
        self.record.batches.append(batch)
        return batch

    def __getattr__(self, name: str) -> Any:
        return getattr(self.watcher, name)


def watch_request(key, one_key: bool, kwargs: dict[str, Any]) -> WatchRequest:
    """The WatchRequest of open_watch's arguments."""
    after = kwargs.get("after")
    start = kwargs.get("start_revision") or (after.revision + 1 if after is not None else 0)
    options = dict(start_revision=start, prev_kv=bool(kwargs.get("prev_kv")), coalesce=bool(kwargs.get("coalesce")),
                   filters=kwargs.get("filters") or ())
    if one_key:
        return WatchRequest.of(key, kwargs.get("range_end"), from_key=bool(kwargs.get("from_key")), **options)
    return WatchRequest.of(key, prefix=True, **options)


async def open_watch(etcd, prefix, *, one_key=False, **kwargs):
    """etcd.watchdir(...) (or watch) of either client, with awaitable get/close; what it delivers is recorded."""
    if etcd.kind == "sync":
        method = etcd.client.watch if one_key else etcd.client.watchdir
        watcher = AwaitableWatcher(method(prefix, **kwargs))
    else:
        watcher = await (etcd.watch if one_key else etcd.watchdir)(prefix, **kwargs)
    request = watch_request(prefix, one_key, kwargs)
    if not request.start_revision:  # from now: etcd created it at the watcher's revision
        request = dataclasses.replace(request, created_revision=watcher.revision)
    name = f"{etcd.kind} {'watch' if one_key else 'watchdir'} {len(RECORDED)}"
    return RecordedWatcher(watcher, recorded(WatchRecord(name, request)))


async def collect(watcher, count, timeout=10.0):
    """The next `count` events of a watcher, in order (fails if they do not come in time)."""
    events, revisions = [], []
    deadline = time.monotonic() + timeout
    while len(events) < count:
        batch = await watcher.get(max(deadline - time.monotonic(), 0.01))
        assert batch is not None, f"only {len(events)} of {count} events within {timeout} s: {events}"
        events += [(e.type, e.key, e.value, e.mod_revision) for e in batch]
        revisions.append(batch.revision)
    assert revisions == sorted(revisions)
    return events


async def wait_for_revision(watcher, revision, timeout=10.0):
    """Read a watcher until it delivered everything up to revision; return the events read, as collect does."""
    events, delivered = [], 0
    deadline = time.monotonic() + timeout
    while delivered < revision:
        assert time.monotonic() < deadline, f"watcher delivered up to {delivered}, expected {revision}"
        batch = await watcher.get(0.1)
        if batch is not None:
            events += [(e.type, e.key, e.value, e.mod_revision) for e in batch]
            delivered = batch.revision
    return events


def etcdctl_prefix(server, prefix: str, revision: int) -> dict[bytes, tuple[bytes, int]]:
    """key -> (value, mod_revision) of every key under prefix at revision (0: now), as etcdctl reads them."""
    return {key: (kv.value, kv.mod_revision) for key, kv in etcdctl_kvs(server, prefix, revision).items()}


class MirrorOf:
    """Mirror (blocking, waited on in place) or AsyncMirror behind one awaitable interface.

    `batches`: (batch, resync) as on_change got them; `record`: the same, with which were full reads, for
    the watch guarantee checkers."""

    def __init__(self, etcd, prefix, *, wrap=None, **options):
        """wrap: makes the client the Mirror is given from the one it would be (a test's stand-in around it)."""
        self.batches = []
        client = ReadsSeen(etcd.client if etcd.kind == "sync" else etcd)
        start = options.get("start")
        self.record = recorded(MirrorRecord(f"{etcd.kind} Mirror {len(RECORDED)}", to_key(prefix),
                                            options.get("coalesce", True), start.revision + 1 if start else 0))

        def record(batch, resync):
            self.batches.append((batch, resync))
            self.record.feed.append((batch, resync, client.published()))

        given = client if wrap is None else wrap(client)
        if etcd.kind == "sync":
            self.mirror = etcdstream.Mirror(given, prefix, on_change=record, **options)
        else:
            self.mirror = etcdstream.AsyncMirror(given, prefix, on_change=record, **options)

    async def wait_synced(self, timeout=10):
        result = self.mirror.wait_synced(timeout)
        return (await result) if asyncio.iscoroutine(result) else result

    async def wait_revision(self, revision, timeout=10):
        result = self.mirror.wait_revision(revision, timeout)
        return (await result) if asyncio.iscoroutine(result) else result

    async def wait_for(self, revision, timeout=10):
        result = self.mirror.wait_for(revision, timeout)
        return (await result) if asyncio.iscoroutine(result) else result

    async def consistent_get(self, key, default=None):
        result = self.mirror.consistent_get(key, default)
        return (await result) if asyncio.iscoroutine(result) else result

    async def consistent_snapshot(self):
        result = self.mirror.consistent_snapshot()
        return (await result) if asyncio.iscoroutine(result) else result

    async def close(self):
        result = self.mirror.close()
        if asyncio.iscoroutine(result):
            await result


def to_key(key: str | bytes) -> bytes:
    return key.encode() if isinstance(key, str) else bytes(key)


def content(mirror) -> dict[bytes, tuple[bytes, int]]:
    """key -> (value, mod_revision) of a Mirror's copy, in etcdctl_prefix's shape."""
    snapshot = mirror.snapshot()
    return {kv.key: (kv.value, kv.mod_revision) for kv in snapshot.kvs}


def assert_mirror_equals_etcd(mirror, server, prefix: str) -> None:
    """The copy of a Mirror (or AsyncMirror) equals `etcdctl get --prefix --rev=<its revision>`."""
    snapshot = mirror.snapshot()
    copy = {kv.key: (kv.value, kv.mod_revision) for kv in snapshot.kvs}
    expected = etcdctl_prefix(server, prefix, snapshot.revision)
    differing = sorted(key for key in copy.keys() | expected.keys() if copy.get(key) != expected.get(key))
    assert not differing, (
        f"at revision {snapshot.revision}, {len(differing)} keys differ; first (mirror, etcd): "
        + ", ".join(f"{key!r}: {copy.get(key)}, {expected.get(key)}" for key in differing[:5])
    )
