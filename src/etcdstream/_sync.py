"""The blocking client: drives the operations of _kv_ops, _lease_ops and _cluster_ops with grpcio's synchronous API."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import grpc

from . import _cluster_ops, _kv_ops, _lease_ops
from ._calls import Call, Operation, check_timeout, lease_id
from ._core import DEFAULT_TIMEOUT, ClientCore
from ._errors import ClientClosed, EtcdError, LeaseNotFound
from ._http import fetch_version
from ._keys import Key
from ._kv_ops import DEFAULT_PAGE_SIZE
from ._results import (
    Alarm,
    Deleted,
    Lease,
    LeaseInfo,
    Member,
    PutResult,
    Snapshot,
    Status,
    TxnResult,
    Version,
)
from ._retry import Decision, RetryPolicy, Step
from ._txn import Compare, Delete, Get, Put
from ._watch_spec import DEFAULT_MAX_BUFFERED_EVENTS, check_max_buffered_events, watch_spec
from ._watch_sync import Watcher, WatchStream
from .codec import KeyValue

__all__ = ["Client"]

T = TypeVar("T")


class _Connection:
    """A channel to one endpoint, its method callables, and the failover generation it belongs to."""

    def __init__(self, core: ClientCore) -> None:
        target = core.endpoint.target
        credentials = core.channel_credentials()
        options = core.channel_options()
        if credentials is None:
            self.channel = grpc.insecure_channel(target, options=options)
        else:
            self.channel = grpc.secure_channel(target, credentials, options=options)
        self.generation = core.generation
        #: a call succeeded on it (so its TLS handshake, if any, completed)
        self.answered = False
        self.unary: dict[str, Any] = {}
        self.stream: dict[str, Any] = {}

    def send(self, call: Call, timeout: float, metadata: Any) -> bytes:
        if not call.stream:
            method = self.unary.get(call.method)
            if method is None:
                # No (de)serializers: grpc hands us raw bytes and the codec decodes them.
                method = self.unary[call.method] = self.channel.unary_unary(call.method)
            return method(call.request, timeout=timeout, metadata=metadata)
        method = self.stream.get(call.method)
        if method is None:
            method = self.stream[call.method] = self.channel.stream_stream(call.method)
        responses = method(iter((call.request,)), timeout=timeout, metadata=metadata)
        try:
            for response in responses:
                return response
        finally:
            responses.cancel()
        raise EtcdError(f"etcd ended the {call.method} stream without an answer (retry)")


class _LeaseKeeper(threading.Thread):
    """Refreshes one lease every ttl/3 seconds until stopped, the lease is gone or the client closes."""

    def __init__(self, client: Client, lease: Lease) -> None:
        super().__init__(name=f"etcdstream-lease-{lease.id:x}", daemon=True)
        self.client = client
        self.lease = lease
        self.interval = max(lease.ttl / 3, 0.1)
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.client._run(_lease_ops.keep_alive_once(self.lease, timeout=self.interval))
            except (LeaseNotFound, ClientClosed):
                return
            except EtcdError:
                continue  # etcd unreachable for now: the next round (or failover) may work

    def stop(self) -> None:
        self.stopped.set()
        if self is not threading.current_thread():
            self.join()


class Client:
    """A blocking etcd v3 client over one gRPC channel.

    endpoints: "host:port", "http(s)://host:port", a comma-separated string or
    a list; the client uses one at a time and fails over to the next when it
    is unavailable. username/password: etcd auth (the token is refreshed
    transparently). ca_file: trust this CA (TLS); cert_file/key_file: a client
    certificate (mTLS). timeout: seconds per call unless a call says otherwise.
    keepalive_time/keepalive_timeout: gRPC pings that detect a dead connection.

    Keys and values are str (UTF-8) or bytes; results are bytes (KeyValue).
    Use it as a context manager, or call close(). Safe to share between threads.
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
        keepalive_time: float = 10.0,
        keepalive_timeout: float = 5.0,
    ) -> None:
        self._core = ClientCore(
            endpoints, username=username, password=password, ca_file=ca_file, cert_file=cert_file,
            key_file=key_file, timeout=timeout, keepalive_time=keepalive_time, keepalive_timeout=keepalive_timeout,
        )
        self._lock = threading.RLock()
        self._connection: _Connection | None = None
        self._keepers: dict[int, _LeaseKeeper] = {}
        self._closed = False
        self._watches: WatchStream | None = None

    @property
    def endpoint(self) -> str:
        """The endpoint in use (it changes on failover)."""
        return str(self._core.endpoint)

    # --- driving operations ---

    def _connect(self) -> _Connection:
        with self._lock:
            if self._closed:
                raise ClientClosed("the client is closed (make a new one)")
            if self._connection is None:
                self._connection = _Connection(self._core)
            return self._connection

    def _apply(self, decision: Decision, connection: _Connection) -> None:
        if decision.delay:
            time.sleep(decision.delay)
        with self._lock:
            if decision.step is Step.REAUTHENTICATE:
                self._core.token = None
            elif decision.step is Step.FAILOVER and connection.generation == self._core.generation:
                self._core.advance(connection.generation)
                if self._connection is connection:
                    self._connection = None
                connection.channel.close()

    def _invoke(self, call: Call) -> bytes:
        """Send one call with the retry policy: re-authenticate, fail over, wait out elections."""
        policy = RetryPolicy(self._core, call)
        while True:
            connection = self._connect()
            try:
                if self._core.needs_authentication(call):
                    self._core.accept_token(self._invoke(self._core.authenticate_call()))
                response = connection.send(call, policy.remaining(), self._core.metadata(call))
                connection.answered = True
                return response
            except grpc.RpcError as e:
                code, details = e.code(), e.details()
            except ValueError:  # grpc's "Cannot invoke RPC: Channel closed!"
                if self._closed:
                    raise ClientClosed("the client was closed during the call") from None
                if connection.generation == self._core.generation:
                    raise
                continue  # another call's failover closed the channel before this call went out
            if self._closed:
                raise ClientClosed("the client was closed during the call")
            # Decided outside the handler: the error raised then has no grpc error as __context__,
            # whose traceback holds the request (Authenticate's: the password) and the token.
            decision = policy.decide(code, details, answered=connection.answered,
                                     replaced=connection.generation != self._core.generation)
            self._apply(decision, connection)
            if decision.error is not None:
                raise decision.error

    def _run(self, op: Operation[T]) -> T:
        try:
            call = next(op)
            while True:
                call = op.send(self._invoke(call))
        except StopIteration as done:
            return done.value
        finally:
            op.close()

    # --- keys ---

    def get(self, key: Key, *, revision: int | None = None, timeout: float | None = None) -> KeyValue | None:
        """The key's KeyValue (at `revision` if given), or None if it does not exist."""
        return self._run(_kv_ops.get(key, revision=revision, timeout=timeout))

    def put(self, key: Key, value: Key, *, lease: Lease | int | None = None, ttl: int | None = None,
            prev_kv: bool = False, timeout: float | None = None) -> PutResult:
        """Write key=value. lease: attach to this lease; ttl: grant a new lease of ttl seconds for it.
        prev_kv=True returns the previous KeyValue in the result."""
        return self._run(_kv_ops.put(key, value, lease=lease, ttl=ttl, prev_kv=prev_kv, timeout=timeout))

    def delete(self, key: Key, *, prefix: bool = False, prev_kv: bool = False,
               timeout: float | None = None) -> Deleted:
        """Delete key (every key under it with prefix=True); returns the number deleted (an int)."""
        return self._run(_kv_ops.delete(key, prefix=prefix, prev_kv=prev_kv, timeout=timeout))

    def create(self, key: Key, value: Key, *, ttl: int | None = None, lease: Lease | int | None = None,
               timeout: float | None = None) -> int:
        """Write key=value only if key does not exist, else raise KeyExistsError; returns the revision."""
        return self._run(_kv_ops.create(key, value, ttl=ttl, lease=lease, timeout=timeout))

    def compare_and_put(self, key: Key, value: Key, mod_revision: int, *, lease: Lease | int | None = None,
                        timeout: float | None = None) -> int:
        """Write key=value only if its mod_revision is still `mod_revision` (0: only if absent);
        else raise ConflictError (with `.current`). Returns the new revision."""
        return self._run(_kv_ops.compare_and_put(key, value, mod_revision, lease=lease, timeout=timeout))

    def compare_and_delete(self, key: Key, mod_revision: int, *, timeout: float | None = None) -> int:
        """Delete key only if its mod_revision is still `mod_revision`, else raise ConflictError."""
        return self._run(_kv_ops.compare_and_delete(key, mod_revision, timeout=timeout))

    def push(self, directory: Key, value: Key, *, ttl: int | None = None, timeout: float | None = None) -> bytes:
        """Store value under directory/<new unique, increasing id> and return that key."""
        return self._run(_kv_ops.push(directory, value, ttl=ttl, timeout=timeout))

    def txn(self, compare: Iterable[Compare], success: Iterable[Get | Put | Delete] = (),
            failure: Iterable[Get | Put | Delete] = (), *, timeout: float | None = None) -> TxnResult:
        """Atomically: if every Compare holds run `success`, else `failure`."""
        return self._run(_kv_ops.txn(compare, success, failure, timeout=timeout))

    def count(self, prefix: Key, *, timeout: float | None = None) -> int:
        """The number of keys under prefix."""
        return self._run(_kv_ops.count(prefix, timeout=timeout))

    def readdir(self, prefix: Key, *, revision: int | None = None, page_size: int = DEFAULT_PAGE_SIZE,
                keys_only: bool = False, timeout: float | None = None,
                on_page: Callable[[int, int, bool], None] | None = None) -> Snapshot:
        """Every key under prefix, sorted, as of one revision (the first page's unless `revision` is given).

        Reads pages of page_size keys, all at that revision, so the snapshot is
        consistent while writers run; timeout applies to each page. on_page(keys read
        so far, keys under prefix, more pages) is called after each page (a progress bar).
        """
        return self._run(_kv_ops.readdir(prefix, revision=revision, page_size=page_size, keys_only=keys_only,
                                     timeout=timeout, on_page=on_page))

    # --- leases ---

    def grant(self, ttl: int, *, keep_alive: bool = False, timeout: float | None = None) -> Lease:
        """A new lease of ttl seconds; keep_alive=True refreshes it in the background until revoke() or close()."""
        lease = self._run(_lease_ops.grant(ttl, timeout=timeout))
        if keep_alive:
            self.keep_alive(lease)
        return lease

    def keep_alive(self, lease: Lease) -> None:
        """Refresh lease every ttl/3 seconds in a background thread until revoke(), close() or it expires."""
        if not isinstance(lease, Lease):
            raise TypeError(f"keep_alive needs the Lease grant() returned, got {type(lease).__name__}")
        with self._lock:
            if self._closed:
                raise ClientClosed("the client is closed (make a new one)")
            if lease.id not in self._keepers or not self._keepers[lease.id].is_alive():
                keeper = self._keepers[lease.id] = _LeaseKeeper(self, lease)
                keeper.start()

    def keep_alive_once(self, lease: Lease | int, *, timeout: float | None = None) -> int:
        """Refresh a lease once; returns its new TTL (LeaseNotFound if it is gone)."""
        return self._run(_lease_ops.keep_alive_once(lease, timeout=timeout))

    def revoke(self, lease: Lease | int, *, timeout: float | None = None) -> None:
        """Stop refreshing the lease and revoke it (deleting its keys)."""
        op = _lease_ops.revoke(lease, timeout=timeout)
        with self._lock:
            keeper = self._keepers.pop(lease_id(lease), None)
        if keeper:
            keeper.stop()
        self._run(op)

    def time_to_live(self, lease: Lease | int, *, keys: bool = False, timeout: float | None = None) -> LeaseInfo:
        """The lease's remaining TTL (-1 once expired) and granted TTL; its keys with keys=True."""
        return self._run(_lease_ops.time_to_live(lease, keys=keys, timeout=timeout))

    def leases(self, *, timeout: float | None = None) -> list[int]:
        """Ids of every live lease."""
        return self._run(_lease_ops.leases(timeout=timeout))

    # --- maintenance ---

    def status(self, *, timeout: float | None = None) -> Status:
        """Status of the member in use."""
        return self._run(_cluster_ops.status(timeout=timeout))

    def version(self, *, timeout: float | None = None) -> Version:
        """etcd's server version (member in use) and cluster version (from etcd's HTTP /version)."""
        check_timeout(timeout)
        self._connect()  # raises ClientClosed after close()
        return fetch_version(self._core, timeout)

    def members(self, *, timeout: float | None = None) -> list[Member]:
        """Every member of the cluster."""
        return self._run(_cluster_ops.members(timeout=timeout))

    def alarm_list(self, *, timeout: float | None = None) -> list[Alarm]:
        """Every alarm raised in the cluster (NOSPACE: a member's backend quota is full; writes fail until disarmed)."""
        return self._run(_cluster_ops.alarm_list(timeout=timeout))

    def health(self, *, timeout: float | None = None) -> bool:
        """True if the cluster answers a linearizable read (it has a leader and quorum)."""
        try:
            return self._run(_cluster_ops.health(timeout=timeout))
        except EtcdError as e:
            return _cluster_ops.health_from_error(e)

    # --- lifetime ---

    # --- watches ---

    def watchdir(self, prefix: Key, *, start_revision: int | None = None, prev_kv: bool = False,
                 progress_notify: bool = True, coalesce: bool = False, fragment: bool = False,
                 max_buffered_events: int = DEFAULT_MAX_BUFFERED_EVENTS) -> Watcher:
        """Watch every key under prefix: an iterator of EventBatch (all events ready at that moment).

        start_revision: the first revision to see (after readdir at R: R + 1); None: from now.
        coalesce=True keeps only the last event of each key in a batch. fragment=True asks
        etcd to split responses larger than its request limit (they are joined again before
        delivery); off by default because etcd 3.5 builds fragments in quadratic time (a
        20,000-event catch-up took 3.6 s instead of 0.15 s) and the client's receive limit
        is lifted anyway. Every watcher
        of the client shares one gRPC stream; it reconnects and resumes by itself.
        Returns once etcd created the watch (a refused one raises here).
        A watcher holding max_buffered_events unread events is paused on the server
        and resumed from where it stopped once read (a slow consumer loses nothing).
        """
        spec = watch_spec(prefix, prefix=True, start_revision=start_revision, prev_kv=prev_kv,
                          progress_notify=progress_notify, coalesce=coalesce, fragment=fragment)
        return self._watch_stream().open(spec, check_max_buffered_events(max_buffered_events))

    def watch(self, key: Key, *, start_revision: int | None = None, prev_kv: bool = False,
              progress_notify: bool = True, max_buffered_events: int = DEFAULT_MAX_BUFFERED_EVENTS) -> Watcher:
        """Watch one key: an iterator of EventBatch (see watchdir)."""
        spec = watch_spec(key, prefix=False, start_revision=start_revision, prev_kv=prev_kv,
                          progress_notify=progress_notify, coalesce=False)
        return self._watch_stream().open(spec, check_max_buffered_events(max_buffered_events))

    def request_progress(self) -> None:
        """Ask etcd for a progress notification now: quiet watchers' batch.revision catches up."""
        self._watch_stream().request_progress()

    def _watch_stream(self) -> WatchStream:
        with self._lock:
            if self._closed:
                raise ClientClosed("the client is closed (make a new one)")
            if self._watches is None:
                self._watches = WatchStream(self)
            return self._watches

    def close(self) -> None:
        """Stop watches and lease keepalives and close the channel. Idempotent."""
        with self._lock:
            self._closed = True
            keepers = list(self._keepers.values())
            self._keepers.clear()
            connection, self._connection = self._connection, None
            watches, self._watches = self._watches, None
        if watches is not None:
            watches.close()
        for keeper in keepers:
            keeper.stop()
        if connection is not None:
            connection.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        if not hasattr(self, "_closed"):  # __init__ raised (error reports show such objects too)
            return "<Client not initialised>"
        state = "closed" if self._closed else f"using {self._core.endpoint}"
        return f"<Client {self._core.describe()} {state}>"
