"""What the CLI shows while it works (issue 16 §3): `etcdstream mirror PREFIX`'s live view (against etcd behind
a fault proxy), and the progress line of a long init on a terminal."""

from __future__ import annotations

import json
import os
import pty
import queue
import select
import signal
import subprocess
import sys
import threading

from _testbase.proxy import FaultProxy
from test_cli import interruptible_children  # noqa: F401 - a fixture

import etcdstream


def start(endpoint: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "etcdstream", "--endpoints", endpoint, "mirror", *args,
                             "--interval", "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def reports(proc: subprocess.Popen[str], count: int, timeout: float = 20) -> list[dict]:
    """The next count reports: a test waiting for one that never comes fails, it does not hang."""
    found = []
    for _ in range(count):
        try:
            line = _lines(proc).get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no report from mirror in {timeout} s after {found}") from None
        assert line, "mirror ended"
        found.append(json.loads(line))
    return found


_readers: dict[int, queue.SimpleQueue[str]] = {}


def _lines(proc: subprocess.Popen[str]) -> queue.SimpleQueue[str]:
    """proc's stdout lines, read by a thread of their own ("" at the end)."""
    if proc.pid not in _readers:
        lines = _readers[proc.pid] = queue.SimpleQueue()
        threading.Thread(target=_read_lines, args=(proc, lines), daemon=True).start()
    return _readers[proc.pid]


def _read_lines(proc: subprocess.Popen[str], lines: queue.SimpleQueue[str]) -> None:
    for line in proc.stdout:
        lines.put(line)
    lines.put("")


def test_the_live_view_follows_etcd_and_shows_a_stall(etcd_server, fresh_prefix, interruptible_children):
    """Reports follow etcd, last contact grows during a stall and recovers after it, SIGINT ends it.

    Without interruptible_children, a run that ignores SIGINT (a `bash .ci/run &` job) hands the ignore to
    mirror, which keeps it as any program does: the test waited 20 s for an exit that never came (issue 25).
    """
    with FaultProxy(etcd_server.endpoint) as proxy, etcdstream.Client(etcd_server.endpoint) as writer:
        writer.put(fresh_prefix + "a", "v")
        proc = start(proxy.endpoint, fresh_prefix, "-w", "json")
        try:
            first = reports(proc, 2)[-1]
            assert (first["keys"], first["lag"], first["synced"], first["resyncs"]) == (1, 0, True, 0)
            # Nothing reads the command's Mirror consistently: both counts are there, at 0.
            assert (first["consistent_from_copy"], first["consistent_fallbacks"]) == (0, 0)
            for i in range(20):
                revision = writer.put(f"{fresh_prefix}{i}", "v").revision
            while (report := reports(proc, 1)[0])["revision"] < revision:
                pass
            assert (report["keys"], report["lag"], report["etcd_revision"]) == (21, 0, revision)
            proxy.stall()
            stalled = reports(proc, 7)[1:]  # the first may hold an answer already on its way
            contacts = [r["last_contact"] for r in stalled]
            assert contacts == sorted(contacts) and contacts[-1] >= contacts[0] + 0.8, contacts
            proxy.resume()
            # Back in touch: an event comes (etcd before 3.4.25/3.5.8 is sent no progress request to answer).
            revision = writer.put(fresh_prefix + "after", "v").revision
            while (report := reports(proc, 1)[0])["revision"] < revision or report["last_contact"] > 1:
                pass
            proc.send_signal(signal.SIGINT)
            assert proc.wait(20) == 0
            assert proc.stderr.read() == ""
        finally:
            proc.kill()
            proc.wait()


def test_plain_lines_when_not_a_terminal_and_no_table(etcd_server, fresh_prefix):
    proc = start(etcd_server.endpoint, fresh_prefix)
    try:
        line = proc.stdout.readline()
        assert line.startswith("keys 0  revision ") and "lag 0" in line
        assert line.endswith("resyncs 0  consistent 0 copy / 0 etcd\n")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        proc.kill()
        proc.wait()
    table = start(etcd_server.endpoint, fresh_prefix, "-w", "table")
    assert table.wait(20) == 64 and "mirror prints json" in table.stderr.read()


def read_terminal(master: int) -> bytes:
    """What a child wrote to the terminal whose master side is master, until it goes quiet."""
    seen = b""
    while select.select([master], [], [], 0.5)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed its side
            break
        if not chunk:
            break
        seen += chunk
    return seen


def test_a_long_init_shows_progress_on_a_terminal_and_nothing_when_piped(etcd_server, fresh_prefix, tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({f"k{i:03d}": "v" for i in range(300)}))  # three transactions of at most 128
    command = [sys.executable, "-m", "etcdstream", "--endpoints", etcd_server.endpoint, "init", "--no-dirs",
               "--prefix", fresh_prefix.rstrip("/"), str(seed)]
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=slave, text=True, timeout=60)
        os.close(slave)
        slave = -1
        shown = read_terminal(master)
    finally:
        os.close(master)
        if slave != -1:
            os.close(slave)
    assert proc.returncode == 0 and proc.stdout.endswith("300 created, 0 already present\n")
    assert b"128/300 keys initialised" in shown and b"300/300 keys initialised" in shown
    piped = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0 and piped.stderr == "" and piped.stdout.endswith("0 created, 300 already present\n")
