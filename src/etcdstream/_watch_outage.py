"""What a client's Watch stream logs and counts about an outage, I/O-free: since when no stream has answered,
the last error, and the revisions the watchers resume from once one does."""

from __future__ import annotations

import time
from collections.abc import Callable

from ._log import WATCH
from ._stats import Counters

#: Seconds without an answering stream before the first WARNING (then each time twice as long).
UNREACHABLE_WARNING_AFTER = 30.0


class Outage:
    """The outage of one Watch stream, if there is one: an INFO when it starts, a WARNING while it lasts
    (after 30 s, 60 s, 120 s, ...), an INFO when a stream answers again."""

    def __init__(self, counters: Counters, clock: Callable[[], float] = time.monotonic) -> None:
        self.counters = counters
        self._clock = clock
        # Since when no stream has answered (None while one works), the next WARNING about it (seconds down),
        # the last error, and the revisions the watchers resume from.
        self._broken_since: float | None = None
        self._warn_after = UNREACHABLE_WARNING_AFTER
        self._last_error = ""
        self._resuming: list[int] = []

    def resuming(self, revisions: list[int]) -> None:
        """A new stream starts: its watchers resume from these revisions (told once it answers)."""
        self._resuming = revisions

    def broke(self, error: Exception | None = None) -> None:
        """The stream broke (error: why, when known): logs the start of the outage, or a WARNING when it is due."""
        now = self._clock()
        if error is not None:
            self._last_error = str(error)
            self.counters.error(error)
        if self._broken_since is None:
            self._broken_since, self._warn_after = now, UNREACHABLE_WARNING_AFTER
            WATCH.info("watch stream broken (%s): reconnecting", self._last_error or "the call ended")
        elif now - self._broken_since >= self._warn_after:
            WATCH.warning("watch stream: no answer from etcd for %.0f s (last error: %s); still trying",
                          now - self._broken_since, self._last_error or "none")
            self._warn_after *= 2

    def answered(self, watchers: int) -> None:
        """A stream answered, with this many live watchers: the outage, if any, is over."""
        if self._broken_since is None:
            return
        down = self._clock() - self._broken_since
        self._broken_since, self._last_error = None, ""
        self.counters.add("reconnects")
        resuming = self._resuming
        since = f" from revisions {min(resuming)}..{max(resuming)}" if resuming else ""
        WATCH.info("watch stream reconnected after %.1f s: %d watchers resumed%s", down, watchers, since)
