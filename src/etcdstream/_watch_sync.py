"""The blocking client's Watch stream: one thread reads the stream all watchers share."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import grpc

from . import codec
from ._cluster_ops import STATUS_CALL
from ._errors import ClientClosed, DecodeError, EtcdError, Timeout
from ._results import Snapshot, Status
from ._watch import WATCH_METHOD, WatchProtocolError
from ._watch_driver import STOP, STREAM_CALL, StreamStep, WatchStreamDriver, server_status
from ._watch_spec import WatchSpec
from ._watcher_sync import Watcher
from ._watcher_state import WatcherState
from .codec import EventBatch

if TYPE_CHECKING:
    from ._transport_sync import Connection, Transport

# How long the stream thread leaves the reading to consumers iterating in next() before it reads itself.
_STEP_ASIDE = 0.005
_MAX_STEP_ASIDE = 0.1
# How often the stream thread looks at the channel's state while it pauses before a reconnect.
_CONNECTIVITY_CHECK = 0.02


class WatchStream(WatchStreamDriver):
    """The one Watch stream of a Client, reconnected (and resumed) as long as it has watchers.

    How its threads share the stream (tests/test_watch_sync_driver.py checks each point):

    - Reading: one thread at a time calls next() on the call, the one holding
      `_reading`, and it reads one response with `_cond` released (`_read_one`).
      A consumer in next() (`get` without timeout) takes `_reading` only with a
      non-blocking acquire under `_cond`, and only while there is a stream and
      `_broken` is None (`_read_in_place`). The stream thread reads only when
      `_waiting_readers` is 0 (checked under `_cond`; a consumer may slip in
      before it takes `_reading`, which only delays its read).
    - `_waiting_readers`: the consumers inside next(), whether reading in place
      or waiting for their turn. `get(timeout)` and open() never read and are
      not counted: they notify `_stream_turn` and wait for the stream thread
      (or an iterating consumer) to read for them.
    - `_cond` (one RLock with `_stream_turn`) guards `_state`, `_call`,
      `_requests`, `_broken`, `_waiting_readers` and `_closed`. Consumers wait
      on it for news of their watcher, for their turn to read, or for a new
      stream (the stream thread too, pausing before a reconnect). Notified by:
      a read that woke watchers or broke the stream; the end of every read
      while consumers wait their turn (the hand-over, even after a read that
      woke no watcher: otherwise they would wait for a response nobody reads,
      the stream thread stepping aside for them); a new stream (`_read`);
      close_watcher, close, `_fail`.
    - `_stream_turn`: only the stream thread waits on it, for `_waiting_readers`
      to be 0, `_broken` or `_closed`. Notified by open(), get(timeout), a broken
      stream and close(); not when `_waiting_readers` drops to 0 (an iterating
      consumer is back within microseconds). So the stream thread steps aside:
      it re-checks every `_STEP_ASIDE` s, doubling to `_MAX_STEP_ASIDE`, and takes
      over at most that long after the last consumer left next().
    - No consumer waits forever: it waits on `_cond` only while another thread
      reads (the hand-over wakes it), or while there is no stream or it broke
      (`_read` wakes it with the next one, `_fail` ends its watcher).
    - `_broken`: whoever's read ended the stream (an error, its end, a protocol
      error, a token to renew) records how under `_cond` and notifies
      `_stream_turn`; nobody reads that call again. The stream thread leaves its
      read loop and `_read` raises it into `_run` (a StopIteration just returns),
      which recovers exactly as from its own read: reconnect, fail over or
      re-authenticate, re-creating each watch from its revision + 1, or end
      every watcher. `_read` clears it when it starts the new stream.
    - close(): every watcher ends (its consumer gets what is buffered, then
      ClientClosed), the call is canceled (so a read in progress, in any thread,
      returns), every waiter is woken, and the stream thread is joined (unless
      close() runs in it). open() and request_progress() then raise ClientClosed.
      close_watcher() wakes the consumers waiting on `_cond`; one blocked in its
      own read returns with the next response (etcd's answer to the cancel).
    """

    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self._transport: Transport = transport
        lock = threading.RLock()
        self._lock = lock
        self._cond = threading.Condition(lock)  # the stream thread waits on it while pausing (see the docstring)
        self._stream_turn = threading.Condition(lock)  # only the stream thread waits on it, for its turn to read
        # Consumers waiting, each on a condition of its own (over the same lock), by watcher: a response wakes
        # only its watchers' consumers, not every consumer of the client (a Mirror each, say).
        self._sleepers: dict[WatcherState, dict[threading.Condition, None]] = {}
        # Those of them in next() without a timeout (they read in place when it is their turn), oldest first.
        self._turn_waiters: dict[threading.Condition, WatcherState] = {}
        self._thread: threading.Thread | None = None
        # One thread at a time reads the stream: the stream thread, or a consumer
        # blocked in next() (which saves a thread hand-off per message).
        self._reading = threading.Lock()
        self._waiting_readers = 0  # consumers inside next(): reading in place or waiting for their turn
        # How a consumer's read ended the current stream; the stream thread recovers.
        self._broken: BaseException | None = None

    def open(self, spec: WatchSpec, max_buffered_events: int, after: Snapshot | None = None) -> Watcher:
        """Start a watcher on the stream (starting the stream if needed) and wait until etcd created it.

        Waiting means that a watch "from now" sees every change made after it returns,
        and that a refused watch (permission denied, compacted) raises here.
        after: the snapshot this watch continues (its history must be the snapshot's).
        """
        watcher = WatcherState(spec, max_buffered_events, after)
        timeout = self._transport.timeout
        with self._cond:
            if self._closed:
                raise ClientClosed("the client is closed (make a new one)")
            self._state.add(watcher)
            self._flush()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="etcdstream-watch", daemon=True)
                self._thread.start()
            self._stream_turn.notify()
            if not self._sleep(watcher, watcher.has_started, timeout):
                self._state.remove(watcher)
                self._flush()
                raise Timeout(f"etcd at {self._transport.endpoint} did not create the watch within {timeout:g} s "
                              "(is etcd reachable? raise the client's timeout=)")
            if watcher.error is not None and not watcher.responses:
                raise watcher.error
        return Watcher(self, watcher)

    def request_progress(self) -> bool:
        """Ask etcd for a progress notification on this stream now; False when there is no stream now, or its
        server answers them ahead of its events (_watch_progress)."""
        with self._cond:
            if self._closed:
                raise ClientClosed("the client is closed (make a new one)")
            if self._requests is None or not self._state.request_progress():
                return False
            self._flush()
            return True

    def next_batch(self, watcher: WatcherState, timeout: float | None) -> EventBatch | None:
        with self._cond:
            if timeout is None:
                self._waiting_readers += 1  # the stream thread steps aside after its current read
                try:
                    while not watcher.has_news():
                        if not self._read_in_place(watcher):
                            self._sleep(watcher, reading=True)
                finally:
                    # No wake-up for the stream thread: an iterating consumer is usually back
                    # within microseconds; the stream thread takes over after _STEP_ASIDE.
                    self._waiting_readers -= 1
            else:
                self._stream_turn.notify()
                if not self._sleep(watcher, watcher.has_news, timeout):
                    return None
            batch = self._state.take_news(watcher)
            self._flush()
            return batch

    def _read_in_place(self, watcher: WatcherState) -> bool:
        """Read one response in the thread of watcher's consumer (holding _cond); False if another thread reads.

        Releases _cond once while reading: the caller must hold it exactly once (RLock).
        """
        responses = self._call
        if responses is None or self._broken is not None or not self._reading.acquire(blocking=False):
            return False
        self._cond.release()
        try:
            self._read_one(responses)
        finally:
            self._reading.release()
            self._cond.acquire()
        if self._waiting_readers > 1 and watcher.has_news():
            # This consumer leaves with its news while others found the stream busy and wait for their turn:
            # one of them reads next (unwoken, they would wait for a response nobody reads, the stream thread
            # stepping aside for them).
            self._wake_a_reader()
        return True

    def _sleep(self, watcher: WatcherState, ready: Callable[[], bool] | None = None, timeout: float | None = None,
               *, reading: bool = False) -> bool:
        """Wait (holding _cond once) until ready() or timeout; without ready, until woken once. Woken by
        watcher's news, a new or broken stream, close; with reading=True also by its turn to read."""
        waiter = threading.Condition(self._lock)
        self._sleepers.setdefault(watcher, {})[waiter] = None
        if reading:
            self._turn_waiters[waiter] = watcher
        try:
            if ready is None:
                return waiter.wait(timeout)
            return waiter.wait_for(ready, timeout)
        finally:
            waiters = self._sleepers[watcher]
            del waiters[waiter]
            if not waiters:
                del self._sleepers[watcher]
            self._turn_waiters.pop(waiter, None)

    def _wake(self, watchers: list[WatcherState]) -> None:
        for watcher in watchers:
            for waiter in self._sleepers.get(watcher, ()):
                waiter.notify()

    def _wake_a_reader(self) -> None:
        """Hand the reading over to the longest waiting consumer that has no news (those with news are
        woken by it and leave)."""
        for waiter, watcher in self._turn_waiters.items():
            if not watcher.has_news():
                waiter.notify()
                return

    def _wake_all(self) -> None:
        """Every waiting thread: a new or broken stream, a watcher closed, the stream closed or failed."""
        for waiters in self._sleepers.values():
            for waiter in waiters:
                waiter.notify()
        self._cond.notify_all()

    def close_watcher(self, watcher: WatcherState) -> None:
        with self._cond:
            if not watcher.closed:
                self._state.remove(watcher)
                self._flush()
                self._wake_all()

    def close(self) -> None:
        """Stop the stream and its thread; every watcher ends."""
        with self._cond:
            self._closed = True
            for watcher in self._state.fail_all(ClientClosed("the client was closed")):
                watcher.closed = True
            self._stop_call()
            self._wake_all()
            self._stream_turn.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    # --- the stream thread ---


    def _run(self) -> None:
        pause = 0.0
        while True:
            if self._paused_until_closed(pause):
                return
            try:
                connection = self._transport.connect()
                self._transport.authenticate(STREAM_CALL)
                self._read(connection)
                pause = 0.0  # etcd ended the stream: reconnect at once
            except grpc.RpcError as e:
                if self._closed:
                    return
                step, error = self._broken_by(e)
                if not self._recover(step, error, connection):
                    return
                pause = self._state.pause_after(pause, error)
            except EtcdError as e:
                if self._ends_after(e):
                    return
                pause = self._state.pause_after(pause, e)
            except ValueError:  # grpc's "Channel closed!" (after EtcdError: a DecodeError is a ValueError too)
                if self._closed or not self._transport.replaced(connection):
                    raise
                pause = self._state.pause_after(pause)

    def _paused_until_closed(self, pause: float) -> bool:
        """Wait pause seconds before reconnecting; True if the stream was closed meanwhile (close() wakes it).

        The wait ends early once the channel connects again after failed attempts: a call made
        during grpc's own reconnect backoff fails at once, and the two backoffs would add up.
        This thread looks at the channel's state itself every _CONNECTIVITY_CHECK s: grpc's
        subscribe() would start a thread of grpc's that can outlive the channel (Connection.connectivity).
        """
        if not pause:
            return self._closed
        try:
            connection = self._transport.connect()
        except ClientClosed:
            return True
        deadline = time.monotonic() + pause
        failed = False
        while True:
            try:
                state = connection.connectivity()
            except ValueError:  # "Channel closed!": a failover replaced it, reconnect to the next one now
                return self._closed
            failed = failed or state is grpc.ChannelConnectivity.TRANSIENT_FAILURE
            left = deadline - time.monotonic()
            if left <= 0 or (failed and state is grpc.ChannelConnectivity.READY):
                return self._closed
            with self._cond:
                if self._cond.wait_for(lambda: self._closed, left if state is None else min(left, _CONNECTIVITY_CHECK)):
                    return True

    def _server_status(self, connection: Connection) -> Status | None:
        """Ask the server on connection its Status (a call close() cancels)."""
        status = connection.channel.unary_unary(STATUS_CALL.method).future(
            STATUS_CALL.request, timeout=self._transport.timeout, metadata=self._transport.metadata(STREAM_CALL))
        with self._cond:
            self._status_call = status
            if self._closed:
                status.cancel()
        raw, error = None, None
        try:
            raw = status.result()
        except grpc.FutureCancelledError:
            pass  # closed
        except grpc.RpcError as e:
            error = e
        finally:
            with self._cond:
                self._status_call = None
        return server_status(raw, error)  # raised outside the handler: no grpc error as __context__

    def _read(self, connection: Connection) -> None:
        requests: queue.SimpleQueue[object] = queue.SimpleQueue()
        method = connection.channel.stream_stream(WATCH_METHOD)
        status = self._server_status(connection)
        with self._cond:
            if self._closed:
                return
            self._state.restart(status.version if status else None, status)  # the woken: _wake_all below
            self._requests = requests
            self._flush()
            self._broken = None
            self._call = responses = method(iter(requests.get, STOP),
                                                 metadata=self._transport.metadata(STREAM_CALL))
            self._wake_all()  # consumers waiting in next() may read the new stream
        try:
            step_aside = _STEP_ASIDE
            while True:
                with self._cond:
                    # A consumer waiting in next() reads for itself; step aside while one does,
                    # checking less often the longer it goes on (an idle stream costs no CPU).
                    if not self._stream_turn.wait_for(
                        lambda: self._broken is not None or self._closed or not self._waiting_readers, step_aside
                    ):
                        step_aside = min(step_aside * 2, _MAX_STEP_ASIDE)
                        continue
                    step_aside = _STEP_ASIDE
                    if self._broken is not None or self._closed:
                        break
                with self._reading:
                    if self._broken is None:
                        self._read_one(responses)
                with self._cond:
                    if self._waiting_readers:
                        self._wake_a_reader()  # consumers found the stream busy: one reads next
            if isinstance(self._broken, (grpc.RpcError, DecodeError, WatchProtocolError)):
                raise self._broken
        finally:
            with self._cond:
                self._call = None
                requests.put(STOP)
                responses.cancel()
                if self._requests is requests:
                    self._requests = None

    def _read_one(self, responses: grpc.Call) -> None:
        """Read and apply one response (the caller holds _reading); a broken stream is noted in _broken."""
        try:
            raw = next(responses)
            resp = codec.decode_watch_response(raw)
        except (StopIteration, grpc.RpcError, DecodeError) as e:
            with self._cond:
                self._broken = e
                self._wake_all()
                self._stream_turn.notify_all()
            return
        with self._cond:
            woken = self._state.on_response(resp, len(raw))
            self._flush()
            if self._state.reauth_needed:
                self._transport.forget_token()
                self._broken = StopIteration()  # a new stream, with a new token
            elif self._state.protocol_error is not None:
                self._broken = self._state.protocol_error  # a new stream, after a pause
            if self._broken is not None:
                self._stream_turn.notify_all()
                self._wake_all()
            else:
                self._wake(woken)

    def _recover(self, step: StreamStep, error: EtcdError, connection: Connection) -> bool:
        """Act on a broken stream; False when the watchers must end."""
        if not self._recover_in_place(step, error):
            return False
        if step is StreamStep.FAILOVER:
            self._transport.failover(connection)
        return True

    def _fail(self, error: EtcdError) -> None:
        with self._cond:
            self._state.fail_all(error)
            self._thread = None
            self._wake_all()
