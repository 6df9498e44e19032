"""Generate the blocking client, watcher, Mirror and Session (_sync.py, _watcher_sync.py, _mirror_sync.py,
_session_sync.py in src/etcdstream/) from their asyncio sources (_async.py, ...), as httpcore does.

Run `python tests/unasync.py` after editing a source; `--check` only says whether the generated files are
up to date (tests/test_one_source.py checks it too). The rules rewrite whole words, in order; keep them
few and explicit.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "etcdstream"
COMMAND = "python tests/unasync.py"
#: (asyncio source, generated blocking twin), in the package.
PAIRS = [
    ("_async.py", "_sync.py"),  # AsyncClient -> Client
    ("_admin_async.py", "_admin_sync.py"),  # AsyncClusterAdmin -> ClusterAdmin (a base class of the client)
    ("_watcher_async.py", "_watcher_sync.py"),  # AsyncWatcher -> Watcher
    ("_mirror_async.py", "_mirror_sync.py"),  # AsyncMirror -> Mirror
    ("_session_async.py", "_session_sync.py"),  # AsyncSession -> Session
    ("_lock_async.py", "_lock_sync.py"),  # AsyncLock -> Lock
    ("_election_async.py", "_election_sync.py"),  # AsyncElection -> Election
    ("_stm_async.py", "_stm_sync.py"),  # AsyncSTM -> STM
]

RULES = [
    (r"\basync def\b", "def"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait ", ""),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\b__aiter__\b", "__iter__"),
    (r"\b__anext__\b", "__next__"),
    (r"\bStopAsyncIteration\b", "StopIteration"),
    (r"\bAwaitable\[T\]", "T"),
    (r"\bAwaitable, ", ""),  # the import of what the rule above removed
    (r"\bAsync([A-Z]\w*)", r"\1"),  # AsyncClient -> Client, AsyncWatcher -> Watcher, ...
    (r"\b(_\w+)_async\b", r"\1_sync"),  # ._transport_async -> ._transport_sync, ...
    (r"\b_async\b", "_sync"),
]


def source_mark(target: str) -> str:
    """The first line a source must start with."""
    return f"# The source of {target}: edit this file, then run `{COMMAND}`"


def unasync(text: str, source: str, target: str) -> str:
    """The blocking twin (target) of the asyncio source text."""
    first, rest = text.split("\n", 1)
    if not first.startswith(source_mark(target)):
        raise SystemExit(f"{source}: the first line must start with {source_mark(target)!r}")
    for pattern, replacement in RULES:
        rest = re.sub(pattern, replacement, rest)
    return f"# Generated from {source} by tests/unasync.py: do not edit; edit {source} and run `{COMMAND}`.\n{rest}"


def stale() -> list[str]:
    """The generated files that differ from what their sources generate (after writing none)."""
    return [target for source, target in PAIRS if (PACKAGE / target).read_text(encoding="utf-8") != expected(source, target)]


def expected(source: str, target: str) -> str:
    return unasync((PACKAGE / source).read_text(encoding="utf-8"), source, target)


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        for target in stale():
            print(f"src/etcdstream/{target} is not what its source generates: run `{COMMAND}`")
        return 1 if stale() else 0
    if argv:
        print(f"usage: {COMMAND} [--check]")
        return 2
    for source, target in PAIRS:
        (PACKAGE / target).write_text(expected(source, target), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
