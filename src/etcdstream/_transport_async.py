"""AsyncTransport: what AsyncClient and its watch stream send calls through, with grpc.aio.

It owns the ClientCore, the channel, failover, the retry loop, the auth token and
the lease keepalive tasks; the blocking twin is _transport_sync.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import grpc
import grpc.aio

from . import _lease_ops
from ._calls import Call, Operation
from ._core import ClientCore
from ._errors import ClientClosed, EtcdError
from ._http import fetch_version
from ._results import Lease, Version
from ._retry import Decision, RetryPolicy, Step, error_from_rpc
from ._transport import TransportBase

__all__ = ["AsyncTransport", "Connection", "cancelled_by_caller"]

T = TypeVar("T")


class Connection:
    """A grpc.aio channel to one endpoint, its method callables, and its failover generation."""

    def __init__(self, core: ClientCore) -> None:
        self.channel = core.open_channel(grpc.aio)
        self.endpoint = core.endpoint
        self.generation = core.generation
        #: a call succeeded on it (so its TLS handshake, if any, completed)
        self.answered = False
        self.unary: dict[str, Any] = {}
        self.stream: dict[str, Any] = {}

    async def send(self, call: Call, timeout: float, metadata: Any) -> bytes:
        """Send one call and return the response's bytes (the first message of a stream call)."""
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


class AsyncTransport(TransportBase):
    """One channel at a time to one of the endpoints, failing over to the next; calls sent with the retry policy.

    Use it within one event loop. The channel opens on the first call.
    """

    def __init__(self, core: ClientCore) -> None:
        super().__init__(core)
        self._keepers: dict[int, asyncio.Task[None]] = {}
        # Channels left by a failover, closing once their calls end (or their grace runs out).
        self._retiring: dict[asyncio.Task[None], Connection] = {}
        # One Authenticate at a time: calls that need a token meanwhile take the one it brings.
        self._logging_in = asyncio.Lock()

    def connect(self) -> Connection:
        """The connection in use, opened if needed; ClientClosed after close()."""
        if self._closed:
            raise ClientClosed("the client is closed (make a new one)")
        if self._connection is None:
            self._connection = Connection(self.core)
        return self._connection

    async def authenticate(self, call: Call) -> None:
        """Fetch a token first if call needs one (and there is none); one fetch for every call waiting for it
        (etcd checks each password with bcrypt, through raft: 250 logins at once took over 10 s)."""
        if not self.core.needs_authentication(call):
            return
        async with self._logging_in:
            if self.core.needs_authentication(call):
                self.core.accept_token(await self.invoke(self.core.authenticate_call()))

    async def failover(self, connection: Connection) -> None:
        """Move to the next endpoint, unless a failover already replaced connection."""
        await self._apply(Decision(Step.FAILOVER), connection)

    async def _apply(self, decision: Decision, connection: Connection) -> None:
        if decision.delay:
            await asyncio.sleep(decision.delay)
        if self._take_step(decision, connection):
            # Calls still running on the old channel get the call timeout to finish (closing
            # cancels them); the watch stream then moves to the new one.
            closing = asyncio.ensure_future(connection.channel.close(grace=self.core.timeout))
            self._retiring[closing] = connection
            closing.add_done_callback(lambda task: self._retiring.pop(task, None))

    async def invoke(self, call: Call) -> bytes:
        """Send one call with the retry policy: re-authenticate, fail over, wait out elections."""
        try:
            response = await self._invoke(call)
        except EtcdError as e:
            self.counters.call(call.method, e)
            raise
        self.counters.call(call.method)
        return response

    async def _invoke(self, call: Call) -> bytes:
        policy = RetryPolicy(self.core, call)
        while True:
            connection = self.connect()
            try:
                await self.authenticate(call)
                response = await connection.send(call, policy.remaining(), self.core.metadata(call))
                self.answered(connection)
                return response
            except grpc.RpcError as e:  # grpc.aio.AioRpcError is one
                code, details = e.code(), e.details()
            except asyncio.CancelledError:
                # grpc.aio cancels the calls of a channel it closes: another call's failover did
                # that, unless this task itself was cancelled.
                if self._closed or not self.replaced(connection) or cancelled_by_caller():
                    raise
                code, details = grpc.StatusCode.CANCELLED, None
            except grpc.aio.UsageError:  # "Channel is closed"
                if self._closed:
                    raise ClientClosed("the client was closed during the call") from None
                if not self.replaced(connection):
                    raise
                continue  # another call's failover closed the channel before this call went out
            if self._closed:
                raise ClientClosed("the client was closed during the call")
            # Decided outside the handler: the error raised then has no grpc error as __context__,
            # whose traceback holds the request (Authenticate's: the password) and the token.
            decision = policy.decide(code, details, answered=connection.answered, replaced=self.replaced(connection))
            self.log_retry(call, code, decision)
            await self._apply(decision, connection)
            if decision.error is not None:
                raise decision.error

    async def run(self, op: Operation[T]) -> T:
        """Drive an operation of _kv_ops, _lease_ops or _cluster_ops to its result."""
        try:
            call = next(op)
            while True:
                call = op.send(await self.invoke(call))
        except StopIteration as done:
            return done.value
        finally:
            op.close()

    async def read_stream(self, call: Call) -> AsyncIterator[bytes]:
        """The responses of a server-streaming call (Snapshot), as they come; not retried once it started
        (its consumer has taken what came), its failure raised as an EtcdError."""
        connection = self.connect()
        await self.authenticate(call)
        responses = connection.channel.unary_stream(call.method)(call.request, timeout=call.timeout,
                                                                 metadata=self.core.metadata(call))
        try:
            async for response in responses:
                yield response
        except grpc.RpcError as e:
            error = error_from_rpc(e.code(), e.details(), self.core.endpoint, timeout=call.timeout)
        else:
            return
        finally:
            responses.cancel()
        raise error  # outside the handler: no grpc error (with the token in its metadata) as __context__

    async def fetch_version(self, timeout: float | None) -> Version:
        """etcd's /version of the endpoint in use (over HTTP, in a thread)."""
        self.connect()  # raises ClientClosed after close()
        return await asyncio.to_thread(fetch_version, self.core, timeout)

    # --- lease keepers ---

    def keep_alive(self, lease: Lease, on_lost: _lease_ops.LostCallback | None = None) -> None:
        """Refresh lease every ttl/3 seconds in a task until stop_keep_alive(), close() or it is lost
        (then on_lost(lease, error) is called in that task)."""
        if self._closed:
            raise ClientClosed("the client is closed (make a new one)")
        task = self._keepers.get(lease.id)
        if task is None or task.done():
            state = _lease_ops.KeepAliveState(lease, asyncio.get_running_loop().time(), on_lost,
                                                   self.counters)
            self._keepers[lease.id] = asyncio.create_task(self._keep_alive(state), name=f"etcdstream-lease-{lease.id:x}")

    async def stop_keep_alive(self, lease_id: int) -> None:
        """Stop refreshing the lease (if a task does)."""
        task = self._keepers.pop(lease_id, None)
        if task is not None:
            await _cancel(task)

    async def _keep_alive(self, state: _lease_ops.KeepAliveState) -> None:
        clock = asyncio.get_running_loop().time
        while True:
            await asyncio.sleep(state.interval)
            try:
                state.refreshed(await self.run(_lease_ops.keep_alive_once(state.lease, timeout=state.interval)),
                                clock())
            except ClientClosed:
                return
            except EtcdError as e:  # etcd unreachable for now (the next round or a failover may work), or lost
                lost = state.lost_after(e, clock())
                if lost is not None:
                    state.report(lost)  # stop_keep_alive() cancels this task: a stopped keeper never reports
                    return

    async def close(self) -> None:
        """Stop the lease keepers and close the channels. Idempotent."""
        self._closed = True
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


async def _cancel(task: asyncio.Task[None]) -> None:
    """Cancel a task and wait until it has finished."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if task is asyncio.current_task():
            raise


def cancelled_by_caller() -> bool:
    """Whether the running task itself was cancelled, as opposed to a call of a channel closed under it.

    Python 3.10 cannot tell: it answers True there, so the cancellation goes on.
    """
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return cancelling is None or cancelling() > 0
