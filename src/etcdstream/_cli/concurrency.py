"""The lock and elect commands (etcdctl lock / elect): hold a lock or a leadership until interrupted.

A signal revokes the session's lease (so the lock or the candidacy goes at once, not after its TTL)
and then closes the client, which ends whatever the main thread waits for with ClientClosed; while
lock runs a command, SIGTERM is passed on to the command instead and the lock is released once it
exits. Either way the revoke has REVOKE_GRACE seconds: an interrupted command ends at once, stalled
connection or not, and a lease etcd did not hear revoked expires at its TTL.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading

from .._errors import ClientClosed, EtcdError
from .._session_sync import Session
from .._sync import Client
from ..codec import KeyValue
from .exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CommandFailed, UsageError
from .output import Output, display, kv_json
from .signals import SignalThread

#: How long an interrupted lock or elect waits for etcd to revoke its lease. Revoking takes milliseconds;
#: on a dead connection it would wait for the call's timeout (5 s by default), and first for a refresh of
#: the lease in flight (ttl/3 s).
REVOKE_GRACE = 0.4


def _revoke(session: Session, grace: float | None) -> bool:
    """End session (revoke its lease), waiting at most grace seconds (None: the call's timeout); whether
    it ended in time. One still going is left to the client's close(), which ends its call."""

    def revoke() -> None:
        try:
            session.close()
        except EtcdError:
            pass  # the lease goes at its TTL

    if grace is None:
        revoke()
        return True
    thread = threading.Thread(target=revoke, name="etcdstream-cli-revoke", daemon=True)
    thread.start()
    thread.join(grace)
    return not thread.is_alive()


class _Holder:
    """A session held until a signal: the signal revokes it and closes the client (or, while a command
    runs, is passed on to the command). what: "lock" or "election", for the warning of a revoke unconfirmed."""

    def __init__(self, client: Client, what: str) -> None:
        self.client = client
        self.what = what
        self.session: Session | None = None
        self.child: subprocess.Popen[bytes] | None = None
        #: a signal ended the session and closed the client
        self.signalled = False
        #: a signal came, also one passed on to the command
        self.interrupted = False
        self._mutex = threading.Lock()
        #: a session whose revoke etcd did not confirm within REVOKE_GRACE
        self._unconfirmed: Session | None = None

    def __enter__(self) -> _Holder:
        self._signals = SignalThread(self.on_signal).__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Whatever happened (a command not found, an error, the end), the lock or candidacy goes now, not at its TTL.
        try:
            self._signals.__exit__(*exc_info)
        finally:
            with self._mutex:
                session, self.session = self.session, None
            if session is not None and not self.signalled:
                # After a signal passed on to the command, its end is an interrupt too: released as promptly.
                if not _revoke(session, REVOKE_GRACE if self.interrupted else None):
                    self._unconfirmed = session
                    self.client.close()
            if self._unconfirmed is not None:
                # The exit is not held up, but whoever waits for the lock or the leadership may be, until the TTL.
                sys.stderr.write(f"etcdstream: warning: etcd did not confirm within {REVOKE_GRACE:g} s that the "
                                 f"{self.what} was left: its key stays until its lease expires "
                                 f"(TTL {self._unconfirmed.lease.ttl} s)\n")

    def start(self, ttl: int) -> Session:
        session = self.client.session(ttl)
        with self._mutex:
            self.session = session
        return session

    def on_signal(self, signum: int) -> None:
        with self._mutex:
            self.interrupted = True
            child = self.child
            if child is None:
                self.signalled = True
                session = self.session
        if child is not None:
            # Ctrl-C reached the command too (same process group); a SIGTERM sent to us alone is passed on.
            if signum == signal.SIGTERM:
                child.send_signal(signum)
            return
        try:
            if session is not None and not _revoke(session, REVOKE_GRACE):
                self._unconfirmed = session
        finally:
            self.client.close()  # ends a revoke still waiting, and what the main thread waits for

    def wait(self) -> None:
        """Until a signal revoked the session, or its lease was lost."""
        session = self.session
        assert session is not None
        session.wait_done()

    def run(self, argv: list[str], env: dict[str, str]) -> int:
        """Run the command with the signals going to it; its exit status as a shell gives it."""
        with self._mutex:
            if self.signalled:
                raise ClientClosed("interrupted")
            try:
                self.child = subprocess.Popen(argv, env=env)
            except FileNotFoundError:
                raise CommandFailed(f"lock: command not found: {argv[0]}", 127) from None
            except PermissionError:
                raise CommandFailed(f"lock: command not executable: {argv[0]}", 126) from None
            except OSError as e:
                raise CommandFailed(f"lock: cannot run {argv[0]}: {e.strerror}", 126) from None
        try:
            code = self.child.wait()
        finally:
            with self._mutex:
                self.child = None
        return 128 - code if code < 0 else code


def _print_kv(out: Output, kv: KeyValue, *, value: bool = True) -> None:
    if out.format == "json":
        out.json(kv_json(kv))
    elif out.format == "table":
        out.table(["KEY", "VALUE", "CREATE_REVISION", "LEASE"],
                  [[display(kv.key), display(kv.value), kv.create_revision, f"{kv.lease:x}"]])
    else:
        out.raw(kv.key)
        if value:
            out.raw(kv.value)
    out.stream.flush()


def cmd_lock(client: Client, args: argparse.Namespace, out: Output) -> int:
    """lock NAME [--ttl N] [COMMAND...]: run COMMAND holding the lock (its exit code), or hold it until interrupted."""
    name = os.fsencode(args.name)
    if not name:
        raise UsageError("a lock name must not be empty")
    if args.exec_args and args.exec_args[0].startswith("-"):
        # argparse hands everything after NAME to the command, options included.
        raise UsageError(f"lock: {args.exec_args[0]} after NAME is taken as the command: give options before NAME")
    holder = _Holder(client, "lock")
    acquired = False
    code: int | None = None
    with holder:
        try:
            lock = client.lock(name, session=holder.start(args.ttl))
            lock.acquire()
            acquired = True
            kv = client.get(lock.key)  # type: ignore[arg-type]
            if kv is None:
                raise CommandFailed(f"lock {args.name}: the lock was lost as it was acquired (its lease expired)")
            if args.exec_args:
                # As etcdctl: the command learns the lock's key and revision (a fencing token) from its environment.
                env = dict(os.environ, ETCD_LOCK_KEY=os.fsdecode(kv.key), ETCD_LOCK_REV=str(kv.create_revision))
                code = holder.run(args.exec_args, env)
                session = holder.session
                lost = session is not None and session.lost is not None
                if lost:
                    raise CommandFailed(f"lock {args.name}: the lock's session expired while the command ran",
                                        code or EXIT_FAILED)
                return code
            _print_kv(out, kv, value=False)  # a lock's key has no value: the key alone, not etcdctl's empty line
            holder.wait()
        except ClientClosed:
            if not holder.signalled:
                raise
    if code is not None:
        return code
    if holder.signalled:
        return EXIT_OK if acquired else EXIT_INTERRUPTED
    raise CommandFailed(f"lock {args.name}: the session expired (the lock was lost)")


def cmd_elect(client: Client, args: argparse.Namespace, out: Output) -> int:
    """elect NAME PROPOSAL [--ttl N]: campaign and lead until interrupted; elect -l NAME: print each leader."""
    name = os.fsencode(args.name)
    if not name:
        raise UsageError("an election name must not be empty")
    if args.listen:
        if args.proposal is not None:
            raise UsageError("elect --listen takes no PROPOSAL")
        return _observe(client, name, out)
    if args.proposal is None:
        raise UsageError("elect needs a PROPOSAL (or --listen)")
    holder = _Holder(client, "election")
    elected = False
    with holder:
        try:
            election = client.election(name, session=holder.start(args.ttl))
            election.campaign(os.fsencode(args.proposal))
            elected = True
            kv = client.get(election.key)  # type: ignore[arg-type]
            if kv is None:
                raise CommandFailed(f"elect {args.name}: the leadership was lost as it was won (its lease expired)")
            _print_kv(out, kv)
            holder.wait()
        except ClientClosed:
            if not holder.signalled:
                raise
    if holder.signalled:
        return EXIT_OK if elected else EXIT_INTERRUPTED
    raise CommandFailed(f"elect {args.name}: the session expired (no longer the leader)")


def _observe(client: Client, name: bytes, out: Output) -> int:
    signalled = threading.Event()

    def close(signum: int) -> None:
        signalled.set()
        client.close()

    with SignalThread(close):
        try:
            for kv in client.election(name).observe():
                _print_kv(out, kv)
        except ClientClosed:
            if not signalled.is_set():
                raise
    if signalled.is_set():
        return EXIT_OK
    raise CommandFailed("elect: the observer stopped")
