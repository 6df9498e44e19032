"""The asyncio client: drives the operations of _kv_ops, _lease_ops and _cluster_ops with grpc.aio."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import grpc
import grpc.aio

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
from ._watch_async import AsyncWatcher, AsyncWatchStream, cancelled_by_caller
from .codec import KeyValue

__all__ = ["AsyncClient"]

T = TypeVar("T")


class _Connection:
    """A grpc.aio channel to one endpoint, its method callables, and its failover generation."""

    def __init__(self, core: ClientCore) -> None:
        target = core.endpoint.target
        credentials = core.channel_credentials()
        options = core.channel_options()
        if credentials is None:
            self.channel = grpc.aio.insecure_channel(target, options=options)
        else:
            self.channel = grpc.aio.secure_channel(target, credentials, options=options)
        self.generation = core.generation
        #: a call succeeded on it (so its TLS handshake, if any, completed)
        self.answered = False
        self.unary: dict[str, Any] = {}
        self.stream: dict[str, Any] = {}

    async def send(self, call: Call, timeout: float, metadata: Any) -> bytes:
        if not call.stream:
            method = self.unary.get(call.method)
            if method is None:
                # No (de)serializers: grpc hands us raw bytes and the codec decodes them.
                method = self.unary[call.method] = self.channel.unary_unary(call.method)
            return await method(call.request, timeout=timeout, metadata=metadata)
        method = self.stream.get(call.method)
        if method is None:
            method = self.stream[call.method] = self.channel.stream_stream(call.method)
        stream = method(iter((call.request,)), timeout=timeout, metadata=metadata)
        try:
            response = await stream.read()
        finally:
            stream.cancel()
        if response is grpc.aio.EOF:
            raise EtcdError(f"etcd ended the {call.method} stream without an answer (retry)")
        return response


class AsyncClient:
    """An asyncio etcd v3 client over one grpc.aio channel: Client's methods, as coroutines.

    Takes the same arguments as Client (endpoints, username/password, ca_file,
    cert_file/key_file, timeout, keepalive_time/keepalive_timeout). The channel
    opens on the first call, so the client may be made before the event loop
    runs; use it within one event loop. ``async with`` or ``await close()``.
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
        self._connection: _Connection | None = None
        self._keepers: dict[int, asyncio.Task[None]] = {}
        self._closed = False
        self._watches: AsyncWatchStream | None = None
        # Channels left by a failover, closing once their calls end (or their grace runs out).
        self._retiring: dict[asyncio.Task[None], _Connection] = {}

    @property
    def endpoint(self) -> str:
        """The endpoint in use (it changes on failover)."""
        return str(self._core.endpoint)

    # --- driving operations ---

    def _connect(self) -> _Connection:
        if self._closed:
            raise ClientClosed("the client is closed (make a new one)")
        if self._connection is None:
            self._connection = _Connection(self._core)
        return self._connection

    async def _apply(self, decision: Decision, connection: _Connection) -> None:
        if decision.delay:
            await asyncio.sleep(decision.delay)
        if decision.step is Step.REAUTHENTICATE:
            self._core.token = None
        elif decision.step is Step.FAILOVER and connection.generation == self._core.generation:
            self._core.advance(connection.generation)
            if self._connection is connection:
                self._connection = None
            # Calls still running on the old channel get the call timeout to finish (closing
            # cancels them); the watch stream then moves to the new one.
            closing = asyncio.ensure_future(connection.channel.close(grace=self._core.timeout))
            self._retiring[closing] = connection
            closing.add_done_callback(lambda task: self._retiring.pop(task, None))

    async def _invoke(self, call: Call) -> bytes:
        """Send one call with the retry policy: re-authenticate, fail over, wait out elections."""
        policy = RetryPolicy(self._core, call)
        while True:
            connection = self._connect()
            try:
                if self._core.needs_authentication(call):
                    self._core.accept_token(await self._invoke(self._core.authenticate_call()))
                response = await connection.send(call, policy.remaining(), self._core.metadata(call))
                connection.answered = True
                return response
            except grpc.RpcError as e:  # grpc.aio.AioRpcError is one
                code, details = e.code(), e.details()
            except asyncio.CancelledError:
                # grpc.aio cancels the calls of a channel it closes: another call's failover did
                # that, unless this task itself was cancelled.
                if self._closed or connection.generation == self._core.generation or cancelled_by_caller():
                    raise
                code, details = grpc.StatusCode.CANCELLED, None
            except grpc.aio.UsageError:  # "Channel is closed"
                if self._closed:
                    raise ClientClosed("the client was closed during the call") from None
                if connection.generation == self._core.generation:
                    raise
                continue  # another call's failover closed the channel before this call went out
            if self._closed:
                raise ClientClosed("the client was closed during the call")
            # Outside the handler, so the error raised has no grpc error (holding the request and token) as context.
            decision = policy.decide(code, details, answered=connection.answered,
                                     replaced=connection.generation != self._core.generation)
            await self._apply(decision, connection)
            if decision.error is not None:
                raise decision.error

    async def _run(self, op: Operation[T]) -> T:
        try:
            call = next(op)
            while True:
                call = op.send(await self._invoke(call))
        except StopIteration as done:
            return done.value
        finally:
            op.close()

    async def _keep_alive_loop(self, lease: Lease) -> None:
        interval = max(lease.ttl / 3, 0.1)
        while True:
            await asyncio.sleep(interval)
            try:
                await self._run(_lease_ops.keep_alive_once(lease, timeout=interval))
            except (LeaseNotFound, ClientClosed):
                return
            except EtcdError:
                continue  # etcd unreachable for now: the next round (or failover) may work

    # --- keys ---

    async def get(self, key: Key, *, revision: int | None = None, timeout: float | None = None) -> KeyValue | None:
        """The key's KeyValue (at `revision` if given), or None if it does not exist."""
        return await self._run(_kv_ops.get(key, revision=revision, timeout=timeout))

    async def put(self, key: Key, value: Key, *, lease: Lease | int | None = None, ttl: int | None = None,
                  prev_kv: bool = False, timeout: float | None = None) -> PutResult:
        """Write key=value. lease: attach to this lease; ttl: grant a new lease of ttl seconds for it.
        prev_kv=True returns the previous KeyValue in the result."""
        return await self._run(_kv_ops.put(key, value, lease=lease, ttl=ttl, prev_kv=prev_kv, timeout=timeout))

    async def delete(self, key: Key, *, prefix: bool = False, prev_kv: bool = False,
                     timeout: float | None = None) -> Deleted:
        """Delete key (every key under it with prefix=True); returns the number deleted (an int)."""
        return await self._run(_kv_ops.delete(key, prefix=prefix, prev_kv=prev_kv, timeout=timeout))

    async def create(self, key: Key, value: Key, *, ttl: int | None = None, lease: Lease | int | None = None,
                     timeout: float | None = None) -> int:
        """Write key=value only if key does not exist, else raise KeyExistsError; returns the revision."""
        return await self._run(_kv_ops.create(key, value, ttl=ttl, lease=lease, timeout=timeout))

    async def compare_and_put(self, key: Key, value: Key, mod_revision: int, *, lease: Lease | int | None = None,
                              timeout: float | None = None) -> int:
        """Write key=value only if its mod_revision is still `mod_revision` (0: only if absent);
        else raise ConflictError (with `.current`). Returns the new revision."""
        return await self._run(_kv_ops.compare_and_put(key, value, mod_revision, lease=lease, timeout=timeout))

    async def compare_and_delete(self, key: Key, mod_revision: int, *, timeout: float | None = None) -> int:
        """Delete key only if its mod_revision is still `mod_revision`, else raise ConflictError."""
        return await self._run(_kv_ops.compare_and_delete(key, mod_revision, timeout=timeout))

    async def push(self, directory: Key, value: Key, *, ttl: int | None = None,
                   timeout: float | None = None) -> bytes:
        """Store value under directory/<new unique, increasing id> and return that key."""
        return await self._run(_kv_ops.push(directory, value, ttl=ttl, timeout=timeout))

    async def txn(self, compare: Iterable[Compare], success: Iterable[Get | Put | Delete] = (),
                  failure: Iterable[Get | Put | Delete] = (), *, timeout: float | None = None) -> TxnResult:
        """Atomically: if every Compare holds run `success`, else `failure`."""
        return await self._run(_kv_ops.txn(compare, success, failure, timeout=timeout))

    async def count(self, prefix: Key, *, timeout: float | None = None) -> int:
        """The number of keys under prefix."""
        return await self._run(_kv_ops.count(prefix, timeout=timeout))

    async def readdir(self, prefix: Key, *, revision: int | None = None, page_size: int = DEFAULT_PAGE_SIZE,
                      keys_only: bool = False, timeout: float | None = None,
                      on_page: Callable[[int, int, bool], None] | None = None) -> Snapshot:
        """Every key under prefix, sorted, as of one revision (see Client.readdir)."""
        return await self._run(_kv_ops.readdir(prefix, revision=revision, page_size=page_size, keys_only=keys_only,
                                               timeout=timeout, on_page=on_page))

    # --- leases ---

    async def grant(self, ttl: int, *, keep_alive: bool = False, timeout: float | None = None) -> Lease:
        """A new lease of ttl seconds; keep_alive=True refreshes it in a task until revoke() or close()."""
        lease = await self._run(_lease_ops.grant(ttl, timeout=timeout))
        if keep_alive:
            await self.keep_alive(lease)
        return lease

    async def keep_alive(self, lease: Lease) -> None:
        """Refresh lease every ttl/3 seconds in a background task until revoke(), close() or it expires."""
        if not isinstance(lease, Lease):
            raise TypeError(f"keep_alive needs the Lease grant() returned, got {type(lease).__name__}")
        if self._closed:
            raise ClientClosed("the client is closed (make a new one)")
        task = self._keepers.get(lease.id)
        if task is None or task.done():
            self._keepers[lease.id] = asyncio.create_task(
                self._keep_alive_loop(lease), name=f"etcdstream-lease-{lease.id:x}"
            )

    async def keep_alive_once(self, lease: Lease | int, *, timeout: float | None = None) -> int:
        """Refresh a lease once; returns its new TTL (LeaseNotFound if it is gone)."""
        return await self._run(_lease_ops.keep_alive_once(lease, timeout=timeout))

    async def revoke(self, lease: Lease | int, *, timeout: float | None = None) -> None:
        """Stop refreshing the lease and revoke it (deleting its keys)."""
        op = _lease_ops.revoke(lease, timeout=timeout)
        task = self._keepers.pop(lease_id(lease), None)
        if task is not None:
            await _cancel(task)
        await self._run(op)

    async def time_to_live(self, lease: Lease | int, *, keys: bool = False,
                           timeout: float | None = None) -> LeaseInfo:
        """The lease's remaining TTL (-1 once expired) and granted TTL; its keys with keys=True."""
        return await self._run(_lease_ops.time_to_live(lease, keys=keys, timeout=timeout))

    async def leases(self, *, timeout: float | None = None) -> list[int]:
        """Ids of every live lease."""
        return await self._run(_lease_ops.leases(timeout=timeout))

    # --- maintenance ---

    async def status(self, *, timeout: float | None = None) -> Status:
        """Status of the member in use."""
        return await self._run(_cluster_ops.status(timeout=timeout))

    async def version(self, *, timeout: float | None = None) -> Version:
        """etcd's server version (member in use) and cluster version (from etcd's HTTP /version)."""
        check_timeout(timeout)
        self._connect()  # raises ClientClosed after close()
        return await asyncio.to_thread(fetch_version, self._core, timeout)

    async def members(self, *, timeout: float | None = None) -> list[Member]:
        """Every member of the cluster."""
        return await self._run(_cluster_ops.members(timeout=timeout))

    async def alarm_list(self, *, timeout: float | None = None) -> list[Alarm]:
        """Every alarm raised in the cluster (NOSPACE: a member's backend quota is full; writes fail until disarmed)."""
        return await self._run(_cluster_ops.alarm_list(timeout=timeout))

    async def health(self, *, timeout: float | None = None) -> bool:
        """True if the cluster answers a linearizable read (it has a leader and quorum)."""
        try:
            return await self._run(_cluster_ops.health(timeout=timeout))
        except EtcdError as e:
            return _cluster_ops.health_from_error(e)

    # --- lifetime ---

    # --- watches ---

    async def watchdir(self, prefix: Key, *, start_revision: int | None = None, prev_kv: bool = False,
                       progress_notify: bool = True, coalesce: bool = False, fragment: bool = False,
                       max_buffered_events: int = DEFAULT_MAX_BUFFERED_EVENTS) -> AsyncWatcher:
        """Watch every key under prefix: an async iterator of EventBatch (see Client.watchdir).

        Returns once etcd created the watch; every watcher shares one gRPC stream.
        """
        spec = watch_spec(prefix, prefix=True, start_revision=start_revision, prev_kv=prev_kv,
                          progress_notify=progress_notify, coalesce=coalesce, fragment=fragment)
        return await self._watch_stream().open(spec, check_max_buffered_events(max_buffered_events))

    async def watch(self, key: Key, *, start_revision: int | None = None, prev_kv: bool = False,
                    progress_notify: bool = True,
                    max_buffered_events: int = DEFAULT_MAX_BUFFERED_EVENTS) -> AsyncWatcher:
        """Watch one key: an async iterator of EventBatch (see watchdir)."""
        spec = watch_spec(key, prefix=False, start_revision=start_revision, prev_kv=prev_kv,
                          progress_notify=progress_notify, coalesce=False)
        return await self._watch_stream().open(spec, check_max_buffered_events(max_buffered_events))

    def request_progress(self) -> None:
        """Ask etcd for a progress notification now: quiet watchers' batch.revision catches up."""
        self._watch_stream().request_progress()

    def _watch_stream(self) -> AsyncWatchStream:
        if self._closed:
            raise ClientClosed("the client is closed (make a new one)")
        if self._watches is None:
            self._watches = AsyncWatchStream(self)
        return self._watches

    async def close(self) -> None:
        """Stop watches and lease keepalives and close the channel. Idempotent."""
        self._closed = True
        watches, self._watches = self._watches, None
        if watches is not None:
            await watches.close()
        tasks = list(self._keepers.values())
        self._keepers.clear()
        for task in tasks:
            await _cancel(task)
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.channel.close()
        for closing, old in list(self._retiring.items()):
            closing.cancel()  # stop waiting out the grace (grpc has not closed the channel yet)...
            await old.channel.close()  # ...and close it now
        self._retiring.clear()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    def __repr__(self) -> str:
        if not hasattr(self, "_closed"):  # __init__ raised (error reports show such objects too)
            return "<AsyncClient not initialised>"
        state = "closed" if self._closed else f"using {self._core.endpoint}"
        return f"<AsyncClient {self._core.describe()} {state}>"


async def _cancel(task: asyncio.Task[None]) -> None:
    """Cancel a task and wait until it has finished."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if task is asyncio.current_task():
            raise
