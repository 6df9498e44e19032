# The source of _admin_sync.py: edit this file, then run `python tests/unasync.py` (tests/test_one_source.py checks).
"""The client's cluster, maintenance and auth administration calls (etcdctl's member, endpoint, alarm, defrag,
auth, user and role commands), written once: each sends an operation of _cluster_ops or _auth_ops through the
client's transport."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import IO, TypeVar

from . import _auth_ops, _cluster_ops
from ._calls import Operation, check_timeout
from ._errors import EtcdError
from ._keys import Key
from ._results import (
    Alarm,
    AuthStatus,
    HashKV,
    Member,
    MemberAdded,
    Permission,
    Status,
    Version,
)
from ._snapshot import SnapshotFile, snapshot_call
from ._transport_async import AsyncTransport
from ._types import PermissionType

__all__ = ["AsyncClusterAdmin"]

T = TypeVar("T")


class AsyncClusterAdmin:
    """AsyncClient's cluster, maintenance and auth administration methods (a base class of AsyncClient)."""

    _transport: AsyncTransport

    # --- the cluster and maintenance ---

    async def _run_at(self, endpoint: str | None, op: Operation[T]) -> T:
        """Run op on the member in use, or on the member at endpoint alone (a connection for this call)."""
        if endpoint is None:
            return await self._transport.run(op)
        transport = AsyncTransport(self._transport.core.for_endpoint(endpoint))
        try:
            return await transport.run(op)
        finally:
            await transport.close()

    async def status(self, *, endpoint: str | None = None, timeout: float | None = None) -> Status:
        """Status of the member in use, or of the member at endpoint ("host:port", any member of the
        cluster: asked on a connection of its own, with this client's credentials)."""
        return await self._run_at(endpoint, _cluster_ops.status(timeout=timeout))

    async def version(self, *, timeout: float | None = None) -> Version:
        """etcd's server version (member in use) and cluster version (from etcd's HTTP /version)."""
        check_timeout(timeout)
        return await self._transport.fetch_version(timeout)

    async def member_list(self, *, serializable: bool = False, timeout: float | None = None) -> list[Member]:
        """Every member of the cluster, learners included. On etcd 3.5 the member in use first catches up
        with the leader, so changes made through another member show; serializable=True (and etcd 3.4
        always) answers from the member in use's own view, without a leader."""
        return await self._transport.run(_cluster_ops.member_list(serializable=serializable, timeout=timeout))

    async def member_add(self, peer_urls: Sequence[str], *, learner: bool = False,
                         timeout: float | None = None) -> MemberAdded:
        """Add a member that will talk to the others on peer_urls (["http://host:2380"]); learner=True adds
        a non-voting learner, to member_promote() once it has caught up (etcd allows one learner at a time).
        Returns the new member (its `.id`) and every member; then start the new etcd with
        --initial-cluster=<result.initial_cluster(name)> --initial-cluster-state=existing. Not retried
        once it may have reached etcd (OutcomeUnknown: read member_list() to see whether it was added)."""
        return await self._transport.run(_cluster_ops.member_add(peer_urls, learner=learner, timeout=timeout))

    async def member_remove(self, member_id: int, *, timeout: float | None = None) -> list[Member]:
        """Remove the member member_id (it stops itself); returns the members left. etcd refuses
        ("unhealthy cluster") to remove a voting member while that could cost the quorum. Not retried
        once it may have reached etcd."""
        return await self._transport.run(_cluster_ops.member_remove(member_id, timeout=timeout))

    async def member_update(self, member_id: int, peer_urls: Sequence[str], *,
                            timeout: float | None = None) -> list[Member]:
        """Set the peer URLs of member_id (then restart it listening there); returns every member. Not
        retried once it may have reached etcd."""
        return await self._transport.run(_cluster_ops.member_update(member_id, peer_urls, timeout=timeout))

    async def member_promote(self, member_id: int, *, timeout: float | None = None) -> list[Member]:
        """Make the learner member_id a voting member; returns every member. etcd refuses until the
        learner has caught up with the leader's log ("in sync with leader": wait and call again). Not
        retried once it may have reached etcd."""
        return await self._transport.run(_cluster_ops.member_promote(member_id, timeout=timeout))

    async def alarm_list(self, *, timeout: float | None = None) -> list[Alarm]:
        """Every alarm raised in the cluster (NOSPACE: a member's backend quota is full; writes fail until disarmed)."""
        return await self._transport.run(_cluster_ops.alarm_list(timeout=timeout))

    async def alarm_disarm(self, alarm: Alarm | None = None, *, timeout: float | None = None) -> list[Alarm]:
        """Disarm an alarm alarm_list() returned, or every raised alarm (None: listed, then each disarmed, as
        `etcdctl alarm disarm` does); returns the alarms etcd disarmed. Free the space first (compact(),
        then defragment() each member): a NOSPACE alarm comes back while the quota is still exceeded."""
        return await self._transport.run(_cluster_ops.alarm_disarm(alarm, timeout=timeout))

    async def compact(self, revision: int, *, physical: bool = False, timeout: float | None = None) -> int:
        """Drop the history before `revision` on every member (reads and watches at older revisions
        raise CompactedError from then on); returns etcd's revision. physical=True returns only once
        the compaction is applied to the backend. A revision already compacted raises CompactedError,
        a revision etcd has not reached FutureRevisionError."""
        return await self._transport.run(_cluster_ops.compact(revision, physical=physical, timeout=timeout))

    async def defragment(self, *, endpoint: str | None = None, timeout: float | None = None) -> None:
        """Defragment the backend of the member in use (or of the member at endpoint, see status), giving the
        space compact() freed back to the file system. The member blocks reads and writes until done:
        defragment one member at a time. Like etcdctl defrag, which waits its usual --command-timeout (5 s), it has
        no longer default: it waits the client's timeout; pass a larger timeout= for a large database.
        Not retried on another member when the connection breaks (that could block two members at once)."""
        await self._run_at(endpoint, _cluster_ops.defragment(timeout=timeout))

    async def snapshot(self, file: str | os.PathLike[str] | IO[bytes], *, progress: Callable[[int, int], object] | None = None,
                       timeout: float | None = None) -> int:
        """Save the member's backend to file (a path: written beside it and moved into place once complete and
        checked against etcd's checksum; or a binary file object), as `etcdctl snapshot save`; returns its size.
        The file restores with `etcdutl snapshot restore`. progress(received, remaining) after each chunk.
        timeout: for the whole transfer (None: as long as it takes)."""
        if progress is not None and not callable(progress):
            raise TypeError(f"progress must be callable, got {type(progress).__name__}")
        call = snapshot_call(timeout)
        target = SnapshotFile(file)
        try:
            async for response in self._transport.read_stream(call):
                remaining = target.write(response)
                if progress is not None:
                    progress(target.size, remaining)
        except BaseException:
            target.abort()
            raise
        return target.finish()

    async def hash_kv(self, revision: int = 0, *, endpoint: str | None = None,
                      timeout: float | None = None) -> HashKV:
        """The hash of the key-value history up to `revision` (0: its current revision) of the member in use
        or of the member at endpoint (see status).
        Members that applied the same history give equal hashes at one revision (etcdctl endpoint hashkv)."""
        return await self._run_at(endpoint, _cluster_ops.hash_kv(revision, timeout=timeout))

    async def move_leader(self, target_member_id: int, *, timeout: float | None = None) -> None:
        """Hand the leadership to the member target_member_id (an id from member_list()); returns once it leads.
        etcd accepts it only from the leader: connect to the member status().leader names, else it
        raises NotLeader (as etcdctl move-leader, which looks the leader up among its endpoints)."""
        await self._transport.run(_cluster_ops.move_leader(target_member_id, timeout=timeout))

    async def health(self, *, timeout: float | None = None) -> bool:
        """True if the cluster answers a linearizable read (it has a leader and quorum)."""
        try:
            return await self._transport.run(_cluster_ops.health(timeout=timeout))
        except EtcdError as e:
            return _cluster_ops.health_from_error(e)

    # --- auth administration (etcdctl auth/user/role; a root user's calls once auth is enabled) ---

    async def auth_enable(self, *, timeout: float | None = None) -> None:
        """Turn etcd's auth on. etcd needs a user root holding the role root first (user_add, role_add,
        user_grant_role); from then on, calls need a username and password (a client without them gets
        AuthFailed) and only root administers auth."""
        await self._transport.run(_auth_ops.auth_enable(timeout=timeout))

    async def auth_disable(self, *, timeout: float | None = None) -> None:
        """Turn etcd's auth off (users and roles are kept)."""
        await self._transport.run(_auth_ops.auth_disable(timeout=timeout))

    async def auth_status(self, *, timeout: float | None = None) -> AuthStatus:
        """Whether auth is `enabled`, and the auth store's `auth_revision`. etcd 3.5 and later (3.4 lacks the
        call: EtcdError)."""
        return await self._transport.run(_auth_ops.auth_status(timeout=timeout))

    async def user_add(self, name: str, password: str | None = None, *, no_password: bool = False,
                       timeout: float | None = None) -> None:
        """Add a user with a password, or without one (no_password=True: it can only log in with a TLS
        client certificate whose common name is its name). AlreadyExists if there is one of that name."""
        op = _auth_ops.user_add(name, password, no_password=no_password, timeout=timeout)
        del password  # out of this frame's locals while the call runs (error reports show locals)
        await self._transport.run(op)

    async def user_delete(self, name: str, *, timeout: float | None = None) -> None:
        """Delete a user (NotFound if there is none)."""
        await self._transport.run(_auth_ops.user_delete(name, timeout=timeout))

    async def user_get(self, name: str, *, timeout: float | None = None) -> list[str]:
        """The names of the roles the user has (NotFound if there is no such user)."""
        return await self._transport.run(_auth_ops.user_get(name, timeout=timeout))

    async def user_list(self, *, timeout: float | None = None) -> list[str]:
        """The names of every user."""
        return await self._transport.run(_auth_ops.user_list(timeout=timeout))

    async def user_change_password(self, name: str, password: str, *, timeout: float | None = None) -> None:
        """Set the user's password; its old password no longer logs in."""
        op = _auth_ops.user_change_password(name, password, timeout=timeout)
        del password  # out of this frame's locals while the call runs (error reports show locals)
        await self._transport.run(op)

    async def user_grant_role(self, user: str, role: str, *, timeout: float | None = None) -> None:
        """Give the user the role (NotFound if either does not exist)."""
        await self._transport.run(_auth_ops.user_grant_role(user, role, timeout=timeout))

    async def user_revoke_role(self, user: str, role: str, *, timeout: float | None = None) -> None:
        """Take the role from the user (NotFound if the user does not have it)."""
        await self._transport.run(_auth_ops.user_revoke_role(user, role, timeout=timeout))

    async def role_add(self, role: str, *, timeout: float | None = None) -> None:
        """Add a role without permissions (AlreadyExists if there is one of that name)."""
        await self._transport.run(_auth_ops.role_add(role, timeout=timeout))

    async def role_delete(self, role: str, *, timeout: float | None = None) -> None:
        """Delete the role; users holding it lose it (NotFound if there is none)."""
        await self._transport.run(_auth_ops.role_delete(role, timeout=timeout))

    async def role_get(self, role: str, *, timeout: float | None = None) -> list[Permission]:
        """The role's permissions: each a Permission (perm_type, key, range_end; .prefix says whether
        it covers the keys under a prefix). NotFound if there is no such role."""
        return await self._transport.run(_auth_ops.role_get(role, timeout=timeout))

    async def role_list(self, *, timeout: float | None = None) -> list[str]:
        """The names of every role."""
        return await self._transport.run(_auth_ops.role_list(timeout=timeout))

    async def role_grant_permission(self, role: str, key: Key, range_end: Key | None = None, *,
                                    prefix: bool = False, perm_type: PermissionType | str,
                                    timeout: float | None = None) -> None:
        """Let the role read, write or both (perm_type: PermissionType.READ, WRITE or READWRITE, or its
        name as a str in any case: "read", "write", "readwrite") the key, the keys in [key, range_end)
        (b"\\0": every key from key on), or the keys under the prefix key (prefix=True; an empty prefix:
        every key). perm_type has no default: a grant says what it allows. Granting the same range again
        replaces its type."""
        await self._transport.run(_auth_ops.role_grant_permission(role, key, range_end, prefix=prefix,
                                                                  perm_type=perm_type, timeout=timeout))

    async def role_revoke_permission(self, role: str, key: Key, range_end: Key | None = None, *,
                                     prefix: bool = False, timeout: float | None = None) -> None:
        """Take from the role the permission on exactly this range, given as role_grant_permission took it
        (or a Permission's key and range_end from role_get). NotFound if the role has no such permission."""
        await self._transport.run(_auth_ops.role_revoke_permission(role, key, range_end, prefix=prefix,
                                                                   timeout=timeout))
