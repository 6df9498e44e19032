"""A seeded random workload against real etcd, a model of what etcd must then hold, and checkers of what
Mirrors and watchers of both clients saw. Shared by tests/test_model.py and bench/soak.py.

The workload writes under one prefix of an etcd nothing else writes to, so every revision after the
start changes the prefix: a watcher of it must see each revision once, in order, with no gap.

- `Workload` draws operations from random.Random(seed): puts, deletes (a key, a bucket of keys),
  txns (compares the model decides), lease grants with keys attached, revokes, pauses for expiries.
- `Model` predicts every key's value, create/mod revision and version; leased keys live apart (they
  expire when etcd decides) and are all gone once their leases are.
- `ModelRun` executes operations through the clients under test and checks each answer against the
  model. A write that failed ambiguously (the connection died mid-call, etcd timed out) may still land
  later: bytes a stalled path held are delivered on resume, a dying leader's proposal is committed by
  the next one. It stays in doubt, and no later operation touches its keys, until the run settles
  (faults healed, what the proxies held delivered, no call in flight in etcd); then its keys are read
  straight from etcd: it either happened, once, or did not, anything else is a divergence.
- `WatchLog` and `MirrorLog` check, batch by batch, that nothing is lost, repeated or reordered, and
  that a watcher restarts (CompactedError) or a Mirror resyncs only after a compaction past it; and
  etcd's six watch guarantees (guarantees.py), against etcd's history as etcdctl watched it all along
  (`ModelRun.history`), each time the run is checked: violations go to `Report.guarantee_violations`.
- `Faults` is what a run needs of its etcd: reset, stall, kill and restart, compact, settle (the test
  has one server behind one FaultProxy; the soak a cluster behind one proxy per member).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import etcdstream
from etcdstream import CompactedError, Compare, EventType, KeyValue, LeaseNotFound

from .guarantees import History, MirrorChecker, ReadsSeen, WatchChecker, WatchRequest
from .history import HistoryRecorder

__all__ = [
    "BUCKETS",
    "AsyncWatchRecorder",
    "Fault",
    "Faults",
    "MirrorLog",
    "MirrorObserver",
    "Model",
    "ModelRun",
    "ProxiedServer",
    "Report",
    "SyncWatchRecorder",
    "Threaded",
    "WatchLog",
    "Workload",
    "etcdctl_kvs",
    "kv_fields",
]

BUCKETS = 4
KEYS_PER_BUCKET = 6


def prefix_range(prefix: bytes) -> tuple[bytes, bytes]:
    """[start, end) of the keys under prefix (prefix ends with "/" here)."""
    return prefix, prefix[:-1] + bytes([prefix[-1] + 1])


def kv_fields(kv: KeyValue) -> tuple[bytes, bytes, int, int, int, int]:
    """Every field of a KeyValue, comparable whichever codec built it."""
    return (kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)


def etcdctl_kvs(server: Any, prefix: str | bytes, revision: int | None = None) -> dict[bytes, KeyValue]:
    """key -> KeyValue of every key under prefix (at revision), as etcdctl reads them.

    server: anything with etcdctl(*args) -> CompletedProcess (EtcdServer, EtcdCluster).
    """
    if isinstance(prefix, bytes):
        prefix = prefix.decode()
    args = ["get", prefix, "--prefix", "-w", "json"] + ([f"--rev={revision}"] if revision else [])
    kvs = json.loads(server.etcdctl(*args).stdout).get("kvs", [])
    out = {}
    for kv in kvs:
        key = base64.b64decode(kv["key"])
        out[key] = KeyValue(key, base64.b64decode(kv.get("value", "")), int(kv["create_revision"]),
                            int(kv["mod_revision"]), int(kv.get("version", 0)), int(kv.get("lease", 0)))
    return out


def describe_difference(name: str, got: dict[bytes, KeyValue], expected: dict[bytes, KeyValue]) -> str:
    """The keys on which two copies differ, for an assertion message ("" when equal)."""
    lines = []
    for key in sorted(got.keys() | expected.keys()):
        a, b = got.get(key), expected.get(key)
        if a is None or b is None or kv_fields(a) != kv_fields(b):
            lines.append(f"  {key!r}: {name} {a and kv_fields(a)[1:]} expected {b and kv_fields(b)[1:]}")
    return f"{name} differs on {len(lines)} keys:\n" + "\n".join(lines[:20]) if lines else ""


# --- what went wrong, and what was checked ---


@dataclass
class Report:
    """Counts of a run, and its divergences (must stay empty)."""

    seed: int
    ops: int = 0
    ambiguous: int = 0
    #: what the ambiguous failures raised: "ErrorClass: etcd's details" -> count
    ambiguous_errors: collections.Counter[str] = field(default_factory=collections.Counter)
    events_checked: int = 0
    faults: collections.Counter[str] = field(default_factory=collections.Counter)
    restarts: int = 0  # watchers restarted after CompactedError, Mirrors resynced
    compactions: list[int] = field(default_factory=list)
    divergences: list[str] = field(default_factory=list)
    #: etcd's watch guarantees a watcher or Mirror broke (guarantees.py), against etcd's history
    guarantee_violations: list[str] = field(default_factory=list)
    library_errors: list[str] = field(default_factory=list)  # raised what the API never should
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def diverged(self, what: str) -> None:
        with self._lock:
            self.divergences.append(what)

    def guarantee_broken(self, what: str) -> None:
        with self._lock:
            self.guarantee_violations.append(what)

    def library_error(self, what: str) -> None:
        with self._lock:
            self.library_errors.append(what)

    def restarted(self) -> None:
        with self._lock:
            self.restarts += 1

    def checked(self, events: int) -> None:
        with self._lock:
            self.events_checked += events

    def compacted_past(self, revision: int) -> bool:
        """Whether a compaction made `revision` unreadable (etcd keeps revisions >= the compact revision)."""
        with self._lock:
            return any(c > revision for c in self.compactions)

    def summary(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())) or "none"
        return (f"seed {self.seed}: {self.ops} ops ({self.ambiguous} ambiguous), {self.events_checked} events "
                f"checked, faults: {faults}; {len(self.compactions)} compactions, {self.restarts} "
                f"resyncs/restarts, {len(self.divergences)} divergences, watch guarantee violations: "
                f"{len(self.guarantee_violations)}, {len(self.library_errors)} library errors")


# --- the model ---


class Model:
    """What etcd must hold under the prefix, given every write that took effect and its revision."""

    def __init__(self) -> None:
        self.kvs: dict[bytes, KeyValue] = {}
        self.leased: dict[int, dict[bytes, KeyValue]] = {}  # lease id -> its keys (written once each)

    def put(self, key: bytes, value: bytes, revision: int, lease: int = 0) -> None:
        if lease:
            self.leased.setdefault(lease, {})[key] = KeyValue(key, value, revision, revision, 1, lease)
            return
        old = self.kvs.get(key)
        create, version = (old.create_revision, old.version + 1) if old else (revision, 1)
        self.kvs[key] = KeyValue(key, value, create, revision, version, 0)

    def delete_range(self, start: bytes, end: bytes = b"") -> int:
        """Delete key `start`, or every key in [start, end); returns how many existed."""
        doomed = [k for k in self.kvs if (start <= k < end if end else k == start)]
        for key in doomed:
            del self.kvs[key]
        return len(doomed)

    def holds(self, c: Compare) -> bool:
        """Whether etcd's compare holds (a value compare on a missing key never does)."""
        kv = self.kvs.get(c.key)
        if kv is None:
            if c.target == "value":
                return False
            kv = KeyValue(c.key)
        current = getattr(kv, c.target)
        return {"==": current == c.value, "!=": current != c.value, "<": current < c.value,
                ">": current > c.value}[c.op]

    def branch(self, txn: Txn) -> tuple[bool, list[Any]]:
        succeeded = all(self.holds(c) for c in txn.compares)
        return succeeded, txn.success if succeeded else txn.failure

    def apply(self, ops: list[Any], revision: int) -> None:
        for op in ops:
            if isinstance(op, etcdstream.Put):
                self.put(op.key, op.value, revision)
            else:
                self.delete_range(op.key, op.range_end)


# --- operations ---


@dataclass
class Put:
    key: bytes
    value: bytes
    lease: int = 0


@dataclass
class Delete:
    key: bytes
    prefix: bool = False


@dataclass
class Txn:
    compares: list[Compare]
    success: list[Any]  # etcdstream.Put / etcdstream.Delete of single keys
    failure: list[Any]


@dataclass
class Grant:
    ttl: int
    keys: list[bytes]


@dataclass
class Revoke:
    lease: int


@dataclass
class Pause:
    seconds: float


@dataclass
class Fault:
    kind: str  # reset, reset-midway, stall, stall-long, kill, compact
    seconds: float = 0.0
    writes: int = 0  # made straight to etcd while the proxy stalls
    compact: bool = False  # compact during the stall, past the stalled watchers


class Workload:
    """Operations drawn from random.Random(seed); which keys and values depend only on the seed."""

    def __init__(self, seed: int, prefix: bytes, *, tag: bytes = b"") -> None:
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.tag = tag
        self.counter = 0

    def unique(self) -> bytes:
        self.counter += 1
        return b"%sv%d" % (self.tag, self.counter)

    def key(self) -> bytes:
        return self.prefix + b"k/%d/%d" % (self.rng.randrange(BUCKETS), self.rng.randrange(KEYS_PER_BUCKET))

    def bucket(self) -> bytes:
        return self.prefix + b"k/%d/" % self.rng.randrange(BUCKETS)

    def next_op(self, model: Model) -> Any:
        r = self.rng.random()
        if r < 0.38:
            return Put(self.key(), self.unique())
        if r < 0.50:
            return Delete(self.key())
        if r < 0.53:
            return Delete(self.bucket(), prefix=True)
        if r < 0.80:
            return self.txn(model)
        if r < 0.90:
            self.counter += 1
            keys = [self.prefix + b"l/%s%d/%d" % (self.tag, self.counter, i) for i in range(self.rng.randint(1, 3))]
            return Grant(self.rng.choice((2, 3)), keys)
        if r < 0.98:
            leases = sorted(model.leased)
            choice = self.rng.randrange(1 << 30)
            return Revoke(leases[choice % len(leases)]) if leases else Put(self.key(), self.unique())
        return Pause(self.rng.uniform(0.1, 0.5))

    def txn(self, model: Model) -> Txn:
        keys = self.rng.sample([self.prefix + b"k/%d/%d" % (b, i) for b in range(BUCKETS)
                                for i in range(KEYS_PER_BUCKET)], 5)
        compares = []
        for key in keys[:self.rng.randint(1, 2)]:
            kv = model.kvs.get(key) or KeyValue(key)
            target = self.rng.choice(("value", "version", "mod_revision", "create_revision"))
            op = self.rng.choice(("==", "!=", "<", ">"))
            if target == "value":
                value: Any = kv.value if self.rng.random() < 0.7 else b"nope"
                op = self.rng.choice(("==", "!="))
            else:
                value = max(getattr(kv, target) + self.rng.choice((-1, 0, 0, 1)), 0)
            compares.append(Compare(key, target, op, value))
        branch_keys = keys[self.rng.randint(0, 2):]  # a compared key may be written too

        def ops(keys: list[bytes]) -> list[Any]:
            return [etcdstream.Put(k, self.unique()) if self.rng.random() < 0.7 else etcdstream.Delete(k)
                    for k in keys]

        n_success = self.rng.randint(0, min(3, len(branch_keys)))
        n_failure = self.rng.randint(0, min(2, len(branch_keys) - n_success))
        return Txn(compares, ops(branch_keys[:n_success]), ops(branch_keys[n_success:n_success + n_failure]))

    def fault(self, kind: str) -> Fault:
        if kind == "stall":
            return Fault(kind, self.rng.uniform(0.1, 0.5), writes=self.rng.randint(0, 3))
        if kind == "stall-long":  # longer than keepalive_time + keepalive_timeout: the client leaves it
            return Fault(kind, self.rng.uniform(2.6, 3.2), writes=self.rng.randint(1, 4),
                         compact=self.rng.random() < 0.6)
        if kind == "kill":
            return Fault(kind, self.rng.uniform(0.0, 1.0))
        if kind == "reset-midway":  # while writes are in flight: some fail without saying if etcd applied them
            return Fault(kind, self.rng.uniform(0.0, 0.03), writes=self.rng.randint(3, 6))
        return Fault(kind)

    def fault_plan(self, n_ops: int, kinds: list[str]) -> dict[int, str]:
        """Op index -> fault kind: each kind once, at random places after a warm-up."""
        kinds = list(kinds)
        self.rng.shuffle(kinds)
        places = sorted(self.rng.sample(range(n_ops // 10, n_ops), len(kinds)))
        return dict(zip(places, kinds))


# --- what a run needs of its etcd ---


class Faults(Protocol):
    """Faults and a straight path to etcd, for one server behind a proxy or a cluster behind proxies."""

    direct: Threaded  # a blocking Client straight to etcd (never through a proxy)

    def etcdctl(self, *args: str) -> Any: ...
    async def reset(self, rng: random.Random, delay: float = 0.0) -> None: ...
    async def stall(self, rng: random.Random, seconds: float, during: Callable[[], Awaitable[None]]) -> None: ...
    async def kill(self, rng: random.Random, seconds: float) -> None: ...
    async def heal(self) -> None: ...
    async def settle(self) -> None:
        """Once healed: wait until no write sent before can still reach etcd (what the proxies held is
        delivered, no call is in flight in any member)."""


async def settle(proxies: list[Any], servers: list[Any]) -> None:
    """Faults.settle for etcd `servers` (EtcdServer: those whose /metrics can be read) behind `proxies`."""
    for proxy in proxies:
        await asyncio.to_thread(proxy.flush)
    for server in servers:
        await asyncio.to_thread(wait_no_call_in_flight, server)


class Threaded:
    """A blocking Client whose calls are awaited in a worker thread, so the event loop (and the
    AsyncClient's watchers and Mirror in it) keeps running while a call waits on a stalled connection."""

    kind = "sync"

    def __init__(self, client: etcdstream.Client) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        return call


class ProxiedServer:
    """Faults of one EtcdServer that clients reach through one FaultProxy."""

    def __init__(self, server: Any, proxy: Any, direct: etcdstream.Client) -> None:
        self.server, self.proxy, self.direct = server, proxy, Threaded(direct)

    def etcdctl(self, *args: str) -> Any:
        return self.server.etcdctl(*args)

    async def reset(self, rng: random.Random, delay: float = 0.0) -> None:
        if delay:
            threading.Timer(delay, self.proxy.reset).start()
        else:
            self.proxy.reset()

    async def stall(self, rng: random.Random, seconds: float, during: Callable[[], Awaitable[None]]) -> None:
        self.proxy.stall()
        try:
            await during()
            await asyncio.sleep(seconds)
        finally:
            self.proxy.resume()

    async def kill(self, rng: random.Random, seconds: float) -> None:
        self.server.kill()
        await asyncio.sleep(seconds)
        await asyncio.to_thread(self.server.start)

    async def heal(self) -> None:
        self.proxy.resume()
        if not self.server.running:
            await asyncio.to_thread(self.server.start)

    async def settle(self) -> None:
        await settle([self.proxy], [self.server])


# --- checkers ---


class WatchLog:
    """Checks a watch of the prefix batch by batch: each revision once, in order, no gap, and its replay
    onto the readdir it started from equals etcd at its revision (`state`)."""

    def __init__(self, name: str, report: Report) -> None:
        self.name = name
        self.report = report
        self.state: dict[bytes, KeyValue] = {}
        self.revision = 0
        self._seen_in_revision: set[bytes] = set()
        #: etcd's watch guarantees, one checker for each watch (a restart is a new one), until checked
        self.guarantees: list[WatchChecker] = []

    def start(self, snapshot: etcdstream.Snapshot, prefix: bytes | None = None) -> None:
        """A new watch of prefix, from the snapshot's revision + 1."""
        self.state = {kv.key: kv for kv in snapshot.kvs}
        self.revision = snapshot.revision
        self._seen_in_revision = set()
        if prefix is not None:
            request = WatchRequest.prefix(prefix, start_revision=snapshot.revision + 1)
            self.guarantees.append(WatchChecker(request, f"{self.name} (watch {len(self.guarantees) + 1})"))

    @property
    def history_needed_from(self) -> int:
        return min((c.history_needed_from for c in self.guarantees), default=self.revision + 1)

    def check_guarantees(self, history: History) -> None:
        """Report what the watches broke of etcd's watch guarantees, against history; forget what was checked."""
        for checker in self.guarantees:
            for violation in checker.check(history):
                self.report.guarantee_broken(str(violation))
        self.guarantees = [c for c in self.guarantees[:-1] if not c.all_checked] + self.guarantees[-1:]

    def ended(self, error: etcdstream.EtcdError) -> bool:
        """The watch raised: True to start again from a readdir (after CompactedError, legitimate only
        after a compaction past its next revision), False to stop (closed, or a divergence)."""
        if isinstance(error, etcdstream.ClientClosed):
            return False
        if not isinstance(error, CompactedError):
            self.report.diverged(f"{self.name}: watch failed: {error!r}")
            return False
        self.report.restarted()
        if not self.report.compacted_past(self.revision + 1):
            self.report.diverged(f"{self.name}: CompactedError ({error}) at revision {self.revision} "
                                 f"but compactions were {self.report.compactions}")
        return True

    def apply(self, batch: etcdstream.EventBatch) -> None:
        if self.guarantees:
            for violation in self.guarantees[-1].add(batch):
                self.report.guarantee_broken(str(violation))
        last = self.revision
        for event in batch:
            rev = event.mod_revision
            if rev == last + 1:
                self._seen_in_revision = {event.key}
            elif rev == last and self._seen_in_revision and event.key not in self._seen_in_revision:
                self._seen_in_revision.add(event.key)  # another key of the same revision (txn, range delete)
            else:
                self.report.diverged(f"{self.name}: event {event.type.name} {event.key!r} at revision {rev} "
                                     f"after revision {last} (lost, repeated or out of order)")
            last = max(last, rev)
            if event.type == EventType.DELETE:
                self.state.pop(event.key, None)
            else:
                self.state[event.key] = event.kv
        if batch.revision != last and (len(batch) or batch.revision > last):
            # Every revision changes the prefix: a batch (or progress notification) may not claim more.
            self.report.diverged(f"{self.name}: batch revision {batch.revision} but events only up to {last}")
        self.revision = max(last, batch.revision)
        self.report.checked(len(batch))


class MirrorLog:
    """Checks a Mirror's changes: batches in revision order, resyncs only after a compaction past it."""

    def __init__(self, name: str, report: Report) -> None:
        self.name = name
        self.report = report
        self.revision = 0
        self.loads = 0
        #: etcd's watch guarantees on the change feed (MirrorObserver sets it, knowing the prefix)
        self.guarantees: MirrorChecker | None = None

    @property
    def history_needed_from(self) -> int:
        return self.guarantees.history_needed_from if self.guarantees is not None else self.revision + 1

    def check_guarantees(self, history: History) -> None:
        """Report what the feed broke of etcd's watch guarantees, against history (see WatchLog)."""
        if self.guarantees is not None:
            for violation in self.guarantees.check(history):
                self.report.guarantee_broken(str(violation))

    def on_change(self, batch: etcdstream.EventBatch, resync: bool, read: bool | None = None) -> None:
        """read: the change comes from a full read (None: unknown, then only the first is taken for one)."""
        if self.guarantees is not None:
            for violation in self.guarantees.add(batch, read if read is not None else self.loads == 0, resync):
                self.report.guarantee_broken(str(violation))
        if resync or self.loads == 0:
            if resync:
                self.report.restarted()
                if not self.report.compacted_past(self.revision + 1):
                    self.report.diverged(f"{self.name}: resynced at revision {self.revision} without a "
                                         f"compaction past it ({self.report.compactions})")
            self.loads += 1
            self.revision = batch.revision
            return
        for event in batch:
            if not self.revision < event.mod_revision <= batch.revision:
                self.report.diverged(f"{self.name}: event at revision {event.mod_revision} in a batch up to "
                                     f"{batch.revision}, after revision {self.revision}")
        if batch.revision < self.revision:
            self.report.diverged(f"{self.name}: batch revision went back from {self.revision} to {batch.revision}")
        self.revision = max(self.revision, batch.revision)
        self.report.checked(len(batch))


# --- observers: watchers and Mirrors of both clients ---


async def _pause_or_stop(stop: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not stop() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


class SyncWatchRecorder:
    """A Client's watchdir read in its own thread into a WatchLog; restarted from a readdir after
    CompactedError (and retried while etcd cannot be reached, as watchdir raises then)."""

    def __init__(self, client: etcdstream.Client, prefix: bytes, log: WatchLog) -> None:
        self.client, self.prefix, self.log = client, prefix, log
        self._watcher: Any = None
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"recorder-{log.name}", daemon=True)
        self._thread.start()

    @property
    def revision(self) -> int:
        return self.log.revision

    def _run(self) -> None:
        pause = 0.05
        while not self._closed:
            try:
                snapshot = self.client.readdir(self.prefix)
                watcher = self.client.watchdir(self.prefix, start_revision=snapshot.revision + 1)
            except etcdstream.ClientClosed:
                return
            except (etcdstream.ConnectionFailed, etcdstream.Timeout, etcdstream.NoLeader, CompactedError):
                time.sleep(pause)  # CompactedError here: compacted between the readdir and the watch
                pause = min(pause * 2, 1.0)
                continue
            pause = 0.05
            with self._lock:
                self._watcher = watcher
                if self._closed:
                    watcher.close()
            self.log.start(snapshot, self.prefix)
            try:
                for batch in watcher:
                    self.log.apply(batch)
            except etcdstream.EtcdError as e:
                if self.log.ended(e):
                    continue
            return  # closed

    async def close(self) -> None:
        with self._lock:
            self._closed = True
            watcher = self._watcher
        if watcher is not None:
            watcher.close()
        await asyncio.to_thread(self._thread.join, 30)
        if self._thread.is_alive():
            self.log.report.diverged(f"{self.log.name}: the watching thread did not end within 30 s of close()")


class AsyncWatchRecorder:
    """An AsyncClient's watchdir read by a task into a WatchLog (see SyncWatchRecorder)."""

    def __init__(self, client: etcdstream.AsyncClient, prefix: bytes, log: WatchLog) -> None:
        self.client, self.prefix, self.log = client, prefix, log
        self._watcher: Any = None
        self._closed = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"recorder-{log.name}")

    @property
    def revision(self) -> int:
        return self.log.revision

    async def _run(self) -> None:
        pause = 0.05
        while not self._closed:
            try:
                snapshot = await self.client.readdir(self.prefix)
                watcher = await self.client.watchdir(self.prefix, start_revision=snapshot.revision + 1)
            except asyncio.CancelledError as e:
                if not spurious(e):
                    raise
                self.log.report.library_error(f"{self.log.name}: readdir or watchdir raised CancelledError")
                continue
            except etcdstream.ClientClosed:
                return
            except (etcdstream.ConnectionFailed, etcdstream.Timeout, etcdstream.NoLeader, CompactedError):
                await _pause_or_stop(lambda: self._closed, pause)
                pause = min(pause * 2, 1.0)
                continue
            pause = 0.05
            self._watcher = watcher
            if self._closed:
                await watcher.close()
            self.log.start(snapshot, self.prefix)
            try:
                async for batch in watcher:
                    self.log.apply(batch)
            except etcdstream.EtcdError as e:
                if self.log.ended(e):
                    continue
            return

    async def close(self) -> None:
        self._closed = True
        if self._watcher is not None:
            await self._watcher.close()
        else:
            self._task.cancel()  # still reading the prefix: nothing to close
        try:
            await asyncio.wait_for(self._task, 30)  # `async for` over the closed watcher ends
        except asyncio.CancelledError:
            pass
        except asyncio.TimeoutError:
            self.log.report.diverged(f"{self.log.name}: the watching task did not end within 30 s of close()")


class MirrorObserver:
    """A Mirror (Client) or AsyncMirror (AsyncClient) whose changes a MirrorLog checks."""

    def __init__(self, client: Any, prefix: bytes, log: MirrorLog) -> None:
        self.log = log
        log.guarantees = MirrorChecker(prefix, log.name)
        reads = ReadsSeen(client)  # tells the full reads among the changes

        def on_change(batch: etcdstream.EventBatch, resync: bool) -> None:
            log.on_change(batch, resync, reads.published())

        # Given to the constructor, the callback sees the first full read too.
        if isinstance(client, etcdstream.Client):
            self.mirror: Any = etcdstream.Mirror(reads, prefix, on_change=on_change)
        else:
            self.mirror = etcdstream.AsyncMirror(reads, prefix, on_change=on_change)

    @property
    def revision(self) -> int:
        return self.mirror.revision

    def content(self) -> dict[bytes, KeyValue]:
        snapshot = self.mirror.snapshot()
        return {kv.key: kv for kv in snapshot.kvs}

    def failure(self) -> BaseException | str | None:
        """The error that stopped the Mirror, if it stopped."""
        task = getattr(self.mirror, "_task", None)
        if task is not None and task.done():
            return "its task ended" + (" (cancelled)" if task.cancelled() else f": {task.exception()!r}")
        return self.mirror._error

    async def close(self) -> None:
        if isinstance(self.mirror, etcdstream.Mirror):
            await asyncio.to_thread(self.mirror.close)
        else:
            await self.mirror.close()


# --- running the workload ---


# A failed write may or may not have been applied. CancelledError included: AsyncClient raises it when
# another call's failover closes the channel (see `spurious`).
_AMBIGUOUS = (etcdstream.EtcdError, asyncio.CancelledError)


def spurious(error: BaseException) -> bool:
    """Whether error is a CancelledError though nothing cancelled this task (a library error)."""
    task = asyncio.current_task()
    return isinstance(error, asyncio.CancelledError) and task is not None and not task.cancelling()


class ModelRun:
    """Executes a Workload through `writers` (awaitable clients, picked at random per operation),
    keeps the Model, and checks every answer and, on `check()`, every observer against etcd."""

    def __init__(self, workload: Workload, faults: Faults, writers: list[Any], report: Report,
                 side: Workload | None = None) -> None:
        self.workload = workload
        # Writes made straight to etcd during a stall; with faults concurrent to the workload (soak),
        # a Workload of other keys, so the two writers never race on one key.
        self.side = side or workload
        self.rng = workload.rng
        self.faults = faults
        self.writers = writers
        self.report = report
        self.model = Model()
        self.granted: set[int] = set()
        #: writes that failed ambiguously, resolved once the run settles: (op, error)
        self.in_doubt: list[tuple[Any, BaseException]] = []
        #: etcd's history (etcdctl watch) the observers' watch guarantees are checked against; None: not checked
        self.history: HistoryRecorder | None = None

    def next_op(self, workload: Workload | None = None) -> Any:
        """The workload's next operation that leaves the keys of writes in doubt alone."""
        workload = workload or self.workload
        for _ in range(100):
            op = workload.next_op(self.model)
            if not any(overlaps(key_ranges(op), key_ranges(doubtful)) for doubtful, _ in self.in_doubt):
                return op
        return Pause(0.05)

    def diverged(self, what: str) -> None:
        self.report.diverged(f"op {self.report.ops}: {what}")

    def failed(self, op: Any, error: BaseException) -> None:
        """Count an ambiguous failure; a real cancellation goes on, a spurious one is a library error."""
        if isinstance(error, asyncio.CancelledError):
            if not spurious(error):
                raise error
            self.report.library_error(f"op {self.report.ops}: {type(op).__name__} raised CancelledError "
                                      "though nothing cancelled the task")
        with self.report._lock:
            self.report.ambiguous += 1
            self.report.ambiguous_errors[f"{type(error).__name__}: {getattr(error, 'details', None) or ''}"] += 1

    async def step(self, op: Any, writer: Any = None) -> None:
        writer = writer if writer is not None else self.writers[self.rng.randrange(len(self.writers))]
        self.report.ops += 1
        if isinstance(op, Pause):
            await asyncio.sleep(op.seconds)
        elif isinstance(op, Fault):
            await self.fault(op)
        elif isinstance(op, Grant):
            try:
                lease = await writer.grant(op.ttl)
            except _AMBIGUOUS as e:
                self.failed(op, e)  # a lease without keys, if any: it expires unseen
                return
            self.granted.add(lease.id)
            for key in op.keys:
                await self.step(Put(key, self.workload.unique(), lease.id), writer)
        elif isinstance(op, Revoke):
            try:
                await writer.revoke(op.lease)
            except LeaseNotFound:
                pass  # expired already
            except _AMBIGUOUS as e:
                self.failed(op, e)  # revoked now or expiring soon: gone either way by the end
            self.model.leased.pop(op.lease, None)
        else:
            try:
                await self.write(op, writer)
            except _AMBIGUOUS as e:
                self.failed(op, e)
                self.in_doubt.append((op, e))

    async def resolve_in_doubt(self) -> None:
        """Settle, then take the outcome of every write in doubt from etcd."""
        if not self.in_doubt:
            return
        await self.faults.settle()
        in_doubt, self.in_doubt = self.in_doubt, []
        for op, error in in_doubt:
            await self.resolve(op, error)

    async def write(self, op: Any, writer: Any) -> None:
        model = self.model
        if isinstance(op, Put):
            result = await writer.put(op.key, op.value, lease=op.lease or None)
            model.put(op.key, op.value, result.revision, op.lease)
        elif isinstance(op, Delete):
            deleted = await writer.delete(op.key, prefix=op.prefix)
            expected = model.delete_range(*prefix_range(op.key)) if op.prefix \
                else model.delete_range(op.key)
            if deleted != expected:
                self.diverged(f"delete {op.key!r} prefix={op.prefix} removed {deleted} keys, the model {expected}")
        elif isinstance(op, Txn):
            succeeded, ops = model.branch(op)
            result = await writer.txn(op.compares, op.success, op.failure)
            if result.succeeded != succeeded:
                self.diverged(f"txn {op} succeeded={result.succeeded}, the model says {succeeded}; "
                              f"model: {[model.kvs.get(c.key) for c in op.compares]}")
                ops = op.success if result.succeeded else op.failure
            model.apply(ops, result.revision)

    async def read(self, key: bytes, prefix: bool = False) -> dict[bytes, KeyValue]:
        """Keys straight from etcd, trying for up to a minute (a member may be restarting)."""
        deadline = time.monotonic() + 60
        while True:
            try:
                if prefix:
                    return {kv.key: kv for kv in (await self.faults.direct.readdir(key)).kvs}
                kv = await self.faults.direct.get(key)
                return {key: kv} if kv is not None else {}
            except _AMBIGUOUS:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def resolve(self, op: Any, error: BaseException) -> None:
        """A write failed but etcd may have applied it: read its keys and take whichever outcome they show."""
        model = self.model
        if isinstance(op, Put):
            now = await self.read(op.key)
            kv = now.get(op.key)
            if kv is not None and kv.value == op.value:
                model.put(op.key, op.value, kv.mod_revision, op.lease)
            elif op.lease:
                return  # not written (or written and expired): gone either way
            expected = model.leased.get(op.lease, {}) if op.lease else model.kvs
            if kv_fields_or_none(kv) != kv_fields_or_none(expected.get(op.key)):
                self.diverged(f"after a failed put ({error!r}) {op.key!r} is {kv}, the model has {expected.get(op.key)}")
            return
        if isinstance(op, Delete):
            now = await self.read(op.key, op.prefix)
            start, end = prefix_range(op.key) if op.prefix else (op.key, b"")
            before = {k: v for k, v in model.kvs.items() if (start <= k < end if end else k == start)}
            if not now:
                model.delete_range(start, end)
            elif _differs(now, before):
                self.diverged(f"after a failed delete ({error!r}) {op.key!r}: {_differs(now, before)}")
            return
        _, ops = model.branch(op)
        keys = [o.key for o in ops]
        now = {}
        for key in keys:
            now.update(await self.read(key))
        puts = [o for o in ops if isinstance(o, etcdstream.Put)]
        if puts and (puts[0].key in now and now[puts[0].key].value == puts[0].value):
            model.apply(ops, now[puts[0].key].mod_revision)
        elif not puts and all(k not in now for k in keys):
            model.apply(ops, 0)
        expected = {k: model.kvs[k] for k in keys if k in model.kvs}
        if _differs(now, expected):
            self.diverged(f"after a failed txn ({error!r}): {_differs(now, expected)}")

    async def fault(self, fault: Fault, rng: random.Random | None = None) -> None:
        """Inject a fault; rng picks where (which proxy or member), the workload's unless given."""
        rng = rng or self.rng
        with self.report._lock:
            self.report.faults[fault.kind] += 1
        if fault.kind == "reset":
            await self.faults.reset(rng)
        elif fault.kind == "reset-midway":
            await self.faults.reset(rng, fault.seconds)
            for _ in range(fault.writes):
                await self.step(self.next_op())
        elif fault.kind in ("stall", "stall-long"):

            async def during() -> None:
                for _ in range(fault.writes):
                    await self.step(self.next_op(self.side), self.faults.direct)
                if fault.compact:
                    await self.compact()

            await self.faults.stall(rng, fault.seconds, during)
        elif fault.kind == "kill":
            await self.faults.kill(rng, fault.seconds)
        elif fault.kind == "compact":
            await self.compact()
        else:
            raise ValueError(f"unknown fault {fault.kind!r}")

    async def compact(self) -> None:
        """Compact at the revision of a put of our own: etcd < 3.5.15 and < 3.4.33 lose the delete event at
        the compaction revision for a watch resuming from it (etcd-io/etcd#18089), not what is tested here."""
        mark = self.side.prefix + b"compaction-mark"
        if any(overlaps([(mark, mark + b"\0")], key_ranges(op)) for op, _ in self.in_doubt):
            return  # its last put is in doubt: no compaction until it is resolved
        await self.step(Put(mark, self.side.unique()), self.faults.direct)
        kv = self.model.kvs.get(mark)
        if kv is None:
            return  # the put failed: no compaction this time
        revision = kv.mod_revision
        with self.report._lock:
            self.report.compactions.append(revision)  # before etcd compacts: a watcher may fail at once
        await asyncio.to_thread(self.faults.etcdctl, "compaction", str(revision))

    # --- checking ---

    async def wait_for(self, observers: list[Any], revision: int, timeout: float) -> None:
        """Wait until every observer reached revision; report (and drop from the list) those that stopped."""
        deadline = time.monotonic() + timeout
        while True:
            behind = [o for o in observers if o.revision < revision]
            if not behind:
                return
            for o in behind:
                if isinstance(o, MirrorObserver) and o.failure() is not None:
                    self.report.diverged(f"{o.log.name} stopped: {o.failure()!r}")
                    observers.remove(o)
            if time.monotonic() > deadline:
                self.report.diverged(f"after {timeout:g} s still behind revision {revision}: "
                                     + ", ".join(f"{o.log.name} at {o.revision}" for o in behind))
                return
            await asyncio.sleep(0.05)

    async def check_observers(self, observers: list[Any], timeout: float = 60) -> list[Any]:
        """Wait for every observer to reach etcd's revision; each must equal etcdctl at its own revision.
        Returns those that stopped or stayed behind (reported as divergences)."""
        revision = (await self.faults.direct.status()).revision
        failed_or_not = list(observers)
        observers = list(observers)
        await self.wait_for(observers, revision, timeout)
        failed = [o for o in failed_or_not if o.revision < revision]
        for o in observers:
            at = o.revision
            if self.report.compacted_past(at):
                continue  # behind (reported above): etcd cannot show that revision any more
            got = o.content() if isinstance(o, MirrorObserver) else dict(o.log.state)
            difference = describe_difference(o.log.name, got, await asyncio.to_thread(
                etcdctl_kvs, self.faults, self.workload.prefix, at))
            if difference:
                self.report.diverged(f"at revision {at}: {difference}")
        await self.check_guarantees(observers, revision)
        return failed

    async def check_guarantees(self, observers: list[Any], revision: int) -> None:
        """Check etcd's watch guarantees on what the observers delivered, against etcd's history up to revision
        (every observer is there); the history no observer needs any more is then forgotten."""
        if self.history is None:
            return
        try:
            await asyncio.to_thread(self.history.wait_for, revision, 60)
        except (TimeoutError, RuntimeError) as e:
            self.report.diverged(f"etcd's history is not known up to revision {revision}, the watch guarantees "
                                 f"are not checked: {e}")
            return
        history = self.history.history()
        for o in observers:
            o.log.check_guarantees(history)
        needed = [o.log.history_needed_from for o in observers]
        if needed and min(needed) > 0:
            self.history.history(forget_before=min(needed))

    async def check(self, observers: list[Any], lease_timeout: float = 60) -> list[Any]:
        """Once faults are healed: observers equal etcd (leased keys included), then, once every lease
        has expired, observers equal etcd again and etcd equals the model. Returns the observers that
        stopped or stayed behind."""
        await self.faults.heal()
        await self.resolve_in_doubt()
        failed = await self.check_observers(observers)
        now = await asyncio.to_thread(etcdctl_kvs, self.faults, self.workload.prefix)
        for keys in self.model.leased.values():
            for key, kv in keys.items():
                if key in now and kv_fields(now[key]) != kv_fields(kv):
                    self.report.diverged(f"leased key {key!r} is {now[key]}, the model has {kv}")
        deadline = time.monotonic() + lease_timeout
        while self.granted & set(await self.faults.direct.leases()):
            if time.monotonic() > deadline:
                self.report.diverged(f"leases still alive {lease_timeout:g} s after the last grant")
                break
            await asyncio.sleep(0.2)
        self.granted.clear()
        self.model.leased.clear()
        failed += await self.check_observers([o for o in observers if o not in failed])
        now = await asyncio.to_thread(etcdctl_kvs, self.faults, self.workload.prefix)
        difference = describe_difference("etcd", now, self.model.kvs)
        if difference:
            self.report.diverged(f"the model predicts another state: {difference}")
            self.model.kvs = now  # one divergence is reported once, not again every round
        return failed


def key_ranges(op: Any) -> list[tuple[bytes, bytes]]:
    """The [start, end) ranges of keys op reads or writes (none for leases, pauses and faults)."""
    if isinstance(op, Put):
        return [(op.key, op.key + b"\0")]
    if isinstance(op, Delete):
        return [prefix_range(op.key) if op.prefix else (op.key, op.key + b"\0")]
    if isinstance(op, Txn):
        keys = [c.key for c in op.compares] + [o.key for o in op.success + op.failure]
        return [(key, key + b"\0") for key in keys]
    return []


def overlaps(ranges: list[tuple[bytes, bytes]], others: list[tuple[bytes, bytes]]) -> bool:
    return any(start < other_end and other_start < end for start, end in ranges for other_start, other_end in others)


def unary_calls(server: Any, method: str = "") -> tuple[float, float]:
    """How many unary gRPC calls (of `method`, e.g. "Txn", or all) etcd `server` started and handled,
    from grpc_server_started_total and grpc_server_handled_total in its /metrics."""
    started = handled = 0.0
    for line in server.metrics().splitlines():
        if 'grpc_type="unary"' in line and (not method or f'grpc_method="{method}"' in line):
            if line.startswith("grpc_server_started_total{"):
                started += float(line.rsplit(" ", 1)[1])
            elif line.startswith("grpc_server_handled_total{"):
                handled += float(line.rsplit(" ", 1)[1])
    return started, handled


def wait_no_call_in_flight(server: Any, timeout: float = 60) -> None:
    """Wait until etcd `server` handles no unary gRPC call: a write sent before has been applied or given up."""
    deadline = time.monotonic() + timeout
    while True:
        started, handled = unary_calls(server)
        if started <= handled:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{server} still handles {started - handled:g} calls after {timeout:g} s")
        time.sleep(0.02)


def kv_fields_or_none(kv: KeyValue | None) -> tuple[bytes, bytes, int, int, int, int] | None:
    return None if kv is None else kv_fields(kv)


def _differs(got: dict[bytes, KeyValue], expected: dict[bytes, KeyValue]) -> str:
    return describe_difference("etcd", got, expected)
