"""Child processes (etcd, its gRPC proxy) that never outlive the tests, and their temporary directories.

A child runs in its own process group and is killed by `stop_child`/`kill_child`,
at interpreter exit (atexit), and, when spawned from the main thread, by the
kernel when the Python process dies (PR_SET_PDEATHSIG). Directories from
`make_dir` are deleted at exit, or by the next test process if this one died
by SIGKILL.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["child_env", "kill_child", "log_tail", "make_dir", "remove_dir", "spawn", "stop_child"]

_live: set[subprocess.Popen[bytes]] = set()
_owned_dirs: set[Path] = set()


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    # Only while unreaped: a reaped process's group id may belong to someone else.
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_live):
        _signal_group(proc, signal.SIGKILL)
        proc.wait()
    for d in list(_owned_dirs):
        shutil.rmtree(d, ignore_errors=True)


def _sweep_stale_dirs() -> None:
    """Delete directories left by test processes that died by SIGKILL (etcd's hold 60+ MB of WAL)."""
    for d in Path(tempfile.gettempdir()).glob("etcdstream-*-*"):
        pid = d.name.split("-")[1]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass  # alive, someone else's


def _die_with_parent() -> list[str]:
    """A command prefix asking Linux to SIGKILL the child when this process dies (even by SIGKILL).

    setpriv (util-linux) sets the parent-death signal and execs the command. Not a
    preexec_fn: that makes subprocess fork() instead of vfork(), which runs grpcio's
    fork handlers while the tests' gRPC threads are busy: children aborted ("epoll_wait
    error: Bad file descriptor") and the parent's own calls hung.
    """
    if threading.current_thread() is not threading.main_thread():
        # The signal fires when the *thread* that forked exits: only the main
        # thread lives as long as the process.
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment without ETCD_*/ETCDCTL_* variables, plus extra."""
    # etcd and etcdctl read every ETCD_* / ETCDCTL_* variable as a flag: the
    # caller's environment (ETCD_BIN, ETCDCTL_ENDPOINTS, ...) must not leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ETCD_", "ETCDCTL_"))}
    env.update(extra)
    return env


def make_dir(name: str) -> Path:
    """A new temporary directory "etcdstream-<pid>-<name>-*", deleted at exit at the latest."""
    if not _owned_dirs:
        _sweep_stale_dirs()
    # The pid in the name lets _sweep_stale_dirs tell whose directory it is.
    d = Path(tempfile.mkdtemp(prefix=f"etcdstream-{os.getpid()}-{name}-"))
    _owned_dirs.add(d)
    return d


def remove_dir(d: Path) -> None:
    """Delete a directory from make_dir now."""
    shutil.rmtree(d, ignore_errors=True)
    _owned_dirs.discard(d)


def spawn(command: Sequence[str], log_file: Path) -> subprocess.Popen[bytes]:
    """Start command in its own process group, its output appended to log_file after a header line."""
    with log_file.open("ab") as log:
        log.write(f"\n=== {time.strftime('%H:%M:%S')} starting: {' '.join(command)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            [*_die_with_parent(), *command],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env(),
            start_new_session=True,  # own process group: killpg reaches anything it spawns
        )
    _live.add(proc)
    return proc


def stop_child(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the child's group and wait; SIGKILL it if it takes longer than timeout."""
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()
    _live.discard(proc)


def kill_child(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's group at once, as a crash would, and reap it."""
    _signal_group(proc, signal.SIGKILL)
    proc.wait()
    _live.discard(proc)


def log_tail(log_file: Path, lines: int = 40) -> str:
    """The last lines of a log file, or "(no log)"."""
    try:
        return "".join(log_file.read_text(errors="replace").splitlines(keepends=True)[-lines:])
    except OSError:
        return "(no log)"
