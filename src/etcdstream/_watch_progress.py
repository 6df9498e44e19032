"""Progress requests on a watch stream: whether etcd's answers can be trusted, and whom an answer moves (I/O-free).

A progress request asks etcd for a response with watch id -1 whose revision every watcher of the stream has
seen. Before 3.4.25 and 3.5.8 (etcd #15220) etcd answers it at once from the stream's receive loop with the
store's revision, ahead of events the stream still has to send: a watcher moved to that revision would skip
them on its next resume (49,001 events lost after one request and one dropped connection). Later versions
answer only once every watcher of the stream is synced, on the channel that carries the events, and drop
the request otherwise (3.6) or answer it later (3.5). Per-watcher progress notifications (progress_notify)
come on every version only to a synced watcher, in order with its events, and need none of this.

Even a synchronised answer says nothing of a watcher etcd registered after it made the answer, which its
sender may still deliver first (a created response travels apart from the events). So an answer moves only
a watcher created before the oldest request it may answer was sent, or one whose created response (its
header revision read after the watch was registered) is older than the answer.
"""

from __future__ import annotations

import re


def version_tuple(version: str | None) -> tuple[int, ...]:
    """(3, 5, 1) from "3.5.1" (or "3.6.0-alpha.0"); () when there is no version."""
    return tuple(int(part) for part in re.findall(r"\d+", version or "")[:3])


def synchronises_progress(version: str | None) -> bool:
    """Whether etcd at this version answers a progress request only once every watcher of the stream has
    been sent every event up to the answer's revision (etcd #15220: from 3.4.25 and 3.5.8 on)."""
    parts = version_tuple(version)
    if len(parts) < 3:
        return False
    return parts >= ((3, 4, 25) if parts[:2] == (3, 4) else (3, 5, 8))


#: Which servers' progress answers a reader may wait on, as `etcdstream mirror` and the README tell it:
#: (servers, what their progress answers are).
PROGRESS_RULES = (
    ("etcd < 3.4.25, 3.5.0 - 3.5.7", "answered at once, ahead of events still to come (etcd #15220): never sent"),
    ("etcd 3.4.25 - 3.4.30, 3.5.8 - 3.5.12", "in order, but none at all while a new watcher has had no event "
     "(etcd #17507): not waited on"),
    ("etcd >= 3.4.31, >= 3.5.13, 3.6, 3.7", "in order and answered: waited on"),
    ("etcd's gRPC proxy (any version)", "dropped (etcd #19710): never sent"),
)


def progress_wait_problem(version: str | None, behind_proxy: bool = False) -> str | None:
    """Why a reader may not wait for a progress answer from this server (PROGRESS_RULES), None if it may."""
    if behind_proxy:
        return "etcd's gRPC proxy drops progress requests (etcd #19710)"
    if not synchronises_progress(version):
        return (f"etcd {version or 'of an unknown version'} answers progress requests ahead of its events "
                "(etcd #15220, fixed in 3.4.25 and 3.5.8)")
    parts = version_tuple(version)
    if parts < ((3, 4, 31) if parts[:2] == (3, 4) else (3, 5, 13)):
        return (f"etcd {version} may leave progress requests unanswered while a new watcher has had no event "
                "(etcd #17507, fixed in 3.4.31 and 3.5.13)")
    return None


class ProgressRequests:
    """The progress requests of one watch stream: how many were sent and answered, and whether the
    server's answers can be trusted at all."""

    def __init__(self, server_version: str | None = None) -> None:
        self.server_version = server_version
        self.sound = synchronises_progress(server_version)
        self.sent = 0
        self.answered = 0
        self.refused = 0

    def send(self) -> bool:
        """Count a request about to be sent; False (send nothing) when the server's answers cannot be trusted."""
        if not self.sound:
            self.refused += 1
            return False
        self.sent += 1
        return True

    def answer(self) -> int | None:
        """Take an answer: the number (1, 2, ...) of the oldest request it may be the answer to, or None when it
        is not to be trusted (an old server's, or one nobody asked for).

        etcd answers no request before it arrived, but may drop one or answer several at once: counting
        answers against requests can only name a request older than the one answered, which moves fewer
        watchers, never too many."""
        if not self.sound or self.answered >= self.sent:
            return None
        self.answered += 1
        return self.answered
