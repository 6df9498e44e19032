"""Sessions and lost leases (issue 14): a kept-alive lease tells the application when it is lost."""

from __future__ import annotations

import asyncio

import pytest
from _clients import *
from _testbase.proxy import FaultProxy

import etcdstream
from etcdstream._errors import ConnectionFailed
from etcdstream._lease_ops import KeepAliveState


# --- without etcd: when a kept-alive lease counts as lost ---


def test_a_lease_is_lost_when_etcd_says_so_or_after_its_ttl_without_a_refresh():
    lost = []
    state = KeepAliveState(etcdstream.Lease(7, 9), now=100.0, on_lost=lambda lease, e: lost.append((lease.id, e)))
    assert state.interval == 3.0
    unreachable = ConnectionFailed("etcd unreachable")
    assert state.lost_after(unreachable, now=108.9) is None  # within the TTL granted at 100
    state.refreshed(9, now=105.0)
    assert state.lost_after(unreachable, now=113.9) is None
    expired = state.lost_after(unreachable, now=114.0)
    assert isinstance(expired, etcdstream.LeaseNotFound) and "not refreshed for its TTL" in str(expired)
    gone = etcdstream.LeaseNotFound("lease 7 expired or was revoked")
    assert state.lost_after(gone, now=106.0) is gone
    state.report(gone)
    assert lost == [(7, gone)]
    assert KeepAliveState(etcdstream.Lease(1, 1), now=0.0).interval == pytest.approx(1 / 3)


# --- against etcd, both clients ---


def test_a_session_keeps_its_lease_past_the_ttl_and_close_revokes_it(run, etcd_server, fresh_prefix):
    key = fresh_prefix + "owned"

    async def body(etcd):
        session = await etcd.session(ttl=2)
        await etcd.put(key, "mine", lease=session.lease)
        await asyncio.sleep(3.5)  # past the TTL: refreshed meanwhile
        assert (await etcd.get(key)).value == b"mine"
        assert not session.done.is_set() and "live" in repr(session)
        await call(session.close)
        assert await etcd.get(key) is None  # revoked: its keys are deleted
        assert session.done.is_set() and session.lost is None
        await call(session.close)  # again: nothing to do

    run(body, etcd_server.endpoint)


def test_a_revoked_lease_is_reported_lost_to_its_session_and_callback(run, etcd_server):
    async def body(etcd):
        reported = []
        session = await etcd.session(ttl=3)
        lease = await etcd.grant(3, keep_alive=True, on_lost=lambda lease, error: reported.append((lease, error)))
        with etcdstream.Client(etcd_server.endpoint) as other:
            other.revoke(session.lease)
            other.revoke(lease)
        assert await call(session.wait_done, 10)
        assert isinstance(session.lost, etcdstream.LeaseNotFound) and "lost" in repr(session)
        for _ in range(100):
            if reported:
                break
            await asyncio.sleep(0.1)
        [(reported_lease, error)] = reported
        assert reported_lease == lease and isinstance(error, etcdstream.LeaseNotFound)
        await call(session.close)  # lost already: no error
        with pytest.raises(ValueError, match="on_lost goes with keep_alive=True"):
            await etcd.grant(3, on_lost=print)

    run(body, etcd_server.endpoint)


def test_a_lease_not_refreshed_for_its_ttl_is_lost_though_etcd_cannot_say_so(run, etcd_server):
    """etcd unreachable (a stalled path) for longer than the TTL: the lease has expired there, and the
    session says so at its deadline instead of waiting for etcd to answer."""
    with FaultProxy(etcd_server.endpoint) as proxy:

        async def body(etcd):
            session = await etcd.session(ttl=2)
            proxy.stall()
            try:
                assert await call(session.wait_done, 15)
            finally:
                proxy.resume()
            assert isinstance(session.lost, etcdstream.LeaseNotFound)
            assert "not refreshed for its TTL" in str(session.lost)

        run(body, proxy.endpoint, timeout=1)
