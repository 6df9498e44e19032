"""Generate the blocking client (src/etcdstream/_sync.py) from the asyncio one (_async.py), as httpcore does.

Run `python tests/unasync.py` after editing _async.py; `--check` only says whether _sync.py is up to date
(tests/test_one_source.py runs it). The rules rewrite whole words, in order; keep them few and explicit.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "etcdstream"
SOURCE = PACKAGE / "_async.py"
TARGET = PACKAGE / "_sync.py"
COMMAND = "python tests/unasync.py"

#: The source's first line, and what stands there in the generated file.
SOURCE_MARK = "# The source of _sync.py: edit this file, then run `python tests/unasync.py`"
HEADER = f"# Generated from _async.py by tests/unasync.py: do not edit; edit _async.py and run `{COMMAND}`."

RULES = [
    (r"\basync def\b", "def"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait ", ""),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\bAsyncTransport\b", "Transport"),
    (r"\b_transport_async\b", "_transport_sync"),
    (r"\bAsyncWatcher\b", "Watcher"),
    (r"\bAsyncWatchStream\b", "WatchStream"),
    (r"\b_watch_async\b", "_watch_sync"),
    (r"\bAsyncClient\b", "Client"),
]


def unasync(text: str) -> str:
    """The blocking twin of the asyncio source text."""
    first, rest = text.split("\n", 1)
    if not first.startswith(SOURCE_MARK):
        raise SystemExit(f"{SOURCE}: the first line must start with {SOURCE_MARK!r}")
    for pattern, replacement in RULES:
        rest = re.sub(pattern, replacement, rest)
    return f"{HEADER}\n{rest}"


def main(argv: list[str]) -> int:
    expected = unasync(SOURCE.read_text(encoding="utf-8"))
    if argv == ["--check"]:
        if TARGET.read_text(encoding="utf-8") != expected:
            print(f"{TARGET} is not what {SOURCE.name} generates: run `{COMMAND}`")
            return 1
        return 0
    if argv:
        print(f"usage: {COMMAND} [--check]")
        return 2
    TARGET.write_text(expected, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
