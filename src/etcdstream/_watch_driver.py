"""What the two drivers of the watch stream share (_watch_sync: a thread, _watch_async: a task): the stream's
I/O-free state, the request queue of the current call, and what a broken call asks of them (stream_failure)."""

from __future__ import annotations

from enum import Enum
from typing import Any

import grpc

from ._calls import Call
from ._cluster_ops import status_from
from ._endpoints import Endpoint
from ._errors import AuthFailed, ClientClosed, ConnectionFailed, EtcdError, PermissionDenied, Timeout
from ._results import Status
from ._retry import IN_DOUBT_DETAILS, REAUTH_DETAILS, REFUSED_DETAILS, error_from_rpc
from ._transport import TransportBase
from ._watch import WATCH_METHOD, WatchStreamState

# Codes a stream ends with when its connection or server went away, not when etcd refused it.
_BROKEN_STREAM_CODES = (grpc.StatusCode.CANCELLED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN,
                        grpc.StatusCode.ABORTED)


class StreamStep(Enum):
    """What a watch stream does after it broke."""

    RECONNECT = "reconnect"  # same endpoint, after a pause
    FAILOVER = "failover"  # next endpoint, after a pause
    REAUTHENTICATE = "reauthenticate"  # new token, then reconnect
    FAIL = "fail"  # every watcher ends with the error


def stream_failure(code: grpc.StatusCode | None, details: str | None, endpoint: Endpoint,
                   several_endpoints: bool) -> tuple[StreamStep, EtcdError]:
    """Decide what a broken Watch stream does: a watch has no deadline, so connection trouble is retried forever."""
    error = error_from_rpc(code, details, endpoint)
    text = details or ""
    if any(problem in text for problem in REAUTH_DETAILS):
        return StreamStep.REAUTHENTICATE, error
    if isinstance(error, (AuthFailed, PermissionDenied)):
        return StreamStep.FAIL, error
    if (
        isinstance(error, (ConnectionFailed, Timeout))
        or code in _BROKEN_STREAM_CODES
        or any(problem in text for problem in (*REFUSED_DETAILS, *IN_DOUBT_DETAILS))
    ):
        return (StreamStep.FAILOVER if several_endpoints else StreamStep.RECONNECT), error
    return StreamStep.FAIL, error


# Codes a server that has no Status for this client answers it with: its version stays unknown.
_NO_STATUS_CODES = (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.PERMISSION_DENIED)


def server_status(raw: bytes | None, error: grpc.RpcError | None = None) -> Status | None:
    """The Status a stream's server answered (raw), None if it could not say (error); an error that is the
    connection's own is raised, to be handled as the stream's."""
    if error is not None:
        if error.code() in _NO_STATUS_CODES:
            return None
        raise error
    return status_from(raw) if raw is not None else None


#: Put on a call's request queue: the request stream ends there.
STOP = object()
#: The Watch stream as a call, for authentication and metadata.
STREAM_CALL = Call(WATCH_METHOD, b"", stream=True)


class WatchStreamDriver:
    """The part of a watch stream driver that does not block: a driver adds reading, waiting and reconnecting."""

    def __init__(self, transport: TransportBase) -> None:
        self._transport = transport
        self._state = WatchStreamState(transport.counters)
        self._requests: Any = None  # the current call's request queue (queue.SimpleQueue, asyncio.Queue)
        self._call: Any = None  # the current call (grpc's, either flavour)
        self._status_call: Any = None  # the Status call asking a new stream's server its version
        self._closed = False

    @property
    def watchers(self) -> int:
        """How many watchers are live."""
        return len(self._state.live)

    def progress_wait_problem(self) -> str | None:
        """Why nobody may wait for a progress answer on this stream (_watch_progress.PROGRESS_RULES), None if
        one may. Read without the driver's lock: a few attributes, each consistent on its own."""
        return self._state.progress_wait_problem()

    def _flush(self) -> None:
        """Queue what the state has to send (creates, cancels) on the current call, if any."""
        requests = self._state.take_requests()
        if self._requests is not None:
            for request in requests:
                self._requests.put_nowait(request)

    def _stop_call(self) -> None:
        """End the current call: its request stream, and the call itself."""
        if self._requests is not None:
            self._requests.put_nowait(STOP)
        if self._call is not None:
            self._call.cancel()
        if self._status_call is not None:
            self._status_call.cancel()

    def _broken_by(self, e: grpc.RpcError) -> tuple[StreamStep, EtcdError]:
        """What a call ended by e asks for, and the error the watchers get if it is the end."""
        return stream_failure(e.code(), e.details(), self._transport.endpoint, self._transport.can_fail_over)

    def _recover_in_place(self, step: StreamStep, error: EtcdError) -> bool:
        """Act on a broken call but for a failover (the driver's: it may block); False when the watchers end."""
        if step is StreamStep.FAIL:
            self._fail(error)
            return False
        if step is StreamStep.REAUTHENTICATE:
            self._transport.forget_token()
        return True

    def _ends_after(self, error: EtcdError) -> bool:
        """After an error of etcdstream's own (etcd unreachable while authenticating, bytes that do not decode,
        a protocol error: reconnect), whether the stream ends instead: closed, or its credentials refused."""
        if isinstance(error, AuthFailed):
            self._fail(error)
            return True
        return self._closed or isinstance(error, ClientClosed)

    def _fail(self, error: EtcdError) -> None:
        """End every watcher with error (the driver wakes their consumers)."""
        raise NotImplementedError
