"""python-etcd3's exceptions, with its names and hierarchy; translate() turns etcdstream's errors into them."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc

from ..._errors import CompactedError, ConnectionFailed, EtcdError, Timeout


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


F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(f: F) -> F:
    """Raise python-etcd3's exceptions for etcdstream's (generator functions too, when iterated)."""
    if inspect.isgeneratorfunction(f):
        def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from f(*args, **kwargs)
            except EtcdError as e:
                raise translate(e) from e
        return functools.wraps(f)(generator)  # type: ignore[return-value]

    def handler(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except EtcdError as e:
            raise translate(e) from e
    return functools.wraps(f)(handler)  # type: ignore[return-value]


def translate_rpc_error(error: grpc.RpcError) -> Exception:
    """python-etcd3's exception for a raw gRPC error (one handed to a watch callback)."""
    code = error.code() if callable(getattr(error, "code", None)) else None
    exception = _BY_CODE.get(code.name) if isinstance(code, grpc.StatusCode) else None
    return exception() if exception is not None else error
