"""Consistent reads from a Mirror's copy (I/O-free): what Kubernetes' watch cache does (KEP-2340).

A consistent read takes etcd's current revision R (one quorum read), waits until the copy is at R or later,
and answers from memory: it sees every write that completed before it began. On a quiet prefix the copy
moves only through progress answers, so a read that waits asks for one every PROGRESS_INTERVAL. Where
progress answers cannot be waited on (_watch_progress.progress_wait_problem) or the wait runs out, the read
goes to etcd instead, and says so in the counts.

Many reads share the work: a read joins the next revision fetch that starts after it arrived (one that started
before may predate a write the reader saw complete), and the progress requests of all waiting reads are one
every PROGRESS_INTERVAL, not one per read.
"""

from __future__ import annotations

import bisect
import threading

from ._stats import ConsistentReadStats

#: How often reads waiting for the copy ask etcd for progress (Kubernetes: 100 ms).
PROGRESS_INTERVAL = 0.1
#: How soon a read tries again when there was no stream to send a progress request on (it is starting).
NO_STREAM_RETRY = 0.01
#: How long a consistent read waits for the copy before it reads etcd instead (Kubernetes: 3 s).
DEFAULT_CONSISTENT_WAIT = 3.0
#: Upper bounds (seconds) of the wait histogram's buckets; the last bucket is everything above.
WAIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 3.0)

#: How a consistent read was answered: from the copy, or from etcd because the wait ran out, or because the
#: server's progress answers cannot be waited on.
FROM_COPY = "copy"
FALLBACK_TIMEOUT = "timeout"
FALLBACK_UNSUPPORTED = "unsupported"
OUTCOMES = (FROM_COPY, FALLBACK_TIMEOUT, FALLBACK_UNSUPPORTED)


def check_wait(consistent_wait: object) -> float:
    if isinstance(consistent_wait, bool) or not isinstance(consistent_wait, (int, float)) or consistent_wait < 0:
        raise ValueError(f"consistent_wait must be a number of seconds >= 0, got {consistent_wait!r}")
    return float(consistent_wait)


class ConsistentReads:
    """One Mirror's consistent reads: the shared revision fetch, the pace of progress requests, the counts.
    Its methods take a lock: the blocking Mirror's readers are threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_outcome = dict.fromkeys(OUTCOMES, 0)
        self._wait_counts = [0] * (len(WAIT_BUCKETS) + 1)
        self._wait_sum = 0.0
        self._fetches_started = 0
        # The last fetch that ended: its number, etcd's revision, and when it was known (time.monotonic()).
        self._last_fetch = (0, 0, 0.0)
        self._last_request_at: float | None = None

    # --- the shared revision fetch (the driver runs one fetch at a time, under a lock of its own) ---

    def arrive(self) -> int:
        """A read begins: its ticket (a fetch numbered above it started after it arrived)."""
        with self._lock:
            return self._fetches_started

    def shared(self, ticket: int) -> tuple[int, float] | None:
        """(revision, known at) of a fetch that started after the read with this ticket arrived, if one ended."""
        with self._lock:
            number, revision, at = self._last_fetch
            return (revision, at) if number > ticket else None

    def fetch_started(self) -> int:
        with self._lock:
            self._fetches_started += 1
            return self._fetches_started

    def fetch_ended(self, number: int, revision: int, at: float) -> None:
        with self._lock:
            self._last_fetch = (number, revision, at)

    # --- progress requests while reads wait ---

    def request_due(self, needed_since: float) -> float:
        """When the next progress request is due for a read that needs one sent after needed_since (when it
        learnt etcd's revision: an earlier request may be answered below it): at once, or PROGRESS_INTERVAL
        after the last one."""
        with self._lock:
            last = self._last_request_at
            return needed_since if last is None or last < needed_since else last + PROGRESS_INTERVAL

    def requested(self, at: float) -> None:
        """A progress request was sent (or tried: the stream was down) at `at`."""
        with self._lock:
            self._last_request_at = at

    # --- counts ---

    def answered(self, outcome: str, waited: float | None = None) -> None:
        """A read was answered (outcome: OUTCOMES); waited: seconds it waited for the copy (None: it did not,
        etcd's progress answers could not be waited on)."""
        with self._lock:
            self._by_outcome[outcome] += 1
            if waited is not None:
                self._wait_counts[bisect.bisect_left(WAIT_BUCKETS, waited)] += 1
                self._wait_sum += waited

    def stats(self) -> ConsistentReadStats:
        with self._lock:
            return ConsistentReadStats(dict(self._by_outcome), WAIT_BUCKETS, tuple(self._wait_counts), self._wait_sum)
