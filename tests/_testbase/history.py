"""etcd's history as etcdctl sees it, for the watch guarantee checkers (guarantees.py).

The history must not share a bug with the watchers under test, so it comes from etcd's own client:
``etcdctl watch --rev=N --prefix "" -w json`` over every key. Every revision changes at least one
key, so once etcdctl printed an event at revision R, the history is complete up to R whatever range
a watcher watched.

`HistoryRecorder` runs that watch in the background for as long as a run lasts (the model test, the
soak: their compactions would make the history unreadable afterwards); etcd's Go client resumes it
after a member is killed. `read_history` reads it once, up to etcd's current revision, at the end of a
test that did not compact past it.
"""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
import threading
import time
from typing import Any

from .children import child_env
from .guarantees import DELETE, PUT, History, HistoryEvent

__all__ = ["HistoryRecorder", "etcd_revision", "etcdctl_command", "read_history"]


def etcdctl_command(etcd: Any) -> list[str]:
    """etcdctl's command line up to the subcommand for an EtcdServer, an EtcdCluster (every member, so the
    watch fails over when one is killed) or an explicit list of arguments."""
    if isinstance(etcd, (list, tuple)):
        return list(etcd)
    if hasattr(etcd, "etcdctl_args"):
        return etcd.etcdctl_args()
    members = getattr(etcd, "members", None)
    if members:
        return members[0].etcdctl_args([m.url for m in members])
    cluster = getattr(etcd, "cluster", None) or getattr(etcd, "server", None)  # the soak's and the model's harness
    if cluster is not None:
        return etcdctl_command(cluster)
    raise TypeError(f"no etcdctl command line for {etcd!r}")


def etcd_revision(etcd: Any, timeout: float = 30.0) -> int:
    """etcd's current revision (the header of a linearizable read)."""
    proc = subprocess.run([*etcdctl_command(etcd), "get", "/etcdstream-history-probe", "-w", "json"],
                          capture_output=True, text=True, timeout=timeout, env=child_env(ETCDCTL_API="3"), check=True)
    return int(json.loads(proc.stdout)["header"]["revision"])


class HistoryRecorder:
    """etcd's events from start_revision on, read by `etcdctl watch` in the background.

    `last` is the revision up to which the history is complete. A start revision etcd compacted is
    moved to the compact revision + 1 (etcd drops the deletions at the compact revision itself):
    `first` says where the history starts. A compaction while etcdctl was away (rare: it is never
    behind a proxy) is the same: the history then starts over after it, and `gaps` says which
    revisions it lacks.
    """

    def __init__(self, etcd: Any, start_revision: int = 1) -> None:
        self._command = etcdctl_command(etcd)
        self.first = max(start_revision, 1)
        self.last = self.first - 1
        self.events: list[HistoryEvent] = []
        self.gaps: list[tuple[int, int]] = []
        self.error: str | None = None
        self._cond = threading.Condition()
        self._closed = False
        self._proc: subprocess.Popen[str] | None = None
        self._thread = threading.Thread(target=self._run, name="etcd-history", daemon=True)
        self._thread.start()

    def _start(self, revision: int) -> subprocess.Popen[str]:
        self._stderr = tempfile.TemporaryFile(mode="w+")
        return subprocess.Popen([*self._command, "watch", f"--rev={revision}", "--prefix", "", "-w", "json"],
                                stdout=subprocess.PIPE, stderr=self._stderr, text=True,
                                env=child_env(ETCDCTL_API="3"))

    def _run(self) -> None:
        revision = self.first
        while True:
            with self._cond:
                if self._closed:
                    return
                self._proc = proc = self._start(revision)
            compacted = 0
            assert proc.stdout is not None
            for line in proc.stdout:
                response = json.loads(line)
                if response.get("Canceled"):
                    compacted = int(response.get("CompactRevision", 0))
                    break
                events = [_event(e) for e in response.get("Events") or []]
                if events:
                    with self._cond:
                        self.events += events
                        self.last = events[-1].revision
                        self._cond.notify_all()
            proc.kill()
            proc.wait()
            with self._cond:
                if self._closed:
                    return
                if not compacted:
                    self._stderr.seek(0)
                    self.error = f"etcdctl watch ended (exit {proc.returncode}): {self._stderr.read().strip()}"
                    self._cond.notify_all()
                    return
                if self.last < self.first:  # the start was compacted: the history starts after it
                    self.first = compacted + 1
                else:
                    self.gaps.append((self.last + 1, compacted))
                    self.events.clear()
                    self.first = compacted + 1
                self.last = self.first - 1
                revision = self.first
                self._cond.notify_all()

    def wait_for(self, revision: int, timeout: float = 30.0) -> None:
        """Wait until the history is complete up to revision (TimeoutError, RuntimeError if etcdctl ended)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.last < revision:
                if self.error:
                    raise RuntimeError(f"etcd's history stops at revision {self.last}: {self.error}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"etcdctl watch reached revision {self.last}, not {revision}, in {timeout:g} s")
                self._cond.wait(min(remaining, 0.5))

    def history(self, forget_before: int = 0) -> History:
        """What was recorded, as a History; events below forget_before are dropped from the recorder first
        (a soak checks round by round)."""
        with self._cond:
            if forget_before > self.first:
                keep = next((i for i, e in enumerate(self.events) if e.revision >= forget_before), len(self.events))
                del self.events[:keep]
                self.first = min(forget_before, self.last + 1)
            return History(list(self.events), self.first, self.last)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
        self._thread.join(10)

    def __enter__(self) -> HistoryRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _event(e: dict[str, Any]) -> HistoryEvent:
    kv = e["kv"]
    return HistoryEvent(int(kv["mod_revision"]), base64.b64decode(kv["key"]), DELETE if e.get("type") == 1 else PUT,
                        base64.b64decode(kv.get("value", "")), int(kv.get("create_revision", 0)),
                        int(kv.get("version", 0)))


def read_history(etcd: Any, start_revision: int, until: int | None = None, timeout: float = 30.0) -> History:
    """etcd's events from start_revision to until (default: etcd's current revision), read once."""
    if until is None:
        until = etcd_revision(etcd, timeout)
    start = max(start_revision, 1)
    if until < start:
        return History([], start, until)
    with HistoryRecorder(etcd, start) as recorder:
        recorder.wait_for(until, timeout)
        history = recorder.history()
    return History([e for e in history.events if e.revision <= until], history.first, until)
