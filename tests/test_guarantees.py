"""The watch guarantee checkers of the test base (_testbase/guarantees.py) on small hand-made histories: for
each guarantee a watch that keeps it and one that breaks it, the two breaks issue 24 saw, and the cost of
checking 100,000 events. No etcd."""

from __future__ import annotations

import time

import pytest
from _testbase.guarantees import (
    DELETE,
    PUT,
    DeliveredEvent,
    History,
    HistoryEvent,
    MirrorChecker,
    WatchChecker,
    WatchRequest,
    assert_watch_guarantees,
    watch_violations,
)

from etcdstream import Event, EventBatch, EventType, KeyValue

P = b"/p/"
WATCH = WatchRequest.prefix(P, start_revision=2)


def put(key: bytes, revision: int, value: bytes = b"v", prev=None) -> DeliveredEvent:
    return DeliveredEvent(PUT, key, revision, value, prev)


def delete(key: bytes, revision: int, prev=None) -> DeliveredEvent:
    return DeliveredEvent(DELETE, key, revision, b"", prev)


def history_of(*events: DeliveredEvent, first: int = 1, last: int | None = None) -> History:
    return History([HistoryEvent(e.mod_revision, e.key, e.type, e.value) for e in events], first, last)


def batch(revision: int, *events: DeliveredEvent) -> tuple[list[DeliveredEvent], int]:
    return list(events), revision


def guarantees(batches, request=WATCH, history=None) -> list[str]:
    return [v.guarantee for v in watch_violations(batches, request, history)]


# One revision per key, a txn of two keys at revision 4, a delete at 6.
EVENTS = [put(P + b"a", 2), put(P + b"b", 3), put(P + b"c", 4), put(P + b"d", 4), put(P + b"a", 5, b"w"),
          delete(P + b"b", 6)]
HISTORY = history_of(*EVENTS, put(b"/elsewhere", 7))
GOOD = [batch(3, *EVENTS[:2]), batch(4, *EVENTS[2:4]), batch(5, EVENTS[4]), batch(6, EVENTS[5]), batch(7)]


def test_a_watch_that_keeps_every_guarantee():
    assert guarantees(GOOD, history=HISTORY) == []
    assert_watch_guarantees(GOOD, WATCH, HISTORY)  # raises nothing
    # etcdstream's own objects, as watchers deliver them
    real = [EventBatch([Event(EventType.PUT, KeyValue(P + b"a", b"v", 2, 2, 1))], 2)]
    assert guarantees(real, history=history_of(EVENTS[0])) == []


# --- ordered ---


def test_ordered_allows_several_events_of_one_revision():
    assert guarantees([batch(4, *EVENTS[:4])]) == []


def test_ordered_is_broken_by_an_event_before_one_delivered():
    assert "ordered" in guarantees([batch(3, EVENTS[1], EVENTS[0])])
    assert "ordered" in guarantees([batch(3, EVENTS[1]), batch(3, EVENTS[0])])


def test_the_interleaving_of_issue_24_breaks_ordered_once():
    """Events in key order instead of revision order: two writers' keys, the even revisions 20..1098 first,
    then the odd ones 19..1099."""
    history = history_of(*(put(b"/p/%d-%06d" % (rev % 2, rev), rev) for rev in range(19, 1100)))
    delivered = [put(b"/p/0-%06d" % rev, rev) for rev in range(20, 1099, 2)] + \
                [put(b"/p/1-%06d" % rev, rev) for rev in range(19, 1100, 2)]
    chunks = [delivered[i:i + 100] for i in range(0, len(delivered), 100)]
    batches = [batch(chunk[-1].mod_revision, *chunk) for chunk in chunks]
    request = WatchRequest.prefix(P, start_revision=19)
    violations = watch_violations(batches, request, history)
    ordered = [v for v in violations if v.guarantee == "ordered"]
    assert len(ordered) == 1
    assert "@19 (batch 5, event 40) after an event at revision 1098" in str(ordered[0])
    # 19 came after 1098 was claimed (bookmarkable), and first (resumable)
    assert {v.guarantee for v in violations} == {"ordered", "bookmarkable", "resumable"}


# --- unique ---


def test_unique_allows_one_key_at_many_revisions_and_many_keys_at_one():
    assert guarantees([batch(5, EVENTS[0], EVENTS[2], EVENTS[3], EVENTS[4])]) == []


def test_unique_is_broken_by_an_event_delivered_twice():
    violations = watch_violations([batch(3, *EVENTS[:2]), batch(4, EVENTS[1], EVENTS[2], EVENTS[3])], WATCH)
    unique = [str(v) for v in violations if v.guarantee == "unique"]
    assert unique == ["[unique] watch: PUT b'/p/b'=b'v'@3 delivered twice: in batch 0 and batch 1"]


# --- atomic ---


def test_atomic_allows_a_revision_whole_in_either_batch():
    assert guarantees([batch(3, *EVENTS[:2]), batch(4, EVENTS[2], EVENTS[3])]) == []


def test_atomic_is_broken_by_a_txn_split_across_batches():
    violations = watch_violations([batch(4, *EVENTS[:3]), batch(4, EVENTS[3])], WATCH)
    assert sorted(v.guarantee for v in violations) == ["atomic", "bookmarkable"]  # 4 came after 4 was claimed
    assert "revision 4 split across batches: batch 1 starts with PUT b'/p/d'=b'v'@4" in \
           str(next(v for v in violations if v.guarantee == "atomic"))


# --- bookmarkable ---


def test_bookmarkable_allows_progress_past_the_last_event_and_quiet_batches():
    assert guarantees([batch(2, EVENTS[0]), batch(3, EVENTS[1]), batch(3), batch(5, *EVENTS[2:5])]) == []


def test_bookmarkable_is_broken_by_a_batch_revision_ahead_of_events_to_come():
    """Issue 24: after 1,000 of 50,001 events, a batch claims 50,002 (etcd's revision, from an unsynchronised
    progress answer); the other 49,001 events arrive after it."""
    history = history_of(*(put(b"/p/%d" % (rev % 1000), rev) for rev in range(2, 50003)))
    events = [put(b"/p/%d" % (rev % 1000), rev) for rev in range(2, 50003)]
    batches = [batch(501, *events[:500]), batch(50002, *events[500:1000])]
    batches += [batch(events[i:i + 1000][-1].mod_revision, *events[i:i + 1000]) for i in range(1000, 50001, 1000)]
    assert batches[-1][0][-1].mod_revision == 50002
    violations = watch_violations(batches, WATCH, history)
    assert {v.guarantee for v in violations} == {"bookmarkable"}  # every event came, in order, once
    first = str(violations[0])
    assert "batch 2 delivered 1000 events at revisions 1002..2001, at or below revision 50002 that batch 1 " \
           "claimed (when events had been delivered only up to revision 1001)" in first
    assert any("batch revisions went back: batch 2 claims 2001 after batch 1 claimed 50002" in str(v)
               for v in violations)


def test_bookmarkable_then_a_cut_loses_the_rest_for_good_reliable_says_so():
    """The same with the connection cut right after the false claim: the watch resumes from 50,003."""
    history = history_of(*(put(b"/p/%d" % (rev % 1000), rev) for rev in range(2, 50006)))
    events = [put(b"/p/%d" % (rev % 1000), rev) for rev in range(2, 50006)]
    batches = [batch(50002, *events[:1000]), batch(50005, *events[50001:])]
    violations = watch_violations(batches, WATCH, history)
    assert [v.guarantee for v in violations] == ["reliable"]
    assert "49001 events of etcd's history in revisions 2..50005 never delivered, at revisions 1002..50002" \
           in str(violations[0])
    assert "delivered before it: revision 1001, after it: 50003" in str(violations[0])


def test_bookmarkable_is_broken_by_batch_revisions_going_back_or_below_their_events():
    assert guarantees([batch(5, EVENTS[0]), batch(4)]) == ["bookmarkable"]
    assert guarantees([batch(2, EVENTS[0], EVENTS[1])]) == ["bookmarkable"]


# --- reliable ---


def test_reliable_allows_a_watch_that_stops_early_and_other_keys_between():
    assert guarantees(GOOD[:2], history=HISTORY) == []


def test_reliable_is_broken_by_a_gap_between_events():
    violations = watch_violations([batch(3, EVENTS[0]), batch(6, *EVENTS[2:])], WATCH, HISTORY)
    assert [v.guarantee for v in violations] == ["reliable"]
    assert "1 events of etcd's history in revisions 2..6 never delivered, at revisions 3; first missing " \
           "PUT b'/p/b'=b'v'@3" in str(violations[0])


def test_reliable_is_broken_by_a_gap_before_a_progress_claim():
    assert guarantees([batch(3, *EVENTS[:2]), batch(7)], history=HISTORY) == ["reliable"]


def test_reliable_is_broken_by_an_event_etcd_never_made():
    violations = watch_violations([batch(3, EVENTS[0], put(P + b"b", 3, b"other"))], WATCH, HISTORY)
    assert [v.guarantee for v in violations] == ["reliable", "reliable"]  # b=v missing, b=other not etcd's
    assert "etcd's history has PUT b'/p/b'=b'v'@3" in str(violations[1])


def test_reliable_applies_the_filters_and_the_range():
    no_puts = WatchRequest.of(P, prefix=True, start_revision=2, filters=["NOPUT"])
    assert guarantees([batch(6, EVENTS[5])], no_puts, HISTORY) == []
    assert guarantees([batch(6, EVENTS[0], EVENTS[5])], no_puts, HISTORY) == ["filter", "reliable"]
    assert WatchRequest.of(P, prefix=True, filters=["noput"]) == WatchRequest.of(P, prefix=True, filters=[0])
    one_key = WatchRequest.of(P + b"a", start_revision=2)
    assert guarantees([batch(5, EVENTS[0], EVENTS[4])], one_key, HISTORY) == []
    assert sorted(guarantees([batch(5, EVENTS[4])], one_key, HISTORY)) == ["reliable", "resumable"]
    key_range = WatchRequest.of(P + b"b", P + b"d", start_revision=2)
    assert guarantees([batch(6, EVENTS[1], EVENTS[2], EVENTS[5])], key_range, HISTORY) == []


def test_reliable_on_a_coalesced_watch_wants_the_last_event_of_each_key_per_batch():
    coalesced = WatchRequest.prefix(P, start_revision=2, coalesce=True)
    # Up to 5: a's first event is replaced by its second; b, c, d as they were.
    good = [batch(5, EVENTS[1], EVENTS[2], EVENTS[3], EVENTS[4]), batch(6, EVENTS[5])]
    assert guarantees(good, coalesced, HISTORY) == []
    stale = [batch(5, EVENTS[0], EVENTS[1], EVENTS[2], EVENTS[3]), batch(6, EVENTS[5])]  # a's old value
    # a=v@2 is not the last of a up to 5 (reliable), b@3 is the first event expected (resumable), a=w@5 missing
    assert sorted(guarantees(stale, coalesced, HISTORY)) == ["reliable", "reliable", "resumable"]
    missing = [batch(5, EVENTS[1], EVENTS[2], EVENTS[4]), batch(6, EVENTS[5])]  # d lost
    assert guarantees(missing, coalesced, HISTORY) == ["reliable"]


def test_reliable_checks_only_what_the_history_covers():
    partial = history_of(*EVENTS[3:], first=5)  # compacted: the history starts at 5
    assert guarantees([batch(3, EVENTS[0]), batch(6, *EVENTS[4:])], history=partial) == []
    assert guarantees([batch(3, EVENTS[0]), batch(6, EVENTS[5])], history=partial) == ["reliable"]


# --- resumable ---


def test_resumable_allows_a_watch_from_any_revision_of_the_history():
    for start in range(2, 7):
        request = WatchRequest.prefix(P, start_revision=start)
        delivered = [e for e in EVENTS if e.mod_revision >= start]
        assert guarantees([batch(7, *delivered)], request, HISTORY) == [], start


def test_resumable_is_broken_by_a_watch_that_starts_late_or_early():
    late = WatchRequest.prefix(P, start_revision=4)
    violations = watch_violations([batch(6, *EVENTS[4:])], late, HISTORY)
    assert "resumable" in [v.guarantee for v in violations]
    assert "the first matching event of etcd's history at or after revision 4 is PUT b'/p/c'=b'v'@4" in \
           str(next(v for v in violations if v.guarantee == "resumable"))
    early = WatchRequest.prefix(P, start_revision=4)
    assert "resumable" in guarantees([batch(6, *EVENTS[1:])], early, HISTORY)


def test_resumable_of_a_watch_from_now_starts_after_its_creation_revision():
    from_now = WatchRequest.prefix(P, created_revision=3)
    assert guarantees([batch(6, *EVENTS[2:])], from_now, HISTORY) == []
    assert "resumable" in guarantees([batch(6, *EVENTS[4:])], from_now, HISTORY)
    unknown = WatchRequest.prefix(P)  # created at an unknown revision: from the first event on
    assert guarantees([batch(6, *EVENTS[4:])], unknown, HISTORY) == []


# --- prev_kv ---


def test_prev_kv_is_the_keys_state_before_the_event():
    with_prev = WatchRequest.prefix(P, start_revision=5, prev_kv=True)
    before = KeyValue(P + b"a", b"v", 2, 2, 1)
    assert guarantees([batch(5, put(P + b"a", 5, b"w", before))], with_prev, HISTORY) == []
    wrong = KeyValue(P + b"a", b"x", 2, 2, 1)
    assert guarantees([batch(5, put(P + b"a", 5, b"w", wrong))], with_prev, HISTORY) == ["prev_kv"]
    created = put(P + b"a", 2, b"v", before)  # a did not exist before 2
    from_2 = WatchRequest.prefix(P, start_revision=2, prev_kv=True)
    assert guarantees([batch(2, created)], from_2, HISTORY) == ["prev_kv"]
    assert guarantees([batch(5, put(P + b"a", 5, b"w", before))], WatchRequest.prefix(P, start_revision=5),
                      HISTORY) == ["prev_kv"]  # not asked for


# --- a Mirror's change feed ---


def test_a_mirror_feed_restarts_at_each_read():
    checker = MirrorChecker(P, "Mirror")
    checker.add(EventBatch([], 1), read=True)
    for events, revision in [batch(3, EVENTS[0], EVENTS[1]), batch(5, EVENTS[2], EVENTS[3], EVENTS[4])]:
        checker.add(EventBatch(events, revision), read=False)
    checker.add(EventBatch([], 6), read=True)  # a catch-up read: revision 6 comes through it
    checker.add(EventBatch([put(b"/p/e", 8)], 8), read=False)
    checker.check(history_of(*EVENTS, put(b"/p/e", 8)))
    assert checker.violations == [], checker.describe()
    checker.add(EventBatch([], 4), read=True)  # a read behind the feed, not a resync
    checker.add(EventBatch([], 2), read=True, resync=True)  # a restored backup: going back is the point
    assert [v.guarantee for v in checker.violations] == ["bookmarkable"]
    assert "read 3 is at revision 4, after the feed claimed revision 8" in checker.describe()


def test_a_mirror_feed_that_loses_an_event_between_reads():
    checker = MirrorChecker(P, "Mirror")
    checker.add(EventBatch([], 1), read=True)
    checker.add(EventBatch([EVENTS[0]], 2), read=False)
    checker.add(EventBatch([EVENTS[2], EVENTS[3]], 4), read=False)
    checker.check(HISTORY)
    assert [v.guarantee for v in checker.violations] == ["reliable"]
    assert "Mirror after read 1 (at revision 1)" in checker.describe()


# --- reports and cost ---


def test_the_report_says_which_guarantee_where_and_counts_the_rest():
    request = WatchRequest.prefix(P, start_revision=1)
    batches = [batch(rev, put(P + b"k", rev)) for rev in range(300, 0, -1)]
    with pytest.raises(AssertionError) as caught:
        assert_watch_guarantees(batches, request, name="the watcher")
    text = str(caught.value)
    assert text.startswith("watch guarantees broken by the watcher (prefix b'/p/' from revision 1, 300 batches, "
                           "300 events): 299 ordered, 598 bookmarkable\n")
    assert text.count("\n  [ordered]") == 50  # kept; the rest counted


def test_a_checker_checks_round_by_round_and_forgets_what_it_checked():
    checker = WatchChecker(WATCH, "soak watcher")
    history = []
    for round in range(10):
        for rev in range(2 + 1000 * round, 2 + 1000 * (round + 1)):
            event = put(b"/p/%d" % (rev % 7), rev)
            history.append(HistoryEvent(rev, event.key, PUT, b"v"))
            checker.add(batch(rev, event))
        assert checker.check(History(history[-1000:], 2 + 1000 * round)) == []
        assert len(checker._pending) == 0 and len(checker._seen) == 0
    assert checker.events == 10_000 and not checker.violations


def test_checking_100_000_events_takes_well_under_a_second_a_watcher():
    events = [put(b"/p/%d" % (rev % 1000), rev) for rev in range(2, 100_002)]
    history = history_of(*events)
    batches = [EventBatch([Event(EventType.PUT, KeyValue(e.key, e.value, e.mod_revision, e.mod_revision, 1))
                           for e in events[i:i + 1000]], events[min(i + 999, len(events) - 1)].mod_revision)
               for i in range(0, len(events), 1000)]
    began = time.process_time()
    assert watch_violations(batches, WATCH, history) == []
    coalesced = WatchRequest.prefix(P, start_revision=2, coalesce=True)
    assert watch_violations(batches, coalesced, history) == []  # each key once a batch: nothing to coalesce
    spent = time.process_time() - began
    assert spent < 5, f"{spent:.2f} s of CPU for 2 x 100,000 events"
