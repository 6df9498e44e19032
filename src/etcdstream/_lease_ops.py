"""Lease operations (I/O-free generators of Calls, see _calls): grant, revoke, keep alive, inspect."""

from __future__ import annotations

from collections.abc import Callable

from . import _proto
from ._calls import (
    Call,
    Operation,
    check_timeout,
    check_ttl,
    lease_id,
    parse_message,
    single_call,
)
from ._errors import EtcdError, LeaseNotFound
from ._log import LEASE
from ._namespace import ROOT, KeySpace
from ._results import Lease, LeaseInfo
from ._stats import Counters

_LEASE_GRANT = _proto.method_path("Lease", "LeaseGrant")
_LEASE_REVOKE = _proto.method_path("Lease", "LeaseRevoke")
_LEASE_KEEPALIVE = _proto.method_path("Lease", "LeaseKeepAlive")
_LEASE_TTL = _proto.method_path("Lease", "LeaseTimeToLive")
_LEASE_LEASES = _proto.method_path("Lease", "LeaseLeases")


def grant_call(ttl: int, timeout: float | None) -> Call:
    """The LeaseGrant call for a new lease of ttl seconds."""
    # A second grant would leave a second lease behind (until its ttl runs out).
    return Call(_LEASE_GRANT, _proto.LeaseGrantRequest(TTL=ttl).SerializeToString(), timeout, idempotent=False)


def granted_lease_id(raw: bytes) -> int:
    """The id of the lease a LeaseGrantResponse grants, or raise EtcdError if etcd did not grant it."""
    resp = parse_message(_proto.LeaseGrantResponse, raw)
    if resp.error:
        raise EtcdError(f"etcd did not grant the lease: {resp.error}")
    return int(resp.ID)


def lease_to_attach(lease_number: int, ttl: int | None, timeout: float | None) -> Operation[int]:
    """The lease a write attaches its key to: a new one of ttl seconds when ttl is given, else lease_number."""
    if ttl is None:
        return lease_number
    return granted_lease_id((yield grant_call(ttl, timeout)))


def grant(ttl: int, *, timeout: float | None = None) -> Operation[Lease]:
    """A new lease of ttl seconds."""
    call = grant_call(check_ttl(ttl), check_timeout(timeout))

    def decode(raw: bytes) -> Lease:
        resp = parse_message(_proto.LeaseGrantResponse, raw)
        if resp.error:
            raise EtcdError(f"etcd did not grant the lease: {resp.error}")
        return Lease(int(resp.ID), int(resp.TTL))

    return single_call(call, decode)


def revoke(lease: Lease | int, *, timeout: float | None = None) -> Operation[None]:
    """Revoke a lease (its keys are deleted)."""
    request = _proto.LeaseRevokeRequest(ID=lease_id(lease)).SerializeToString()
    return single_call(Call(_LEASE_REVOKE, request, check_timeout(timeout)), lambda raw: None)


def keep_alive_once(lease: Lease | int, *, timeout: float | None = None) -> Operation[int]:
    """Refresh a lease once; returns its new TTL. LeaseNotFound if it expired or was revoked."""
    number = lease_id(lease)
    request = _proto.LeaseKeepAliveRequest(ID=number).SerializeToString()

    def decode(raw: bytes) -> int:
        ttl = int(parse_message(_proto.LeaseKeepAliveResponse, raw).TTL)
        if ttl <= 0:
            raise LeaseNotFound(f"lease {number:x} expired or was revoked (grant a new one)")
        return ttl

    return single_call(Call(_LEASE_KEEPALIVE, request, check_timeout(timeout), stream=True), decode)


def time_to_live(lease: Lease | int, *, keys: bool = False, timeout: float | None = None,
                 space: KeySpace = ROOT) -> Operation[LeaseInfo]:
    """A lease's remaining TTL (-1 once expired), granted TTL, and its keys if keys=True (those in space)."""
    request = _proto.LeaseTimeToLiveRequest(ID=lease_id(lease), keys=bool(keys)).SerializeToString()

    def decode(raw: bytes) -> LeaseInfo:
        resp = parse_message(_proto.LeaseTimeToLiveResponse, raw)
        return LeaseInfo(int(resp.ID), int(resp.TTL), int(resp.grantedTTL), space.keys_inside(resp.keys))

    return single_call(Call(_LEASE_TTL, request, check_timeout(timeout)), decode)


def leases(*, timeout: float | None = None) -> Operation[list[int]]:
    """The ids of every live lease."""
    request = _proto.LeaseLeasesRequest().SerializeToString()
    decode = lambda raw: [int(lease.ID) for lease in parse_message(_proto.LeaseLeasesResponse, raw).leases]
    return single_call(Call(_LEASE_LEASES, request, check_timeout(timeout)), decode)


#: What a lease's keeper calls once the lease is lost: on_lost(lease, error).
LostCallback = Callable[[Lease, EtcdError], object]


class KeepAliveState:
    """One kept-alive lease, without I/O: when to refresh it, and when it is lost.

    A keeper refreshes every ttl/3 seconds. The lease is lost when etcd says it is gone
    (revoked, expired) or when no refresh succeeded for the TTL etcd last granted: then
    it has expired on etcd, whether or not etcd can say so now (Go's client does the same).
    """

    def __init__(self, lease: Lease, now: float, on_lost: LostCallback | None = None,
                 counters: Counters | None = None) -> None:
        self.lease = lease
        self.counters = counters or Counters()
        self.interval = max(lease.ttl / 3, 0.1)
        self.deadline = now + lease.ttl
        self.on_lost = on_lost

    def refreshed(self, ttl: int, now: float) -> None:
        """A refresh succeeded: etcd granted ttl seconds from now."""
        self.deadline = now + ttl

    def lost_after(self, error: EtcdError, now: float) -> EtcdError | None:
        """A refresh failed with error: the loss to report (the keeper then ends), or None to try again."""
        if isinstance(error, LeaseNotFound):
            return error
        if now >= self.deadline:
            return LeaseNotFound(f"lease {self.lease.id:x} was not refreshed for its TTL ({error}): it expired "
                                 "on etcd (grant a new one)")
        return None

    def report(self, error: EtcdError) -> None:
        """Tell the application the lease is lost (in the keeper's thread or task)."""
        LEASE.warning("lease %x lost: %s", self.lease.id, error)
        self.counters.add("leases_lost")
        if self.on_lost is not None:
            self.on_lost(self.lease, error)
