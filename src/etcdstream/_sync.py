# Generated from _async.py by tests/unasync.py: do not edit; edit _async.py and run `python tests/unasync.py`.
"""The client's public methods, written once: each sends an operation of _kv_ops or _lease_ops through the
client's transport, or opens a watcher on its one watch stream; the cluster, maintenance and auth
administration calls come from ClusterAdmin (_admin_sync.py)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar
from pathlib import Path
from types import TracebackType

from . import _kv_ops, _lease_ops
from ._calls import lease_id
from ._core import DEFAULT_KEEPALIVE_TIME, DEFAULT_KEEPALIVE_TIMEOUT, DEFAULT_TIMEOUT, ClientCore
from ._keys import Key, to_bytes
from ._lease_ops import LostCallback
from ._namespace import ROOT
from ._results import (
    Deleted,
    Lease,
    LeaseInfo,
    PutResult,
    RangeResult,
    Snapshot,
    TxnResult,
)
from ._admin_sync import ClusterAdmin
from ._transport_sync import Transport
from ._election_sync import Election
from ._lock_sync import Lock
from ._session_sync import Session
from ._stats import ClientStats
from ._stm_sync import STM, run_stm
from ._txn import Compare, Delete, Get, Put, Txn
from ._types import SortOrder, SortTarget, WatchFilter
from ._watch_sync import Watcher, WatchStream
from ._watch_spec import DEFAULT_MAX_BUFFERED_EVENTS, check_max_buffered_events, watch_spec
from .codec import KeyValue

__all__ = ["Client"]

T = TypeVar("T")


class Client(ClusterAdmin):
    """An etcd v3 client over one gRPC channel.

    endpoints: "host:port", "http(s)://host:port", a comma-separated string or
    a list; the client uses one at a time and fails over to the next when it
    is unavailable. username/password: etcd auth (the token is refreshed
    transparently). ca_file: trust this CA (TLS); cert_file/key_file: a client
    certificate (mTLS). timeout: seconds per call unless a call says otherwise.
    keepalive_time/keepalive_timeout: gRPC pings that detect a dead connection (within 10 s by default).

    Keys and values are str (UTF-8) or bytes; results are bytes (KeyValue).
    Use it as a context manager, or call close(). The blocking client is safe
    to share between threads. The asyncio client's methods are coroutines; use
    it within one event loop (its channel opens on the first call, so it may
    be made before the loop runs).
    """

    def __init__(
        self,
        endpoints: str | Sequence[str] = "127.0.0.1:2379",
        *,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | Path | None = None,
        cert_file: str | Path | None = None,
        key_file: str | Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        keepalive_time: float = DEFAULT_KEEPALIVE_TIME,
        keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT,
    ) -> None:
        self._transport = Transport(ClientCore(
            endpoints, username=username, password=password, ca_file=ca_file, cert_file=cert_file,
            key_file=key_file, timeout=timeout, keepalive_time=keepalive_time, keepalive_timeout=keepalive_timeout,
        ))
        self._watches = WatchStream(self._transport)
        # The client's watch streams: its own and its with_watch_stream() views' (closed with it); whether
        # this is such a view.
        self._streams = {self._watches}
        self._own_stream = False
        self._space = ROOT

    def namespace(self, prefix: Key) -> Client:
        """A view of this client whose keys live under prefix (Go's client/v3/namespace): its reads, writes,
        deletes, transactions, watches, leases' keys, locks, elections, STM and Mirrors see "k" where etcd
        (and etcdctl) sees prefix + "k", and no range or watch of it reaches outside prefix. A view of a
        view nests. It shares this client's connection and watch stream (closing either closes both);
        cluster, maintenance and auth calls are the client's, unprefixed."""
        view = copy.copy(self)
        view._space = self._space.child(to_bytes("prefix", prefix, allow_empty=False))
        return view

    def with_watch_stream(self) -> Client:
        """A view of this client whose watches ride a Watch stream of their own, on the same connection (Go's
        client: a context with distinct metadata). etcd answers a progress request (request_progress()) once
        every watcher of the stream is synced: on a stream of its own, a watcher that is far behind elsewhere
        does not hold the answer back, and no other watcher gets answers it did not ask for. Everything else is
        the client's; close() on the view ends only its stream (closing the client ends it too)."""
        view = copy.copy(self)
        view._watches = WatchStream(self._transport)
        view._own_stream = True
        self._streams.add(view._watches)
        return view

    @property
    def prefix(self) -> bytes:
        """The prefix of etcd's keys this client sees (b"" unless it is a namespace() view)."""
        return self._space.prefix

    @property
    def endpoint(self) -> str:
        """The endpoint in use (it changes on failover)."""
        return str(self._transport.endpoint)

    # --- keys ---

    def get(self, key: Key, *, revision: int | None = None, serializable: bool = False,
                  timeout: float | None = None) -> KeyValue | None:
        """The key's KeyValue (at `revision` if given), or None if it does not exist (range(key) also gives
        etcd's revision when it answered).

        serializable=True: answered by the member in use from its own data, without a quorum
        round: faster, and served without a leader, but it may miss the latest writes."""
        return self._transport.run(_kv_ops.get(key, revision=revision, serializable=serializable,
                                                     timeout=timeout, space=self._space))

    def put(self, key: Key, value: Key, *, lease: Lease | int | None = None, ttl: int | None = None,
                  prev_kv: bool = False, timeout: float | None = None) -> PutResult:
        """Write key=value. lease: attach to this lease; ttl: grant a new lease of ttl seconds for it.
        prev_kv=True returns the previous KeyValue in the result."""
        return self._transport.run(_kv_ops.put(key, value, lease=lease, ttl=ttl, prev_kv=prev_kv,
                                                     timeout=timeout, space=self._space))

    def delete(self, key: Key, *, prefix: bool = False, prev_kv: bool = False,
                     timeout: float | None = None) -> Deleted:
        """Delete key (every key under it with prefix=True); returns the number deleted (an int)."""
        return self._transport.run(_kv_ops.delete(key, prefix=prefix, prev_kv=prev_kv, timeout=timeout, space=self._space))

    def create(self, key: Key, value: Key, *, ttl: int | None = None, lease: Lease | int | None = None,
                     timeout: float | None = None) -> int:
        """Write key=value only if key does not exist, else raise KeyExistsError; returns the revision."""
        return self._transport.run(_kv_ops.create(key, value, ttl=ttl, lease=lease, timeout=timeout, space=self._space))

    def compare_and_put(self, key: Key, value: Key, mod_revision: int, *, lease: Lease | int | None = None,
                              timeout: float | None = None) -> int:
        """Write key=value only if its mod_revision is still `mod_revision` (0: only if absent);
        else raise ConflictError (with `.current`). Returns the new revision."""
        return self._transport.run(_kv_ops.compare_and_put(key, value, mod_revision, lease=lease,
                                                                 timeout=timeout, space=self._space))

    def compare_and_delete(self, key: Key, mod_revision: int, *, timeout: float | None = None) -> int:
        """Delete key only if its mod_revision is still `mod_revision`, else raise ConflictError."""
        return self._transport.run(_kv_ops.compare_and_delete(key, mod_revision, timeout=timeout, space=self._space))

    def push(self, directory: Key, value: Key, *, ttl: int | None = None,
                   timeout: float | None = None) -> bytes:
        """Store value under directory/<new unique, increasing id> and return that key."""
        return self._transport.run(_kv_ops.push(directory, value, ttl=ttl, timeout=timeout, space=self._space))

    def txn(self, compare: Iterable[Compare], success: Iterable[Get | Put | Delete | Txn] = (),
                  failure: Iterable[Get | Put | Delete | Txn] = (), *, timeout: float | None = None) -> TxnResult:
        """Atomically: if every Compare holds run `success`, else `failure`."""
        return self._transport.run(_kv_ops.txn(compare, success, failure, timeout=timeout, space=self._space))

    def range(self, key: Key, range_end: Key | None = None, *, prefix: bool = False, from_key: bool = False,
                    revision: int | None = None, limit: int = 0, sort_order: SortOrder | str = "none",
                    sort_target: SortTarget | str = "key", serializable: bool = False, keys_only: bool = False,
                    count_only: bool = False, min_mod_revision: int = 0, max_mod_revision: int = 0,
                    min_create_revision: int = 0, max_create_revision: int = 0,
                    timeout: float | None = None) -> RangeResult:
        """One Range read, with every option of etcd's RangeRequest (etcdctl get's flags).

        Reads key alone, the keys in [key, range_end), the keys under key (prefix=True), or every
        key from key on (from_key=True; with key "" every key). revision: as of that revision;
        limit: at most that many keys (`.more` says some were left out; `.count` counts them all);
        sort_order (a SortOrder, or its name as a str in any case: "none", "ascend", "descend") by
        sort_target (a SortTarget, or its name: "key", "version", "create_revision" or "create",
        "mod_revision" or "mod", "value"); serializable=True: answered by the member in use, without a
        quorum round (may be behind); keys_only / count_only; min_/max_ mod and create revision
        filters. The result carries etcd's revision when it answered. One request: for a large
        prefix at one consistent revision, readdir() reads it in pages.
        """
        return self._transport.run(_kv_ops.range_keys(
            key, range_end, prefix=prefix, from_key=from_key, revision=revision, limit=limit, sort_order=sort_order,
            sort_target=sort_target, serializable=serializable, keys_only=keys_only, count_only=count_only,
            min_mod_revision=min_mod_revision, max_mod_revision=max_mod_revision,
            min_create_revision=min_create_revision, max_create_revision=max_create_revision, timeout=timeout, space=self._space))

    def count(self, prefix: Key, *, serializable: bool = False, timeout: float | None = None) -> int:
        """The number of keys under prefix (serializable=True: from the member in use, see get)."""
        return self._transport.run(_kv_ops.count(prefix, serializable=serializable, timeout=timeout, space=self._space))

    def readdir(self, prefix: Key, *, revision: int | None = None, page_size: int | None = None,
                      keys_only: bool = False, serializable: bool = False, timeout: float | None = None,
                      on_page: Callable[[int, int, bool], None] | None = None) -> Snapshot:
        """Every key under prefix, sorted, as of one revision (the first page's unless `revision` is given).

        Reads a first page of 20,000 keys, then the rest in one Range when it is estimated at
        64 MiB or less (one Range is what etcd serves fastest: each page costs it a count of
        the rest), else in pages of 20,000; page_size=N reads pages of N keys throughout. All
        at one revision, so the snapshot is consistent while writers run; timeout applies
        to each request. on_page(keys read
        so far, keys under prefix, more pages) is called after each page (a progress bar).
        serializable=True reads every page from the member in use without a quorum round
        (see get): the first page's revision may be behind the cluster's, the rest read at it.
        """
        return self._transport.run(_kv_ops.readdir(prefix, revision=revision, page_size=page_size,
                                                         keys_only=keys_only, serializable=serializable,
                                                         timeout=timeout, on_page=on_page, space=self._space))

    # --- leases ---

    def grant(self, ttl: int, *, keep_alive: bool = False, on_lost: LostCallback | None = None,
                    timeout: float | None = None) -> Lease:
        """A new lease of ttl seconds; keep_alive=True refreshes it in the background until revoke() or close()
        (on_lost: see keep_alive)."""
        if on_lost is not None and not keep_alive:
            raise ValueError("on_lost goes with keep_alive=True")
        lease = self._transport.run(_lease_ops.grant(ttl, timeout=timeout))
        if keep_alive:
            self.keep_alive(lease, on_lost=on_lost)
        return lease

    def keep_alive(self, lease: Lease, *, on_lost: LostCallback | None = None) -> None:
        """Refresh lease every ttl/3 seconds until revoke(), close() or it is lost: in a background thread
        (blocking client) or task (asyncio client). Lost means etcd says it is gone (revoked, expired) or no
        refresh succeeded for its TTL; then on_lost(lease, error) is called there, once."""
        if not isinstance(lease, Lease):
            raise TypeError(f"keep_alive needs the Lease grant() returned, got {type(lease).__name__}")
        if on_lost is not None and not callable(on_lost):
            raise TypeError(f"on_lost must be callable, got {type(on_lost).__name__}")
        self._transport.keep_alive(lease, on_lost)

    def session(self, ttl: int = 60, *, timeout: float | None = None) -> Session:
        """A lease of ttl seconds kept alive until the session is closed or the lease is lost (Go's
        concurrency.Session): `with client.session() as s` / `with client.session() as s`."""
        lease = self._transport.run(_lease_ops.grant(ttl, timeout=timeout))
        session = Session(self, lease)
        self.keep_alive(lease, on_lost=session._on_lost)
        return session

    def keep_alive_once(self, lease: Lease | int, *, timeout: float | None = None) -> int:
        """Refresh a lease once; returns its new TTL (LeaseNotFound if it is gone)."""
        return self._transport.run(_lease_ops.keep_alive_once(lease, timeout=timeout))

    def revoke(self, lease: Lease | int, *, timeout: float | None = None) -> None:
        """Stop refreshing the lease and revoke it (deleting its keys); its on_lost is not called: the caller
        knows (a lease revoked by another client is reported lost)."""
        op = _lease_ops.revoke(lease, timeout=timeout)  # checks the arguments first
        self._transport.stop_keep_alive(lease_id(lease))
        self._transport.run(op)

    def time_to_live(self, lease: Lease | int, *, keys: bool = False,
                           timeout: float | None = None) -> LeaseInfo:
        """The lease's remaining TTL (-1 once expired) and granted TTL; its keys with keys=True."""
        return self._transport.run(_lease_ops.time_to_live(lease, keys=keys, timeout=timeout, space=self._space))

    def leases(self, *, timeout: float | None = None) -> list[int]:
        """Ids of every live lease."""
        return self._transport.run(_lease_ops.leases(timeout=timeout))

    def stm(self, apply: Callable[[STM], T], *, isolation: str = "serializable_snapshot",
                  tries: int = 10) -> T:
        """Run apply(stm) (a coroutine function for the asyncio client) as one transaction, as Go's
        concurrency.STM: its stm.get() reads, its stm.put()/stm.delete() apply together at the commit, and if
        another writer changed what it relied on meanwhile it runs again (STMConflict after `tries`). Returns
        what apply returned. isolation: "serializable_snapshot" (Go's default), "serializable",
        "repeatable_read" or "read_committed"."""
        return run_stm(self, apply, isolation, tries)

    # --- locks and elections ---

    def lock(self, name: Key, *, ttl: int = 60, session: Session | None = None) -> Lock:
        """The distributed lock `name` (Go's concurrency.Mutex; `etcdctl lock NAME` takes the same one), not yet
        acquired: `with client.lock(name):` (blocking) / `with client.lock(name):` (asyncio), or
        acquire(timeout) and release(). Held through session's lease, or a session of ttl seconds of its own."""
        return Lock(self, name, ttl=ttl, session=session)

    def election(self, name: Key, *, ttl: int = 60, session: Session | None = None) -> Election:
        """The election `name` (Go's concurrency.Election; `etcdctl elect NAME` takes part in the same one):
        campaign(value, timeout), proclaim(value), resign(), leader(), observe(). A candidate stands through
        session's lease, or a session of ttl seconds of its own."""
        return Election(self, name, ttl=ttl, session=session)

    # --- watches ---

    def watchdir(self, prefix: Key, *, start_revision: int | None = None, prev_kv: bool = False,
                       progress_notify: bool = True, coalesce: bool = False, fragment: bool = False,
                       filters: Iterable[WatchFilter | str] = (),
                       max_buffered_events: int = DEFAULT_MAX_BUFFERED_EVENTS, after: Snapshot | None = None,
                       max_replay: int | None = None) -> Watcher:
        """Watch every key under prefix: an iterator of EventBatch (all events ready at that moment),
        an async iterator for the asyncio client.

        start_revision: the first revision to see (after readdir at R: R + 1); None: from now.
        after: a Snapshot of readdir(prefix) that this watch continues: it starts at
        snapshot.revision + 1 (unless start_revision says otherwise) and raises
        RevisionWentBackwards if etcd's history is not the snapshot's (another cluster,
        a restored backup). coalesce=True keeps only the last event of each key in a batch.
        filters: the events etcd leaves out, WatchFilter.NOPUT and/or WatchFilter.NODELETE (or their
        names as a str in any case, "noput", "nodelete").
        fragment=True asks etcd to split responses larger than its request limit (they are
        joined again before delivery); off by default because etcd 3.5 builds fragments in
        quadratic time (a 20,000-event catch-up took 3.6 s instead of 0.15 s) and the
        client's receive limit is lifted anyway. Every watcher of the client shares one
        gRPC stream; it reconnects and resumes by itself.
        Returns once etcd created the watch (a refused one raises here).
        A watcher holding max_buffered_events unread events is paused on the server
        and resumed from where it stopped once read (a slow consumer loses nothing).
        max_replay: a watch resuming (after the stream broke, or such a pause) more than this many
        revisions behind etcd ends with ReplayTooLong instead of replaying the gap: etcd replays about
        10,000 revisions a second, reading a prefix again is often far cheaper (a Mirror does that).
        None: always replay.
        """
        if after is not None and not isinstance(after, Snapshot):
            raise TypeError(f"after must be the Snapshot readdir() returned, got {type(after).__name__}")
        if after is not None and start_revision is None:
            start_revision = after.revision + 1
        spec = watch_spec(prefix, prefix=True, start_revision=start_revision, prev_kv=prev_kv,
                          progress_notify=progress_notify, coalesce=coalesce, fragment=fragment, filters=filters,
                          space=self._space, max_replay=max_replay)
        return self._watches.open(spec, check_max_buffered_events(max_buffered_events), after)

    def watch(self, key: Key, range_end: Key | None = None, *, from_key: bool = False,
                    start_revision: int | None = None, prev_kv: bool = False, progress_notify: bool = True,
                    filters: Iterable[WatchFilter | str] = (),
                    max_buffered_events: int = DEFAULT_MAX_BUFFERED_EVENTS) -> Watcher:
        """Watch one key, the keys in [key, range_end), or every key from key on (from_key=True): an iterator
        of EventBatch, an async iterator for the asyncio client (see watchdir for the rest)."""
        spec = watch_spec(key, range_end, from_key=from_key, start_revision=start_revision, prev_kv=prev_kv,
                          progress_notify=progress_notify, coalesce=False, filters=filters, space=self._space)
        return self._watches.open(spec, check_max_buffered_events(max_buffered_events))

    def stats(self) -> ClientStats:
        """What the client did since it was made: calls by method and outcome, retries, failovers, watch
        streams and reconnects, watchers, events and bytes received, events delivered, Mirror resyncs, the
        endpoint in use and the last error (see ClientStats). A snapshot; no I/O. A namespace() view shares
        its client's."""
        return self._transport.counters.snapshot(str(self._transport.endpoint),
                                                 sum(stream.watchers for stream in list(self._streams)))

    def request_progress(self) -> bool:
        """Ask etcd for a progress notification now: quiet watchers' batch.revision catches up to etcd's.

        Returns whether the request was sent. etcd 3.4.25+ and 3.5.8+ answer once every watcher of the stream
        has been sent every event up to the answer's revision; older ones answer at once, ahead of events still
        to come (etcd #15220), so nothing is sent to them (False, logged once) and their watchers advance
        through events and etcd's periodic progress notifications only. Also False while the stream
        reconnects. etcd's gRPC proxy drops the request (no answer comes)."""
        return self._watches.request_progress()

    # --- lifetime ---

    def close(self) -> None:
        """Stop watches and lease keepalives and close the channel. Idempotent. On a with_watch_stream() view:
        stop the view's watches only."""
        if self._own_stream:
            self._streams.discard(self._watches)
            self._watches.close()
            return
        for stream in list(self._streams):
            stream.close()
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        if not hasattr(self, "_watches"):  # __init__ raised (error reports show such objects too)
            return "<Client not initialised>"
        state = "closed" if self._transport.closed else f"using {self._transport.endpoint}"
        namespace = f" namespace={self._space.prefix!r}" if self._space.prefix else ""
        return f"<Client {self._transport.core.describe()}{namespace} {state}>"
