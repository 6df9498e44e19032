"""Transport: what Client and its watch stream send calls through, with grpcio's blocking API.

It owns the ClientCore, the channel, failover, the retry loop, the auth token and
the lease keepalive threads; the asyncio twin is _transport_async.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, TypeVar

import grpc

from . import _lease_ops
from ._calls import Call, Operation
from ._core import ClientCore
from ._errors import ClientClosed, EtcdError
from ._http import fetch_version
from ._results import Lease, Version
from ._retry import Decision, RetryPolicy, Step, error_from_rpc
from ._transport import TransportBase

__all__ = ["Connection", "Transport"]

T = TypeVar("T")

# grpc.ChannelConnectivity by the number grpc's core channel reports.
_CONNECTIVITY = {state.value[0]: state for state in grpc.ChannelConnectivity}


class Connection:
    """A channel to one endpoint, its method callables, and the failover generation it belongs to."""

    def __init__(self, core: ClientCore) -> None:
        self.channel = core.open_channel(grpc)
        self.endpoint = core.endpoint
        self.generation = core.generation
        #: a call succeeded on it (so its TLS handshake, if any, completed)
        self.answered = False
        self.unary: dict[str, Any] = {}
        self.stream: dict[str, Any] = {}

    def connectivity(self) -> grpc.ChannelConnectivity | None:
        """The channel's state now, asking an idle channel to connect; None if this grpcio does not tell.
        ValueError once the channel is closed.

        Read from grpc's core channel: the blocking API has no get_state(), and its subscribe() starts a
        polling thread of grpc's own that outlives unsubscribe() and dies of "Channel closed!" when the
        channel closes meanwhile (an unhandled exception in a thread nobody here owns).
        """
        check = getattr(getattr(self.channel, "_channel", None), "check_connectivity_state", None)
        return None if check is None else _CONNECTIVITY.get(check(True))

    def send(self, call: Call, timeout: float, metadata: Any) -> bytes:
        """Send one call and return the response's bytes (the first message of a stream call)."""
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
    """Refreshes one lease every ttl/3 seconds until stopped, the lease is lost or the client closes."""

    def __init__(self, transport: Transport, state: _lease_ops.KeepAliveState) -> None:
        super().__init__(name=f"etcdstream-lease-{state.lease.id:x}", daemon=True)
        self.transport = transport
        self.state = state
        self.stopped = threading.Event()

    def run(self) -> None:
        state = self.state
        while not self.stopped.wait(state.interval):
            try:
                state.refreshed(self.transport.run(_lease_ops.keep_alive_once(state.lease, timeout=state.interval)),
                                time.monotonic())
            except ClientClosed:
                return
            except EtcdError as e:  # etcd unreachable for now (the next round or a failover may work), or lost
                lost = state.lost_after(e, time.monotonic())
                if lost is not None:
                    if not self.stopped.is_set():
                        state.report(lost)
                    return

    def stop(self) -> None:
        self.stopped.set()
        if self is not threading.current_thread():
            self.join()


class Transport(TransportBase):
    """One channel at a time to one of the endpoints, failing over to the next; calls sent with the retry policy.

    Safe to share between threads. The channel opens on the first call.
    """

    def __init__(self, core: ClientCore) -> None:
        super().__init__(core)
        self._lock = threading.RLock()
        # One Authenticate at a time: calls that need a token meanwhile take the one it brings.
        self._logging_in = threading.Lock()
        self._keepers: dict[int, _LeaseKeeper] = {}
        # Channels left by a failover, each with the timer that closes it once its grace runs out.
        self._retiring: dict[Connection, threading.Timer] = {}

    def connect(self) -> Connection:
        """The connection in use, opened if needed; ClientClosed after close()."""
        with self._lock:
            if self._closed:
                raise ClientClosed("the client is closed (make a new one)")
            if self._connection is None:
                self._connection = Connection(self.core)
            return self._connection

    def authenticate(self, call: Call) -> None:
        """Fetch a token first if call needs one (and there is none); one fetch for every call waiting for it
        (etcd checks each password with bcrypt, through raft: 250 logins at once took over 10 s)."""
        if not self.core.needs_authentication(call):
            return
        with self._logging_in:
            if self.core.needs_authentication(call):
                self.core.accept_token(self.invoke(self.core.authenticate_call()))

    def failover(self, connection: Connection) -> None:
        """Move to the next endpoint, unless a failover already replaced connection."""
        self._apply(Decision(Step.FAILOVER), connection)

    def _apply(self, decision: Decision, connection: Connection) -> None:
        if decision.delay:
            time.sleep(decision.delay)
        with self._lock:
            if self._take_step(decision, connection):
                # Calls still running on the old channel get the call timeout to finish (closing
                # cancels them); the watch stream then moves to the new one.
                timer = self._retiring[connection] = threading.Timer(self.core.timeout, self._retire, (connection,))
                timer.name, timer.daemon = "etcdstream-retire", True
                timer.start()

    def _retire(self, connection: Connection) -> None:
        with self._lock:
            self._retiring.pop(connection, None)
        connection.channel.close()

    def invoke(self, call: Call) -> bytes:
        """Send one call with the retry policy: re-authenticate, fail over, wait out elections."""
        try:
            response = self._invoke(call)
        except EtcdError as e:
            self.counters.call(call.method, e)
            raise
        self.counters.call(call.method)
        return response

    def _invoke(self, call: Call) -> bytes:
        policy = RetryPolicy(self.core, call)
        while True:
            connection = self.connect()
            try:
                self.authenticate(call)
                response = connection.send(call, policy.remaining(), self.core.metadata(call))
                self.answered(connection)
                return response
            except grpc.RpcError as e:
                code, details = e.code(), e.details()
            except ValueError:  # grpc's "Cannot invoke RPC: Channel closed!"
                if self._closed:
                    raise ClientClosed("the client was closed during the call") from None
                if not self.replaced(connection):
                    raise
                continue  # the old channel's grace ran out before this call went out
            if self._closed:
                raise ClientClosed("the client was closed during the call")
            # Decided outside the handler: the error raised then has no grpc error as __context__,
            # whose traceback holds the request (Authenticate's: the password) and the token.
            decision = policy.decide(code, details, answered=connection.answered, replaced=self.replaced(connection))
            self.log_retry(call, code, decision)
            self._apply(decision, connection)
            if decision.error is not None:
                raise decision.error

    def run(self, op: Operation[T]) -> T:
        """Drive an operation of _kv_ops, _lease_ops or _cluster_ops to its result."""
        try:
            call = next(op)
            while True:
                call = op.send(self.invoke(call))
        except StopIteration as done:
            return done.value
        finally:
            op.close()

    def read_stream(self, call: Call) -> Iterator[bytes]:
        """The responses of a server-streaming call (Snapshot), as they come; not retried once it started
        (its consumer has taken what came), its failure raised as an EtcdError."""
        connection = self.connect()
        self.authenticate(call)
        responses = connection.channel.unary_stream(call.method)(call.request, timeout=call.timeout,
                                                                 metadata=self.core.metadata(call))
        try:
            yield from responses
        except grpc.RpcError as e:
            error = error_from_rpc(e.code(), e.details(), self.core.endpoint, timeout=call.timeout)
        else:
            return
        finally:
            responses.cancel()
        raise error  # outside the handler: no grpc error (with the token in its metadata) as __context__

    def fetch_version(self, timeout: float | None) -> Version:
        """etcd's /version of the endpoint in use (over HTTP)."""
        self.connect()  # raises ClientClosed after close()
        return fetch_version(self.core, timeout)

    # --- lease keepers ---

    def keep_alive(self, lease: Lease, on_lost: _lease_ops.LostCallback | None = None) -> None:
        """Refresh lease every ttl/3 seconds in a thread until stop_keep_alive(), close() or it is lost
        (then on_lost(lease, error) is called in that thread)."""
        with self._lock:
            if self._closed:
                raise ClientClosed("the client is closed (make a new one)")
            if lease.id not in self._keepers or not self._keepers[lease.id].is_alive():
                state = _lease_ops.KeepAliveState(lease, time.monotonic(), on_lost, self.counters)
                keeper = self._keepers[lease.id] = _LeaseKeeper(self, state)
                keeper.start()

    def stop_keep_alive(self, lease_id: int) -> None:
        """Stop refreshing the lease (if a thread does)."""
        with self._lock:
            keeper = self._keepers.pop(lease_id, None)
        if keeper is not None:
            keeper.stop()

    def close(self) -> None:
        """Stop the lease keepers and close the channels. Idempotent."""
        with self._lock:
            self._closed = True
            keepers = list(self._keepers.values())
            self._keepers.clear()
            connection, self._connection = self._connection, None
            retiring, self._retiring = self._retiring, {}
        # The channels first: closing one ends the calls on it, a keeper's refresh among them (it has
        # ttl/3 s to answer: joined first, a keeper kept close() waiting that long on a dead connection).
        if connection is not None:
            connection.channel.close()
        for old, timer in retiring.items():
            timer.cancel()  # stop waiting out the grace...
            old.channel.close()  # ...and close it now
            if timer is not threading.current_thread():
                timer.join()
        for keeper in keepers:
            keeper.stop()
