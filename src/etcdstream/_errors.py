"""The exceptions etcdstream raises; shared by the compiled codec, its twin and the clients.

Every error is an EtcdError. The clients map gRPC status codes and etcd's own
error strings ("etcdserver: ...", "mvcc: ...", "auth: ...") to the subclasses
below; each message ends with what to do about it.
"""

from __future__ import annotations

from typing import Any


class EtcdError(Exception):
    """Base class of every error etcdstream raises.

    `code` is the gRPC status code name ("UNAVAILABLE", ...) when the error came
    from etcd or gRPC, else None; `details` is etcd's own message.
    """

    def __init__(self, message: str, *, code: str | None = None, details: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


class DecodeError(EtcdError, ValueError):
    """Bytes that are not a valid etcd message; `offset` is where decoding stopped."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"{reason} at byte {offset}")
        self.reason = reason
        self.offset = offset

    def __reduce__(self):
        return (type(self), (self.reason, self.offset))


class ClientClosed(EtcdError):
    """The client was closed; make a new one."""


class ConnectionFailed(EtcdError):
    """No endpoint could be reached (or every one dropped the connection)."""


class Timeout(EtcdError, TimeoutError):
    """A call did not finish within its timeout."""


class OutcomeUnknown(EtcdError):
    """A write failed after it may have reached etcd: etcd may have applied it, or may still apply it later.

    Raised as WriteConnectionLost or WriteTimedOut (also ConnectionFailed / Timeout), or as itself
    when etcd canceled the request. Reading the key at once does not tell: bytes a network path held
    back, or a proposal a dying leader replicated, can land afterwards. Send it again only in a form
    that cannot apply twice (create(), compare_and_put() with the mod_revision read, a txn guarded by
    the version or a unique value); see "Writes that fail" in the README.
    """


class WriteConnectionLost(ConnectionFailed, OutcomeUnknown):
    """The connection was lost (or the member stopped) while a write was on its way: its outcome is unknown."""


class WriteTimedOut(Timeout, OutcomeUnknown):
    """A write did not finish within its timeout, or etcd could not commit it in time: its outcome is unknown."""


class AuthFailed(EtcdError):
    """Authentication failed: wrong user or password, auth not enabled, or a token etcd keeps refusing."""


class PermissionDenied(EtcdError):
    """The authenticated user lacks the permission (role) the operation needs."""


class NotFound(EtcdError):
    """Auth administration: the user or role named does not exist, or the role (of a user) or the permission
    (of a role) to revoke is not granted. etcd's `details` say which ("etcdserver: role name not found", ...)."""


class AlreadyExists(EtcdError):
    """Auth administration: user_add() or role_add() names a user or role that already exists."""


class CompactedError(EtcdError):
    """The requested revision was compacted; `compact_revision` is etcd's oldest kept revision when known."""

    def __init__(self, message: str, *, compact_revision: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.compact_revision = compact_revision


class FutureRevisionError(EtcdError):
    """The requested revision is newer than etcd's current revision."""


class NoLeader(EtcdError):
    """The etcd cluster has no leader (or it just changed); it lost quorum or is electing one."""


class NotLeader(EtcdError):
    """The member in use is not the leader, and the request must go to the leader (move_leader)."""


class NotElected(EtcdError):
    """An election's proclaim() by a candidate that has not campaigned, or whose key is gone (lease lost)."""


class LeaseNotFound(EtcdError):
    """The lease does not exist: it expired or was revoked."""


class RequestTooLarge(EtcdError):
    """The request is larger than etcd accepts (--max-request-bytes, 1.5 MiB by default)."""


class KeyExistsError(EtcdError):
    """create() found the key already present; `key` is the key (bytes)."""

    def __init__(self, key: bytes, message: str | None = None) -> None:
        super().__init__(message or f"key {key!r} already exists (use put() to overwrite it)")
        self.key = key


class ConflictError(EtcdError):
    """A compare-and-swap found a different mod_revision; `current` is the key's KeyValue now (None if absent)."""

    def __init__(self, key: bytes, expected_mod_revision: int, current: Any) -> None:
        now = f"mod_revision {current.mod_revision}" if current is not None else "no such key"
        super().__init__(
            f"key {key!r} changed: expected mod_revision {expected_mod_revision}, found {now} "
            "(read it again and retry)"
        )
        self.key = key
        self.expected_mod_revision = expected_mod_revision
        self.current = current


class STMConflict(EtcdError):
    """stm(): every try of the function conflicted with another writer (what it read changed before its commit)."""


class RevisionWentBackwards(EtcdError):
    """etcd's history is not the one seen before (restored from a backup, or another cluster): read again."""


class ReplayTooLong(EtcdError):
    """A watcher resumed (after its stream broke, or a pause for a slow consumer) further behind etcd than
    its max_replay allows: reading the prefix again is cheaper than replaying the gap (a Mirror does).
    `from_revision`: where the watch would have resumed; `revision`: etcd's revision then."""

    def __init__(self, message: str, *, from_revision: int = 0, revision: int = 0, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.from_revision = from_revision
        self.revision = revision


class WatchCanceled(EtcdError):
    """etcd canceled a watch for a reason with no error of its own; `reason` is etcd's."""

    def __init__(self, message: str, *, reason: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reason = reason
