"""What a client counts about itself (client.stats(), the Prometheus collector): no I/O.

One Counters per client, updated by its transport (calls, retries, failovers, errors), its watch stream
(streams, reconnects, events and bytes received, events delivered, the last revision heard of) and its
Mirrors (resyncs). Updates take a lock: the blocking client's threads update them concurrently.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ClientStats:
    """A snapshot of what a client did since it was made (client.stats()).

    calls: {(method, outcome): count}, method as etcd names it ("Range", "Put", "Txn", "LeaseGrant", ...),
    outcome "ok" or the exception's class name ("Timeout", "OutcomeUnknown", ...). retries: failed attempts
    tried again; failovers: moves to another endpoint; watch_streams: Watch streams opened (the first and
    each reconnect); reconnects: watch streams that answered again after a break; watchers: live now;
    events_received / bytes_received: watch events and response bytes off the watch stream;
    events_delivered: events handed to the application's watchers; resyncs: Mirror re-reads of their prefix;
    leases_lost: kept-alive leases etcd no longer has (on_lost was called);
    endpoint: in use now; last_error / last_error_time (time.time()): the last error a call or the watch
    stream met, None if none."""

    calls: dict[tuple[str, str], int] = field(default_factory=dict)
    retries: int = 0
    failovers: int = 0
    watch_streams: int = 0
    reconnects: int = 0
    watchers: int = 0
    events_received: int = 0
    bytes_received: int = 0
    events_delivered: int = 0
    resyncs: int = 0
    leases_lost: int = 0
    endpoint: str = ""
    last_error: str | None = None
    last_error_time: float | None = None


class Counters:
    """The running counts behind ClientStats."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[tuple[str, str]] = Counter()
        self.retries = self.failovers = self.watch_streams = self.reconnects = 0
        self.events_received = self.bytes_received = self.events_delivered = self.resyncs = self.leases_lost = 0
        self.last_error: str | None = None
        self.last_error_time: float | None = None
        #: the highest revision etcd's answers on the watch stream carried, and when the stream last answered
        #: (time.monotonic()): what a Mirror's lag is measured against
        self.heard_revision = 0
        self.heard_at: float | None = None

    def call(self, method: str, error: Exception | None = None) -> None:
        """A call ended: ok, or with error (the exception raised to the caller)."""
        name = method.rsplit("/", 1)[-1]
        with self._lock:
            self._calls[name, "ok" if error is None else type(error).__name__] += 1
            if error is not None:
                self._note_error(error)

    def add(self, name: str, n: int = 1) -> None:
        """Add n to the count `name`: retries, failovers, watch_streams, reconnects, events_delivered, resyncs or
        leases_lost."""
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def error(self, error: Exception) -> None:
        """The watch stream met error (it goes on, or its watchers end with it)."""
        with self._lock:
            self._note_error(error)

    def _note_error(self, error: Exception) -> None:
        self.last_error, self.last_error_time = f"{type(error).__name__}: {error}", time.time()

    def received(self, events: int, size: int, revision: int) -> None:
        """A watch response of size bytes with events, its header at revision. Without the lock: only the
        watch stream's reader calls it, one response at a time (the hot path)."""
        self.events_received += events
        self.bytes_received += size
        if revision > self.heard_revision:
            self.heard_revision = revision
        self.heard_at = time.monotonic()

    def snapshot(self, endpoint: str, watchers: int) -> ClientStats:
        with self._lock:
            return ClientStats(dict(self._calls), self.retries, self.failovers, self.watch_streams, self.reconnects,
                               watchers, self.events_received, self.bytes_received, self.events_delivered,
                               self.resyncs, self.leases_lost, endpoint, self.last_error, self.last_error_time)


@dataclass(frozen=True, slots=True)
class ConsistentReadStats:
    """A Mirror's consistent reads so far (mirror.stats().consistent_reads).

    by_outcome: how many were answered from the copy ("copy"), and how many by etcd instead, because the
    copy did not catch up within the Mirror's consistent_wait ("timeout") or because this server's progress
    answers cannot be waited on ("unsupported": an old etcd, the gRPC proxy); wait_counts: how long reads
    waited for the copy (from learning etcd's revision), counted in the buckets whose upper bounds are
    wait_buckets (seconds; one more count for longer waits), wait_sum: the total of those waits."""

    by_outcome: dict[str, int] = field(default_factory=dict)
    wait_buckets: tuple[float, ...] = ()
    wait_counts: tuple[int, ...] = ()
    wait_sum: float = 0.0

    @property
    def from_copy(self) -> int:
        """Reads answered from the copy."""
        return self.by_outcome.get("copy", 0)

    @property
    def fallbacks(self) -> int:
        """Reads answered by etcd instead of the copy."""
        return sum(self.by_outcome.values()) - self.from_copy


@dataclass(frozen=True, slots=True)
class MirrorStats:
    """A snapshot of a Mirror (mirror.stats()).

    revision: the revision the copy is at; etcd_revision: the highest revision etcd's answers on the
    client's watch stream carried (progress notifications keep it fresh on a quiet prefix:
    client.request_progress() asks for one); lag: etcd_revision - revision (0 once caught up);
    last_contact: seconds since the watch stream last heard from etcd (None before it did); keys: how many
    the copy holds; resyncs: re-reads of the prefix; synced: the first full read is done; consistent_reads:
    how its consistent reads were answered."""

    revision: int
    etcd_revision: int
    lag: int
    last_contact: float | None
    keys: int
    resyncs: int
    synced: bool
    consistent_reads: ConsistentReadStats = field(default_factory=ConsistentReadStats)
