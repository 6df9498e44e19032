"""Calls and operations, the unit the clients' I/O drivers run, and the argument checks operations make.

Each operation (in _kv_ops, _lease_ops, _cluster_ops) is a generator that
yields `Call`s (a gRPC method path and the request bytes) and is sent back
each call's raw response bytes; its return value is the operation's result.
Client drives these generators with grpcio's blocking API, AsyncClient with
grpc.aio: only that I/O differs.

    op = _kv_ops.get(b"k")    # validates arguments now, before any I/O
    call = next(op)           # Call(method="/etcdserverpb.KV/Range", ...)
    op.send(response_bytes)   # raises StopIteration(value=KeyValue | None)

The encoders' own checks (of what reaches the codec) are in _validate, next to the codec.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ._results import Lease
from ._validate import INT64_MAX

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    """One gRPC call an operation needs.

    stream: the method is a bidi stream (LeaseKeepAlive): send one request, read one response.
    authenticated: send the auth token (False only for Authenticate itself).
    idempotent: sending it twice leaves etcd as sending it once (reads), so it may be
    retried after errors that leave unknown whether etcd applied it. Writes are not:
    a put applied twice gets two revisions and version + 2, a delete reports 0 keys.
    """

    method: str
    # Not in repr(): Authenticate's request holds the password (tracebacks with locals show Calls).
    request: bytes = field(repr=False)
    timeout: float | None = None
    stream: bool = False
    authenticated: bool = True
    idempotent: bool = True


#: An operation: yields Calls, is sent each response's bytes, returns a T.
Operation = Generator[Call, bytes, T]


def single_call(call: Call, decode: Any) -> Operation[Any]:
    """An operation of one call, whose result is decode(response bytes)."""
    raw = yield call
    return decode(raw)


def parse_message(message_class: Any, raw: bytes) -> Any:
    """A protobuf message of message_class from a response's bytes (cold paths only)."""
    return message_class.FromString(raw)


# --- argument checks (all run before any I/O) ---


def check_timeout(timeout: float | None) -> float | None:
    """Return timeout if None or a positive number of seconds, else raise."""
    if timeout is None:
        return None
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
        raise TypeError(f"timeout must be a number of seconds, got {type(timeout).__name__}")
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    return float(timeout)


def check_int(name: str, value: object, minimum: int) -> int:
    """Return value if it is an int (not a bool) between minimum and 2**63-1, else raise TypeError/ValueError."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not minimum <= value <= INT64_MAX:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_revision(revision: int | None) -> int:
    """Return a revision to read at (>= 1), or 0 ("the latest") for None, else raise."""
    return 0 if revision is None else check_int("revision", revision, 1)


def check_ttl(ttl: object) -> int:
    """Return a lease TTL in whole seconds (>= 1), else raise TypeError/ValueError."""
    return check_int("ttl", ttl, 1)


def lease_id(lease: Lease | int) -> int:
    """The id of a Lease, or an int id itself (checked)."""
    if isinstance(lease, Lease):
        return lease.id
    return check_int("lease", lease, 1)


def lease_for_write(lease: Lease | int | None, ttl: int | None) -> tuple[int, int | None]:
    """A write's lease id (0: none) and the ttl of a lease to grant for it (None: none); not both."""
    if lease is not None and ttl is not None:
        raise ValueError("pass lease or ttl, not both (ttl grants a new lease)")
    return (0 if lease is None else lease_id(lease)), (None if ttl is None else check_ttl(ttl))
