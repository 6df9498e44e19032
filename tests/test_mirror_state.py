"""The I/O-free core of Mirror and AsyncMirror (MirrorState, the unread-changes backlog), without etcd.

MirrorState is the copy: a full read replaces it (`load`, which returns the
difference from the old copy, reported to change callbacks as a resync) and
watch batches change it (`apply`). What a consumer replays from the changes it
was given must always equal the copy.
"""

from types import SimpleNamespace
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

import etcdstream
from etcdstream import Event, EventBatch, EventType, KeyValue, Snapshot, _mirror
from etcdstream._mirror import MIN_MAX_REPLAY, MirrorBase, MirrorState, keep_pending, max_replay
from etcdstream._stats import Counters


def kv(key, revision, value=None, create_revision=None):
    return KeyValue(key, value if value is not None else b"v%d" % revision,
                    create_revision or revision, revision, 1, 0)


def put(key, revision, value=None):
    return Event(EventType.PUT, kv(key, revision, value))


def delete(key, revision):
    return Event(EventType.DELETE, KeyValue(key, b"", 0, revision))


def snapshot(revision, *kvs):
    return Snapshot(revision, sorted(kvs, key=lambda x: x.key))


def replay(copy, batch):
    """What a consumer of the changes does: apply each event to its own dict."""
    copy = dict(copy)
    for event in batch:
        if event.type == EventType.DELETE:
            copy.pop(event.key, None)
        else:
            copy[event.key] = event.kv
    return copy


def loaded(*kvs, revision=10):
    state = MirrorState()
    state.load(snapshot(revision, *kvs))
    return state


# --- the first read, then the watch ---


def test_the_first_read_reports_every_key_as_a_put_and_is_no_resync():
    state = MirrorState()
    assert (state.synced, state.revision, state.data) == (False, 0, {})
    a, b = kv(b"/a", 3), kv(b"/b", 7)
    changes = state.load(snapshot(10, a, b))
    assert [(e.type, e.kv) for e in changes] == [(EventType.PUT, a), (EventType.PUT, b)]
    assert changes.revision == 10 and state.revision == 10
    assert state.data == {b"/a": a, b"/b": b} and state.synced and state.resyncs == 0


def test_batches_applied_in_order_put_change_and_delete_keys():
    state = loaded(kv(b"/a", 3), kv(b"/b", 7))
    state.apply(EventBatch([put(b"/c", 11), put(b"/a", 12, b"new")], 12))
    state.apply(EventBatch([delete(b"/b", 13)], 13))
    assert state.data == {b"/a": kv(b"/a", 12, b"new"), b"/c": kv(b"/c", 11)}
    assert state.revision == 13 and state.resyncs == 0
    state.apply(EventBatch([put(b"/c", 14), delete(b"/c", 15), put(b"/c", 16, b"again")], 16))
    assert state.data[b"/c"] == kv(b"/c", 16, b"again")  # within a batch, the last event of a key wins


def test_a_delete_of_a_key_the_copy_does_not_hold_changes_nothing():
    state = loaded(kv(b"/a", 3))
    state.apply(EventBatch([delete(b"/zz", 11)], 11))
    assert state.data == {b"/a": kv(b"/a", 3)} and state.revision == 11


def test_a_progress_batch_moves_the_revision_only():
    state = loaded(kv(b"/a", 3))
    state.apply(EventBatch([], 25))
    assert state.data == {b"/a": kv(b"/a", 3)} and state.revision == 25


def test_a_batch_that_skips_revisions_is_applied_and_its_revision_taken():
    """Revisions of other prefixes never show in this watch: gaps are normal."""
    state = loaded(kv(b"/a", 3))
    state.apply(EventBatch([put(b"/b", 17), put(b"/c", 40)], 42))
    assert set(state.data) == {b"/a", b"/b", b"/c"} and state.revision == 42


def test_a_batch_that_repeats_revisions_leaves_the_copy_as_it_was_and_never_moves_the_revision_back():
    state = loaded(kv(b"/a", 3))
    batch = EventBatch([put(b"/b", 11), delete(b"/a", 12)], 12)
    state.apply(batch)
    before = dict(state.data)
    state.apply(batch)
    assert state.data == before and state.revision == 12
    state.apply(EventBatch([], 5))  # an older revision: a lagging member's progress
    assert state.revision == 12 and state.data == before


# --- reading again: compaction, another history ---


def test_a_resync_reports_the_difference_between_the_old_and_the_new_copy():
    same, changed, removed = kv(b"/same", 3), kv(b"/changed", 4), kv(b"/removed", 5)
    state = loaded(same, changed, removed, revision=10)
    state.apply(EventBatch([put(b"/watched", 11)], 11))
    old = dict(state.data)
    # The watch was compacted away; the prefix read again at 30.
    new_changed, added = kv(b"/changed", 25, b"x", create_revision=4), kv(b"/added", 28)
    diff = state.load(snapshot(30, same, new_changed, added))
    assert diff.revision == 30 and state.revision == 30 and state.resyncs == 1
    puts = {e.key: e.kv for e in diff if e.type == EventType.PUT}
    deletes = {e.key: e.kv for e in diff if e.type == EventType.DELETE}
    assert puts == {b"/changed": new_changed, b"/added": added}  # /same is not reported
    assert deletes == {b"/removed": KeyValue(b"/removed", b"", 0, 30), b"/watched": KeyValue(b"/watched", b"", 0, 30)}
    assert replay(old, diff) == state.data == {b"/same": same, b"/changed": new_changed, b"/added": added}


def test_a_resync_to_a_copy_that_did_not_change_reports_nothing_but_counts():
    a = kv(b"/a", 3)
    state = loaded(a)
    diff = state.load(snapshot(12, a))
    assert list(diff) == [] and diff.revision == 12 and state.resyncs == 1 and state.revision == 12


def test_a_resync_after_the_revision_went_backwards_takes_the_older_copy_and_its_revision():
    """etcd restored from a backup: the new copy is older; the mirror follows it, and says so."""
    state = loaded(kv(b"/a", 3), kv(b"/b", 40), revision=50)
    state.apply(EventBatch([put(b"/c", 51)], 51))
    old = dict(state.data)
    diff = state.load(snapshot(20, kv(b"/a", 3), kv(b"/b", 15)))
    assert state.revision == 20 and state.resyncs == 1
    assert {(e.type, e.key) for e in diff} == {(EventType.PUT, b"/b"), (EventType.DELETE, b"/c")}
    assert replay(old, diff) == state.data
    state.apply(EventBatch([put(b"/d", 21)], 21))  # and goes on from there
    assert state.revision == 21 and b"/d" in state.data


copies = st.dictionaries(
    st.sampled_from([b"/a", b"/b", b"/c", b"/d", b"/e"]),
    st.tuples(st.integers(1, 4), st.sampled_from([b"x", b"y"])),
)


@settings(max_examples=200, deadline=None)
@given(old=copies, new=copies)
def test_replaying_a_resyncs_difference_on_the_old_copy_gives_the_new_one(old, new):
    state = loaded(*(kv(k, rev, value) for k, (rev, value) in old.items()), revision=10)
    before = dict(state.data)
    diff = state.load(snapshot(20, *(kv(k, rev, value) for k, (rev, value) in new.items())))
    assert replay(before, diff) == state.data == {k: kv(k, rev, value) for k, (rev, value) in new.items()}
    # Only what changed is reported, each key once.
    reported = [e.key for e in diff]
    assert len(reported) == len(set(reported))
    assert set(reported) == {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}


# --- changes nobody read ---


def test_unread_changes_are_kept_as_they_came_up_to_the_limit():
    with mock.patch.object(_mirror, "_MAX_PENDING_BATCHES", 3):
        pending = []
        batches = [EventBatch([put(b"/a", r)], r) for r in (11, 12, 13)]
        for i, batch in enumerate(batches):
            pending = keep_pending(pending, batch, i == 0)
        assert pending == [(batches[0], True), (batches[1], False), (batches[2], False)]
        assert all(kept is batch for (kept, _), batch in zip(pending, batches))


def test_beyond_the_limit_unread_changes_merge_into_one_batch_with_the_same_net_change():
    with mock.patch.object(_mirror, "_MAX_PENDING_BATCHES", 3):
        pending = []
        batches = [
            (EventBatch([put(b"/a", 11), put(b"/b", 11)], 11), False),
            (EventBatch([delete(b"/a", 12)], 12), True),  # a resync's difference
            (EventBatch([put(b"/c", 13)], 13), False),
            (EventBatch([put(b"/b", 14, b"last"), put(b"/a", 14, b"back")], 15), False),
        ]
        for batch, resync in batches:
            pending = keep_pending(pending, batch, resync)
        [(merged, resync)] = pending
        assert resync is True and merged.revision == 15  # a resync inside: the whole merge says so
        assert [(e.type, e.key, e.value) for e in merged] == [
            (EventType.PUT, b"/c", b"v13"), (EventType.PUT, b"/b", b"last"), (EventType.PUT, b"/a", b"back"),
        ]
        pending = keep_pending(pending, EventBatch([delete(b"/c", 16)], 16), False)
        assert len(pending) == 2 and pending[1][1] is False  # after a merge, batches are kept again


events = st.lists(
    st.tuples(st.booleans(), st.sampled_from([b"/a", b"/b", b"/c"]), st.sampled_from([b"x", b"y", b"z"])),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(start=copies, steps=st.lists(st.tuples(events, st.booleans()), max_size=12), limit=st.integers(1, 4))
def test_replaying_unread_changes_gives_the_copy_however_they_were_merged(start, steps, limit):
    """What changes() hands a consumer that fell behind still brings its copy to the mirror's."""
    state = loaded(*(kv(k, rev, value) for k, (rev, value) in start.items()), revision=10)
    consumer = dict(state.data)
    pending = []
    revision = 10
    with mock.patch.object(_mirror, "_MAX_PENDING_BATCHES", limit):
        for step_events, resync in steps:
            if resync:  # read again: the new copy is the old one with these changes (a compacted stretch)
                revision += 1
                target = replay(state.data, [put(key, revision, value) if is_put else delete(key, revision)
                                             for is_put, key, value in step_events])
                batch = state.load(Snapshot(revision, [target[k] for k in sorted(target)]))
            else:
                batch_events = []
                for is_put, key, value in step_events:
                    revision += 1
                    batch_events.append(put(key, revision, value) if is_put else delete(key, revision))
                batch = EventBatch(batch_events, revision)
                state.apply(batch)
            pending = keep_pending(pending, batch, resync)
            assert len(pending) <= limit
    for batch, _ in pending:
        consumer = replay(consumer, batch)
    assert consumer == state.data
    assert not pending or pending[-1][0].revision == state.revision
    assert any(flag for _, flag in pending) == any(resync for _, resync in steps)


# --- the mapping side and the watch it starts ---


class _Bare(MirrorBase):
    """The read-only side of a Mirror, over a state built by hand."""

    def __init__(self, state, prefix=b"/p/", coalesce=True):
        super().__init__(prefix, coalesce, None, Counters())
        self._state = state


class _WatchRecorder:
    """Stands for a client's watch stream: returns the spec watchdir() opens, and the snapshot it continues."""

    def open(self, spec, max_buffered_events, after=None):
        return spec, after


class _OneReadClient:
    """Stands for a Client: readdir() gives snapshot 41; watchdir() records its arguments, then the client closes."""

    def __init__(self):
        self.watches = []
        self._transport = SimpleNamespace(counters=Counters())

    def readdir(self, prefix, **options):
        return snapshot(41)

    def watchdir(self, prefix, **options):
        self.watches.append((prefix, options))
        raise etcdstream.ClientClosed("closed")


def test_the_watch_continues_the_snapshot_from_its_revision_plus_one_with_progress():
    client = _OneReadClient()
    etcdstream.Mirror(client, "/p/", coalesce=False, own_stream=False)._background.stop()  # the client closed
    # A read that took no time: the gap worth replaying is one sync loop of etcd's.
    assert client.watches == [(b"/p/", {"coalesce": False, "after": snapshot(41), "max_replay": MIN_MAX_REPLAY})]
    etcd = etcdstream.Client("127.0.0.1:1")  # no I/O: the watch stream is replaced
    etcd._watches = _WatchRecorder()
    spec, after = etcd.watchdir(b"/p/", coalesce=False, after=snapshot(41))
    assert (spec.key, spec.range_end, spec.start_revision, after) == (b"/p/", b"/p0", 42, snapshot(41))
    assert spec.progress_notify and not spec.prev_kv and not spec.coalesce
    assert etcd.watchdir(b"/p/", after=snapshot(1))[0].start_revision == 2


def test_the_mapping_reads_the_copy_and_a_snapshot_is_sorted_and_consistent():
    state = loaded(kv(b"/p/b", 4), kv(b"/p/a", 3), revision=9)
    state.apply(EventBatch([put(b"/p/0", 10)], 11))
    mirror = _Bare(state)
    assert mirror["/p/a"] == kv(b"/p/a", 3) and mirror[b"/p/0"] == kv(b"/p/0", 10)
    assert len(mirror) == 3 and set(mirror) == {b"/p/a", b"/p/b", b"/p/0"}
    assert "/p/b" in mirror and b"/p/c" not in mirror
    assert (mirror.revision, mirror.resyncs) == (11, 0)
    copy = mirror.snapshot()
    assert copy.revision == 11 and [x.key for x in copy.kvs] == [b"/p/0", b"/p/a", b"/p/b"]
    keys = iter(mirror)
    state.apply(EventBatch([put(b"/p/new", 12)], 12))  # iterating a copy: the sync may change the dict
    assert len(list(keys)) == 3


def test_reading_again_is_chosen_beyond_what_etcd_replays_in_the_time_a_read_takes():
    assert max_replay(0.5, 10) == 5_000  # etcd replays about 10,000 revisions a second
    assert max_replay(0.001, 10) == MIN_MAX_REPLAY  # one sync loop's worth is always replayed
    # No read measured yet (a saved copy): estimated from its keys.
    assert max_replay(None, 1_000_000) == int((_mirror.READ_SECONDS + 2.0) * 10_000)
    assert max_replay(None, 10) == MIN_MAX_REPLAY


def test_a_read_chosen_to_catch_up_reports_the_net_change_and_is_no_resync():
    state = MirrorState()
    state.load(snapshot(10, kv(b"/p/a", 10), kv(b"/p/b", 10)))
    batch = state.load(snapshot(5000, kv(b"/p/a", 4000), kv(b"/p/c", 4999)), "far behind", resync=False)
    assert sorted((e.type, e.key) for e in batch) == [
        (EventType.PUT, b"/p/a"), (EventType.PUT, b"/p/c"), (EventType.DELETE, b"/p/b")]
    assert (state.revision, state.resyncs, state.counters.snapshot("", 0).resyncs) == (5000, 0, 0)
    state.load(snapshot(6000), "compacted")
    assert state.resyncs == 1


def test_a_read_after_the_first_reports_its_changes_in_revision_order_not_key_order():
    """Issue 24's out-of-order feed: two writers creating keys alternately (writer 0 at even revisions, 1 at
    odd ones), a stream cut at 18 and the Mirror reading again at 1,099. The read's changes came in key order:
    writer 0's keys (20, 22, ...), then writer 1's (19, 21, ...)."""
    def written(start, stop):
        return [kv(b"/p/%d-%06d" % (revision % 2, revision), revision) for revision in range(start, stop + 1)]

    state = MirrorState()
    first = state.load(snapshot(18, *written(2, 18)))
    assert [e.key for e in first] == sorted(e.key for e in first)  # a full sync: every key, in key order
    gone = kv(b"/p/gone", 5)
    state.apply(EventBatch([put(gone.key, 5)], 18))
    for resync in (False, True):
        batch = state.load(snapshot(1099, *written(2, 1099)), "resumed far behind", resync=resync)
        assert [e.mod_revision for e in batch] == list(range(19, 1100)) + [1099]
        assert (batch.events[-1].type, batch.events[-1].key) == (EventType.DELETE, gone.key)
        state.load(snapshot(18, *written(2, 18), gone))
