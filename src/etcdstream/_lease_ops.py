"""Lease operations (I/O-free generators of Calls, see _calls): grant, revoke, keep alive, inspect."""

from __future__ import annotations

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
from ._results import Lease, LeaseInfo

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


def time_to_live(lease: Lease | int, *, keys: bool = False, timeout: float | None = None) -> Operation[LeaseInfo]:
    """A lease's remaining TTL (-1 once expired), granted TTL, and its keys if keys=True."""
    request = _proto.LeaseTimeToLiveRequest(ID=lease_id(lease), keys=bool(keys)).SerializeToString()

    def decode(raw: bytes) -> LeaseInfo:
        resp = parse_message(_proto.LeaseTimeToLiveResponse, raw)
        return LeaseInfo(int(resp.ID), int(resp.TTL), int(resp.grantedTTL), list(resp.keys))

    return single_call(Call(_LEASE_TTL, request, check_timeout(timeout)), decode)


def leases(*, timeout: float | None = None) -> Operation[list[int]]:
    """The ids of every live lease."""
    request = _proto.LeaseLeasesRequest().SerializeToString()
    decode = lambda raw: [int(lease.ID) for lease in parse_message(_proto.LeaseLeasesResponse, raw).leases]
    return single_call(Call(_LEASE_LEASES, request, check_timeout(timeout)), decode)
