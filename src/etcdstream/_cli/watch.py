"""The watch command, and the signal handling that lets it end cleanly."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from typing import Any

from .._errors import ClientClosed
from .._sync import Client
from .._types import EventType
from ..codec import EventBatch
from .exits import EXIT_OK
from .output import Output, event_json


class _CloseOnSignal:
    """While in it, SIGINT and SIGTERM close the client from a thread of its own; the main thread sees
    ClientClosed where it uses the client, never a KeyboardInterrupt.

    Python raises KeyboardInterrupt between any two bytecodes of the main thread, the client's
    code included: after the watch stream's read lock was taken and before the try that releases
    it, it left the lock taken, and close() waited for ever for the stream thread blocked on it.
    Python writes each signal's number to the wakeup fd whichever thread the signal reached.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        #: a signal closed the client
        self.signalled = False
        self._read_end, self._write_end = os.pipe()
        os.set_blocking(self._write_end, False)
        self._thread = threading.Thread(target=self._close_on_signal, name="etcdstream-cli-signals", daemon=True)

    def __enter__(self) -> _CloseOnSignal:
        self._thread.start()
        # The wakeup fd first: a signal between the two still raises KeyboardInterrupt, here in the CLI.
        self._previous_fd = signal.set_wakeup_fd(self._write_end, warn_on_full_buffer=False)
        # A signal ignored from the start stays ignored, as Python leaves it (a script's `watch &` ignores SIGINT).
        self._previous_handlers = {signum: signal.signal(signum, _ignore) for signum in (signal.SIGINT, signal.SIGTERM)
                                   if signal.getsignal(signum) is not signal.SIG_IGN}
        return self

    def _close_on_signal(self) -> None:
        if os.read(self._read_end, 1) != b"\0":
            self.signalled = True
            self._client.close()

    def __exit__(self, *exc_info: object) -> None:
        os.write(self._write_end, b"\0")  # ends the thread if no signal came
        self._thread.join()
        signal.set_wakeup_fd(self._previous_fd)
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        os.close(self._read_end)
        os.close(self._write_end)


def _ignore(signum: int, frame: Any) -> None:
    """Python's handler for a signal _CloseOnSignal handles from its wakeup fd."""


def cmd_watch(client: Client, args: argparse.Namespace, out: Output) -> int:
    """watch PREFIX [--rev N] [--prev-kv]: print events until interrupted (SIGINT or SIGTERM)."""
    with _CloseOnSignal(client) as interrupt:
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
