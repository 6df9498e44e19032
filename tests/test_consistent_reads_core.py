"""The I/O-free side of consistent reads, with hand-made responses: which servers' progress answers may be
waited on, how a stream tells etcd's gRPC proxy from etcd, and how reads share revision fetches and progress
requests (_mirror_consistent)."""

from __future__ import annotations

import pytest
from test_watch_state import response, sent_creates, sent_requests, stream_of, watcher

from etcdstream._mirror_consistent import PROGRESS_INTERVAL, WAIT_BUCKETS, ConsistentReads
from etcdstream._watch import WatchStreamState
from etcdstream._watch_progress import progress_wait_problem


@pytest.mark.parametrize(("version", "problem"), [
    ("3.4.23", "#15220"), ("3.4.25", "#17507"), ("3.4.30", "#17507"), ("3.4.31", None),
    ("3.5.1", "#15220"), ("3.5.7", "#15220"), ("3.5.8", "#17507"), ("3.5.12", "#17507"), ("3.5.13", None),
    ("3.5.36", None), ("3.6.0-alpha.0", None), ("3.6.17", None), ("3.7.4", None), (None, "unknown version"),
])
def test_progress_answers_are_waited_on_from_3_4_31_and_3_5_13(version, problem):
    found = progress_wait_problem(version)
    assert found is None if problem is None else problem in found
    assert "gRPC proxy" in progress_wait_problem(version, behind_proxy=True)


def test_a_stream_whose_creates_come_back_renumbered_is_the_proxy_and_gets_no_progress_requests():
    state = stream_of("3.6.17")
    assert state.progress_wait_problem() is None and state.behind_proxy is None
    w = watcher("/a/")
    state.add(w)
    (chosen, _), = sent_creates(state)
    state.on_response(response(watch_id=0, created=True, member=0, cluster=0))  # the proxy's own id
    assert state.behind_proxy is True and "proxy" in state.progress_wait_problem()
    assert state.request_progress() is False and sent_requests(state) == []
    state.restart("3.6.17")  # a new stream: not known until its first created response
    assert state.behind_proxy is None and state.progress_wait_problem() is None
    (chosen, _), = sent_creates(state)
    state.on_response(response(watch_id=chosen, created=True))  # etcd itself echoes the id
    assert state.behind_proxy is False and state.progress_wait_problem() is None
    assert state.request_progress() is True and sent_requests(state) == [("progress",)]


def test_before_any_stream_nothing_is_known_and_an_old_server_is_said_so():
    assert WatchStreamState().progress_wait_problem() is None
    assert "#15220" in stream_of("3.5.1").progress_wait_problem()
    assert "unknown" in stream_of(None).progress_wait_problem()  # its Status was refused


def test_a_read_shares_only_a_fetch_that_started_after_it_arrived():
    reads = ConsistentReads()
    early = reads.arrive()
    number = reads.fetch_started()
    late = reads.arrive()  # arrives while the fetch is in flight: it may predate a write this reader saw
    reads.fetch_ended(number, 42, 1.0)
    assert reads.shared(early) == (42, 1.0)
    assert reads.shared(late) is None
    second = reads.fetch_started()
    reads.fetch_ended(second, 50, 2.0)
    assert reads.shared(late) == (50, 2.0)


def test_waiting_reads_ask_for_progress_at_once_then_every_interval():
    reads = ConsistentReads()
    assert reads.request_due(needed_since=5.0) == 5.0  # none sent yet: at once
    reads.requested(5.0)
    assert reads.request_due(needed_since=5.0) == 5.0 + PROGRESS_INTERVAL  # another reader of the same fetch
    assert reads.request_due(needed_since=5.01) == 5.01  # learnt its revision after the last request: at once


def test_outcomes_and_waits_are_counted_in_buckets():
    reads = ConsistentReads()
    reads.answered("copy", 0.0002)
    reads.answered("copy", 0.02)
    reads.answered("timeout", 3.5)
    reads.answered("unsupported")
    stats = reads.stats()
    assert stats.by_outcome == {"copy": 2, "timeout": 1, "unsupported": 1}
    assert (stats.from_copy, stats.fallbacks) == (2, 2)
    assert stats.wait_buckets == WAIT_BUCKETS and len(stats.wait_counts) == len(WAIT_BUCKETS) + 1
    assert stats.wait_counts[0] == 1 and stats.wait_counts[WAIT_BUCKETS.index(0.025)] == 1
    assert stats.wait_counts[-1] == 1 and sum(stats.wait_counts) == 3
    assert stats.wait_sum == pytest.approx(3.5202)

