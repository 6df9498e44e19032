"""Signals handled from a thread of their own, for commands that must clean up in etcd when interrupted."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any


class SignalThread:
    """While in it, SIGINT and SIGTERM raise nothing in the main thread: a thread calls handler(signum) for each.

    A KeyboardInterrupt raised between two bytecodes of the client can leave its locks taken (see
    watch.py); a lock or an election must moreover revoke its lease when interrupted, which takes a
    call to etcd the interrupted main thread could not make. Python writes each signal's number to
    the wakeup fd, whichever thread the signal reached.
    """

    def __init__(self, handler: Callable[[int], None]) -> None:
        self._handler = handler
        self._read_end, self._write_end = os.pipe()
        os.set_blocking(self._write_end, False)
        self._thread = threading.Thread(target=self._run, name="etcdstream-cli-signals", daemon=True)

    def __enter__(self) -> SignalThread:
        self._thread.start()
        self._previous_fd = signal.set_wakeup_fd(self._write_end, warn_on_full_buffer=False)
        # A signal ignored from the start stays ignored, as Python leaves it.
        self._previous_handlers = {signum: signal.signal(signum, _ignore) for signum in (signal.SIGINT, signal.SIGTERM)
                                   if signal.getsignal(signum) is not signal.SIG_IGN}
        return self

    def _run(self) -> None:
        while True:
            signum = os.read(self._read_end, 1)
            if signum in (b"", b"\0"):
                return
            self._handler(signum[0])

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(self._previous_fd)
        os.write(self._write_end, b"\0")  # ends the thread
        self._thread.join()
        os.close(self._read_end)
        os.close(self._write_end)


def _ignore(signum: int, frame: Any) -> None:
    """Python's handler for a signal SignalThread handles from its wakeup fd."""
