"""RetryPolicy, the I/O-free retry decisions, with hand-made failures: which answers let a write be sent
again (etcd refused it before proposing it to raft) and which make its outcome unknown (etcd proposed it,
or the connection broke with it on the way), checked against etcd's v3_server.go and the Go client's
isSafeRetryMutableRPC."""

from __future__ import annotations

import grpc
import pytest

import etcdstream
from etcdstream._calls import Call
from etcdstream._core import ClientCore
from etcdstream._retry import RetryPolicy, Step

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


def policy(*, write: bool, endpoints: str = "127.0.0.1:2379", timeout: float = 5.0) -> RetryPolicy:
    core = ClientCore(endpoints, username=None, password=None, ca_file=None, cert_file=None, key_file=None,
                      timeout=timeout, keepalive_time=10, keepalive_timeout=5)
    return RetryPolicy(core, Call("/etcdserverpb.KV/Put", b"", idempotent=not write))


# etcd's answers before it proposes the request: nothing was applied.
REFUSED = [
    (UNAVAILABLE, "etcdserver: no leader"),
    (UNAVAILABLE, "etcdserver: leader changed"),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, "etcdserver: too many requests"),
    (UNAVAILABLE, "etcdserver: not capable"),
    (UNAVAILABLE, "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Connection refused"),
]

# The outcome of a write is unknown after these; (status, details, the error class a write raises).
IN_DOUBT = [
    (UNAVAILABLE, "etcdserver: server stopped", etcdstream.WriteConnectionLost),
    (UNAVAILABLE, "etcdserver: request timed out", etcdstream.WriteTimedOut),
    (UNAVAILABLE, "etcdserver: request timed out, possibly due to previous leader failure", etcdstream.WriteTimedOut),
    (UNAVAILABLE, "etcdserver: request timed out, possibly due to connection lost", etcdstream.WriteTimedOut),
    (grpc.StatusCode.CANCELLED, "etcdserver: request cancelled", etcdstream.OutcomeUnknown),
    (UNAVAILABLE, "Socket closed", etcdstream.WriteConnectionLost),
    (UNAVAILABLE, "Stream removed (ping timeout)", etcdstream.WriteConnectionLost),
    (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", etcdstream.WriteTimedOut),
]


@pytest.mark.parametrize("write", [True, False], ids=["write", "read"])
@pytest.mark.parametrize(("code", "details"), REFUSED, ids=[d.split(";")[0] for _, d in REFUSED])
def test_a_request_etcd_refused_is_tried_again(code, details, write):
    decision = policy(write=write).decide(code, details)
    assert decision.step is Step.RETRY and decision.error is None
    assert 0 < decision.delay <= 0.5


@pytest.mark.parametrize(("code", "details", "error_class"), IN_DOUBT, ids=[d for _, d, _ in IN_DOUBT])
def test_a_write_that_may_have_reached_raft_is_never_sent_again(code, details, error_class):
    with pytest.raises(error_class) as raised:
        policy(write=True).decide(code, details)
    error = raised.value
    assert isinstance(error, etcdstream.OutcomeUnknown)
    assert "may have applied the write, or may still apply it" in str(error)
    assert "then retry" not in str(error)
    assert error.details == details


@pytest.mark.parametrize(("code", "details", "error_class"), IN_DOUBT, ids=[d for _, d, _ in IN_DOUBT])
def test_with_several_endpoints_a_write_in_doubt_fails_over_for_the_next_call_but_raises(code, details,
                                                                                        error_class):
    decision_or_error: object
    try:
        decision_or_error = policy(write=True, endpoints="127.0.0.1:2379,127.0.0.1:2380").decide(code, details)
    except etcdstream.EtcdError as e:
        decision_or_error = e
    if issubclass(error_class, etcdstream.ConnectionFailed):
        assert decision_or_error.step is Step.FAILOVER
        assert isinstance(decision_or_error.error, error_class)
    else:
        assert isinstance(decision_or_error, error_class)


@pytest.mark.parametrize(("code", "details"), [(c, d) for c, d, _ in IN_DOUBT if c is not grpc.StatusCode.CANCELLED
                                               and c is not grpc.StatusCode.DEADLINE_EXCEEDED],
                         ids=[d for c, d, _ in IN_DOUBT if c is UNAVAILABLE])
def test_a_read_is_tried_again_after_any_transient_failure(code, details):
    decision = policy(write=False).decide(code, details)
    assert decision.step is Step.RETRY and decision.error is None


def test_a_write_etcd_keeps_refusing_raises_the_refusal_not_outcome_unknown():
    retry = policy(write=True, timeout=0.2)
    with pytest.raises(etcdstream.NoLeader) as raised:
        for _ in range(100):
            decision = retry.decide(UNAVAILABLE, "etcdserver: no leader")
            assert decision.step is Step.RETRY
    assert not isinstance(raised.value, etcdstream.OutcomeUnknown)


def test_outcome_unknown_errors_are_still_caught_as_what_they_were():
    with pytest.raises(etcdstream.ConnectionFailed):
        policy(write=True).decide(UNAVAILABLE, "Socket closed")
    with pytest.raises(etcdstream.Timeout):
        policy(write=True).decide(UNAVAILABLE, "etcdserver: request timed out")
    with pytest.raises(TimeoutError):
        policy(write=True).decide(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")


# TLS refusing the connection: etcd 3.5 failing the handshake, etcd 3.4 after a TLS 1.3 handshake.
TLS_REFUSALS = [
    "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:2379: Ssl handshake failed: "
    "SSL_ERROR_SSL: error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED",
    "Socket closed: Unwrap failed (TSI_DATA_CORRUPTED)",
]


@pytest.mark.parametrize("write", [True, False], ids=["write", "read"])
@pytest.mark.parametrize("details", TLS_REFUSALS, ids=["handshake", "after-handshake"])
def test_a_connection_tls_refuses_fails_at_once_and_a_write_was_not_sent(details, write):
    """Trying again until the timeout would not help (and, at the deadline, would hide the TLS error behind a
    Timeout); the request never reached etcd, so a write's outcome is known: not applied."""
    with pytest.raises(etcdstream.ConnectionFailed, match="TLS failed") as raised:
        policy(write=write).decide(UNAVAILABLE, details)
    assert not isinstance(raised.value, etcdstream.OutcomeUnknown)
    two = policy(write=write, endpoints="127.0.0.1:2379,127.0.0.1:2380")
    assert two.decide(UNAVAILABLE, details).step is Step.FAILOVER  # another endpoint may be set up right
    with pytest.raises(etcdstream.ConnectionFailed):
        two.decide(UNAVAILABLE, details)


@pytest.mark.parametrize("write", [True, False], ids=["write", "read"])
def test_a_stream_etcd_reset_once_the_deadline_passed_is_a_timeout(write, monkeypatch):
    """etcd 3.5.36, 3.6 and 3.7 reset a call whose deadline passed; grpcio may report it as CANCELLED first."""
    reset = "Stream removed (RST_STREAM (Received RST_STREAM with error code 8))"
    early = policy(write=write, timeout=0.01)
    monkeypatch.setattr("etcdstream._retry.time.monotonic", lambda: early.deadline)
    expected = etcdstream.WriteTimedOut if write else etcdstream.Timeout
    with pytest.raises(expected):
        early.decide(grpc.StatusCode.CANCELLED, reset)
    before = policy(write=write, timeout=60)
    monkeypatch.undo()
    with pytest.raises(etcdstream.EtcdError) as raised:  # before the deadline: not a timeout
        before.decide(grpc.StatusCode.CANCELLED, reset)
    assert not isinstance(raised.value, etcdstream.Timeout)
