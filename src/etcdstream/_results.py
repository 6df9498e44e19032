"""What the clients' operations return (shared by Client and AsyncClient)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._keys import prefix_range
from ._types import PermissionType
from .codec import KeyValue

__all__ = [
    "Alarm", "AuthStatus", "Deleted", "HashKV", "Lease", "LeaseInfo", "Member", "MemberAdded", "Permission",
    "PutResult", "RangeResult", "Snapshot", "Status", "TxnResult", "Version",
]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A consistent copy of a prefix: every key in `kvs` (sorted by key) as of `revision`.

    cluster_id and member_id say which cluster (and member) it was read from:
    a watch that continues it must see the same history.
    """

    revision: int
    kvs: list[KeyValue]
    cluster_id: int = 0
    member_id: int = 0


@dataclass(frozen=True, slots=True)
class RangeResult:
    """A range read: the keys (sorted as asked), how many keys the range holds (limit and filters aside),
    whether a limit left some out, and etcd's revision when it answered."""

    kvs: list[KeyValue]
    count: int
    more: bool
    revision: int


@dataclass(frozen=True, slots=True)
class PutResult:
    """The revision a put created, and the key's previous KeyValue when prev_kv=True was asked (else None)."""

    revision: int
    prev_kv: KeyValue | None = None


class Deleted(int):
    """The number of keys a delete removed (an int); `prev_kvs` holds them when prev_kv=True was asked, and
    `revision` is etcd's revision after the delete (the delete's own when it removed keys)."""

    prev_kvs: list[KeyValue]
    revision: int

    def __new__(cls, deleted: int, prev_kvs: list[KeyValue] | None = None, revision: int = 0) -> Deleted:
        self = super().__new__(cls, deleted)
        self.prev_kvs = prev_kvs or []
        self.revision = revision
        return self


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease: its `id` and the `ttl` (seconds) etcd granted."""

    id: int
    ttl: int


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """A lease's remaining `ttl` (-1 when it expired), its `granted_ttl`, and its `keys` when asked for."""

    id: int
    ttl: int
    granted_ttl: int
    keys: list[bytes] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TxnResult:
    """Whether the txn's comparisons held, its revision, and one result per executed operation:
    a Get gives a RangeResult, a Put a PutResult, a Delete a Deleted count, a nested Txn a TxnResult
    (each at the txn's revision)."""

    succeeded: bool
    revision: int
    responses: list[RangeResult | PutResult | Deleted | TxnResult]


@dataclass(frozen=True, slots=True)
class Status:
    """One member's status (Maintenance/Status)."""

    version: str
    db_size: int
    leader: int
    member_id: int
    raft_index: int
    raft_term: int
    revision: int
    errors: list[str]
    is_learner: bool
    cluster_id: int = 0


@dataclass(frozen=True, slots=True)
class Version:
    """The etcd `server` version of the member in use and the `cluster` version (the lowest all members speak)."""

    server: str
    cluster: str


@dataclass(frozen=True, slots=True)
class Alarm:
    """An alarm raised on a member: "NOSPACE" (the backend quota is full) or "CORRUPT" (a hash mismatch)."""

    member_id: int
    alarm: str


@dataclass(frozen=True, slots=True)
class HashKV:
    """A member's hash of its key-value history up to `revision` (hash_kv).

    Members that applied the same history give the same hash for the same revision, provided
    they compacted at the same `compact_revision` (the hash covers revisions after it).
    """

    hash: int
    compact_revision: int
    revision: int
    member_id: int


@dataclass(frozen=True, slots=True)
class Member:
    """A cluster member: its id (what member_remove/update/promote take), its name (empty until it
    first starts), the URLs it talks to the other members on and serves clients on (empty until it
    starts), and whether it is a non-voting learner."""

    id: int
    name: str
    peer_urls: list[str]
    client_urls: list[str]
    is_learner: bool


@dataclass(frozen=True, slots=True)
class MemberAdded:
    """What member_add returns: the new `member` (no name or client URLs until it starts) and every member
    of the cluster with it (`members`), from which the new etcd's --initial-cluster is made."""

    member: Member
    members: list[Member]

    def initial_cluster(self, name: str) -> str:
        """The --initial-cluster flag for the new member, started as `name` with
        --initial-cluster-state=existing: "name=peer URL" of every member, as `etcdctl member add` prints."""
        return ",".join(f"{name if m.id == self.member.id else m.name}={url}"
                        for m in self.members for url in m.peer_urls)


@dataclass(frozen=True, slots=True)
class AuthStatus:
    """Whether etcd's auth is `enabled`, and its `auth_revision` (bumped by every change to users and roles)."""

    enabled: bool
    auth_revision: int


@dataclass(frozen=True, slots=True)
class Permission:
    """A permission of a role (role_get): `perm_type` on the key `key` alone (`range_end` b""), on the keys in
    [key, range_end), or on every key from key on (`range_end` b"\\0").

    `prefix` says whether it covers exactly the keys under a prefix (role_grant_permission(..., prefix=True)
    grants such ones); to revoke it, pass `key` and `range_end` back to role_revoke_permission.
    """

    perm_type: PermissionType
    key: bytes
    range_end: bytes = b""

    @property
    def prefix(self) -> bool:
        """Whether the permission covers exactly the keys starting with `key` (every key when `key` is b"\\0"
        and `range_end` b"\\0": the range a prefix=True grant of an empty prefix gets)."""
        if not self.range_end:
            return False
        if self.key == b"\0" and self.range_end == b"\0":
            return True
        return prefix_range(self.key) == (self.key, self.range_end)
