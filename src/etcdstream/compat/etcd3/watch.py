"""python-etcd3's watcher: callback watches on one Watch stream opened through its stub (`_watch_stub.Watch`),
one create request pending at a time (`_new_watch_cond`), every callback called from the stream's thread.

On a compat client the stub is etcdrpc.WatchStub(client.channel), whose stream is etcdstream's watchers
(_watch_stream): unlike python-etcd3's, the watches survive a broken connection or a failover (they resume from
their last revision: no event lost, none repeated) and an expired token. A stub replaced by a test's fake is
read as python-etcd3 reads it; so is a WatchStub on a grpc channel of one's own.

Besides python-etcd3's: the create answer of a watch given up on (timed out, or its wait failed) is not taken
for the next watch's, and is canceled; a watch etcd refuses at its create raises, and one etcd ends later calls
back with an exception; the stream is opened again after a pause that grows while it keeps failing; close().
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

import etcdstream.compat.etcd3.etcdrpc as etcdrpc  # looked up at each use: tests patch its stubs
from ..._errors import EtcdError, Timeout
from .events import Event, new_event
from .exceptions import Etcd3Exception, EtcdRpcError, RevisionCompactedError, WatchTimedOut, translate
from .utils import to_bytes

_log = logging.getLogger(__name__)

_MAX_PAUSE = 2.0  # seconds between attempts to open a stream that keeps failing


class Watch:
    """python-etcd3's handle of a watch: its id, an iterator of it, cancel()."""

    def __init__(self, watch_id: int, iterator: Iterator[Any] | None = None, etcd_client: Any = None) -> None:
        self.watch_id = watch_id
        self.etcd_client = etcd_client
        self.iterator = iterator

    def cancel(self) -> None:
        self.etcd_client.cancel_watch(self.watch_id)


class WatchResponse:
    """What a callback receives: `header` (its `.revision`: everything up to it has been delivered) and `events`."""

    def __init__(self, header: Any, events: list[Event]) -> None:
        self.header = header
        self.events = events


class _NewWatch:
    """A create request waiting for its answer: the watch id, or the error it failed with."""

    def __init__(self, callback: Callable[[Any], object]) -> None:
        self.callback = callback
        self.id: int | None = None
        self.err: BaseException | None = None


class Watcher:
    """The client's watches by id: add_callback(key, callback, ...) starts one, cancel(id) stops it.

    timeout: how long add_callback waits for etcd to create a watch (None: as long as it takes).
    call_credentials, metadata: passed to the stub's Watch, as python-etcd3 does.
    """

    def __init__(self, watchstub: Any, timeout: float | None = None, call_credentials: Any = None,
                 metadata: Any = None) -> None:
        self.timeout = timeout
        self._watch_stub = watchstub
        self._credentials = call_credentials
        self._metadata = metadata

        self._lock = threading.Lock()
        self._request_queue: queue.Queue[Any] = queue.Queue(maxsize=10)
        self._callbacks: dict[int, Callable[[Any], object]] = {}
        self._callback_thread: threading.Thread | None = None
        self._new_watch_cond = threading.Condition(lock=self._lock)
        self._new_watch: _NewWatch | None = None
        # Creates sent and given up on whose answer is still to come on this stream (etcd answers creates in
        # order): python-etcd3 took such an answer for the next watch's, which then got another key's events.
        self._abandoned = 0
        self._responses: Any = None  # the stream being read
        self._closed = False
        self._closing = threading.Event()

    def _create_watch_request(self, key: str | bytes, range_end: str | bytes | None = None,
                              start_revision: int | None = None, progress_notify: bool = False,
                              filters: Any = None, prev_kv: bool = False) -> Any:
        create_watch = etcdrpc.WatchCreateRequest()
        create_watch.key = to_bytes(key)
        if range_end is not None:
            create_watch.range_end = to_bytes(range_end)
        if start_revision is not None:
            create_watch.start_revision = start_revision
        if progress_notify:
            create_watch.progress_notify = progress_notify
        if filters is not None:
            create_watch.filters.extend(filters)
        if prev_kv:
            create_watch.prev_kv = prev_kv
        return etcdrpc.WatchRequest(create_request=create_watch)

    def add_callback(self, key: str | bytes, callback: Callable[[Any], object], range_end: str | bytes | None = None,
                     start_revision: int | None = None, progress_notify: bool = False, filters: Any = None,
                     prev_kv: bool = False) -> int:
        """Watch key (or [key, range_end)) and call callback(WatchResponse) for each response, or
        callback(exception) once the watch cannot go on; returns the watch id. WatchTimedOut if etcd did not
        create the watch within the timeout."""
        rq = self._create_watch_request(key, range_end=range_end, start_revision=start_revision,
                                        progress_notify=progress_notify, filters=filters, prev_kv=prev_kv)
        with self._lock:
            if self._closed:
                raise Etcd3Exception("the client is closed")
            if not self._callback_thread:
                self._callback_thread = threading.Thread(name=f"etcd3_watch_{id(self):x}", target=self._run,
                                                         daemon=True)
                self._callback_thread.start()

            # One create request pending at a time: its answer does not say which request it answers.
            while self._new_watch:
                self._new_watch_cond.wait()

            new_watch = _NewWatch(callback)
            self._request_queue.put(rq)
            self._new_watch = new_watch
            try:
                deadline = None if self.timeout is None else time.monotonic() + self.timeout
                while new_watch.id is None and new_watch.err is None:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        break
                    self._new_watch_cond.wait(timeout=remaining)
                if new_watch.id is None and new_watch.err is None:
                    raise WatchTimedOut()
                if new_watch.err:
                    raise new_watch.err
            except BaseException:
                if new_watch.id is None and new_watch.err is None:
                    self._abandoned += 1
                raise
            finally:
                # Wake up threads waiting to send their create request.
                self._new_watch = None
                self._new_watch_cond.notify_all()
            return new_watch.id

    def cancel(self, watch_id: int) -> None:
        """Stop the watch (its callback is not called again); unknown ids are ignored."""
        with self._lock:
            callback = self._callbacks.pop(watch_id, None)
            if not callback:
                return
            self._cancel_no_lock(watch_id)

    def close(self) -> None:
        """End the stream and every watch (their callbacks are not called again)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._callbacks = {}
            self._end_requests()
            responses = self._responses
            thread = self._callback_thread
            self._new_watch_cond.notify_all()
        self._closing.set()
        cancel = getattr(responses, "cancel", None)
        if callable(cancel):
            cancel()
        if thread is not None and thread is not threading.current_thread():
            thread.join(_MAX_PAUSE)

    # --- the stream's thread ---

    def _run(self) -> None:
        pause = 0.0
        while not self._closing.wait(pause):
            err: BaseException
            try:
                # Not under _lock, here and below: a thread holding it may wait for room in the request queue,
                # which only the stream opened here empties.
                responses = self._watch_stub.Watch(_new_request_iter(self._request_queue),
                                                   credentials=self._credentials, metadata=self._metadata)
                self._responses = responses
                if self._closed:  # close() set it before reading _responses: one of the two cancels
                    cancel = getattr(responses, "cancel", None)
                    if callable(cancel):
                        cancel()
                    return
                for rs in responses:
                    self._handle_response(rs)
                    pause = 0.0
                err = EtcdRpcError(grpc.StatusCode.UNAVAILABLE, "etcd ended the watch stream")
            except Exception as e:
                err = e
            with self._lock:
                if self._closed:
                    return
                if self._new_watch:
                    self._new_watch.err = err
                    self._new_watch_cond.notify_all()
                callbacks, self._callbacks = self._callbacks, {}
                self._abandoned = 0  # their answers would have come on the stream that ended
                # A new queue for the next stream: no request goes to the one that ended, which sees its end.
                self._end_requests()
                self._request_queue = queue.Queue(maxsize=10)
            if not isinstance(err, grpc.RpcError):
                _log.error("The watch stream failed: %s: %s", type(err).__name__, err, exc_info=err)
            for callback in callbacks.values():
                _safe_callback(callback, err)
            pause = min(max(pause * 2, 0.1), _MAX_PAUSE)

    def _handle_response(self, rs: Any) -> None:
        with self._lock:
            if rs.created:
                if self._abandoned or not self._new_watch:
                    # The answer to a create given up on: nobody waits for this watch.
                    self._abandoned = max(self._abandoned - 1, 0)
                    if not rs.canceled:
                        self._cancel_no_lock(rs.watch_id)
                    return

                if rs.compact_revision != 0:
                    self._new_watch.err = RevisionCompactedError(rs.compact_revision)
                    self._new_watch_cond.notify_all()
                    return

                if rs.canceled:  # refused at its create
                    self._new_watch.err = _ended_by(rs)
                    self._new_watch_cond.notify_all()
                    return

                self._callbacks[rs.watch_id] = self._new_watch.callback
                self._new_watch.id = rs.watch_id
                self._new_watch_cond.notify_all()

            callback = self._callbacks.get(rs.watch_id)

        # Ignore leftovers from canceled watches.
        if not callback:
            return

        # The watch cannot go on from a compacted revision: python-etcd3 tells the callback and cancels it.
        if rs.compact_revision != 0:
            _safe_callback(callback, RevisionCompactedError(rs.compact_revision))
            self.cancel(rs.watch_id)
            return

        if rs.canceled and not rs.created:  # etcd ended the watch
            with self._lock:
                self._callbacks.pop(rs.watch_id, None)
            _safe_callback(callback, _ended_by(rs))
            return

        # Call the callback even when there are no events in the watch
        # response so as not to ignore progress notify responses.
        if rs.events or not (rs.created or rs.canceled):
            new_events = [new_event(event) for event in rs.events]
            _safe_callback(callback, WatchResponse(rs.header, new_events))

    def _cancel_no_lock(self, watch_id: int) -> None:
        cancel_watch = etcdrpc.WatchCancelRequest()
        cancel_watch.watch_id = watch_id
        self._request_queue.put(etcdrpc.WatchRequest(cancel_request=cancel_watch))

    def _end_requests(self) -> None:
        """Tell the stream reading the request queue that no request follows (the caller holds _lock)."""
        try:
            self._request_queue.put_nowait(None)
        except queue.Full:
            pass  # the stream finds that it ended at its next request


def _ended_by(rs: Any) -> Exception:
    """The exception for a watch etcd refused or ended: etcdstream's error translated (WatchTimedOut for a
    create etcd did not answer in time), else etcd's cancel_reason."""
    cause = getattr(rs, "cause", None)
    if isinstance(cause, Timeout):
        return WatchTimedOut()
    if isinstance(cause, EtcdError):
        return translate(cause)
    return Etcd3Exception(f"etcd canceled the watch: {rs.cancel_reason or 'no reason given'}")


def _new_request_iter(request_queue: queue.Queue[Any]) -> Iterator[Any]:
    while True:
        rq = request_queue.get()
        if rq is None:
            return
        yield rq


def _safe_callback(callback: Callable[[Any], object], response_or_err: Any) -> None:
    try:
        callback(response_or_err)
    except Exception:
        _log.exception("Watch callback failed")
