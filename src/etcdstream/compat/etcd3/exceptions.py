"""python-etcd3's exceptions, with its names and hierarchy.

handle_errors is python-etcd3's _handle_errors: a grpc error (what a stub raises, a patched one too) becomes
the exception python-etcd3 maps its status code to, or goes on unchanged. rpc_error() is the grpc error a
stub raises where etcdstream's transport raised an EtcdError; translate() maps an EtcdError directly.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc

from ..._errors import ClientClosed, CompactedError, ConnectionFailed, EtcdError, Timeout


class Etcd3Exception(Exception):
    pass


class WatchTimedOut(Etcd3Exception):
    pass


class InternalServerError(Etcd3Exception):
    pass


class ConnectionFailedError(Etcd3Exception):
    def __str__(self) -> str:
        return "etcd connection failed"


class ConnectionTimeoutError(Etcd3Exception):
    def __str__(self) -> str:
        return "etcd connection timeout"


class PreconditionFailedError(Etcd3Exception):
    pass


class RevisionCompactedError(Etcd3Exception):
    def __init__(self, compacted_revision: int) -> None:
        self.compacted_revision = compacted_revision
        super().__init__()


class NoServerAvailableError(Etcd3Exception):
    pass


class EtcdRpcError(grpc.RpcError):
    """What python-etcd3 lets through unchanged: a gRPC error of another status code, with code() and details()."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


_BY_CODE: dict[str, type[Etcd3Exception]] = {
    "INTERNAL": InternalServerError,
    "UNAVAILABLE": ConnectionFailedError,
    "DEADLINE_EXCEEDED": ConnectionTimeoutError,
    "FAILED_PRECONDITION": PreconditionFailedError,
}


def translate(error: EtcdError) -> Exception:
    """The exception python-etcd3 raises where etcdstream raised error (chain it: `raise translate(e) from e`)."""
    if error.code in _BY_CODE:
        return _BY_CODE[error.code]()
    if isinstance(error, CompactedError) and error.code is None:  # a watch's start revision (calls keep their code)
        return RevisionCompactedError(error.compact_revision or 0)
    if isinstance(error, Timeout):
        return ConnectionTimeoutError()
    if isinstance(error, ConnectionFailed):
        return ConnectionFailedError()
    if error.code is not None:
        return EtcdRpcError(grpc.StatusCode[error.code], error.details or str(error))
    return Etcd3Exception(str(error))


def rpc_error(error: EtcdError) -> EtcdRpcError:
    """The grpc error a python-etcd3 stub raises where etcdstream's transport raised error (chain it:
    `raise rpc_error(e) from e`): etcd's status code, else the one grpc gives a call that timed out, found no
    server or ran on a closed channel."""
    if error.code is not None:
        code = grpc.StatusCode[error.code]
    elif isinstance(error, Timeout):
        code = grpc.StatusCode.DEADLINE_EXCEEDED
    elif isinstance(error, ConnectionFailed):
        code = grpc.StatusCode.UNAVAILABLE
    elif isinstance(error, ClientClosed):
        code = grpc.StatusCode.CANCELLED
    else:
        code = grpc.StatusCode.UNKNOWN
    return EtcdRpcError(code, error.details or str(error))


def _exception_for(error: grpc.RpcError) -> type[Etcd3Exception] | None:
    """python-etcd3's exception class for a grpc error's status code (None: the error goes on unchanged)."""
    code = error.code() if callable(getattr(error, "code", None)) else None
    return _BY_CODE.get(code.name) if isinstance(code, grpc.StatusCode) else None


F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(f: F) -> F:
    """python-etcd3's _handle_errors: a grpc error raised in f (a generator function: while iterated) becomes
    python-etcd3's exception for its status code, or goes on unchanged; an etcdstream error is translated."""
    if inspect.isgeneratorfunction(f):
        def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from f(*args, **kwargs)
            except grpc.RpcError as e:
                exception = _exception_for(e)
                if exception is None:
                    raise
                raise exception() from e
            except EtcdError as e:
                raise translate(e) from e
        return functools.wraps(f)(generator)  # type: ignore[return-value]

    def handler(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except grpc.RpcError as e:
            exception = _exception_for(e)
            if exception is None:
                raise
            raise exception() from e
        except EtcdError as e:
            raise translate(e) from e
    return functools.wraps(f)(handler)  # type: ignore[return-value]


def translate_rpc_error(error: grpc.RpcError) -> Exception:
    """python-etcd3's exception for a raw gRPC error (one handed to a watch callback)."""
    exception = _exception_for(error)
    return exception() if exception is not None else error
