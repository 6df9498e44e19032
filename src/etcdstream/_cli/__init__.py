"""The `etcdstream` command-line tool: check and initialise a cluster, read, write, list and watch keys.

Run ``etcdstream --help`` (or ``python -m etcdstream --help``). Expected
failures print one line on stderr and exit with a code from EXIT_*; nothing
here prints a traceback for an etcd error, a bad argument or Ctrl-C.

Modules: parser (argparse), settings (connection options and environment), output (printers),
keys (get, ls, put, del), watch, check, apisix (init), concurrency (lock, elect), cluster (member,
endpoint, compact, defrag, alarm), auth (auth, user, role), signals (signals handled from a thread),
exits (exit codes and their exceptions).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._errors import AuthFailed, ConnectionFailed, EtcdError, Timeout
from .exits import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CommandFailed,
    UsageError,
)
from .output import Output
from .parser import build_parser
from .settings import connect

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_UNREACHABLE", "EXIT_USAGE", "main"]


def cmd_bench(argv: Sequence[str]) -> int:
    """Run bench/harness.py of the source checkout this package was installed from (pip install -e '.[bench]')."""
    harness = Path(__file__).resolve().parents[3] / "bench" / "harness.py"
    if not harness.is_file():
        _error("etcdstream bench runs from a source checkout: git clone the repository and run bash bench/run")
        return EXIT_USAGE
    import importlib.util

    spec = importlib.util.spec_from_file_location("etcdstream_bench_harness", harness)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return int(module.main(list(argv)))


def _error(message: str) -> None:
    sys.stderr.write(f"etcdstream: error: {' '.join(message.split())}\n")


def _exit_code(error: EtcdError) -> int:
    return EXIT_UNREACHABLE if isinstance(error, (ConnectionFailed, Timeout)) else EXIT_FAILED


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _silence_grpc_logs() -> Callable[[], None]:
    """Point fd 2 at /dev/null and sys.stderr at a copy of the real one; return the undo.

    grpc's C core logs to fd 2 (a TLS handshake failure at INFO, on top of the
    error the CLI reports), at a level it took from GRPC_VERBOSITY when grpc was
    imported, before main() ran. A GRPC_VERBOSITY the user set is respected.
    """
    if os.environ.get("GRPC_VERBOSITY"):
        return lambda: None
    original = sys.stderr
    try:
        original.flush()
        copy = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except (OSError, ValueError):
        return lambda: None
    sys.stderr = os.fdopen(copy, "w", buffering=1, encoding=original.encoding or "utf-8",
                           errors="backslashreplace")

    def undo() -> None:
        replacement = sys.stderr
        sys.stderr = original
        replacement.flush()
        os.dup2(replacement.fileno(), 2)
        replacement.close()

    return undo


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line (argv: without the program name; default sys.argv[1:]); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        return cmd_bench(argv[1:])
    parser = build_parser()
    parser.argv = argv
    args = parser.parse_args(argv)
    restore_stderr = _silence_grpc_logs()
    stop_logging = _log_to_stderr(args.verbose)
    try:
        return _main(args)
    finally:
        stop_logging()
        restore_stderr()


def _log_to_stderr(verbosity: int) -> Callable[[], None]:
    """With -v, the etcdstream loggers' INFO records on stderr (-vv: DEBUG too); return the undo."""
    if not verbosity:
        return lambda: None
    logger = logging.getLogger("etcdstream")
    handler = logging.StreamHandler(sys.stderr)  # the real stderr: _silence_grpc_logs moved it
    handler.setFormatter(logging.Formatter("etcdstream: %(levelname)s %(name)s: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbosity == 1 else logging.DEBUG)

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(level)

    return undo


#: Commands that run until interrupted: Ctrl-C and SIGTERM end them with exit code 0.
_UNTIL_INTERRUPTED = ("watch", "mirror")


def _main(args: argparse.Namespace) -> int:
    out = Output(args.write_out or ("json" if args.command == "watch" else "simple"))
    if args.command in _UNTIL_INTERRUPTED and out.format == "table":
        _error(f"{args.command} prints json (one object per line) or simple, not table")
        return EXIT_USAGE
    client = None
    try:
        if args.command in _UNTIL_INTERRUPTED:
            # Stop like on Ctrl-C, exit 0 (once the command starts, CloseOnSignal takes both over).
            # Inside the try: a SIGTERM right after this line is handled like a later one.
            signal.signal(signal.SIGTERM, _terminate)
        client = connect(args)
        return args.run(client, args, out)
    except UsageError as e:
        _error(str(e))
        return EXIT_USAGE
    except CommandFailed as e:
        _error(str(e))
        return e.exit_code
    except AuthFailed as e:
        # etcd's words, with advice in terms of this tool's options rather than the Client's arguments.
        _error(f"authentication failed: {e.details or e} (check --user NAME:PASSWORD)")
        return EXIT_FAILED
    except EtcdError as e:
        _error(str(e))
        return _exit_code(e)
    except KeyboardInterrupt:
        return EXIT_OK if args.command in _UNTIL_INTERRUPTED else EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (| head): not an error; stop Python's own complaint at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    finally:
        if client is not None:
            try:
                client.close()
            except KeyboardInterrupt:
                pass
