"""What a failed call means and what to do next: etcd's errors mapped to EtcdErrors, and `RetryPolicy`.

After a failed call, `RetryPolicy` decides whether to re-authenticate, fail
over to the next endpoint, wait and retry, or raise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum

import grpc

from ._calls import Call
from ._core import ClientCore
from ._endpoints import Endpoint
from ._errors import (
    AlreadyExists,
    AuthFailed,
    CompactedError,
    ConnectionFailed,
    EtcdError,
    FutureRevisionError,
    LeaseNotFound,
    NoLeader,
    NotFound,
    NotLeader,
    OutcomeUnknown,
    PermissionDenied,
    RequestTooLarge,
    Timeout,
    WriteConnectionLost,
    WriteTimedOut,
)

# etcd's error strings (server/etcdserver/api/v3rpc/rpctypes) that tell more than the gRPC code.
_ERRORS_BY_DETAILS: tuple[tuple[str, type[EtcdError], str], ...] = (
    ("required revision has been compacted", CompactedError, "read at a newer revision, or re-read everything"),
    ("required revision is a future revision", FutureRevisionError, "ask for a revision etcd has reached"),
    ("invalid auth token", AuthFailed, "check the user's password; etcd may have restarted or the token expired"),
    ("authentication failed", AuthFailed, "check the username and password"),
    ("user name is empty", AuthFailed, "pass username= and password="),
    ("authentication is not enabled", AuthFailed, "enable auth in etcd, or connect without username/password"),
    ("auth store is old", AuthFailed, "retry; the user's roles changed"),
    ("revision in header is old", AuthFailed, "retry; the user's roles changed"),
    ("permission denied", PermissionDenied, "grant the user a role covering this key, or use another user"),
    # Auth administration (user_*, role_*, auth_enable). "user name not found" is also what an admin call
    # of a client whose own user was deleted gets.
    ("user name not found", NotFound, "check the user name (user_list()); a client's own user may have been deleted"),
    ("role name not found", NotFound, "check the role name (role_list())"),
    ("role is not granted to the user", NotFound, "user_get() lists the roles the user has"),
    ("permission is not granted to the role", NotFound,
     "role_get() lists the role's permissions: revoke one with its exact key and range_end"),
    ("user name already exists", AlreadyExists, "pick another name, or user_delete() the user first"),
    ("role name already exists", AlreadyExists, "pick another name, or role_delete() the role first"),
    ("root user does not exist", EtcdError,
     "auth_enable() needs a user root with the role root: user_add('root', ...), role_add('root'), "
     "user_grant_role('root', 'root') first"),
    ("root user does not have root role", EtcdError,
     "auth_enable() needs the role root granted to root: role_add('root') if missing, "
     "then user_grant_role('root', 'root')"),
    ("invalid auth management", EtcdError,
     "the user root and its role root cannot be removed while auth is enabled: auth_disable() first"),
    # grpc's answer for a method the member's etcd does not have (AuthStatus before 3.5).
    ("unknown method", EtcdError, "the member's etcd is older than this call needs: see version(); "
                                  "auth_status() needs etcd 3.5"),
    ("no leader", NoLeader, "check that a majority of etcd members is up"),
    ("leader changed", NoLeader, "retry; a new leader was just elected"),
    # MoveLeader's answer from a follower. A retried move_leader gets it too once the first try
    # moved the leadership away from the member in use.
    ("not leader", NotLeader, "send it to the member status().leader names; "
                              "after a retried move_leader the leadership may already have moved"),
    ("bad leader transferee", EtcdError, "the target must be a voting member of the cluster: see member_list()"),
    # Membership changes (rpctypes' ErrGRPCMember*, ErrGRPCLearner*, ErrGRPCUnhealthy). None changed the
    # membership; the more specific of two details sharing words comes first.
    ("member not found", EtcdError, "no member has that id: see member_list(); a remove whose first try "
                                    "was applied gets this too"),
    # etcd derives a new member's id from its peer URLs and the time in whole seconds: an add of the
    # same URLs within a second (a repeat of an add that was applied) gets this, later ones the next.
    ("member ID already exist", EtcdError, "a member with these peer URLs was added within the last second: "
                                           "see member_list()"),
    ("Peer URLs already exists", EtcdError, "another member has that peer URL: see member_list(); an add "
                                            "whose first try was applied gets this too"),
    ("given member URLs are invalid", EtcdError, "peer URLs must look like http://host:port"),
    ("can only promote a learner member which is in sync with leader", EtcdError,
     "the learner has not caught up with the leader's log yet: start it, wait, then promote it again"),
    ("can only promote a learner member", EtcdError, "that member already votes: see member_list()'s is_learner"),
    ("too many learner members in cluster", EtcdError, "promote or remove the learner already in the cluster first"),
    ("not enough started members", EtcdError, "start the members already added first, or the change "
                                              "would leave too few voting members running for a quorum"),
    # UNAVAILABLE, but from etcd's reconfiguration check (--strict-reconfig-check), not the connection.
    ("unhealthy cluster", EtcdError, "the member in use has not been connected to every voting member for "
                                     "the last 5 s, and etcd refuses changes that could cost the quorum: "
                                     "start the members that are down, or wait, then retry"),
    ("requested lease not found", LeaseNotFound, "the lease expired or was revoked; grant a new one"),
    ("request is too large", RequestTooLarge, "split the request, or raise etcd's --max-request-bytes"),
    # etcd answers so when the call's deadline passes while it works on it.
    ("context deadline exceeded", Timeout, "raise timeout=, or check etcd's load and the network"),
    ("request timed out", Timeout, "etcd could not commit in time; check its disk and its members, then retry"),
)

# etcd refuses the request with these before proposing it to raft (v3rpc/interceptor.go, and
# v3_server.go's checks ahead of Propose): nothing was applied, another try may work, even of a write.
REFUSED_DETAILS = ("no leader", "leader changed", "too many requests", "not capable")
# etcd answers these after it proposed the request (v3_server.go, processInternalRaftRequestOnce):
# a write may have been applied, or may still be when a later leader commits the proposal. Like etcd's
# Go client (isSafeRetryMutableRPC), only reads are tried again.
IN_DOUBT_DETAILS = ("server stopped", "request timed out", "request cancelled")
# grpc's words for "the request never reached etcd" (vs. a connection lost mid-call).
_NOT_CONNECTED_DETAILS = ("failed to connect", "connection refused", "dns resolution failed",
                          "all backends failing", "handshake")
# What a call cut by another call's failover (which closes the channel) is reported as.
_CONNECTION_REPLACED = "the connection was replaced by a failover during the call"
# Errors an expired or stale token causes: authenticate again and retry once.
REAUTH_DETAILS = ("invalid auth token", "auth store is old", "revision in header is old")


def tls_failed(details: str) -> bool:
    """Whether a connection failure is TLS refusing it (a certificate, a CA, plaintext behind https://): the
    request never reached etcd, and trying again will not help. TSI_*: grpc's TLS layer (etcd 3.4 refusing a
    client certificate after a TLS 1.3 handshake shows only as "Unwrap failed (TSI_DATA_CORRUPTED)")."""
    lowered = details.lower()
    return any(word in lowered for word in ("ssl", "handshake", "certificate", "tsi_"))


def error_from_rpc(code: grpc.StatusCode | None, details: str | None, endpoint: Endpoint, *,
                   timeout: float | None = None, tls_unconfirmed: bool = False) -> EtcdError:
    """Map a failed gRPC call (its status code and etcd's details string) to an EtcdError.

    tls_unconfirmed: nothing has answered over TLS on this connection yet, so a timeout
    may be a TLS handshake that never ends (a plaintext server behind an https:// URL).
    """
    details = details or ""
    code_name = code.name if code is not None else None
    for fragment, error_class, advice in _ERRORS_BY_DETAILS:
        if fragment in details:
            return error_class(f"{details} ({advice})", code=code_name, details=details)
    if code == grpc.StatusCode.UNAVAILABLE:
        hint = "is etcd running? check --endpoints"
        if tls_failed(details):
            hint = "TLS failed: check ca_file, cert_file/key_file and that the endpoint serves https"
        return ConnectionFailed(f"could not reach etcd at {endpoint}: {details} ({hint})",
                                code=code_name, details=details)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        took = f" within {timeout:g} s" if timeout else ""
        hint = "raise timeout=, or check etcd's load and the network"
        if tls_unconfirmed:
            hint = f"no answer since connecting: if it does not serve https, the TLS handshake never completes; {hint}"
        return Timeout(f"etcd at {endpoint} did not answer{took} ({hint})", code=code_name, details=details)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return PermissionDenied(f"{details} (use a user with the right role)", code=code_name, details=details)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return AuthFailed(f"{details} (check username and password)", code=code_name, details=details)
    return EtcdError(f"etcd at {endpoint} failed: {code_name}: {details} (see that member's log)", code=code_name, details=details)


_IN_DOUBT_ADVICE = ("etcd may have applied the write, or may still apply it: reading the key now does not tell; "
                    "send it again only in a form that cannot apply twice (create(), compare_and_put(), "
                    "a txn on the version), see 'Writes that fail' in the README")


def outcome_unknown(error: EtcdError) -> OutcomeUnknown:
    """The error a write raises when it may have reached etcd: error's class, marked OutcomeUnknown."""
    if isinstance(error, Timeout):
        error_class: type[OutcomeUnknown] = WriteTimedOut
    elif isinstance(error, ConnectionFailed) or error.code == grpc.StatusCode.UNAVAILABLE.name:
        error_class = WriteConnectionLost
    else:
        error_class = OutcomeUnknown
    # Without the mapped error's advice when it is etcd's details plus "(... then retry)".
    message = error.details if error.details and str(error).startswith(f"{error.details} (") else str(error)
    return error_class(f"{message}; {_IN_DOUBT_ADVICE}", code=error.code, details=error.details)


class Step(Enum):
    """What a driver does after a failed call."""

    REAUTHENTICATE = "reauthenticate"  # forget the token, authenticate, retry
    FAILOVER = "failover"  # move to the next endpoint, retry
    RETRY = "retry"  # wait `delay` seconds, then retry


@dataclass(frozen=True, slots=True)
class Decision:
    """A RetryPolicy's verdict: the step to take and how long to wait first."""

    step: Step
    delay: float = 0.0
    #: raise this after the step (failover for the next call, but this one may have been applied)
    error: EtcdError | None = None
    #: why (the log of a failover says it)
    reason: str = ""


#: How grpcio words a stream the server reset (HTTP/2 RST_STREAM).
_RESET = "RST_STREAM"


class RetryPolicy:
    """The retry decisions for one call (and its retries), as etcd's Go client makes them.

    - a rejected token: authenticate again and retry, once;
    - UNAVAILABLE from the connection: fail over to the next endpoint, trying
      each endpoint once; when none takes the connection (or, for reads, when it
      keeps breaking), keep trying them, with a growing pause, until the call's timeout;
    - etcd refusing the request before proposing it (no leader, too many
      requests), or, for reads, any transient answer ("request timed out",
      "server stopped"): wait a little and retry, on the next endpoint if there
      are several, until the call's timeout.
    A write (put, delete, txn, lease grant) that may have reached raft is never sent again:
    a lost connection fails over but raises, and so does an answer etcd gives after proposing
    it, as an OutcomeUnknown. Anything else raises the mapped EtcdError.
    """

    def __init__(self, core: ClientCore, call: Call) -> None:
        self.core = core
        self.timeout = call.timeout or core.timeout
        self.idempotent = call.idempotent
        self.deadline = time.monotonic() + self.timeout
        self.reauthenticated = False
        self.failovers = 0
        self.transient_retries = 0

    def decide(self, code: grpc.StatusCode | None, details: str | None, *, answered: bool = True,
               replaced: bool = False) -> Decision:
        """Return the next step after a failure, or raise the EtcdError the caller sees.

        answered: whether any call has succeeded on the connection the call used.
        replaced: another call's failover has replaced that connection since (closing it
        cancels the calls still on it).
        """
        details = details or ""
        if code is grpc.StatusCode.CANCELLED and _RESET in details and time.monotonic() >= self.deadline:
            # etcd 3.5.36+ (grpc-go 1.7x) resets a stream whose deadline passed; grpcio reports the reset as
            # CANCELLED when it comes before grpcio's own deadline timer fires.
            code = grpc.StatusCode.DEADLINE_EXCEEDED
        if replaced and code is grpc.StatusCode.CANCELLED:
            if self.idempotent and time.monotonic() < self.deadline:
                return Decision(Step.RETRY)  # on the connection that replaced it
            code, details = grpc.StatusCode.UNAVAILABLE, _CONNECTION_REPLACED
        error = error_from_rpc(code, details, self.core.endpoint, timeout=self.timeout,
                               tls_unconfirmed=self.core.tls and not answered)
        if any(d in details for d in REAUTH_DETAILS) and self.core.has_credentials and not self.reauthenticated:
            self.reauthenticated = True
            return Decision(Step.REAUTHENTICATE)
        several = len(self.core.endpoints) > 1
        refused = any(d in details for d in REFUSED_DETAILS)
        in_doubt = any(d in details for d in IN_DOUBT_DETAILS)
        if refused or (in_doubt and self.idempotent):
            delay = min(0.05 * 2**self.transient_retries, 0.5)
            if time.monotonic() + delay < self.deadline:
                self.transient_retries += 1
                return Decision(Step.FAILOVER if several else Step.RETRY, delay, reason=str(error))
            raise error
        refused_by_tls = isinstance(error, ConnectionFailed) and tls_failed(details)
        never_sent = refused_by_tls or (isinstance(error, ConnectionFailed)
                                        and any(d in details.lower() for d in _NOT_CONNECTED_DETAILS))
        if in_doubt or (not (self.idempotent or never_sent) and isinstance(error, (ConnectionFailed, Timeout))):
            error = outcome_unknown(error)
        if isinstance(error, ConnectionFailed):
            if self.failovers < len(self.core.endpoints) - 1:
                self.failovers += 1
                return Decision(Step.FAILOVER, error=error if isinstance(error, OutcomeUnknown) else None,
                                reason=str(error))
            if (never_sent or self.idempotent) and not refused_by_tls:
                # No endpoint took the connection (etcd restarting?), or it broke under a read: like
                # etcd's Go client, which waits for a ready connection, keep trying until the call's timeout.
                delay = min(0.05 * 2**self.transient_retries, 0.5)
                if time.monotonic() + delay < self.deadline:
                    self.transient_retries += 1
                    return Decision(Step.FAILOVER if several else Step.RETRY, delay, reason=str(error))
        raise error

    def remaining(self) -> float:
        """Seconds left of the call's timeout (at least a little, so a retry can still run)."""
        return max(self.deadline - time.monotonic(), 0.001)
