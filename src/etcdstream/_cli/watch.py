"""The watch command, and the signal handling that lets it end cleanly."""

from __future__ import annotations

import argparse
import os
import threading

from .._errors import ClientClosed
from .._sync import Client
from .._types import EventType
from ..codec import EventBatch
from .exits import EXIT_OK
from .output import Output, event_json
from .signals import SignalThread


class CloseOnSignal(SignalThread):
    """While in it, SIGINT and SIGTERM close the client from a thread of its own; the main thread sees
    ClientClosed where it uses the client, never a KeyboardInterrupt.

    Python raises KeyboardInterrupt between any two bytecodes of the main thread, the client's
    code included: after the watch stream's read lock was taken and before the try that releases
    it, it left the lock taken, and close() waited for ever for the stream thread blocked on it.
    """

    def __init__(self, client: Client) -> None:
        super().__init__(self._close)
        self._client = client
        #: a signal closed the client
        self.signalled = False
        self._closed = threading.Event()

    def _close(self, signum: int) -> None:
        self.signalled = True
        try:
            self._client.close()
        finally:
            self._closed.set()

    def wait(self, timeout: float) -> bool:
        """Sleep timeout seconds, or until a signal closed the client (True): a command waiting between
        two uses of the client ends at once, not at its next use."""
        return self._closed.wait(timeout)


def cmd_watch(client: Client, args: argparse.Namespace, out: Output) -> int:
    """watch PREFIX [--rev N] [--prev-kv]: print events until interrupted (SIGINT or SIGTERM)."""
    with CloseOnSignal(client) as interrupt:
        try:
            watcher = client.watchdir(os.fsencode(args.prefix), start_revision=args.rev or None,
                                      prev_kv=args.prev_kv)
            try:
                batch: EventBatch
                for batch in watcher:
                    for event in batch:
                        if out.format == "json":
                            out.json(event_json(event, args.prev_kv))
                        else:
                            out.line(event.type.name)
                            out.raw(event.key)
                            if event.type is EventType.PUT:
                                out.raw(event.value)
                    out.stream.flush()
            finally:
                watcher.close()
        except ClientClosed:
            if not interrupt.signalled:
                raise
    return EXIT_OK
