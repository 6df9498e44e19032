"""The I/O-free watch stream state (WatchStreamState), fed hand-made WatchResponses: no etcd, no grpc.

What it must get right is how creates pair with their `created` responses:
etcd answers in order and echoes the watch id the client chose; etcd's gRPC
proxy renumbers watches (0, 1, 2, ... per stream) and answers a create that
joins one of its server watches at once, ahead of older creates. The state
uses the live codec (etcdstream.codec), so these tests do too.
"""

from _wire import bytes_field, varint_field

from etcdstream import _proto, codec
from etcdstream._watch import WatcherState, WatchStreamState
from etcdstream._watch_spec import watch_spec

MEMBER, CLUSTER = 0xAB, 0xC1


def response(*, watch_id=0, revision=10, created=False, canceled=False, events=(), member=MEMBER,
             cluster=CLUSTER, term=2, cancel_reason=""):
    """A WatchResponse as etcd would send it; events are (key, mod_revision) puts."""
    header = varint_field(1, cluster) + varint_field(2, member) + varint_field(3, revision) + varint_field(4, term)
    body = bytes_field(1, header) + varint_field(2, watch_id)
    body += varint_field(3, 1) if created else b""
    body += varint_field(4, 1) if canceled else b""
    body += bytes_field(6, cancel_reason.encode()) if cancel_reason else b""
    for key, mod in events:
        kv = bytes_field(1, key) + varint_field(2, mod) + varint_field(3, mod) + varint_field(4, 1)
        body += bytes_field(11, bytes_field(2, kv))
    return codec.decode_watch_response(body)


def sent_creates(state):
    """(watch id, key) of each create request the state wants sent now."""
    out = []
    for raw in state.take_requests():
        request = _proto.WatchRequest()
        request.ParseFromString(raw)
        if request.HasField("create_request"):
            out.append((request.create_request.watch_id, request.create_request.key))
    return out


def watcher(prefix, start_revision=None, max_buffered_events=100_000):
    return WatcherState(watch_spec(prefix, prefix=True, start_revision=start_revision, prev_kv=False,
                                   progress_notify=False, coalesce=False), max_buffered_events)


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
    for _ in range(8):
        pause = state.pause_after(pause)  # connecting keeps failing: the pause grows
    assert pause == 2.0
    state.restart()
    state.on_response(response(watch_id=-1, revision=12))  # the new stream answered
    assert state.pause_after(pause) == 0.05
    assert state.pause_after(0.05) == 0.1  # and failing again grows it again


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
