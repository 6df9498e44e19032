"""etcd's six watch guarantees, checked on what one watcher delivered against etcd's history (no I/O).

The definitions are those of etcd's own checker, ``tests/robustness/validate/watch.go`` in etcd-io/etcd,
and of its "API guarantees" page, with etcdstream's batches in place of etcd's WatchResponses. A batch's
`revision` says that everything up to it has been delivered, so every batch is also a progress
notification (etcd's validator checks bookmarkable on those).

- ordered: event revisions never go back, within a batch or across batches (the events of one
  revision may be several: a txn, a range delete, a lease revoke);
- unique: no (revision, key) is delivered twice;
- atomic: a revision is never split across batches;
- bookmarkable: no event at or below a revision an earlier batch claimed; batch revisions never go
  back; a batch never claims less than its own events;
- reliable: from the first revision expected to the last revision claimed, the events delivered
  are exactly etcd's history of the watched range, filters applied (a coalesced watch: each batch
  holds the last event of each key changed since the previous batch's revision);
- resumable: the first event delivered is the first matching event of the history at or after the
  start revision (a watch from now: after the revision etcd created it at).

Two checks of etcd's validator come on top: `filter` (an event outside the range, or of a type the
filters leave out) and `prev_kv` (a prev_kv that is not the key's state before the event).

`WatchChecker` takes batches one at a time (the order-only guarantees are checked as they come) and is
checked against a `History` whenever one is at hand; checked events are then forgotten, so a soak can
check for hours. `MirrorChecker` does the same for a Mirror's change feed, whose full reads start the
watch over (`ReadsSeen`, the client given to the Mirror, tells which changes are reads).
`watch_violations` and `assert_watch_guarantees` are the one-call forms for tests.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
from collections.abc import Iterable, Mapping
import inspect
import threading
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "CHECKS",
    "DELETE",
    "GUARANTEES",
    "PUT",
    "DeliveredEvent",
    "History",
    "HistoryEvent",
    "MirrorChecker",
    "ReadsSeen",
    "Violation",
    "WatchChecker",
    "WatchRequest",
    "assert_watch_guarantees",
    "describe_violations",
    "prefix_range_end",
    "watch_violations",
]

PUT, DELETE = 0, 1
GUARANTEES = ("ordered", "unique", "atomic", "bookmarkable", "reliable", "resumable")
CHECKS = GUARANTEES + ("filter", "prev_kv")
#: Violations kept per check and watcher; the others are only counted (a systematic bug makes thousands).
MAX_KEPT = 50
_TYPE_NAMES = {PUT: "PUT", DELETE: "DELETE"}


def prefix_range_end(prefix: bytes) -> bytes:
    """etcd's range end of every key under prefix (clientv3.GetPrefixRangeEnd): b"\\0" for all keys."""
    for i in range(len(prefix) - 1, -1, -1):
        if prefix[i] < 0xFF:
            return prefix[:i] + bytes([prefix[i] + 1])
    return b"\0"


def _bytes(key: str | bytes) -> bytes:
    return key.encode() if isinstance(key, str) else bytes(key)


@dataclass(frozen=True)
class WatchRequest:
    """What a watch asked etcd for: [key, range_end) (b"": the one key; b"\\0": every key from key on),
    where it starts, its filters, prev_kv, and whether the client coalesced its batches.

    start_revision 0 is "from now"; created_revision is then the revision etcd created the watch at
    (the watcher's revision once created; 0 if unknown: resumable is then not checked, and the events
    expected start at the first one delivered, as in etcd's validator).
    """

    key: bytes
    range_end: bytes = b""
    start_revision: int = 0
    created_revision: int = 0
    no_put: bool = False
    no_delete: bool = False
    prev_kv: bool = False
    coalesce: bool = False

    @classmethod
    def of(cls, key: str | bytes, range_end: str | bytes | None = None, *, prefix: bool = False,
           from_key: bool = False, filters: Iterable[Any] = (), **options: Any) -> WatchRequest:
        """A request given as the client's watch/watchdir take it (filters: WatchFilter, 0/1 or names, any case)."""
        key = _bytes(key)
        if prefix:
            end = prefix_range_end(key)
        elif from_key:
            end = b"\0"
        else:
            end = _bytes(range_end) if range_end is not None else b""
        names = {str(getattr(f, "name", None) or {0: "NOPUT", 1: "NODELETE"}.get(f, f)).upper() for f in filters}
        return cls(key, end, no_put="NOPUT" in names, no_delete="NODELETE" in names, **options)

    @classmethod
    def prefix(cls, prefix: str | bytes, **options: Any) -> WatchRequest:
        """Every key under prefix (watchdir)."""
        return cls.of(prefix, prefix=True, **options)

    @property
    def first_revision(self) -> int:
        """The first revision the watch must show (0: unknown, a watch from now created at an unknown revision)."""
        if self.start_revision:
            return self.start_revision
        return self.created_revision + 1 if self.created_revision else 0

    def matches(self, key: bytes, type: int) -> bool:
        """Whether an event of etcd's history belongs to this watch (range and filters)."""
        if (self.no_put and type == PUT) or (self.no_delete and type == DELETE):
            return False
        end = self.range_end
        if not end:
            return key == self.key
        return key >= self.key and (end == b"\0" or key < end)

    def describe(self) -> str:
        if not self.range_end:
            what = f"key {self.key!r}"
        elif self.range_end == b"\0":
            what = f"keys from {self.key!r}"
        elif self.range_end == prefix_range_end(self.key):
            what = f"prefix {self.key!r}"
        else:
            what = f"range [{self.key!r}, {self.range_end!r})"
        start = (f"from revision {self.start_revision}" if self.start_revision else
                 f"from now (created at revision {self.created_revision})" if self.created_revision else "from now")
        options = [name for name, on in (("NOPUT", self.no_put), ("NODELETE", self.no_delete),
                                         ("prev_kv", self.prev_kv), ("coalesced", self.coalesce)) if on]
        return f"{what} {start}" + (f" ({', '.join(options)})" if options else "")


class HistoryEvent(NamedTuple):
    """One event etcd made: at `revision`, to `key` (create_revision and version 0 when unknown)."""

    revision: int
    key: bytes
    type: int = PUT
    value: bytes = b""
    create_revision: int = 0
    version: int = 0


class DeliveredEvent(NamedTuple):
    """A hand-made delivered event, with the attributes of etcdstream's Event the checkers read."""

    type: int
    key: bytes
    mod_revision: int
    value: bytes = b""
    prev_kv: Any = None


class History:
    """etcd's events, in etcd's order, known complete for revisions first..last (of the keys they cover)."""

    def __init__(self, events: Iterable[HistoryEvent], first: int = 1, last: int | None = None) -> None:
        self.events = sorted(events, key=lambda e: e.revision)  # stable: a revision's events keep their order
        self.revisions = [e.revision for e in self.events]
        self.first = max(first, 1)
        self.last = last if last is not None else (self.revisions[-1] if self.revisions else self.first - 1)

    @classmethod
    def of_keys_written_once(cls, kvs: Mapping[bytes, tuple[bytes, int]], first: int = 1,
                             last: int | None = None) -> History:
        """The history of a range where every key was created once and never changed or deleted since:
        key -> (value, mod_revision), as etcdctl_prefix reads it, is then all of it."""
        return cls((HistoryEvent(rev, key, PUT, value, rev, 1) for key, (value, rev) in kvs.items()), first, last)

    def between(self, low: int, high: int) -> list[HistoryEvent]:
        """The events of revisions low..high."""
        i = bisect.bisect_left(self.revisions, low)
        j = bisect.bisect_right(self.revisions, high)
        return self.events[i:j]

    def __len__(self) -> int:
        return len(self.events)

    def __repr__(self) -> str:
        return f"<History {len(self.events)} events, revisions {self.first}..{self.last}>"


@dataclass(frozen=True)
class Violation:
    """One broken guarantee (or check): which, and what was seen around it."""

    guarantee: str
    message: str
    watcher: str = ""

    def __str__(self) -> str:
        return f"[{self.guarantee}] {self.watcher + ': ' if self.watcher else ''}{self.message}"


def _revisions_text(revisions: list[int], most: int = 6) -> str:
    """Sorted revisions as runs, "2..1001, 1005, 1007..1010", cut after `most` runs."""
    runs: list[list[int]] = []
    for rev in sorted(set(revisions)):
        if runs and rev == runs[-1][1] + 1:
            runs[-1][1] = rev
        else:
            runs.append([rev, rev])
    text = ", ".join(f"{a}" if a == b else f"{a}..{b}" for a, b in runs[:most])
    return text + (f", ... ({len(runs) - most} more runs)" if len(runs) > most else "")


def _event_text(row: tuple[Any, ...]) -> str:
    rev, key, type, value = row[:4]
    shown = value if len(value) <= 24 else value[:24] + b"..."
    return f"{_TYPE_NAMES.get(type, type)} {key!r}={shown!r}@{rev}" if type == PUT else \
        f"{_TYPE_NAMES.get(type, type)} {key!r}@{rev}"


def _coalesced(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The last event of each key, in revision order (etcdstream's coalesce)."""
    seen: set[bytes] = set()
    kept = []
    for row in reversed(rows):
        if row[1] not in seen:
            seen.add(row[1])
            kept.append(row)
    kept.reverse()
    return kept


class WatchChecker:
    """The guarantees of one watch: add() its batches in the order delivered, check() against etcd's history.

    A batch is an EventBatch (or an (events, revision) pair); events have type, key, value,
    mod_revision and prev_kv, as etcdstream's Event. Violations accumulate in `violations` (at most
    MAX_KEPT per check; `counts` counts them all).
    """

    def __init__(self, request: WatchRequest, name: str = "watch") -> None:
        self.request = request
        self.name = name
        self.violations: list[Violation] = []
        self.counts: collections.Counter[str] = collections.Counter()
        self.batches = 0
        self.events = 0
        self._last_event = 0  # ordered: the last event's revision
        self._last_batch_end = 0  # atomic: the last event's revision of the last batch with events
        self._claimed = 0  # bookmarkable: the highest batch revision so far ...
        self._claimed_by = -1  # ... which batch claimed it ...
        self._delivered_at_claim = 0  # ... and the highest event revision delivered by then
        self._highest_event = 0
        self._seen: dict[tuple[int, bytes], int] = {}  # unique: (revision, key) -> batch
        # Delivered and not yet checked against a history: rows (revision, key, type, value, prev_kv, batch).
        self._pending: list[tuple[Any, ...]] = []
        # Coalesced watches: (batch, after revision, up to revision, rows) of each batch with its window.
        self._pending_batches: list[tuple[int, int, int, list[tuple[Any, ...]]]] = []
        self._first_row: tuple[Any, ...] | None = None
        self._first_batch_high = 0  # coalesced: the window's end of the batch that held the first event
        self._resumable_checked = False
        # Checked against a history up to this revision (None: not known where the watch starts yet).
        first = request.first_revision
        self._checked: int | None = first - 1 if first else None

    # --- what a watcher delivered ---

    def _fail(self, guarantee: str, message: str) -> None:
        self.counts[guarantee] += 1
        if self.counts[guarantee] <= MAX_KEPT:
            self.violations.append(Violation(guarantee, message, self.name))

    def add(self, batch: Any) -> list[Violation]:
        """One delivered batch: the guarantees that need no history are checked now. Returns the new violations."""
        before = len(self.violations)
        if isinstance(batch, tuple):
            events, revision = batch
        else:
            events, revision = batch, batch.revision
        n = self.batches
        self.batches += 1
        request = self.request
        want_prev = request.prev_kv
        last, claimed, seen = self._last_event, self._claimed, self._seen
        rows = []
        below_claim = []
        highest = 0
        for i, event in enumerate(events):
            rev, key, type = event.mod_revision, event.key, int(event.type)
            prev = event.prev_kv
            row = (rev, key, type, event.value, prev, n)
            rows.append(row)
            if rev < last:
                self._fail("ordered", f"{_event_text(row)} (batch {n}, event {i}) after an event at revision {last}")
            last = rev
            highest = max(highest, rev)
            if (rev, key) in seen:
                self._fail("unique", f"{_event_text(row)} delivered twice: in batch {seen[rev, key]} and batch {n}")
            else:
                seen[rev, key] = n
            if rev <= claimed:
                below_claim.append(rev)
            if not request.matches(key, type):
                self._fail("filter", f"{_event_text(row)} (batch {n}) is not an event of the {request.describe()}")
            if prev is not None and not want_prev:
                self._fail("prev_kv", f"{_event_text(row)} (batch {n}) carries a prev_kv the watch did not ask for")
        self._last_event = last
        self.events += len(rows)
        if below_claim:
            self._fail("bookmarkable",
                       f"batch {n} delivered {len(below_claim)} events at revisions {_revisions_text(below_claim)}, "
                       f"at or below revision {claimed} that batch {self._claimed_by} claimed (when events had "
                       f"been delivered only up to revision {self._delivered_at_claim})")
        if rows:
            if rows[0][0] == self._last_batch_end:
                self._fail("atomic", f"revision {rows[0][0]} split across batches: batch {n} starts with "
                                     f"{_event_text(rows[0])}, the last batch with events ended at that revision")
            self._last_batch_end = rows[-1][0]
            if self._first_row is None:
                self._first_row = rows[0]
        if revision < highest:
            self._fail("bookmarkable", f"batch {n} claims revision {revision}, below its own event at revision "
                                       f"{highest}")
        if revision < claimed:
            self._fail("bookmarkable", f"batch revisions went back: batch {n} claims {revision} after batch "
                                       f"{self._claimed_by} claimed {claimed}")
        self._highest_event = max(self._highest_event, highest)
        if revision > claimed:
            self._claimed, self._claimed_by, self._delivered_at_claim = revision, n, self._highest_event
        if self._checked is None and rows:  # from now, created at an unknown revision: from the first event
            self._checked = rows[0][0] - 1
        if request.coalesce:
            after = claimed if claimed else (self._checked if self._checked is not None else 0)
            high = max(revision, highest, after)
            if rows and self._first_row is rows[0]:
                self._first_batch_high = high
            self._pending_batches.append((n, after, high, rows))
        else:
            self._pending.extend(rows)
        return self.violations[before:]

    # --- against etcd's history ---

    def check(self, history: History) -> list[Violation]:
        """Check reliable, resumable and prev_kv against etcd's history, up to the revision the watch claimed or
        the history covers, whichever is lower; checked events are forgotten. Returns the new violations."""
        before = len(self.violations)
        if self._checked is None:
            return []
        high = min(max(self._claimed, self._highest_event), history.last)
        low = max(self._checked + 1, history.first)
        if not self._resumable_checked:
            self._check_resumable(history)
        if self.request.coalesce:
            self._check_coalesced(history, high)
        elif high >= low:
            self._check_reliable(history, low, high)
        if high > self._checked:
            self._checked = high
            self._seen = {k: n for k, n in self._seen.items() if k[0] > high}  # an older one is out of order anyway
        return self.violations[before:]

    def _expected(self, history: History, low: int, high: int) -> list[tuple[Any, ...]]:
        request = self.request
        return [(e.revision, e.key, e.type, e.value) for e in history.between(low, high)
                if request.matches(e.key, e.type)]

    def _check_reliable(self, history: History, low: int, high: int) -> None:
        window = [row for row in self._pending if low <= row[0] <= high]
        self._pending = [row for row in self._pending if row[0] > high]
        self._compare(history, self._expected(history, low, high), window, f"revisions {low}..{high}")
        if self.request.prev_kv:
            self._check_prev_kv(history, window)

    def _check_coalesced(self, history: History, high: int) -> None:
        missing_total: list[tuple[Any, ...]] = []
        unexpected_total: list[tuple[Any, ...]] = []
        checked_rows = []
        keep = []
        for n, after, upto, rows in self._pending_batches:
            if upto > high:
                keep.append((n, after, upto, rows))
                continue
            if after + 1 < history.first:
                continue  # the history does not reach back to this window
            expected = _coalesced(self._expected(history, after + 1, upto))
            got = {row[:4] for row in rows}
            want = set(expected)
            missing_total += [(n, after, upto, row) for row in expected if row not in got]
            unexpected_total += [(n, after, upto, row) for row in rows if row[:4] not in want]
            checked_rows += rows
        self._pending_batches = keep
        if missing_total:
            n, after, upto, row = missing_total[0]
            self._fail("reliable", f"{len(missing_total)} events of etcd's history missing from the coalesced "
                                   f"batches (revisions {_revisions_text([m[3][0] for m in missing_total])}); "
                                   f"first: batch {n} (revisions {after + 1}..{upto}) lacks {_event_text(row)}")
        if unexpected_total:
            n, after, upto, row = unexpected_total[0]
            self._fail("reliable", f"{len(unexpected_total)} delivered events are not the last of their key in "
                                   f"etcd's history of their batch's revisions; first: batch {n} (revisions "
                                   f"{after + 1}..{upto}) has {_event_text(row)}{self._history_at(history, row)}")
        if self.request.prev_kv:
            self._check_prev_kv(history, checked_rows)

    def _history_at(self, history: History, row: tuple[Any, ...]) -> str:
        same = [e for e in history.between(row[0], row[0]) if e.key == row[1]]
        if not same:
            return f" (etcd's history has no event of that key at revision {row[0]})"
        return f" (etcd's history has {_event_text(tuple(same[0][:4]))})"

    def _compare(self, history: History, expected: list[tuple[Any, ...]], rows: list[tuple[Any, ...]],
                 where: str) -> None:
        got = {row[:4] for row in rows}
        missing = [e for e in expected if e not in got]
        if missing:
            delivered = sorted(row[0] for row in rows)
            first = missing[0][0]
            i = bisect.bisect_left(delivered, first)
            around = (f"delivered before it: revision {delivered[i - 1] if i else 'none'}, after it: "
                      f"{delivered[i] if i < len(delivered) else 'none'}")
            self._fail("reliable", f"{len(missing)} events of etcd's history in {where} never delivered, at "
                                   f"revisions {_revisions_text([m[0] for m in missing])}; first missing "
                                   f"{_event_text(missing[0])} ({around})")
        want = set(expected)
        unexpected = [row for row in rows if row[:4] not in want]
        if unexpected:
            row = unexpected[0]
            self._fail("reliable", f"{len(unexpected)} delivered events in {where} are not etcd's: revisions "
                                   f"{_revisions_text([u[0] for u in unexpected])}; first {_event_text(row)} "
                                   f"(batch {row[5]}){self._history_at(history, row)}")

    def _check_resumable(self, history: History) -> None:
        first = self.request.first_revision
        row = self._first_row
        if not first or row is None or first < history.first or row[0] > history.last:
            return
        self._resumable_checked = True
        if row[0] < first:
            self._fail("resumable", f"the first event {_event_text(row)} precedes the start revision {first}")
            return
        if self.request.coalesce:
            expected = _coalesced(self._expected(history, first, self._first_batch_high))
        else:
            expected = self._expected(history, first, row[0])
        if expected and expected[0] != row[:4]:
            self._fail("resumable", f"the first event delivered is {_event_text(row)}, but the first matching "
                                    f"event of etcd's history at or after revision {first} is "
                                    f"{_event_text(expected[0])}")

    def _check_prev_kv(self, history: History, rows: list[tuple[Any, ...]]) -> None:
        keys = {row[1] for row in rows}
        by_key: dict[bytes, list[HistoryEvent]] = {}
        for e in history.events:
            if e.key in keys:
                by_key.setdefault(e.key, []).append(e)
        for row in rows:
            rev, key, _, _, prev, n = row
            events = by_key.get(key, [])
            i = bisect.bisect_left([e.revision for e in events], rev) - 1
            if i < 0:
                if history.first <= 1 and prev is not None:
                    self._fail("prev_kv", f"{_event_text(row)} (batch {n}) has prev_kv {prev!r}, but the key did "
                                          f"not exist before")
                continue
            before = events[i]
            if before.type == DELETE:
                if prev is not None:
                    self._fail("prev_kv", f"{_event_text(row)} (batch {n}) has prev_kv {prev!r}, but the key was "
                                          f"deleted at revision {before.revision}")
            elif prev is not None and (prev.value, prev.mod_revision) != (before.value, before.revision):
                self._fail("prev_kv", f"{_event_text(row)} (batch {n}) has prev_kv value={prev.value!r}@"
                                      f"{prev.mod_revision}, etcd's history has {_event_text(tuple(before[:4]))}")

    @property
    def history_needed_from(self) -> int:
        """The first revision of etcd's history a later check() still needs (0: all of it, not known yet)."""
        return self._checked + 1 if self._checked is not None else 0

    @property
    def all_checked(self) -> bool:
        """Nothing delivered waits for a history to be checked against."""
        return not self._pending and not self._pending_batches

    def describe(self) -> str:
        return describe_violations(f"{self.name} ({self.request.describe()}, {self.batches} batches, "
                                   f"{self.events} events)", self.violations, self.counts)


def describe_violations(what: str, violations: list[Violation], counts: Mapping[str, int] | None = None) -> str:
    """A readable report: how many of each guarantee broke, then each violation kept."""
    counts = counts or collections.Counter(v.guarantee for v in violations)
    total = ", ".join(f"{counts[g]} {g}" for g in CHECKS if counts.get(g))
    return f"watch guarantees broken by {what}: {total}\n" + "\n".join(f"  {v}" for v in violations)


class MirrorChecker:
    """A Mirror's change feed: its full reads (the first, resyncs, catch-up reads) and the watch batches
    between them, each run of those a watch from the read's revision + 1 (coalesced by default, as
    the Mirror's). A read must not claim less than the feed already did, unless it is a resync after
    etcd's history went back (a restored backup)."""

    def __init__(self, prefix: str | bytes, name: str = "Mirror", *, coalesce: bool = True,
                 start_revision: int = 0) -> None:
        self.prefix = _bytes(prefix)
        self.name = name
        self.coalesce = coalesce
        self.reads = 0
        self.segments: list[WatchChecker] = []
        self._own = WatchChecker(WatchRequest.prefix(self.prefix), name)  # the reads' violations
        self._start = start_revision
        self._claimed = 0
        self._dropped_violations: list[Violation] = []
        self._dropped_counts: collections.Counter[str] = collections.Counter()

    def add(self, batch: Any, read: bool, resync: bool = False) -> list[Violation]:
        """One change as on_change got it; read: it came from a full read of the prefix. Returns the new
        violations."""
        revision = batch.revision
        if read:
            self.reads += 1
            before = len(self._own.violations)
            if revision < self._claimed and not resync:
                self._own._fail("bookmarkable", f"read {self.reads} is at revision {revision}, after the feed "
                                                f"claimed revision {self._claimed}")
            self._claimed = revision if resync else max(self._claimed, revision)
            request = WatchRequest.prefix(self.prefix, start_revision=revision + 1, coalesce=self.coalesce)
            self.segments.append(WatchChecker(request, f"{self.name} after read {self.reads} (at revision {revision})"))
            return self._own.violations[before:]
        if not self.segments:
            request = WatchRequest.prefix(self.prefix, start_revision=self._start, coalesce=self.coalesce)
            self.segments.append(WatchChecker(request, self.name))
        self._claimed = max(self._claimed, revision)
        return self.segments[-1].add(batch)

    def check(self, history: History) -> list[Violation]:
        """Every segment against etcd's history (see WatchChecker.check); segments a read ended and the
        history fully checked are then forgotten, but for their violations."""
        new = []
        for segment in self.segments:
            new += segment.check(history)
        finished = [s for s in self.segments[:-1] if s.all_checked]
        for segment in finished:
            self._dropped_violations += segment.violations
            self._dropped_counts += segment.counts
        self.segments = [s for s in self.segments if s not in finished]
        return new

    @property
    def history_needed_from(self) -> int:
        """The first revision of etcd's history a later check() still needs (0: all of it)."""
        return min((s.history_needed_from for s in self.segments), default=self._claimed + 1)

    @property
    def violations(self) -> list[Violation]:
        return self._own.violations + self._dropped_violations + [v for s in self.segments for v in s.violations]

    @property
    def counts(self) -> collections.Counter[str]:
        total = collections.Counter(self._own.counts) + self._dropped_counts
        for segment in self.segments:
            total += segment.counts
        return total

    def describe(self) -> str:
        return describe_violations(f"{self.name} (prefix {self.prefix!r}, {self.reads} reads)", self.violations,
                                   self.counts)


def _by_mirror() -> int:
    """1 in a Mirror's own thread or task (a read it publishes), 0 elsewhere (a consistent read's fallback)."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    name = task.get_name() if task is not None else threading.current_thread().name
    return int(name == "etcdstream-mirror")


class ReadsSeen:
    """The client a Mirror is given, counting its full reads (readdir): the change the Mirror publishes next
    is that read's (it reads, then publishes, in its own thread or task), whether or not it says resync."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.unpublished = 0

    def readdir(self, *args: Any, **kwargs: Any) -> Any:
        result = self._client.readdir(*args, **kwargs)
        if not inspect.isawaitable(result):
            self.unpublished += _by_mirror()
            return result

        async def read() -> Any:
            snapshot = await result
            self.unpublished += _by_mirror()
            return snapshot

        return read()

    def published(self) -> bool:
        """Whether the change being published is a full read's."""
        if self.unpublished:
            self.unpublished -= 1
            return True
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def watch_violations(batches: Iterable[Any], request: WatchRequest, history: History | None = None,
                     name: str = "watch") -> list[Violation]:
    """Every violation in what a watcher delivered (batches in order); the history-free guarantees only
    when history is None."""
    checker = WatchChecker(request, name)
    for batch in batches:
        checker.add(batch)
    if history is not None:
        checker.check(history)
    return checker.violations


def assert_watch_guarantees(batches: Iterable[Any], request: WatchRequest, history: History | None = None,
                            name: str = "watch") -> None:
    """AssertionError with a readable report if what a watcher delivered breaks a guarantee."""
    checker = WatchChecker(request, name)
    for batch in batches:
        checker.add(batch)
    if history is not None:
        checker.check(history)
    if checker.violations:
        raise AssertionError(checker.describe())
