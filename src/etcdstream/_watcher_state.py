"""One watcher of a multiplexed Watch stream: its position in the history, its buffer, its fate (I/O-free)."""

from __future__ import annotations

from collections import deque

from . import codec
from ._errors import EtcdError
from ._results import Snapshot
from ._watch_history import HistorySeen
from ._watch_spec import WatchSpec
from .codec import EventBatch, WatchResponse


class WatcherState:
    """One watcher: its position in the history, its buffer, its fate."""

    def __init__(self, spec: WatchSpec, max_buffered_events: int, after: Snapshot | None = None) -> None:
        self.spec = spec
        # Everything up to `revision` has been buffered; 0 until known.
        self.revision = spec.start_revision - 1 if spec.start_revision else 0
        self.watch_id: int | None = None
        self.responses: deque[WatchResponse] = deque()
        self.buffered_events = 0
        self.fragments: list[WatchResponse] = []
        self.max_buffered_events = max_buffered_events
        self.paused = False
        self.error: EtcdError | None = None
        self.closed = False
        self.history = HistorySeen(after)
        self.reauthenticated = False
        self.created = False
        # Creates sent for it: only the very first may replay past max_replay (see _created).
        self.creates_sent = 0
        # Its create's answer on the current stream: the header revision, and how many progress requests
        # had been sent by then (which answers may move it: _watch_progress).
        self.created_revision = 0
        self.progress_epoch = 0

    @property
    def next_revision(self) -> int:
        """Where a (re)created watch starts: 0 ("now") until the first revision is known."""
        return self.revision + 1 if self.revision else self.spec.start_revision

    @property
    def active(self) -> bool:
        return not self.closed and self.error is None

    def has_started(self) -> bool:
        """etcd confirmed the watch (or refused it): watchdir() may return."""
        return self.created or self.error is not None or self.closed

    def has_news(self) -> bool:
        """A consumer waiting on this watcher should wake up."""
        return bool(self.responses) or self.error is not None or self.closed

    def take_batch(self) -> EventBatch:
        """Everything buffered, as one batch, in revision order."""
        batch = codec.batch_events(self.responses)
        self.responses.clear()
        self.buffered_events = 0
        if batch.revision < self.revision:
            # Progress known from a created response, for a watch "from now".
            batch = EventBatch(batch.events, self.revision)
        return codec.coalesce(batch) if self.spec.coalesce else batch
