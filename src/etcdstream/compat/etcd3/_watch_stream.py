"""etcd's Watch method (what etcdrpc.WatchStub(channel).Watch does on a compat client's channel) on etcdstream's
watchers: python-etcd3's watcher sends WatchRequests and reads WatchResponses as on etcd's own stream, while
each watch is an etcdstream watcher on the client's one watch stream, which resumes after a broken connection,
a failover or an expired token from its last revision (no event lost or repeated).

Every create request is answered, in order, as etcd answers it: `created` with the watch's id, then its events;
a watch etcd refuses, or that cannot go on, ends with `canceled` (and `compact_revision` when its history was
compacted), with etcdstream's error as the response's `cause`.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import grpc

from ... import _proto
from ..._errors import ClientClosed, CompactedError, EtcdError
from ..._sync import Client
from ..._types import WatchFilter
from .exceptions import EtcdRpcError, rpc_error

_log = logging.getLogger(__name__)
_FILTERS = {_proto.WatchCreateRequest.NOPUT: WatchFilter.NOPUT,
            _proto.WatchCreateRequest.NODELETE: WatchFilter.NODELETE}

#: Event responses that may wait for the reader. Past that, each watch's thread waits its turn, etcdstream
#: holds the watch's events and, past its own limit, pauses the watch on the server: a slow callback loses
#: nothing and holds no unbounded memory.
_MAX_BACKLOG = 64
_END = object()  # queued after the last response
_CHECK_ENDED = 0.2  # seconds between checks of a watch's thread waiting for room that its watch still runs


class WatchStreamResponse:
    """A WatchResponse as python-etcd3's watcher reads it: `header` (its `revision`: everything up to it was
    delivered), `watch_id`, `created`, `canceled`, `compact_revision`, `cancel_reason`, `events` (etcdstream
    events, read as etcd's: `type`, `kv`, `prev_kv`), and `cause`: the etcdstream error that ended the watch."""

    __slots__ = ("header", "watch_id", "created", "canceled", "compact_revision", "cancel_reason", "events", "cause")

    def __init__(self, watch_id: int, revision: int = 0, events: list[Any] | None = None, *, created: bool = False,
                 canceled: bool = False, compact_revision: int = 0, cause: EtcdError | None = None) -> None:
        self.header = _proto.ResponseHeader(revision=revision)
        self.watch_id = watch_id
        self.created = created
        self.canceled = canceled
        self.compact_revision = compact_revision
        self.cancel_reason = "" if cause is None else str(cause)
        self.events = events if events is not None else []
        self.cause = cause

    def __repr__(self) -> str:
        flags = "".join(f" {name}" for name in ("created", "canceled") if getattr(self, name))
        return f"<WatchStreamResponse watch_id={self.watch_id}{flags} events={len(self.events)}>"


class WatchCall:
    """One Watch stream: reads WatchRequests from the requests given (in a thread of its own, as grpc does) and
    is an iterator of WatchStreamResponses. It ends when the requests end; cancel() ends it at once (iterating
    then raises a CANCELLED grpc error, as grpc's does)."""

    def __init__(self, client: Client, requests: Iterable[Any]) -> None:
        self._client = client
        self._lock = threading.Lock()
        # Responses go from the watches' threads to the reader through a queue of C's, cheaper per response
        # than a Python-level condition; the semaphore only makes a thread wait when the reader lags.
        self._responses: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._room = threading.Semaphore(_MAX_BACKLOG)  # for event responses
        self._watchers: dict[int, Any] = {}  # watch id -> etcdstream Watcher
        self._ids = itertools.count(1)
        self._ended = False  # no response is queued after _END
        self._error: grpc.RpcError | None = None  # what iterating raises once the responses are read
        self._dropped = False  # cancel(): the responses queued are not read
        threading.Thread(target=self._serve, args=(iter(requests),), name="etcd3-watch-requests", daemon=True).start()

    # --- the reader's side ---

    def __iter__(self) -> Iterator[WatchStreamResponse]:
        return self

    def __next__(self) -> WatchStreamResponse:
        item = _END if self._dropped else self._responses.get()
        if item is _END or self._dropped:
            self._responses.put(_END)  # for the next call
            if self._error is not None:
                raise self._error
            raise StopIteration
        response, is_event = item
        if is_event:
            self._room.release()
        return response

    def cancel(self) -> bool:
        """End the stream now: its watches are canceled, unread responses dropped."""
        self._end(EtcdRpcError(grpc.StatusCode.CANCELLED, "Locally cancelled by application!"), drop=True)
        return True

    # --- the requests' thread ---

    def _serve(self, requests: Iterator[Any]) -> None:
        error: grpc.RpcError | None = None
        try:
            for request in requests:
                if self._ended:
                    break
                kind = request.WhichOneof("request_union")
                if kind == "create_request":
                    self._create(request.create_request)
                elif kind == "cancel_request":
                    self._cancel(request.cancel_request.watch_id)
                elif kind == "progress_request":
                    self._client.request_progress()
        except EtcdError as e:  # the client was closed
            error = rpc_error(e)
        except Exception:  # what grpc does when a request iterator fails
            _log.exception("Exception iterating requests!")
            error = EtcdRpcError(grpc.StatusCode.UNKNOWN, "Exception iterating requests!")
        self._end(error)

    def _create(self, create: Any) -> None:
        watch_id = create.watch_id or next(self._ids)
        range_end = create.range_end or None
        try:
            watcher = self._client.watch(
                create.key, None if range_end == b"\0" else range_end, from_key=range_end == b"\0",
                start_revision=create.start_revision or None, prev_kv=create.prev_kv,
                progress_notify=create.progress_notify, filters=[_FILTERS[f] for f in create.filters])
        except ClientClosed:
            raise
        except CompactedError as e:
            # As etcd answers a watch from a compacted revision: created, then canceled.
            self._put(WatchStreamResponse(watch_id, created=True))
            self._put(WatchStreamResponse(watch_id, canceled=True, compact_revision=e.compact_revision or 0, cause=e))
            return
        except EtcdError as e:  # refused (permission denied), or not created within the client's timeout
            self._put(WatchStreamResponse(watch_id, created=True, canceled=True, cause=e))
            return
        with self._lock:
            if self._ended:
                watcher.close()
                return
            self._watchers[watch_id] = watcher
            # Queued before its thread starts: the watch's events come after its created answer.
            self._responses.put((WatchStreamResponse(watch_id, watcher.revision, created=True), False))
        threading.Thread(target=self._forward, args=(watch_id, watcher), name=f"etcd3-watch-{watch_id}",
                         daemon=True).start()

    def _cancel(self, watch_id: int) -> None:
        with self._lock:
            watcher = self._watchers.pop(watch_id, None)
        if watcher is not None:
            watcher.close()
            self._put(WatchStreamResponse(watch_id, canceled=True))

    # --- each watch's thread ---

    def _forward(self, watch_id: int, watcher: Any) -> None:
        try:
            for batch in watcher:
                if not self._put(WatchStreamResponse(watch_id, batch.revision, batch.events), event_of=watch_id):
                    return
            return  # closed: canceled, or the stream ended
        except EtcdError as e:
            error = e
        with self._lock:
            ended = self._watchers.pop(watch_id, None) is None
        watcher.close()
        if isinstance(error, ClientClosed):
            self._end(rpc_error(error))
        elif not ended:
            compact_revision = (error.compact_revision or 0) if isinstance(error, CompactedError) else 0
            self._put(WatchStreamResponse(watch_id, canceled=True, compact_revision=compact_revision, cause=error))

    # --- both ---

    def _put(self, response: WatchStreamResponse, *, event_of: int | None = None) -> bool:
        """Queue a response for the reader; event_of: it holds events of that watch, and waits for room (False
        if the watch or the stream ended meanwhile)."""
        if event_of is not None:
            while not self._room.acquire(timeout=_CHECK_ENDED):
                if self._ended or event_of not in self._watchers:
                    return False
        with self._lock:
            if self._ended or (event_of is not None and event_of not in self._watchers):
                if event_of is not None:
                    self._room.release()
                return False
            self._responses.put((response, event_of is not None))
            return True

    def _end(self, error: grpc.RpcError | None, *, drop: bool = False) -> None:
        """End the stream (after the responses queued, unless drop) and close its watchers."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
            self._error = error
            self._dropped = drop
            watchers, self._watchers = list(self._watchers.values()), {}
            self._responses.put(_END)
        for watcher in watchers:
            watcher.close()
