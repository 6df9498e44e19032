"""A grpc.Channel look-alike whose calls go through an etcdstream Client: what a compat client's stubs
(etcdrpc.KVStub(channel), ...) are made on, so that python-etcd3's calls keep etcdstream's transport.

Each method a stub asks for (unary_unary, unary_stream, stream_stream, by etcd's gRPC path) sends its requests
through the client's transport: one channel, failover between endpoints, reads retried through failures,
writes never sent twice when etcd may have applied them (_IDEMPOTENT), the auth token fetched and renewed. A
failure is raised as a grpc.RpcError with etcd's status code, as python-etcd3's stubs raise it, the etcdstream
error chained as its cause. Watch is the exception: its stream is etcdstream's watchers (_watch_stream).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import grpc

from ... import _proto
from ..._calls import Call, single_call
from ..._errors import EtcdError
from ..._sync import Client
from ._watch_stream import WatchCall
from .exceptions import EtcdRpcError, rpc_error

_AUTHENTICATE = _proto.method_path("Auth", "Authenticate")
_SNAPSHOT = _proto.method_path("Maintenance", "Snapshot")
_WATCH = _proto.method_path("Watch", "Watch")

#: Methods that leave etcd as one send does when sent twice, so the transport may send them again when a
#: try's outcome is unknown (as etcdstream's own operations mark them: _kv_ops, _lease_ops, _cluster_ops,
#: _auth_ops). Every other method is a write that is never sent twice once it may have reached etcd.
_IDEMPOTENT = frozenset(
    _proto.method_path(service, method) for service, methods in {
        "KV": ("Range", "Compact"),
        "Lease": ("LeaseRevoke", "LeaseKeepAlive", "LeaseTimeToLive", "LeaseLeases"),
        "Cluster": ("MemberList",),
        "Maintenance": ("Alarm", "Status", "Hash", "HashKV", "Snapshot", "MoveLeader"),
        "Auth": ("AuthStatus", "Authenticate", "UserGet", "UserList", "RoleGet", "RoleList"),
    }.items() for method in methods
)

_HASH_SIZE = hashlib.sha256().digest_size


def _serializer(serialize: Callable[[Any], bytes] | None) -> Callable[[Any], bytes]:
    # As grpc: without a serializer the request is bytes already.
    return serialize if serialize is not None else bytes


def _deserializer(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
    return deserialize if deserialize is not None else (lambda raw: raw)


class _MultiCallable:
    """One method of the channel: its path, (de)serializers and how the transport may send it."""

    def __init__(self, client: Client, method: str, request_serializer: Callable[[Any], bytes] | None,
                 response_deserializer: Callable[[bytes], Any] | None) -> None:
        self._transport = client._transport
        self._method = method
        self._serialize = _serializer(request_serializer)
        self._deserialize = _deserializer(response_deserializer)

    def _call(self, request: Any, timeout: float | None, *, stream: bool = False) -> Call:
        # Credentials and metadata a caller passes (python-etcd3 passes its token) are not sent: the transport
        # sends the client's own token, and fetches a new one when etcd refuses it.
        return Call(self._method, self._serialize(request), timeout, stream=stream,
                    authenticated=self._method != _AUTHENTICATE, idempotent=self._method in _IDEMPOTENT)

    def _send(self, call: Call) -> Any:
        try:
            return self._transport.run(single_call(call, self._deserialize))
        except EtcdError as e:
            error = e
        raise rpc_error(error) from error  # outside the handler, as the transport raises its own errors


class _UnaryUnary(_MultiCallable):
    def __call__(self, request: Any, timeout: float | None = None, metadata: Any = None, credentials: Any = None,
                 wait_for_ready: bool | None = None, compression: Any = None) -> Any:
        """The response to request; a grpc.RpcError if the call failed."""
        return self._send(self._call(request, timeout))


class _StreamStream(_MultiCallable):
    """A bidirectional method of one response per request (LeaseKeepAlive): each request sent as a call."""

    def __call__(self, request_iterator: Iterable[Any], timeout: float | None = None, metadata: Any = None,
                 credentials: Any = None, wait_for_ready: bool | None = None, compression: Any = None) -> Iterator[Any]:
        """The response to each request, in turn."""
        for request in request_iterator:
            yield self._send(self._call(request, timeout, stream=True))


class _UnaryStream(_MultiCallable):
    """A server-streaming method (Snapshot): its responses as they come, not retried once started."""

    def __call__(self, request: Any, timeout: float | None = None, metadata: Any = None, credentials: Any = None,
                 wait_for_ready: bool | None = None, compression: Any = None) -> Iterator[Any]:
        """The responses, in turn; a grpc.RpcError if the stream failed."""
        return self._responses(self._call(request, timeout))

    def _responses(self, call: Call) -> Iterator[Any]:
        check = _SnapshotChecksum() if self._method == _SNAPSHOT else None
        stream = self._transport.read_stream(call)
        error: EtcdError | None = None
        try:
            while True:
                try:
                    raw = next(stream)
                except StopIteration:
                    break
                except EtcdError as e:
                    error = e
                    break
                if check is not None:
                    check.add(_proto.SnapshotResponse.FromString(raw).blob)
                yield self._deserialize(raw)
        finally:
            stream.close()  # a consumer that stops early ends the call
        if error is not None:
            raise rpc_error(error) from error
        if check is not None and not check.matches():
            raise EtcdRpcError(grpc.StatusCode.DATA_LOSS,
                               "the snapshot does not match the sha256 etcd sent after it (take it again)")


class _SnapshotChecksum:
    """etcd's snapshot stream ends with the sha256 of the bytes before it: checked as they go by."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._tail = b""  # the last bytes seen: the checksum, once the stream ends

    def add(self, blob: bytes) -> None:
        data = self._tail + blob
        self._digest.update(data[:-_HASH_SIZE])
        self._tail = data[-_HASH_SIZE:]

    def matches(self) -> bool:
        return self._tail == self._digest.digest()


class _Watch:
    """etcd's Watch method: a stream of etcdstream watchers (_watch_stream.WatchCall)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def __call__(self, request_iterator: Iterable[Any], timeout: float | None = None, metadata: Any = None,
                 credentials: Any = None, wait_for_ready: bool | None = None, compression: Any = None) -> WatchCall:
        return WatchCall(self._client, request_iterator)


class TransportChannel:
    """The compat client's `channel`: python-etcd3's stubs (etcdrpc.KVStub(channel), ...) made on it send
    through the etcdstream Client's transport. Closing it closes the Client."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def unary_unary(self, method: str, request_serializer: Callable[[Any], bytes] | None = None,
                    response_deserializer: Callable[[bytes], Any] | None = None, **options: Any) -> _UnaryUnary:
        return _UnaryUnary(self._client, method, request_serializer, response_deserializer)

    def unary_stream(self, method: str, request_serializer: Callable[[Any], bytes] | None = None,
                     response_deserializer: Callable[[bytes], Any] | None = None, **options: Any) -> _UnaryStream:
        return _UnaryStream(self._client, method, request_serializer, response_deserializer)

    def stream_stream(self, method: str, request_serializer: Callable[[Any], bytes] | None = None,
                      response_deserializer: Callable[[bytes], Any] | None = None,
                      **options: Any) -> _StreamStream | _Watch:
        if method == _WATCH:
            return _Watch(self._client)
        return _StreamStream(self._client, method, request_serializer, response_deserializer)

    def stream_unary(self, method: str, *args: Any, **options: Any) -> Any:
        raise ValueError(f"etcd has no client-streaming method such as {method}")

    def close(self) -> None:
        """Close the client (its calls and watches end)."""
        self._client.close()

    def __enter__(self) -> TransportChannel:
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()
