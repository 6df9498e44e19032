"""python-etcd3's watch calls: callbacks, iterators and one-shot watches, all on the client's Watcher."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from .exceptions import WatchTimedOut, handle_errors, translate_rpc_error
from .utils import prefix_range_end, response_to_event_iterator, to_bytes


class WatchMethods:
    """The watch calls of MultiEndpointEtcd3Client (they run on its `watcher`)."""

    @handle_errors
    def add_watch_callback(self, *args: Any, **kwargs: Any) -> int:
        """Watch key (range_end=, start_revision=, progress_notify=, filters=, prev_kv=) and call callback with
        each WatchResponse (or an exception) from the watcher's thread, one for every watch as python-etcd3's;
        returns the watch id."""
        return self.watcher.add_callback(*args, **kwargs)

    def add_watch_prefix_callback(self, key_prefix: str | bytes, callback: Callable[[Any], object],
                                  **kwargs: Any) -> int:
        """add_watch_callback for every key under key_prefix."""
        kwargs["range_end"] = prefix_range_end(to_bytes(key_prefix))
        return self.add_watch_callback(key_prefix, callback, **kwargs)

    def watch_response(self, key: str | bytes, **kwargs: Any) -> tuple[Iterator[Any], Callable[[], None]]:
        """(iterator of WatchResponses, cancel) of a watch of key."""
        responses: queue.Queue[Any] = queue.Queue()
        watch_id = self.add_watch_callback(key, responses.put, **kwargs)
        canceled = threading.Event()

        def cancel() -> None:
            canceled.set()
            responses.put(None)
            self.cancel_watch(watch_id)

        def iterator() -> Iterator[Any]:
            while not canceled.is_set():
                response = responses.get()
                if response is None:
                    canceled.set()
                elif isinstance(response, Exception):
                    canceled.set()
                    if isinstance(response, grpc.RpcError):
                        raise translate_rpc_error(response)
                    raise response
                else:
                    yield response

        return iterator(), cancel

    def watch(self, key: str | bytes, **kwargs: Any) -> tuple[Iterator[Any], Callable[[], None]]:
        """(iterator of events, cancel) of a watch of key."""
        responses, cancel = self.watch_response(key, **kwargs)
        return response_to_event_iterator(responses), cancel

    def watch_prefix_response(self, key_prefix: str | bytes, **kwargs: Any) -> tuple[Iterator[Any], Callable[[], None]]:
        kwargs["range_end"] = prefix_range_end(to_bytes(key_prefix))
        return self.watch_response(key_prefix, **kwargs)

    def watch_prefix(self, key_prefix: str | bytes, **kwargs: Any) -> tuple[Iterator[Any], Callable[[], None]]:
        kwargs["range_end"] = prefix_range_end(to_bytes(key_prefix))
        return self.watch(key_prefix, **kwargs)

    def watch_once_response(self, key: str | bytes, timeout: float | None = None, **kwargs: Any) -> Any:
        """The first WatchResponse of a watch of key; WatchTimedOut if none came within timeout."""
        responses: queue.Queue[Any] = queue.Queue()
        watch_id = self.add_watch_callback(key, responses.put, **kwargs)
        try:
            response = responses.get(timeout=timeout)
        except queue.Empty:
            raise WatchTimedOut() from None
        finally:
            self.cancel_watch(watch_id)
        if isinstance(response, Exception):
            raise response
        return response

    def watch_once(self, key: str | bytes, timeout: float | None = None, **kwargs: Any) -> Any:
        """The first event of a watch of key; WatchTimedOut if none came within timeout."""
        return self.watch_once_response(key, timeout=timeout, **kwargs).events[0]

    def watch_prefix_once_response(self, key_prefix: str | bytes, timeout: float | None = None, **kwargs: Any) -> Any:
        kwargs["range_end"] = prefix_range_end(to_bytes(key_prefix))
        return self.watch_once_response(key_prefix, timeout=timeout, **kwargs)

    def watch_prefix_once(self, key_prefix: str | bytes, timeout: float | None = None, **kwargs: Any) -> Any:
        kwargs["range_end"] = prefix_range_end(to_bytes(key_prefix))
        return self.watch_once(key_prefix, timeout=timeout, **kwargs)

    @handle_errors
    def cancel_watch(self, watch_id: int) -> None:
        """Stop a watch of add_watch_callback."""
        self.watcher.cancel(watch_id)
