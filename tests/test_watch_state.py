"""The I/O-free watch stream state (WatchStreamState), fed hand-made WatchResponses: no etcd, no grpc.

What it must get right is how creates pair with their `created` responses:
etcd answers in order and echoes the watch id the client chose; etcd's gRPC
proxy renumbers watches (0, 1, 2, ... per stream) and answers a create that
joins one of its server watches at once, ahead of older creates. The state
uses the live codec (etcdstream.codec), so these tests do too. Responses are
etcd's own protobuf messages (etcdstream._proto), serialized and decoded.
"""

from collections import deque

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etcdstream import _proto, codec
from etcdstream._endpoints import Endpoint
from etcdstream._errors import (
    AuthFailed,
    CompactedError,
    ConnectionFailed,
    EtcdError,
    NoLeader,
    PermissionDenied,
    ReplayTooLong,
    RevisionWentBackwards,
    WatchCanceled,
)
from etcdstream._results import Snapshot, Status
from etcdstream._watch import WatchStreamState, next_pause
from etcdstream._watcher_state import WatcherState
from etcdstream._watch_driver import StreamStep, stream_failure
from etcdstream._watch_progress import synchronises_progress
from etcdstream._watch_spec import watch_spec

MEMBER, CLUSTER = 0xAB, 0xC1
DELETE = _proto.Event.DELETE


def response(*, watch_id=0, revision=10, created=False, canceled=False, events=(), member=MEMBER,
             cluster=CLUSTER, term=2, cancel_reason="", compact_revision=0, fragment=False):
    """A WatchResponse as etcd would send it, decoded; events are (key, mod_revision) puts or (key, mod_revision, DELETE)."""
    message = _proto.WatchResponse(
        header=_proto.ResponseHeader(cluster_id=cluster, member_id=member, revision=revision, raft_term=term),
        watch_id=watch_id, created=created, canceled=canceled, cancel_reason=cancel_reason,
        compact_revision=compact_revision, fragment=fragment,
    )
    for key, mod, *kind in events:
        message.events.add(type=kind[0] if kind else _proto.Event.PUT,
                           kv=_proto.KeyValue(key=key, create_revision=mod, mod_revision=mod, version=1))
    return codec.decode_watch_response(message.SerializeToString())


def sent_requests(state):
    """The requests the state wants sent now: ("create", key, start_revision, watch_id) or ("cancel", watch_id)."""
    out = []
    for raw in state.take_requests():
        request = _proto.WatchRequest()
        request.ParseFromString(raw)
        if request.HasField("create_request"):
            create = request.create_request
            out.append(("create", create.key, create.start_revision, create.watch_id))
        elif request.HasField("cancel_request"):
            out.append(("cancel", request.cancel_request.watch_id))
        elif request.HasField("progress_request"):
            out.append(("progress",))
        else:
            out.append(("other", request))
    return out


def sent_creates(state):
    """(watch id, key) of each create request the state wants sent now."""
    return [(watch_id, key) for kind, key, _, watch_id in
            (r for r in sent_requests(state) if r[0] == "create")]


def watcher(prefix, start_revision=None, max_buffered_events=100_000, *, is_prefix=True, after=None,
            max_replay=None):
    return WatcherState(watch_spec(prefix, prefix=is_prefix, start_revision=start_revision, prev_kv=False,
                                   progress_notify=False, coalesce=False, max_replay=max_replay),
                        max_buffered_events, after)


#: etcd that answers progress requests in order with its events (etcd #15220 fixed), and one that does not.
SYNCHRONISED_ETCD, OLD_ETCD = "3.5.13", "3.5.1"


def stream_of(server_version=SYNCHRONISED_ETCD):
    """The state of a stream opened to etcd of server_version."""
    state = WatchStreamState()
    state.restart(server_version)
    return state


def ask_progress(state):
    """Send a progress request on a stream whose server answers them in order."""
    assert state.request_progress()
    assert sent_requests(state) == [("progress",)]


def started(state, w, revision=10, **header):
    """Add w and answer its create as etcd does, echoing the id (the only create in flight); its watch id."""
    state.add(w)
    [(watch_id, _)] = sent_creates(state)
    assert state.on_response(response(watch_id=watch_id, created=True, revision=revision, **header)) == [w]
    return watch_id


def restart_and_create(state, revision=50):
    """Restart the stream and answer each create as etcd does; (key, start_revision) of each create sent."""
    state.restart()
    out = []
    while creates := [r for r in sent_requests(state) if r[0] == "create"]:
        for _, key, start, watch_id in creates:
            out.append((key, start))
            state.on_response(response(watch_id=watch_id, created=True, revision=revision))
    return out


def keys(batch):
    return [e.key for e in batch]


def test_one_create_in_flight_until_the_server_echoes_an_id():
    state = WatchStreamState()
    a, b, c = watcher("/a/"), watcher("/b/"), watcher("/c/")
    for w in (a, b, c):
        state.add(w)
    [(first_id, key)] = sent_creates(state)
    assert key == b"/a/"
    # etcd echoes the id: from now on creates go out together, matched by id.
    assert state.on_response(response(watch_id=first_id, created=True)) == [a]
    (b_id, b_key), (c_id, c_key) = sent_creates(state)
    assert (b_key, c_key) == (b"/b/", b"/c/")
    assert state.on_response(response(watch_id=c_id, created=True)) == [c]
    assert state.on_response(response(watch_id=b_id, created=True)) == [b]
    assert (a.watch_id, b.watch_id, c.watch_id) == (first_id, b_id, c_id)


def test_behind_a_proxy_creates_go_one_by_one_and_events_reach_their_own_watcher():
    state = WatchStreamState()
    watchers = [watcher(f"/p{i}/", start_revision=5) for i in range(3)]
    for w in watchers:
        state.add(w)
    for proxy_id, w in enumerate(watchers):
        [(_, key)] = sent_creates(state)  # never two at once: the proxy's ids name no request
        assert key == w.spec.key
        # The proxy's own header for a watch it joins to one it has: no member, the start revision.
        assert state.on_response(response(watch_id=proxy_id, created=True, revision=5, member=0,
                                          cluster=0, term=0)) == [w]
    assert sent_creates(state) == []
    for proxy_id, w in enumerate(watchers):
        key = w.spec.key + b"k"
        assert state.on_response(response(watch_id=proxy_id, revision=6 + proxy_id,
                                          events=[(key, 6 + proxy_id)])) == [w]
        assert [e.key for e in w.take_batch()] == [key]
    assert state.protocol_error is None


def test_an_event_outside_the_watchers_range_restarts_the_stream_and_is_not_delivered():
    state = WatchStreamState()
    a = watcher("/p1/")
    state.add(a)
    [(watch_id, _)] = sent_creates(state)
    state.on_response(response(watch_id=watch_id, created=True))
    assert state.on_response(response(watch_id=watch_id, revision=11,
                                      events=[(b"/p1/k", 11), (b"/p10/k", 11)])) == []
    assert "/p10/k" in str(state.protocol_error)
    assert not a.responses and a.revision == 10
    # The new stream re-creates the watch where it stopped, one create at a time again.
    state.restart()
    assert state.protocol_error is None
    [(_, key)] = sent_creates(state)
    assert key == b"/p1/"


def test_a_created_response_for_an_id_never_asked_for_is_a_protocol_error_once_ids_are_echoed():
    state = WatchStreamState()
    a, b = watcher("/a/"), watcher("/b/")
    state.add(a)
    state.add(b)
    [(a_id, _)] = sent_creates(state)
    state.on_response(response(watch_id=a_id, created=True))
    sent_creates(state)
    assert state.on_response(response(watch_id=7, created=True)) == []
    assert "never asked for" in str(state.protocol_error)
    assert b.watch_id is None


def test_a_refused_create_pairs_with_the_oldest_in_flight():
    state = WatchStreamState()
    a, b, c = watcher("/a/"), watcher("/b/"), watcher("/c/")
    state.add(a)
    [(a_id, _)] = sent_creates(state)
    state.on_response(response(watch_id=a_id, created=True))
    state.add(b)
    state.add(c)
    assert len(sent_creates(state)) == 2
    # etcd refuses with id -1, answering in order: the refusal is b's.
    assert state.on_response(response(watch_id=-1, created=True, canceled=True,
                                      cancel_reason="etcdserver: some refusal")) == [b]
    assert b.error is not None and c.error is None and state.protocol_error is None


def test_a_watcher_closed_while_waiting_for_its_turn_is_never_created():
    state = WatchStreamState()
    a, b, c = watcher("/a/"), watcher("/b/"), watcher("/c/")
    for w in (a, b, c):
        state.add(w)
    [(a_id, _)] = sent_creates(state)
    state.remove(b)
    state.on_response(response(watch_id=0, created=True, member=0, cluster=0))  # a proxy's id
    assert [key for _, key in sent_creates(state)] == [b"/c/"]
    assert a.watch_id == 0


def test_proxy_headers_without_a_member_do_not_trip_or_reset_the_history_check():
    state = WatchStreamState()
    a = watcher("/a/", start_revision=50)
    state.add(a)
    sent_creates(state)
    # A made-up created header: revision = the watch's start (here ahead of etcd's 40).
    state.on_response(response(watch_id=0, created=True, revision=50, member=0, cluster=0, term=0))
    assert a.created and a.error is None
    state.on_response(response(watch_id=0, revision=40, term=3))  # etcd's progress: not backwards
    assert a.error is None
    # A restored etcd behind the proxy is still caught: its raft term went back.
    state.on_response(response(watch_id=0, revision=41, term=1, events=[(b"/a/k", 41)]))
    assert "raft term went backwards" in str(a.error)


def test_the_pause_before_a_reconnect_starts_short_after_a_stream_that_worked():
    state = WatchStreamState()
    pause = 0.0
    for _ in range(12):
        pause = state.pause_after(pause)  # connecting keeps failing: the pause grows to its ceiling
    assert 1.5 <= pause <= 2.0
    state.restart()
    state.on_response(response(watch_id=-1, revision=12))  # the new stream answered
    short = state.pause_after(pause)
    assert 0.0375 <= short <= 0.05
    assert 1.5 * short <= state.pause_after(short) <= 2 * short  # and failing again grows it again


def test_a_paused_watch_resumed_before_its_cancel_is_confirmed_goes_on():
    state = WatchStreamState()
    slow = watcher("/s/", start_revision=10, max_buffered_events=2)
    state.add(slow)
    [(watch_id, _)] = sent_creates(state)
    state.on_response(response(watch_id=watch_id, created=True))
    state.on_response(response(watch_id=watch_id, revision=11, events=[(b"/s/a", 10), (b"/s/b", 11)]))
    assert slow.paused and state.take_requests()  # the cancel
    state.on_response(response(watch_id=watch_id, revision=12, events=[(b"/s/c", 12)]))  # dropped: replayed later
    assert [e.key for e in slow.take_batch()] == [b"/s/a", b"/s/b"]
    state.resume_if_drained(slow)
    [(new_id, _)] = sent_creates(state)
    # The old watch's cancel confirmation comes after the consumer read its buffer: it ends nothing.
    assert state.on_response(response(watch_id=watch_id, revision=12, canceled=True)) == []
    state.on_response(response(watch_id=new_id, revision=12, created=True))
    state.on_response(response(watch_id=new_id, revision=12, events=[(b"/s/c", 12)]))
    assert slow.error is None and [e.key for e in slow.take_batch()] == [b"/s/c"]


def test_a_second_created_for_a_live_watch_is_not_an_answer_to_a_create():
    """etcd's gRPC proxy may pass on a `created` when it re-establishes its own watch on etcd."""
    state = WatchStreamState()
    a, b = watcher("/a/"), watcher("/b/")
    state.add(a)
    sent_creates(state)
    state.on_response(response(watch_id=0, created=True, member=0, cluster=0))  # the proxy's id 0
    assert state.on_response(response(watch_id=0, created=True, revision=11)) == []  # no create in flight
    assert state.take_requests() == [] and a.error is None  # nothing canceled
    state.add(b)
    [(_, key)] = sent_creates(state)
    assert state.on_response(response(watch_id=0, created=True, revision=12)) == []  # b's create still waits
    assert state.on_response(response(watch_id=1, created=True, revision=12)) == [b]
    assert (a.watch_id, b.watch_id, state.protocol_error) == (0, 1, None)
    # One from a restored etcd is caught like any other header of it.
    state.on_response(response(watch_id=0, created=True, revision=5, term=1))
    assert "went backwards" in str(a.error)
    b_cancel = response(watch_id=1, created=True, canceled=True, revision=12)
    assert state.on_response(b_cancel) == [b] and b.error is not None and state.protocol_error is None


# --- creates, answered in order and out of order ---


def test_pipelined_creates_carry_each_watchers_range_and_start_and_take_the_id_etcd_echoes():
    state = WatchStreamState()
    now, since5, one = watcher("/n/"), watcher("/s/", start_revision=5), watcher("/k", is_prefix=False)
    for w in (now, since5, one):
        state.add(w)
    [(kind, key, start, now_id)] = sent_requests(state)
    assert (kind, key, start) == ("create", b"/n/", 0)  # "from now"
    assert state.on_response(response(watch_id=now_id, created=True, revision=20)) == [now]
    creates = [_proto.WatchRequest.FromString(raw).create_request for raw in state.take_requests()]
    assert [(c.key, c.range_end, c.start_revision) for c in creates] == [(b"/s/", b"/s0", 5), (b"/k", b"", 0)]
    id5, id1 = (c.watch_id for c in creates)
    assert state.on_response(response(watch_id=id5, created=True, revision=20)) == [since5]
    assert state.on_response(response(watch_id=id1, created=True, revision=21)) == [one]
    assert len({now_id, id5, id1}) == 3 and (now.watch_id, since5.watch_id, one.watch_id) == (now_id, id5, id1)
    # A watch "from now" has seen everything up to its created header; one from revision 5 nothing yet.
    assert (now.revision, since5.revision, one.revision) == (20, 4, 21)
    assert all(w.created and w.has_started() and not w.has_news() for w in (now, since5, one))
    # Events go by id, to their own watcher only.
    assert state.on_response(response(watch_id=id1, revision=22, events=[(b"/k", 22)])) == [one]
    assert keys(one.take_batch()) == [b"/k"] and not now.responses and not since5.responses


def test_creates_answered_out_of_order_by_etcd_pair_by_id_not_by_arrival():
    state = WatchStreamState()
    first, a, b, c = watcher("/0/"), watcher("/a/", 3), watcher("/b/", 4), watcher("/c/", 5)
    started(state, first)
    for w in (a, b, c):
        state.add(w)
    ids = {key: watch_id for watch_id, key in sent_creates(state)}
    assert list(ids) == [b"/a/", b"/b/", b"/c/"]
    assert state.on_response(response(watch_id=ids[b"/c/"], created=True)) == [c]
    assert state.on_response(response(watch_id=ids[b"/a/"], created=True)) == [a]
    assert state.on_response(response(watch_id=ids[b"/b/"], created=True)) == [b]
    assert [w.watch_id for w in (a, b, c)] == list(ids.values())
    assert [w.revision for w in (a, b, c)] == [2, 3, 4]  # a created header does not move a watch with a start
    assert state.protocol_error is None and sent_requests(state) == []


def test_behind_a_proxy_a_made_up_created_header_keeps_the_start_and_teaches_no_history():
    state = WatchStreamState()
    a, b = watcher("/a/", start_revision=7), watcher("/b/", start_revision=7)
    state.add(a)
    state.add(b)
    assert [key for _, key in sent_creates(state)] == [b"/a/"]
    # The proxy joins a to a watch it has: its own header (no cluster, no member), revision = the start.
    assert state.on_response(response(watch_id=0, created=True, revision=7, member=0, cluster=0, term=0)) == [a]
    assert (a.revision, a.history.cluster_id, a.history.member_id) == (6, 0, 0)  # a made-up header teaches nothing
    [(_, key)] = sent_creates(state)
    assert key == b"/b/"
    assert state.on_response(response(watch_id=1, created=True, revision=9)) == [b]
    assert (b.history.cluster_id, b.history.member_id, b.history.member_revision) == (CLUSTER, MEMBER, 9)


def test_each_new_stream_sends_one_create_at_a_time_until_its_server_echoes_an_id():
    state = WatchStreamState()
    a, b, c = watcher("/a/", 5), watcher("/b/", 5), watcher("/c/", 5)
    for w in (a, b, c):
        started(state, w)  # etcd itself: pipelined after the first
    state.restart()  # the new stream may reach a proxy: it proves nothing yet
    [(_, key)] = sent_creates(state)
    assert key == b"/a/"
    assert state.on_response(response(watch_id=0, created=True, revision=12, member=0, cluster=0)) == [a]
    [(_, key)] = sent_creates(state)
    assert key == b"/b/"
    assert state.on_response(response(watch_id=1, created=True, revision=12)) == [b]
    [(_, key)] = sent_creates(state)
    assert key == b"/c/" and (a.watch_id, b.watch_id) == (0, 1) and b.error is None
    # And one that reaches etcd again pipelines again once it echoed an id.
    state.restart()
    [(a_id, _)] = sent_creates(state)
    state.on_response(response(watch_id=a_id, created=True, revision=12))
    assert [key for _, key in sent_creates(state)] == [b"/b/", b"/c/"]


# --- cancels: by us, by etcd, compaction ---


def test_a_watch_we_cancel_sends_one_cancel_and_its_confirmation_ends_nothing():
    state = WatchStreamState()
    a, b = watcher("/a/"), watcher("/b/")
    a_id = started(state, a)
    started(state, b)
    state.remove(a)
    assert sent_requests(state) == [("cancel", a_id)]
    assert a.closed and not a.active and a.has_news() and state.live == [b]  # its consumer wakes up and stops
    state.remove(a)
    assert sent_requests(state) == []  # not twice
    assert state.on_response(response(watch_id=a_id, revision=11, canceled=True)) == []
    assert a.error is None
    assert restart_and_create(state) == [(b"/b/", 11)]


def test_a_watcher_closed_while_its_create_is_in_flight_is_canceled_once_created_and_never_delivered():
    state = WatchStreamState()
    a, b = watcher("/a/"), watcher("/b/")
    state.add(a)
    state.add(b)
    [(a_id, _)] = sent_creates(state)
    state.remove(a)
    assert sent_requests(state) == []  # no id to cancel yet
    assert state.on_response(response(watch_id=a_id, created=True)) == []
    assert [r[:2] for r in sent_requests(state)] == [("cancel", a_id), ("create", b"/b/")]
    assert state.on_response(response(watch_id=a_id, revision=11, events=[(b"/a/k", 11)])) == []
    assert not a.responses and a.error is None and sent_requests(state) == []


@pytest.mark.parametrize("reason, error_class", [
    ("", WatchCanceled),
    ("etcdserver: mvcc: required revision is a future revision", WatchCanceled),
    ("etcdserver: permission denied", PermissionDenied),
])
def test_a_watch_canceled_by_etcd_ends_with_its_reason_and_is_not_created_again(reason, error_class):
    state = WatchStreamState()
    a, b = watcher("/a/"), watcher("/b/")
    a_id, _ = started(state, a), started(state, b)
    assert state.on_response(response(watch_id=a_id, revision=11, canceled=True, cancel_reason=reason)) == [a]
    assert type(a.error) is error_class and b.error is None
    assert (reason or "canceled by etcd") in str(a.error)
    if error_class is WatchCanceled:
        assert a.error.reason == (reason or "canceled by etcd")
    assert a.has_news() and not a.active and state.live == [b]
    # As Go's client does, the id is canceled on our side too (etcd keeps a compacted watch's record until then).
    assert sent_requests(state) == [("cancel", a_id)]
    assert state.on_response(response(watch_id=a_id, revision=12, events=[(b"/a/k", 12)])) == []
    assert not a.responses and sent_requests(state) == []
    assert restart_and_create(state) == [(b"/b/", 11)]


@pytest.mark.parametrize("at_create", [False, True], ids=["while-watching", "refusing-the-create"])
def test_a_compacted_watch_ends_with_compacted_error_naming_the_oldest_kept_revision(at_create):
    state = WatchStreamState()
    w = watcher("/c/", start_revision=5)
    if at_create:
        state.add(w)
        [(watch_id, _)] = sent_creates(state)
        answer = response(watch_id=watch_id, created=True, canceled=True, compact_revision=8, revision=20)
    else:
        watch_id = started(state, w, revision=20)
        answer = response(watch_id=watch_id, canceled=True, compact_revision=8, revision=20)
    assert state.on_response(answer) == [w]
    assert type(w.error) is CompactedError and w.error.compact_revision == 8
    assert "from revision 5" in str(w.error) and w.has_started() and state.live == []
    assert state.reauth_needed is False and state.protocol_error is None


# --- fragments, progress ---


def test_fragments_are_joined_into_one_response_and_a_restart_drops_a_partial_one():
    state = stream_of()
    w = watcher("/f/", start_revision=10)
    watch_id = started(state, w, revision=12)
    parts = [[(b"/f/0", 10), (b"/f/1", 10)], [(b"/f/2", 10)], [(b"/f/3", 10, DELETE)]]
    for part in parts[:-1]:
        assert state.on_response(response(watch_id=watch_id, revision=12, events=part, fragment=True)) == []
    ask_progress(state)
    assert state.on_response(response(watch_id=-1, revision=12)) == []  # a progress cannot pass a partial revision
    assert (w.revision, w.responses, w.buffered_events) == (9, deque(), 0)
    assert state.on_response(response(watch_id=watch_id, revision=12, events=parts[-1])) == [w]
    batch = w.take_batch()
    assert keys(batch) == [b"/f/0", b"/f/1", b"/f/2", b"/f/3"] and batch.revision == 10
    assert batch.events[-1].type == DELETE
    # The next revision comes in fragments too, and the stream breaks between them.
    state.on_response(response(watch_id=watch_id, revision=12, events=[(b"/f/4", 11)], fragment=True))
    assert restart_and_create(state) == [(b"/f/", 11)]
    assert w.fragments == [] and not w.responses
    # The replayed revision 11 arrives whole; nothing of the dropped fragment is left to join it.
    new_id = w.watch_id
    state.on_response(response(watch_id=new_id, revision=50, events=[(b"/f/4", 11), (b"/f/5", 11)]))
    assert keys(w.take_batch()) == [b"/f/4", b"/f/5"]


def test_progress_notifications_advance_a_quiet_watchers_revision_and_where_it_resumes():
    state = stream_of()
    quiet, busy = watcher("/q/", start_revision=10), watcher("/b/", start_revision=10)
    quiet_id, busy_id = started(state, quiet, revision=12), started(state, busy, revision=12)
    # A watch's own progress notification (progress_notify): no events, the header's revision.
    assert state.on_response(response(watch_id=quiet_id, revision=20)) == [quiet]
    batch = quiet.take_batch()
    assert (keys(batch), batch.revision, quiet.revision) == ([], 20, 20)
    assert state.on_response(response(watch_id=busy_id, revision=21, events=[(b"/b/k", 21)])) == [busy]
    # The stream's answer to a progress request: every created watch behind it has seen up to there.
    ask_progress(state)
    assert state.on_response(response(watch_id=-1, revision=21)) == [quiet]
    assert (quiet.revision, busy.revision) == (21, 21)
    assert quiet.take_batch().revision == 21
    ask_progress(state)
    assert state.on_response(response(watch_id=-1, revision=15)) == []  # an older one moves nobody back
    assert (quiet.revision, busy.revision) == (21, 21) and not quiet.responses
    assert restart_and_create(state) == [(b"/q/", 22), (b"/b/", 22)]


@pytest.mark.parametrize(("version", "synchronised"), [
    ("3.3.27", False), ("3.4.23", False), ("3.4.24", False), ("3.4.25", True), ("3.4.40", True),
    ("3.5.1", False), ("3.5.7", False), ("3.5.8", True), ("3.5.36", True), ("3.6.0-alpha.0", True),
    ("3.6.17", True), ("3.7.4", True), ("", False), (None, False),
])
def test_progress_answers_are_trusted_from_etcd_3_4_25_and_3_5_8(version, synchronised):
    assert synchronises_progress(version) is synchronised
    state = stream_of(version)
    assert state.request_progress() is synchronised
    assert sent_requests(state) == ([("progress",)] if synchronised else [])


def test_an_old_etcds_progress_answer_moves_no_watcher_past_events_still_to_come():
    """The 49,001 lost events of etcd #15220, in small: a replay of 50,000 revisions, one progress request,
    answered at once with etcd's head; a stream broken after it resumes where the events stopped."""
    state = stream_of(OLD_ETCD)
    w = watcher("/p/", start_revision=2)
    watch_id = started(state, w, revision=50_002)
    assert not state.request_progress() and sent_requests(state) == []
    state.on_response(response(watch_id=watch_id, revision=50_002, events=[(b"/p/k", r) for r in range(2, 1002)]))
    assert state.on_response(response(watch_id=-1, revision=50_002)) == []  # not asked, or asked by another
    assert w.take_batch().revision == 1001 and w.revision == 1001
    assert restart_and_create(state, revision=50_002) == [(b"/p/", 1002)]


def test_a_progress_answer_moves_only_the_watchers_it_can_speak_for():
    """etcd makes the answer when every watcher it has is in sync, but a watcher it registers afterwards may
    see its created response sent first: the answer must not move that one (it may still be replaying)."""
    state = stream_of()
    old, new = watcher("/old/"), watcher("/new/", start_revision=5)
    started(state, old, revision=30)
    ask_progress(state)
    ask_progress(state)
    started(state, new, revision=31)  # created after both requests were sent; its header: etcd at 31
    # The answer to the first request: made before `new` was registered, so it says nothing of it.
    assert state.on_response(response(watch_id=-1, revision=31)) == [old]
    assert (old.revision, new.revision) == (31, 4)
    # The answer to the second (or a later) one at 32: made after `new`'s created header was read at 31.
    assert state.on_response(response(watch_id=-1, revision=32)) == [old, new]
    assert (old.revision, new.revision) == (32, 32)
    assert state.on_response(response(watch_id=-1, revision=33)) == []  # a third answer to two requests
    assert (old.revision, new.revision) == (32, 32)


@pytest.mark.parametrize("events", [
    [(b"/w/0-a", 20), (b"/w/0-b", 22), (b"/w/1-a", 21)],  # key order, not revision order
    [(b"/w/a", 15)],  # already delivered
    [(b"/w/a", 12)],  # before the start of the resumed watch
], ids=["out-of-order", "twice", "before-the-start"])
def test_an_event_out_of_order_or_twice_is_not_delivered_and_the_watch_resumes_after_the_last_delivered(events):
    state = stream_of()
    w = watcher("/w/", start_revision=10)
    watch_id = started(state, w, revision=12)
    state.on_response(response(watch_id=watch_id, revision=15, events=[(b"/w/a", 15)]))
    assert w.take_batch().revision == 15
    state.restart(SYNCHRONISED_ETCD)
    [(watch_id, _)] = sent_creates(state)
    state.on_response(response(watch_id=watch_id, created=True, revision=30))
    assert state.on_response(response(watch_id=watch_id, revision=30, events=events)) == []
    assert "out of order, or twice" in str(state.protocol_error)
    assert not w.responses and w.revision == 15 and w.error is None
    assert restart_and_create(state) == [(b"/w/", 16)]


def test_a_watch_from_revision_1_is_not_taken_for_a_watch_from_now():
    """Found by the order check: revision 0 ("nothing delivered") made a watch from revision 1 look like one
    "from now", moved to its created header's revision ahead of the events still to come (an election's
    observer on a new etcd then saw its first candidate's put as a duplicate)."""
    state = stream_of()
    w = watcher("/e/", start_revision=1)
    watch_id = started(state, w, revision=2)
    assert w.revision == 0
    assert state.on_response(response(watch_id=watch_id, revision=2, events=[(b"/e/a", 2)])) == [w]
    assert state.protocol_error is None and keys(w.take_batch()) == [b"/e/a"] and w.revision == 2


# --- a new stream ---


def test_a_restart_creates_every_live_watcher_again_from_its_last_revision_plus_one():
    state = WatchStreamState()
    moved, now, ahead = watcher("/moved/", start_revision=10), watcher("/now/"), watcher("/ahead/", start_revision=30)
    closed, failed, pending = watcher("/closed/"), watcher("/failed/"), watcher("/pending/")
    moved_id = started(state, moved, revision=12)
    for w in (now, ahead, closed, failed):
        started(state, w, revision=12)
    state.on_response(response(watch_id=moved_id, revision=15, events=[(b"/moved/a", 11), (b"/moved/b", 15)]))
    state.remove(closed)
    state.on_response(response(watch_id=failed.watch_id, revision=15, canceled=True, cancel_reason="gone"))
    state.add(pending)  # its create is never answered on this stream
    assert [key for _, key in sent_creates(state)] == [b"/pending/"]
    assert restart_and_create(state, revision=40) == [
        (b"/moved/", 16), (b"/now/", 13), (b"/ahead/", 30), (b"/pending/", 0),
    ]
    assert pending.revision == 40  # created "from now" on the new stream
    assert closed not in state.live and failed not in state.live
    # What was buffered before the break is still the consumer's, and nothing twice.
    assert keys(moved.take_batch()) == [b"/moved/a", b"/moved/b"]
    state.on_response(response(watch_id=moved.watch_id, revision=41, events=[(b"/moved/c", 16)]))
    assert keys(moved.take_batch()) == [b"/moved/c"]


def test_a_restart_forgets_the_old_streams_ids():
    state = WatchStreamState()
    w = watcher("/w/", start_revision=10)
    old_id = started(state, w)
    state.restart()
    [(new_id, _)] = sent_creates(state)
    assert new_id != old_id and w.watch_id is None
    # Whatever the old stream still said is not this one's: an unknown id is canceled, nothing delivered.
    assert state.on_response(response(watch_id=old_id, revision=12, events=[(b"/w/k", 11)])) == []
    assert sent_requests(state) == [("cancel", old_id)] and not w.responses


# --- another history ---


@pytest.mark.parametrize("header, problem", [
    ({"revision": 12}, "etcd's revision went backwards (15 -> 12)"),
    ({"revision": 16, "term": 1}, "etcd's raft term went backwards (2 -> 1)"),
    ({"revision": 16, "cluster": 0xC2}, "cluster behind the endpoints changed (cluster id c1 -> c2)"),
], ids=["revision", "raft-term", "cluster-id"])
def test_a_history_that_is_not_the_watchers_ends_it_with_revision_went_backwards(header, problem):
    state = WatchStreamState()
    w = watcher("/h/", start_revision=10)
    watch_id = started(state, w, revision=12)
    state.on_response(response(watch_id=watch_id, revision=15, events=[(b"/h/a", 15)]))
    w.take_batch()
    assert state.on_response(response(watch_id=watch_id, events=[(b"/h/b", header["revision"])], **header)) == [w]
    assert type(w.error) is RevisionWentBackwards and problem in str(w.error)
    assert not w.responses and w.revision == 15 and state.live == []
    assert sent_requests(state) == [("cancel", watch_id)]
    assert state.protocol_error is None  # the watcher ends, the stream goes on


def test_another_member_behind_the_one_seen_is_no_history_change_but_then_it_may_not_go_back():
    state = WatchStreamState()
    w = watcher("/m/", start_revision=10)
    started(state, w, revision=15, term=3)
    # After a failover the new member lags (revision 13) and has seen fewer elections (term 2): fine.
    state.restart()
    [(watch_id, _)] = sent_creates(state)
    assert state.on_response(response(watch_id=watch_id, created=True, revision=13, term=2, member=0xAC)) == [w]
    assert w.error is None and (w.history.member_id, w.history.member_revision, w.history.member_term) == (0xAC, 13, 2)
    state.on_response(response(watch_id=watch_id, revision=12, term=2, member=0xAC))
    assert type(w.error) is RevisionWentBackwards and "(13 -> 12) on member ac" in str(w.error)


@pytest.mark.parametrize("header, problem", [
    ({"cluster": 0xC2}, "cluster id"),
    ({"revision": 18}, "went backwards (20 -> 18)"),
], ids=["another-cluster", "older-than-the-snapshot"])
def test_a_watch_continuing_a_snapshot_is_refused_a_history_that_is_not_the_snapshots(header, problem):
    state = WatchStreamState()
    after = Snapshot(20, [], cluster_id=CLUSTER, member_id=MEMBER)
    w = watcher("/s/", start_revision=21, after=after)
    state.add(w)
    [(_, _, start, watch_id)] = sent_requests(state)
    assert start == 21
    assert state.on_response(response(watch_id=watch_id, created=True, **{"revision": 25, **header})) == [w]
    assert type(w.error) is RevisionWentBackwards and problem in str(w.error)
    assert w.has_started() and not w.created  # open() raises it
    ok = watcher("/s/", start_revision=21, after=after)
    started(state, ok, revision=25)
    assert ok.error is None and ok.created


def test_a_made_up_proxy_header_does_not_reset_the_snapshots_history_check():
    state = WatchStreamState()
    w = watcher("/s/", start_revision=21, after=Snapshot(20, [], cluster_id=CLUSTER, member_id=MEMBER))
    state.add(w)
    assert len(sent_creates(state)) == 1
    assert state.on_response(response(watch_id=0, created=True, revision=21, member=0, cluster=0, term=0)) == [w]
    assert (w.history.cluster_id, w.history.member_id, w.history.member_revision) == (CLUSTER, MEMBER, 20)
    state.on_response(response(watch_id=0, revision=18, events=[(b"/s/k", 18)]))  # the member, restored
    assert type(w.error) is RevisionWentBackwards and "(20 -> 18)" in str(w.error) and not w.responses


def test_a_batch_revision_never_goes_back_when_a_lagging_member_reports_progress():
    state = WatchStreamState()
    w = watcher("/l/")
    started(state, w, revision=20)  # "from now": everything up to 20 is known
    state.restart()  # failover to a member that lags
    [(watch_id, _)] = sent_creates(state)
    assert state.on_response(response(watch_id=watch_id, created=True, revision=18, member=0xAC)) == [w]
    assert state.on_response(response(watch_id=watch_id, revision=18, member=0xAC)) == [w]  # its progress
    batch = w.take_batch()
    assert (keys(batch), batch.revision, w.revision) == ([], 20, 20)


def test_a_created_response_with_no_create_in_flight_is_canceled_unless_it_is_a_refusal():
    state = WatchStreamState()
    w = watcher("/w/")
    started(state, w)
    assert state.on_response(response(watch_id=-1, created=True, canceled=True, cancel_reason="no")) == []
    assert state.on_response(response(watch_id=-1, created=True)) == []
    assert sent_requests(state) == [] and w.error is None
    assert state.on_response(response(watch_id=77, created=True)) == []
    assert sent_requests(state) == [("cancel", 77)] and state.protocol_error is None


# --- tokens, stream failures ---


@pytest.mark.parametrize("reason, final_error", [
    ("etcdserver: invalid auth token", WatchCanceled),
    ("etcdserver: permission denied", PermissionDenied),  # etcd 3.5.1's word for an expired token
    ("etcdserver: user name is empty", WatchCanceled),
])
def test_a_token_problem_refusing_a_create_asks_for_reauthentication_once(reason, final_error):
    state = WatchStreamState()
    w = watcher("/t/", start_revision=10)
    state.add(w)
    [(watch_id, _)] = sent_creates(state)
    refusal = {"created": True, "canceled": True, "cancel_reason": reason, "revision": 12}
    assert state.on_response(response(watch_id=watch_id, **refusal)) == []
    assert state.reauth_needed and w.error is None and state.live == [w]
    state.restart()  # with a new token
    assert not state.reauth_needed
    [(watch_id, _)] = sent_creates(state)
    assert state.on_response(response(watch_id=watch_id, created=True, revision=12)) == [w]  # it works again
    state.restart()
    [(watch_id, _)] = sent_creates(state)
    assert state.on_response(response(watch_id=watch_id, **refusal)) == []  # a later expiry: again
    assert state.reauth_needed and w.error is None
    state.restart()
    [(watch_id, _)] = sent_creates(state)
    assert state.on_response(response(watch_id=watch_id, **refusal)) == [w]  # refused right after a new token
    assert type(w.error) is final_error and not state.reauth_needed and state.live == []


def test_a_refusal_that_is_no_token_problem_ends_the_watch_at_once():
    state = WatchStreamState()
    w = watcher("/t/", start_revision=10)
    state.add(w)
    [(watch_id, _)] = sent_creates(state)
    reason = "etcdserver: mvcc: required revision is a future revision"
    assert state.on_response(response(watch_id=watch_id, created=True, canceled=True, cancel_reason=reason)) == [w]
    assert type(w.error) is WatchCanceled and w.error.reason == reason and not state.reauth_needed


ENDPOINT = Endpoint("127.0.0.1", 2379)


@pytest.mark.parametrize("code, details, several, step, error_class", [
    (grpc.StatusCode.UNAUTHENTICATED, "etcdserver: invalid auth token", False, StreamStep.REAUTHENTICATE, AuthFailed),
    (grpc.StatusCode.INVALID_ARGUMENT, "etcdserver: revision in header is old", True, StreamStep.REAUTHENTICATE,
     AuthFailed),
    (grpc.StatusCode.INVALID_ARGUMENT, "etcdserver: authentication failed, invalid user ID or password", False,
     StreamStep.FAIL, AuthFailed),
    (grpc.StatusCode.PERMISSION_DENIED, "etcdserver: permission denied", False, StreamStep.FAIL, PermissionDenied),
    (grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses", False, StreamStep.RECONNECT, ConnectionFailed),
    (grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses", True, StreamStep.FAILOVER, ConnectionFailed),
    (grpc.StatusCode.UNAVAILABLE, "etcdserver: no leader", True, StreamStep.FAILOVER, NoLeader),
    (grpc.StatusCode.CANCELLED, "Received RST_STREAM with error code 8", False, StreamStep.RECONNECT, EtcdError),
    (grpc.StatusCode.UNKNOWN, "etcdserver: server stopped", False, StreamStep.RECONNECT, EtcdError),
    (grpc.StatusCode.INVALID_ARGUMENT, "etcdserver: some refusal", True, StreamStep.FAIL, EtcdError),
])
def test_a_broken_stream_is_reconnected_failed_over_reauthenticated_or_failed(code, details, several, step,
                                                                               error_class):
    got_step, error = stream_failure(code, details, ENDPOINT, several)
    assert got_step is step and isinstance(error, error_class)
    assert details in str(error)


# --- events outside a watcher's range ---


@pytest.mark.parametrize("prefix, is_prefix, inside, outside", [
    ("/p1/", True, b"/p1/x", b"/p10/x"),
    ("/p1/", True, b"/p1/x", b"/p0"),
    ("/k", False, b"/k", b"/k/x"),
    (b"\xff", True, b"\xff\x01", b"\xfe\xff"),  # a range "to the end" has a start all the same
])
def test_an_event_outside_the_range_is_a_protocol_error_inside_it_is_delivered(prefix, is_prefix, inside, outside):
    state = WatchStreamState()
    w = watcher(prefix, is_prefix=is_prefix)
    watch_id = started(state, w)
    assert state.on_response(response(watch_id=watch_id, revision=11, events=[(inside, 11)])) == [w]
    assert keys(w.take_batch()) == [inside]
    assert state.on_response(response(watch_id=watch_id, revision=12, events=[(outside, 12)], fragment=True)) == []
    assert repr(outside) in str(state.protocol_error) and w.revision == 11 and not w.fragments


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_an_event_is_delivered_if_and_only_if_its_key_starts_with_the_prefix(data):
    alphabet = st.sampled_from(b"\x00\x01/a\xfe\xff")
    prefix = bytes(data.draw(st.lists(alphabet, min_size=1, max_size=3)))
    key = data.draw(st.one_of(
        st.lists(alphabet, min_size=1, max_size=5).map(bytes),
        st.lists(alphabet, max_size=2).map(lambda tail: prefix + bytes(tail)),
    ))
    state = WatchStreamState()
    w = watcher(prefix)
    watch_id = started(state, w)
    woken = state.on_response(response(watch_id=watch_id, revision=11, events=[(key, 11)]))
    if key.startswith(prefix):
        assert woken == [w] and state.protocol_error is None
    else:
        assert woken == [] and repr(key) in str(state.protocol_error) and not w.responses


# --- slow consumers ---


def test_a_slow_consumer_pauses_its_watch_and_resumes_it_where_it_stopped():
    state = stream_of()
    slow, other = watcher("/s/", start_revision=10, max_buffered_events=3), watcher("/o/")
    slow_id = started(state, slow, revision=12)
    started(state, other, revision=12)
    state.on_response(response(watch_id=slow_id, revision=12, events=[(b"/s/a", 10), (b"/s/b", 11)]))
    assert not slow.paused and sent_requests(state) == []
    state.on_response(response(watch_id=slow_id, revision=12, events=[(b"/s/c", 12)]))
    assert slow.paused and slow.watch_id is None and sent_requests(state) == [("cancel", slow_id)]
    # What etcd sent before it saw the cancel is dropped (the resumed watch replays it), and canceled only once.
    assert state.on_response(response(watch_id=slow_id, revision=13, events=[(b"/s/d", 13)])) == []
    assert sent_requests(state) == [] and slow.buffered_events == 3
    ask_progress(state)
    assert state.on_response(response(watch_id=-1, revision=14)) == [other]  # a paused watch is not in sync
    assert (slow.revision, other.revision) == (12, 14)
    state.resume_if_drained(slow)  # not drained: nothing
    assert slow.paused and sent_requests(state) == []
    assert restart_and_create(state) == [(b"/o/", 15)]  # a paused watch waits for its consumer, not the stream
    batch = slow.take_batch()
    assert (keys(batch), batch.revision) == ([b"/s/a", b"/s/b", b"/s/c"], 12)
    state.resume_if_drained(slow)
    [(kind, key, start, new_id)] = sent_requests(state)
    assert (kind, key, start, slow.paused) == ("create", b"/s/", 13, False)
    state.on_response(response(watch_id=new_id, created=True, revision=14))
    state.on_response(response(watch_id=new_id, revision=14, events=[(b"/s/d", 13)]))
    assert keys(slow.take_batch()) == [b"/s/d"] and slow.error is None


def test_a_closed_or_failed_watcher_is_never_resumed():
    state = WatchStreamState()
    closed, failed = watcher("/c/", max_buffered_events=1), watcher("/f/", max_buffered_events=1)
    for w in (closed, failed):
        watch_id = started(state, w)
        state.on_response(response(watch_id=watch_id, revision=11, events=[(w.spec.key + b"k", 11)]))
        assert w.paused
    sent_requests(state)
    state.remove(closed)
    state.fail_all(RevisionWentBackwards("test"))
    for w in (closed, failed):
        w.take_batch()
        state.resume_if_drained(w)
    assert sent_requests(state) == []



# --- no event lost or delivered twice, whatever the stream does ---


class FakeWatchStream:
    """etcd's end of one Watch stream over a fixed history (one put per revision, 2..head), answering in order.

    echo_ids: etcd itself (echoes the client's watch ids); else etcd's gRPC proxy (numbers them 0, 1, 2, ...).
    A create or cancel takes effect at once; what was already queued still reaches the client after it.
    """

    def __init__(self, history, echo_ids, synchronised=True):
        self.history, self.head, self.echo_ids = history, history[-1][0], echo_ids
        self.synchronised = synchronised
        self.watches = {}  # server id -> [next revision, key, range_end]
        self.queue = deque()
        self.proxy_ids = iter(range(1000))
        self.progress_asked = False

    def receive(self, raw):
        request = _proto.WatchRequest()
        request.ParseFromString(raw)
        if request.HasField("progress_request"):
            if self.synchronised:
                self.progress_asked = True  # answered once every watch is in sync (progress())
            else:  # etcd before 3.4.25 and 3.5.8: at once, ahead of the events still to send (etcd #15220)
                self.queue.append(response(watch_id=-1, revision=self.head))
        elif request.HasField("create_request"):
            create = request.create_request
            watch_id = create.watch_id if self.echo_ids else next(self.proxy_ids)
            self.watches[watch_id] = [create.start_revision or self.head + 1, create.key, create.range_end]
            self.queue.append(response(watch_id=watch_id, created=True, revision=self.head))
        else:
            watch_id = request.cancel_request.watch_id
            if self.watches.pop(watch_id, None) is not None:
                self.queue.append(response(watch_id=watch_id, canceled=True, revision=self.head))

    def _due(self, watch):
        start, key, end = watch
        return [(k, rev) for rev, k in self.history if rev >= start and key <= k < end]

    def emit(self, which, count):
        """Queue the next count events of one watch (which: an index into the watches), or its progress."""
        if not self.watches:
            return
        watch_id = list(self.watches)[which % len(self.watches)]
        watch = self.watches[watch_id]
        due = self._due(watch)[:count]
        if due:
            watch[0] = due[-1][1] + 1
            self.queue.append(response(watch_id=watch_id, revision=self.head, events=due))
        else:
            watch[0] = self.head + 1
            self.queue.append(response(watch_id=watch_id, revision=self.head))  # progress_notify

    def progress(self):
        """Answer a progress request as etcd 3.4.25+ and 3.5.8+ do: only when every watch is in sync."""
        if self.progress_asked and not any(self._due(watch) for watch in self.watches.values()):
            self.progress_asked = False
            self.queue.append(response(watch_id=-1, revision=self.head))


ACTIONS = st.one_of(
    st.tuples(st.just("emit"), st.integers(0, 3), st.integers(1, 4)),
    st.just(("deliver",)), st.just(("deliver",)), st.just(("deliver",)),
    st.tuples(st.just("consume"), st.integers(0, 1)),
    st.just(("ask",)),
    st.just(("progress",)),
    st.just(("restart",)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    puts=st.lists(st.sampled_from([b"/a/1", b"/a/2", b"/b/1", b"/c/1"]), min_size=1, max_size=25),
    max_buffered=st.integers(1, 5),
    echo_ids=st.booleans(),
    server_version=st.sampled_from([SYNCHRONISED_ETCD, OLD_ETCD]),
    actions=st.lists(ACTIONS, max_size=80),
)
def test_every_event_reaches_its_watcher_once_and_in_order_across_restarts_and_pauses(puts, max_buffered,
                                                                                       echo_ids, server_version,
                                                                                       actions):
    history = [(revision, key) for revision, key in enumerate(puts, start=2)]
    synchronised = server_version == SYNCHRONISED_ETCD
    state = stream_of(server_version)
    watchers = [watcher("/a/", start_revision=2, max_buffered_events=max_buffered),
                watcher("/b/", start_revision=2, max_buffered_events=max_buffered)]
    seen = {id(w): [] for w in watchers}
    server = FakeWatchStream(history, echo_ids, synchronised)

    def pump():
        for raw in state.take_requests():
            server.receive(raw)

    def consume(w):
        batch = w.take_batch()
        events = [(e.key, e.mod_revision) for e in batch]
        assert all(rev <= batch.revision for _, rev in events) and batch.revision <= server.head
        seen[id(w)].extend(events)
        state.resume_if_drained(w)
        pump()

    for w in watchers:
        state.add(w)
    pump()
    for action in actions:
        if action[0] == "emit":
            server.emit(action[1], action[2])
        elif action[0] == "deliver" and server.queue:
            state.on_response(server.queue.popleft())
            pump()
        elif action[0] == "consume":
            consume(watchers[action[1]])
        elif action[0] == "ask":
            # A server that renumbers watches is etcd's gRPC proxy, which drops progress requests: none is sent.
            assert state.request_progress() is (synchronised and not state.behind_proxy)
            pump()
        elif action[0] == "progress":
            server.progress()
        elif action[0] == "restart":
            server = FakeWatchStream(history, echo_ids, synchronised)
            state.restart(server_version)
            pump()
        assert state.protocol_error is None and all(w.error is None for w in watchers)
    for _ in range(4 * len(history) + 8):  # then the stream runs undisturbed until every watch is in sync
        for which in range(2):
            server.emit(which, 1)
        while server.queue:
            state.on_response(server.queue.popleft())
            pump()
        for w in watchers:
            consume(w)
    for w in watchers:
        expected = [(key, revision) for revision, key in history if key.startswith(w.spec.key)]
        assert seen[id(w)] == expected
        assert w.error is None and not w.paused and w.revision >= (expected[-1][1] if expected else 1)


# --- found by these tests, fixed ---


def test_events_that_follow_a_history_change_are_not_delivered_to_the_ended_watcher():
    state = WatchStreamState()
    w = watcher("/w/", start_revision=10)
    watch_id = started(state, w, revision=12)
    state.on_response(response(watch_id=watch_id, revision=15, events=[(b"/w/a", 15)]))
    w.take_batch()
    state.restart()  # etcd was restored from a backup at revision 12
    [(watch_id, _)] = sent_creates(state)
    assert state.on_response(response(watch_id=watch_id, created=True, revision=12)) == [w]
    assert type(w.error) is RevisionWentBackwards
    # Writes to the restored etcd reach the watch (created from 16) before etcd handles our cancel.
    state.on_response(response(watch_id=watch_id, revision=16, events=[(b"/w/other-history", 16)]))
    assert not w.responses


def test_behind_a_proxy_a_created_for_a_watch_we_canceled_is_not_the_answer_to_the_create_in_flight():
    state = WatchStreamState()
    slow = watcher("/s/", start_revision=10, max_buffered_events=1)
    state.add(slow)
    sent_creates(state)
    state.on_response(response(watch_id=0, created=True, revision=10, member=0, cluster=0, term=0))
    state.on_response(response(watch_id=0, revision=10, events=[(b"/s/a", 10)]))
    assert sent_requests(state) == [("cancel", 0)]
    slow.take_batch()
    state.resume_if_drained(slow)
    assert len(sent_creates(state)) == 1
    # The proxy re-established its own watch on etcd and passes on a created for id 0, then confirms our cancel.
    state.on_response(response(watch_id=0, created=True, revision=11))
    state.on_response(response(watch_id=0, canceled=True, revision=11))
    assert slow.error is None
    assert state.on_response(response(watch_id=1, created=True, revision=11)) == [slow]


def test_reconnect_pauses_grow_to_a_ceiling_each_a_random_three_quarters_to_whole_of_twice_the_last():
    pauses = [next_pause(0.0)]
    for _ in range(12):
        pauses.append(next_pause(pauses[-1]))
    assert 0.0375 <= pauses[0] <= 0.05
    for last, pause in zip(pauses, pauses[1:]):
        assert 0.75 * min(max(last * 2, 0.05), 2.0) <= pause <= min(max(last * 2, 0.05), 2.0)
    assert max(pauses) <= 2.0 and pauses[-1] >= 1.5
    # Clients broken at one moment come back spread out, not in the same instant.
    assert len({round(next_pause(1.0), 6) for _ in range(20)}) > 10


def test_a_watch_resuming_further_behind_than_its_max_replay_ends_after_delivering_what_it_holds():
    state = WatchStreamState()
    far, near, unlimited = (watcher("/far/", start_revision=10, max_replay=100), watcher("/near/", max_replay=100),
                            watcher("/all/", start_revision=10))
    # Created the first time far behind: a watch asked for that history, so it replays it.
    far_id = started(state, far, revision=500)
    started(state, near, revision=500)
    started(state, unlimited, revision=500)
    state.on_response(response(watch_id=far_id, revision=500, events=[(b"/far/a", 20)]))
    state.restart()
    sent = []
    while requests := sent_requests(state):
        sent += requests
        for _, key, start, watch_id in (r for r in requests if r[0] == "create"):
            state.on_response(response(watch_id=watch_id, created=True, revision=621))
    # far resumes 601 revisions behind, near 121 (both over 100): each is canceled; unlimited replays.
    assert [r for r in sent if r[0] == "create"] == [
        ("create", b"/far/", 21, far.watch_id), ("create", b"/near/", 501, near.watch_id),
        ("create", b"/all/", 10, unlimited.watch_id)]
    assert [r for r in sent if r[0] == "cancel"] == [("cancel", far.watch_id), ("cancel", near.watch_id)]
    assert state.live == [unlimited]
    assert keys(state.take_news(far)) == [b"/far/a"]  # what it held first, then the error
    with pytest.raises(ReplayTooLong) as caught:
        state.take_news(far)
    assert (caught.value.from_revision, caught.value.revision) == (21, 621)
    assert "601 revisions behind" in str(caught.value)  # revisions 21..621
    # What etcd sends for an ended watch before its cancel lands is dropped.
    assert state.on_response(response(watch_id=far.watch_id, revision=622, events=[(b"/far/b", 622)])) == []


def test_only_the_first_create_of_a_watch_replays_past_its_max_replay():
    """The first create after a read replays the writes made during the read, whatever their number (else a
    prefix written faster than it is read would be read forever). Sent again because the stream broke before
    etcd answered it, the gap holds the outage too: issue 25's Mirror replayed 100,000 revisions so."""
    state = WatchStreamState()
    answered, unanswered = watcher("/a/", start_revision=10, max_replay=100), watcher("/u/", max_replay=100)
    answered_id = started(state, answered, revision=5_000)
    assert answered.active and answered.created
    state.add(unanswered)
    state.on_response(response(watch_id=answered_id, revision=5_000, events=[(b"/a/k", 4_000)]))
    assert len(sent_creates(state)) == 1  # the stream breaks before etcd answers it
    assert restart_and_create(state, revision=9_000) == [(b"/a/", 4_001), (b"/u/", 0)]
    assert isinstance(answered.error, ReplayTooLong)  # 5,000 behind: its first create was answered long ago
    assert unanswered.active and unanswered.created and unanswered.revision == 9_000  # "from now": no gap
    far = watcher("/f/", start_revision=10, max_replay=100)
    state.add(far)
    sent_creates(state)
    assert restart_and_create(state, revision=9_000) == [(b"/u/", 9_001), (b"/f/", 10)]
    assert isinstance(far.error, ReplayTooLong)


def test_a_watch_resuming_within_its_max_replay_or_behind_a_proxy_made_up_header_replays():
    state = WatchStreamState()
    w = watcher("/w/", start_revision=10, max_replay=100)
    started(state, w, revision=10)
    state.on_response(response(watch_id=w.watch_id, revision=50, events=[(b"/w/a", 50)]))
    assert restart_and_create(state, revision=150) == [(b"/w/", 51)]  # exactly 100 behind
    assert w.active and w.created
    state.restart()
    [(_, _, start, new_id)] = sent_requests(state)
    # etcd's gRPC proxy joining a watch it has makes up a header naming no member: its revision is not etcd's.
    state.on_response(response(watch_id=new_id, created=True, revision=9_999, member=0, cluster=0))
    assert w.active and start == 51


def status(revision, *, member=0xAB, cluster=0xC1, term=2):
    return Status(version="3.6.17", db_size=0, leader=member, member_id=member, raft_index=0, raft_term=term,
                  revision=revision, errors=[], is_learner=False, cluster_id=cluster)


@pytest.mark.parametrize(("server", "why"), [
    (status(2), "revision went backwards"),
    (status(9, term=1), "raft term went backwards"),
    (status(9, cluster=0xD2), "cluster behind the endpoints changed"),
])
def test_a_new_streams_status_ends_a_watcher_of_another_history_before_its_create(server, why):
    """Behind etcd's gRPC proxy a create may be joined to another watch, with a made-up created header that
    cannot tell a restored backup: the Status asked on every new stream tells it first."""
    state = stream_of("3.6.17")
    w = watcher("/a/")
    state.add(w)
    (chosen, _), = sent_creates(state)
    state.on_response(response(watch_id=chosen, created=True, revision=4))
    state.on_response(response(watch_id=chosen, revision=5, events=[(b"/a/1", 5)]))
    w.take_batch()
    ended = state.restart("3.6.17", server)
    assert ended == [w] and why in str(w.error) and type(w.error).__name__ == "RevisionWentBackwards"
    assert sent_requests(state) == []  # no create for it, and no cancel of the old stream's id


def test_a_new_streams_status_of_the_same_history_changes_nothing():
    state = stream_of("3.6.17")
    w = watcher("/a/")
    state.add(w)
    (chosen, _), = sent_creates(state)
    state.on_response(response(watch_id=chosen, created=True, revision=4))
    assert state.restart("3.6.17", status(7)) == [] and w.error is None
    assert [kind for kind, *_ in sent_requests(state)] == ["create"]
