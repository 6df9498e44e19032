"""The I/O-free state of one multiplexed Watch stream, shared by both clients.

Every watcher of a client rides one bidirectional Watch stream, as in etcd's
Go client. `WatchStreamState` turns decoded WatchResponses into per-watcher
buffers and says what to send: creates, cancels, and re-creates after a
reconnect from each watcher's last seen revision + 1, so no event is lost or
delivered twice. The sync and asyncio drivers only move bytes and wake
consumers.

Pairing a `created` response with its create: etcd answers creates in order
and echoes the watch id the client chose; etcd's gRPC proxy renumbers watches
(0, 1, 2, ... per stream) and answers a create that joins one of its existing
server watches at once, ahead of older creates. So a stream keeps one create
in flight, as Go's client does, until a `created` response carries the id we
chose (etcd itself is on the other end); from then on creates are pipelined
and matched by id. Whatever the pairing, every event is checked against its
watcher's range: one outside it is a protocol error that restarts the stream.
"""

from __future__ import annotations

import itertools
import random
import sys
from collections import deque


from . import _proto, codec
from ._log import WATCH
from ._errors import EtcdError, ReplayTooLong
from ._results import Status
from ._stats import Counters
from ._watch_cancel import cancel_error, is_token_problem
from ._watch_history import StatusHeader, made_up_by_proxy
from ._watch_outage import Outage
from ._watch_progress import ProgressRequests, progress_wait_problem
from ._watcher_state import WatcherState
from .codec import EventBatch, WatchResponse

WATCH_METHOD = _proto.method_path("Watch", "Watch")

# Watch ids this client chooses: far from the proxy's per-stream 0, 1, 2, ...,
# so that an echoed id proves the server honours ours.
_FIRST_WATCH_ID = 1 << 32


class WatchProtocolError(EtcdError):
    """The server (or a proxy in front of it) answered against the watch protocol; the stream restarts."""


class WatcherEnded(Exception):
    """A watch stream's next_batch: the watcher was closed and nothing is left. Watchers turn it into
    StopIteration or StopAsyncIteration (a coroutine cannot raise StopIteration itself: PEP 479)."""


def next_pause(pause: float, ceiling: float = 2.0) -> float:
    """The pause before the next reconnect: growing from 37.5-50 ms to ceiling seconds, each a random 75-100% of
    twice the last (so it surely grows), so that clients broken at the same moment (a cluster restart) come
    back spread out."""
    return min(max(pause * 2, 0.05), ceiling) * random.uniform(0.75, 1.0)


class WatchStreamState:
    """The watchers of one client and what its Watch stream must send next."""

    def __init__(self, counters: Counters | None = None) -> None:
        self.counters = counters or Counters()
        self.live: list[WatcherState] = []
        self.by_id: dict[int, WatcherState] = {}
        # Set when a create was refused for a token problem: re-authenticate, then restart.
        self.reauth_needed = False
        # Set when a response broke the protocol: the stream must be replaced (with a pause).
        self.protocol_error: WatchProtocolError | None = None
        # The current stream got a response: it worked, so a reconnect after it starts with a short pause.
        self.answered = False
        # What the log says about an outage (no stream answering), and when.
        self._outage = Outage(self.counters)
        self._ids = itertools.count(_FIRST_WATCH_ID)
        self._unsent_creates: deque[WatcherState] = deque()
        # Creates sent and not yet answered, by the id we chose, oldest first.
        self._in_flight: dict[int, WatcherState] = {}
        # A created response echoed our id: etcd itself answers, in order and by id.
        self._ids_echoed = False
        # A created response carried an id of its own: etcd's gRPC proxy answers (None: not known yet).
        self.behind_proxy: bool | None = None
        self._outbox: list[bytes] = []
        self._canceled_ids: set[int] = set()
        self._progress = ProgressRequests()
        self._streamed = False  # restart() was called: a stream was started

    # --- what the application does ---

    def add(self, watcher: WatcherState) -> None:
        """Start watching: queue the create request."""
        self.live.append(watcher)
        self._create(watcher)

    def remove(self, watcher: WatcherState) -> None:
        """Stop watching: cancel the server-side watch if there is one."""
        watcher.closed = True
        self._forget(watcher)
        self._cancel(watcher)

    def take_news(self, watcher: WatcherState) -> EventBatch:
        """The batch of a watcher that has news (a paused watch, drained, is created again: flush the
        requests); raises its error, or WatcherEnded, once it ended."""
        if watcher.responses:
            batch = watcher.take_batch()
            self.resume_if_drained(watcher)
            self.counters.add("events_delivered", len(batch))
            return batch
        if watcher.error is not None:
            raise watcher.error
        raise WatcherEnded

    def request_progress(self) -> bool:
        """Queue a progress request on the current stream; False (nothing queued) when the server answers
        them ahead of its events (etcd before 3.4.25 and 3.5.8: _watch_progress)."""
        if self.behind_proxy:
            return False  # it drops them (etcd #19710)
        if self._progress.send():
            self._outbox.append(codec.encode_watch_progress())
            return True
        if self._progress.refused == 1:
            WATCH.info("etcd %s answers progress requests ahead of the events it has still to send (etcd #15220, "
                       "fixed in 3.4.25 and 3.5.8): request_progress() asks it nothing; watchers still get its "
                       "periodic progress notifications (progress_notify)", self._progress.server_version or
                       "of an unknown version")
        return False

    def progress_wait_problem(self) -> str | None:
        """Why nobody may wait for an answer to a progress request on the current stream, None if one may
        (or it is not known yet: the stream is new and nothing has told)."""
        if not self._streamed:
            return None
        return progress_wait_problem(self._progress.server_version, bool(self.behind_proxy))

    def resume_if_drained(self, watcher: WatcherState) -> None:
        """Re-create a watch paused for a slow consumer once its buffer is empty."""
        if watcher.paused and not watcher.responses and watcher.active:
            WATCH.info("a paused watcher's events were read: its watch resumes from revision %d",
                       watcher.next_revision)
            watcher.paused = False
            self._create(watcher)

    # --- what the stream does ---

    def take_requests(self) -> list[bytes]:
        """Requests to send now, in order."""
        out, self._outbox = self._outbox, []
        return out

    def restart(self, server_version: str | None = None, status: Status | None = None) -> list[WatcherState]:
        """A new stream replaces a broken one: every live watcher is created again where it stopped.
        server_version: etcd's on the other end (its Status), which says whether its progress answers count.
        status: that Status, whose header a watcher's history is checked against first (a restored backup
        ends it here: behind etcd's gRPC proxy its create may be joined to another, whose made-up created
        header would hide it). Returns the watchers that ended."""
        self.by_id.clear()
        self._unsent_creates.clear()
        self._in_flight.clear()
        self._ids_echoed = False
        self.behind_proxy = None
        self._outbox.clear()
        self._canceled_ids.clear()
        self.reauth_needed = False
        self.protocol_error = None
        self.answered = False
        self._progress = ProgressRequests(server_version)
        self._streamed = True
        self.counters.add("watch_streams")
        for watcher in self.live:  # the old stream's ids mean nothing on this one: nothing to cancel
            watcher.watch_id = None
            watcher.fragments.clear()
        ended = self._check_history(status) if status is not None else []
        self._outage.resuming([w.next_revision for w in self.live if not w.paused and w.next_revision])
        for watcher in self.live:
            if not watcher.paused:
                self._create(watcher)
        return ended

    def _check_history(self, status: Status) -> list[WatcherState]:
        header = StatusHeader(status.member_id, status.revision, status.raft_term, status.cluster_id)
        ended = []
        for watcher in list(self.live):
            error = watcher.history.take(header)
            if error is not None:
                ended += self._end(watcher, error)
        return ended

    def pause_after(self, pause: float, error: Exception | None = None) -> float:
        """The pause before reconnecting after the stream broke (error: why, when known): short if it had
        worked, else longer than the last. Logs the break once, and a WARNING while it lasts (30 s, 60 s, ...)."""
        self._outage.broke(error)
        worked, self.answered = self.answered, False
        return next_pause(0.0 if worked else pause)

    def fail_all(self, error: EtcdError) -> list[WatcherState]:
        """The stream cannot go on: every live watcher ends with error."""
        failed, self.live = self.live, []
        self.counters.error(error)
        for watcher in failed:
            watcher.error = error
        return failed

    def on_response(self, resp: WatchResponse, size: int = 0) -> list[WatcherState]:
        """Apply one response (of size bytes); return the watchers whose consumers should wake up."""
        self.counters.received(len(resp.events), size, resp.revision)
        if not self.answered:
            self.answered = True
            self._outage.answered(len(self.live))
        if resp.created:
            return self._on_created(resp)
        if resp.watch_id == -1 and not resp.canceled:
            return self._on_stream_progress(resp)
        watcher = self.by_id.get(resp.watch_id)
        if resp.canceled:
            self._canceled_ids.discard(resp.watch_id)  # etcd sends nothing more for this id
        if watcher is None:
            if not resp.canceled:
                self._cancel_unknown(resp.watch_id)
            return []
        if resp.canceled:
            return self._on_canceled(watcher, resp)
        stray = codec.event_outside_range(resp, watcher.spec.key, watcher.spec.range_end)
        if stray is not None:
            return self._broken_protocol(
                f"watch {resp.watch_id} of [{watcher.spec.key!r}, {watcher.spec.range_end!r}) got an event "
                f"of {stray.key!r} (revision {stray.mod_revision})"
            )
        if not self._same_history(watcher, resp):
            return [watcher]
        early = codec.event_out_of_order(resp, watcher.revision)
        if early is not None:
            return self._broken_protocol(
                f"watch {resp.watch_id} of {watcher.spec.key!r}, delivered up to revision {watcher.revision}, got "
                f"an event of {early.key!r} at revision {early.mod_revision}: out of order, or twice"
            )
        if resp.fragment:
            watcher.fragments.append(resp)
            return []
        parts, watcher.fragments = watcher.fragments + [resp], []
        for part in parts:
            self._buffer(watcher, part)
        return [watcher]

    # --- internals ---

    def _create(self, watcher: WatcherState) -> None:
        self._unsent_creates.append(watcher)
        self._send_creates()

    def _send_creates(self) -> None:
        """Send the creates whose turn it is: one at a time until the server is known to echo our ids."""
        while self._unsent_creates and (self._ids_echoed or not self._in_flight):
            watcher = self._unsent_creates.popleft()
            if not watcher.active:
                continue  # closed while waiting for its turn
            spec = watcher.spec
            watch_id = next(self._ids)
            self._in_flight[watch_id] = watcher
            watcher.creates_sent += 1
            self._outbox.append(
                codec.encode_watch_create(
                    spec.key,
                    spec.range_end,
                    start_revision=watcher.next_revision,
                    prev_kv=spec.prev_kv,
                    progress_notify=spec.progress_notify,
                    fragment=spec.fragment,
                    watch_id=watch_id,
                    filters=spec.filters,
                )
            )

    def _cancel(self, watcher: WatcherState) -> None:
        if watcher.watch_id is not None:
            self._cancel_unknown(watcher.watch_id)

    def _cancel_unknown(self, watch_id: int) -> None:
        if watch_id >= 0 and watch_id not in self._canceled_ids:
            self._canceled_ids.add(watch_id)
            self._outbox.append(codec.encode_watch_cancel(watch_id))

    def _forget(self, watcher: WatcherState) -> None:
        if watcher in self.live:
            self.live.remove(watcher)

    def _end(self, watcher: WatcherState, error: EtcdError) -> list[WatcherState]:
        watcher.error = error
        self._forget(watcher)
        self._cancel(watcher)
        if watcher.watch_id is not None and self.by_id.get(watcher.watch_id) is watcher:
            del self.by_id[watcher.watch_id]  # what etcd still sends for it (another history's events) is dropped
        return [watcher]

    def _on_created(self, resp: WatchResponse) -> list[WatcherState]:
        live = self.by_id.get(resp.watch_id)
        if live is not None:
            # A second `created` for a live watch: etcd's gRPC proxy re-established its own watch on
            # etcd (etcd restarted) and passed that on. Not an answer to a create; its header is etcd's.
            if resp.canceled:
                return self._on_canceled(live, resp)
            return [] if self._same_history(live, resp) else [live]
        watcher = self._in_flight.pop(resp.watch_id, None)
        if watcher is not None:
            self._ids_echoed = True
            self.behind_proxy = False
        elif not self._in_flight:
            self._cancel_unknown(resp.watch_id)
            return []
        elif resp.watch_id in self._canceled_ids:
            return []  # passed on for a watch we canceled (ids are never reused): no answer to a create
        elif resp.watch_id != -1 and self._ids_echoed:
            return self._broken_protocol(f"a created response for watch {resp.watch_id}, which was never asked for")
        else:
            # A refusal (id -1), or a proxy's own id: the oldest create in flight, which is the only
            # one unless etcd itself answers (in order).
            if resp.watch_id != -1:
                self.behind_proxy = True
            watcher = self._in_flight.pop(next(iter(self._in_flight)))
        woken = self._created(watcher, resp)
        self._send_creates()
        return woken

    def _created(self, watcher: WatcherState, resp: WatchResponse) -> list[WatcherState]:
        if resp.canceled:
            if is_token_problem(resp.cancel_reason) and not watcher.reauthenticated:
                # Possibly an expired token (etcd 3.5.1 reports it as "permission denied"):
                # re-authenticate and create it again, once.
                watcher.reauthenticated = True
                self.reauth_needed = True
                return []
            return self._end(watcher, cancel_error(resp, watcher.spec.key, watcher.next_revision))
        watcher.watch_id = resp.watch_id
        watcher.reauthenticated = False
        watcher.created_revision = sys.maxsize if made_up_by_proxy(resp) else resp.revision
        watcher.progress_epoch = self._progress.sent
        if not watcher.active:  # closed while its create was in flight
            self._cancel(watcher)
            return []
        self.by_id[resp.watch_id] = watcher
        if self._same_history(watcher, resp):
            # The first create replays whatever the gap: one from a read just made is the writes during the
            # read, and ending it would read again forever on a prefix written faster than it is read. Sent
            # again (the stream broke before etcd answered), its gap holds the outage too.
            if (watcher.created or watcher.creates_sent > 1) and self._replay_too_long(watcher, resp):
                return self._end(watcher, ReplayTooLong(
                    f"watch of {watcher.spec.key!r} resumed {resp.revision - watcher.revision} revisions behind "
                    f"etcd (more than max_replay={watcher.spec.max_replay}): read the prefix again",
                    from_revision=watcher.next_revision, revision=resp.revision))
            watcher.created = True
            if watcher.next_revision == 0:
                # Watching "from now": everything up to the creation revision is known. (Not a watch from
                # revision 1, whose revision 0 means "nothing delivered yet": its events are still to come.)
                watcher.revision = resp.revision
        return [watcher]

    @staticmethod
    def _replay_too_long(watcher: WatcherState, resp: WatchResponse) -> bool:
        """A watch created again (a new stream, a drained pause) would replay more than its max_replay. The
        created response's header has etcd's current revision; one naming no member is made up by etcd's
        gRPC proxy (its revision is not etcd's)."""
        limit = watcher.spec.max_replay
        return bool(limit and resp.member_id and watcher.revision and resp.revision - watcher.revision > limit)

    def _on_canceled(self, watcher: WatcherState, resp: WatchResponse) -> list[WatcherState]:
        del self.by_id[resp.watch_id]
        if not watcher.active:
            return []
        return self._end(watcher, cancel_error(resp, watcher.spec.key, watcher.next_revision))

    def _broken_protocol(self, problem: str) -> list[WatcherState]:
        """A response no correct server sends: deliver nothing of it and have the stream replaced."""
        self.protocol_error = WatchProtocolError(f"watch stream restarted: {problem}")
        return []

    def _on_stream_progress(self, resp: WatchResponse) -> list[WatcherState]:
        # The answer to a progress request: the watchers it speaks for have seen up to here (_watch_progress).
        request = self._progress.answer()
        if request is None:
            WATCH.debug("a progress answer (revision %d) from etcd %s ignored: not one to trust", resp.revision,
                        self._progress.server_version)
            return []
        woken = []
        for watcher in list(self.by_id.values()):  # _buffer may pause one: it leaves by_id
            if (watcher.active and not watcher.fragments and resp.revision > watcher.revision
                    and (watcher.progress_epoch < request or watcher.created_revision < resp.revision)):
                self._buffer(watcher, resp)
                woken.append(watcher)
        return woken

    def _buffer(self, watcher: WatcherState, resp: WatchResponse) -> None:
        watcher.responses.append(resp)
        events = resp.events
        watcher.buffered_events += len(events)
        if events:
            watcher.revision = max(watcher.revision, events[-1].mod_revision)
        elif not resp.created and not resp.canceled:
            watcher.revision = max(watcher.revision, resp.revision)
        if watcher.buffered_events >= watcher.max_buffered_events and not watcher.paused:
            # Its id is forgotten at once: what still comes for it is dropped (the resumed watch replays
            # it), and its cancel confirmation cannot end the watch created again meanwhile.
            WATCH.warning("a watcher holds %d unread events: its watch is paused on etcd until they are read "
                          "(it then resumes from revision %d)", watcher.buffered_events, watcher.revision + 1)
            watcher.paused = True
            self._cancel(watcher)
            del self.by_id[watcher.watch_id]
            watcher.watch_id = None

    def _same_history(self, watcher: WatcherState, resp: WatchResponse) -> bool:
        """Catch a cluster whose history is not the one this watcher has seen: the watcher ends."""
        error = watcher.history.take(resp)
        if error is not None:
            self._end(watcher, error)
        return error is None
