"""What a watcher asks for, checked before any I/O (shared by both clients and the Mirrors)."""

from __future__ import annotations

from dataclasses import dataclass

from ._keys import Key, prefix_range, to_bytes

#: Events a watcher may hold for a slow consumer before its server-side watch is
#: paused (canceled); it resumes from where it stopped once the consumer catches
#: up, so a slow consumer costs replay, never a lost event or a blocked stream.
DEFAULT_MAX_BUFFERED_EVENTS = 100_000


@dataclass(frozen=True)
class WatchSpec:
    """What a watcher asked for; `start_revision` 0 means "from now"."""

    key: bytes
    range_end: bytes
    start_revision: int
    prev_kv: bool
    progress_notify: bool
    coalesce: bool
    fragment: bool


def watch_spec(
    key: Key,
    *,
    prefix: bool,
    start_revision: int | None,
    prev_kv: bool,
    progress_notify: bool,
    coalesce: bool,
    fragment: bool = False,
) -> WatchSpec:
    """Check a watch's arguments (before any I/O) and return its spec."""
    key_bytes = to_bytes("prefix" if prefix else "key", key, allow_empty=prefix)
    if start_revision is not None and (
        not isinstance(start_revision, int) or isinstance(start_revision, bool) or start_revision < 1
    ):
        raise ValueError(f"start_revision must be an int >= 1 (or None for now), got {start_revision!r}")
    start, end = prefix_range(key_bytes) if prefix else (key_bytes, b"")
    return WatchSpec(start, end, start_revision or 0, bool(prev_kv), bool(progress_notify), bool(coalesce),
                     bool(fragment))


def check_max_buffered_events(value: object) -> int:
    """Return a watcher's buffer bound if it is an int >= 1, else raise."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"max_buffered_events must be an int >= 1, got {value!r}")
    return value
