"""Why etcd canceled a watch, I/O-free: the error its watcher ends with, or a token to renew first."""

from __future__ import annotations

from ._errors import CompactedError, EtcdError, PermissionDenied, WatchCanceled
from ._retry import REAUTH_DETAILS
from .codec import WatchResponse

# etcd 3.5.1 refuses a watch of an expired token as "permission denied".
_TOKEN_PROBLEMS = (*REAUTH_DETAILS, "user name is empty", "permission denied")


def is_token_problem(reason: str) -> bool:
    """A cancel reason that may only mean an expired token (re-authenticate, then create the watch again)."""
    return any(problem in reason for problem in _TOKEN_PROBLEMS)


def cancel_error(resp: WatchResponse, key: bytes, from_revision: int) -> EtcdError:
    """The error a watch of key, created from from_revision, ends with when etcd cancels it."""
    if resp.compact_revision:
        return CompactedError(
            f"watch of {key!r} from revision {from_revision} canceled: etcd compacted its history "
            f"up to {resp.compact_revision}; read the prefix again",
            compact_revision=resp.compact_revision,
        )
    reason = resp.cancel_reason or "canceled by etcd"
    if "permission denied" in reason:
        return PermissionDenied(f"watch of {key!r}: {reason}: the user may not read this range")
    return WatchCanceled(f"watch of {key!r} canceled by etcd: {reason}", reason=reason)
