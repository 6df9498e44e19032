"""Exit codes, and the exceptions of a command line or a command that choose them."""

from __future__ import annotations

EXIT_OK = 0
#: etcd answered but said no (auth, permission, compacted, not found), or `check` found it unhealthy.
EXIT_FAILED = 1
#: etcd could not be reached, or did not answer in time.
EXIT_UNREACHABLE = 2
#: The command line is wrong (sysexits' EX_USAGE: argparse's own 2 is taken by EXIT_UNREACHABLE).
EXIT_USAGE = 64
#: Ctrl-C (128 + SIGINT), except for `watch`, which ends that way normally.
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A wrong command line or option value (exit EXIT_USAGE)."""


class CommandFailed(Exception):
    """A command that ran but did not succeed; the message is its one line on stderr."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code
