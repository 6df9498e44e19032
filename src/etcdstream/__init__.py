"""etcdstream: an etcd v3 client over native gRPC with a compiled codec for watch and range responses.

``Client`` (blocking) and ``AsyncClient`` (asyncio) share every method name,
argument and result::

    with etcdstream.Client("127.0.0.1:2379") as etcd:
        etcd.put("/apisix/routes/1", b"{...}")
        snapshot = etcd.readdir("/apisix/routes/")
"""

from ._async import AsyncClient
from ._errors import (
    AlreadyExists,
    AuthFailed,
    ClientClosed,
    CompactedError,
    ConflictError,
    ConnectionFailed,
    DecodeError,
    EtcdError,
    FutureRevisionError,
    KeyExistsError,
    LeaseNotFound,
    NoLeader,
    NotElected,
    NotFound,
    NotLeader,
    OutcomeUnknown,
    PermissionDenied,
    RequestTooLarge,
    ReplayTooLong,
    RevisionWentBackwards,
    STMConflict,
    Timeout,
    WatchCanceled,
    WriteConnectionLost,
    WriteTimedOut,
)
from ._mirror_async import AsyncMirror
from ._mirror_sync import Mirror
from ._election_async import AsyncElection
from ._election_sync import Election
from ._lock_async import AsyncLock
from ._lock_sync import Lock
from ._session_async import AsyncSession
from ._session_sync import Session
from ._stm_async import AsyncSTM
from ._stm_sync import STM
from ._results import (
    Alarm,
    AuthStatus,
    Deleted,
    HashKV,
    Lease,
    LeaseInfo,
    Member,
    MemberAdded,
    Permission,
    PutResult,
    RangeResult,
    Snapshot,
    Status,
    TxnResult,
    Version,
)
from ._stats import ClientStats, ConsistentReadStats, MirrorStats
from ._sync import Client
from ._txn import Compare, Delete, Get, Put, Txn
from ._types import EventType, PermissionType, SortOrder, SortTarget, WatchFilter
from ._watch_async import AsyncWatcher
from ._watch_sync import Watcher
from .codec import Event, EventBatch, KeyValue

__all__ = [
    "Alarm",
    "AlreadyExists",
    "AsyncClient",
    "AsyncElection",
    "AsyncLock",
    "AsyncMirror",
    "AsyncSTM",
    "AsyncSession",
    "AsyncWatcher",
    "AuthFailed",
    "AuthStatus",
    "Client",
    "ClientClosed",
    "ClientStats",
    "Compare",
    "CompactedError",
    "ConflictError",
    "ConnectionFailed",
    "DecodeError",
    "Delete",
    "Deleted",
    "EtcdError",
    "Event",
    "EventBatch",
    "Election",
    "EventType",
    "FutureRevisionError",
    "Get",
    "HashKV",
    "KeyExistsError",
    "KeyValue",
    "Lease",
    "LeaseInfo",
    "LeaseNotFound",
    "Member",
    "MemberAdded",
    "MirrorStats",
    "ConsistentReadStats",
    "Lock",
    "Mirror",
    "NoLeader",
    "NotElected",
    "NotFound",
    "NotLeader",
    "OutcomeUnknown",
    "Permission",
    "PermissionDenied",
    "PermissionType",
    "Put",
    "PutResult",
    "RangeResult",
    "RequestTooLarge",
    "ReplayTooLong",
    "RevisionWentBackwards",
    "STMConflict",
    "STM",
    "Session",
    "Snapshot",
    "SortOrder",
    "SortTarget",
    "Status",
    "Timeout",
    "Txn",
    "TxnResult",
    "Version",
    "WatchCanceled",
    "WriteConnectionLost",
    "WriteTimedOut",
    "WatchFilter",
    "Watcher",
]
__version__ = "0.1.0"
