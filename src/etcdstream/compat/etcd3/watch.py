"""python-etcd3's callback watches, on etcdstream's one watch stream.

Each watch is an etcdstream watcher read by a thread of its own that hands every response to the callback, as
python-etcd3's watch thread does; unlike python-etcd3's, the watches survive a broken connection or a failover
(they resume from their last revision: no event lost, none repeated) and an expired token.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

from ..._errors import CompactedError, EtcdError, Timeout
from ..._sync import Client
from ..._types import WatchFilter
from ... import _proto
from .events import Event, new_event
from .exceptions import WatchTimedOut, translate

_log = logging.getLogger(__name__)

_FILTERS = {_proto.WatchCreateRequest.NOPUT: WatchFilter.NOPUT, _proto.WatchCreateRequest.NODELETE: WatchFilter.NODELETE}


class WatchResponse:
    """What a callback receives: `header` (its `.revision`: everything up to it has been delivered) and `events`."""

    def __init__(self, header: Any, events: list[Event]) -> None:
        self.header = header
        self.events = events


class Watcher:
    """The client's watches by id: add_callback(key, callback, ...) starts one, cancel(id) stops it."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._watchers: dict[int, Any] = {}
        self._ids = itertools.count(1)

    def add_callback(self, key: str | bytes, callback: Callable[[Any], object], range_end: str | bytes | None = None,
                     start_revision: int | None = None, progress_notify: bool = False, filters: Any = None,
                     prev_kv: bool = False) -> int:
        """Watch key (or [key, range_end)) and call callback(WatchResponse) for each response, or
        callback(exception) once the watch cannot go on; returns the watch id. WatchTimedOut if etcd did not
        create the watch within the client's timeout."""
        kinds = [_FILTERS[f] for f in filters or ()]
        try:
            watcher = self._client.watch(key, range_end or None, start_revision=start_revision,
                                         prev_kv=prev_kv, progress_notify=progress_notify, filters=kinds)
            failure = None
        except CompactedError as e:  # python-etcd3 reports it to the callback, as etcd does after the create
            watcher, failure = None, translate(e)
        except Timeout as e:
            raise WatchTimedOut() from e
        except EtcdError as e:
            raise translate(e) from e
        watch_id = next(self._ids)
        with self._lock:
            self._watchers[watch_id] = watcher
        threading.Thread(target=self._deliver, args=(watch_id, watcher, failure, callback),
                         name=f"etcd3_watch_{watch_id}", daemon=True).start()
        return watch_id

    def _deliver(self, watch_id: int, watcher: Any, failure: Exception | None, callback: Callable[[Any], object]) -> None:
        try:
            if watcher is not None:
                for batch in watcher:
                    response = WatchResponse(_proto.ResponseHeader(revision=batch.revision),
                                             [new_event(e) for e in batch])
                    _safe_callback(callback, response)
        except EtcdError as e:
            failure = translate(e)
        if failure is not None:
            _safe_callback(callback, failure)
            self.cancel(watch_id)

    def cancel(self, watch_id: int) -> None:
        """Stop the watch (its thread ends); unknown ids are ignored."""
        with self._lock:
            watcher = self._watchers.pop(watch_id, None)
        if watcher is not None:
            watcher.close()

    def close(self) -> None:
        """Cancel every watch."""
        with self._lock:
            ids = list(self._watchers)
        for watch_id in ids:
            self.cancel(watch_id)


def _safe_callback(callback: Callable[[Any], object], response_or_error: Any) -> None:
    try:
        callback(response_or_error)
    except Exception:
        _log.exception("Watch callback failed")
