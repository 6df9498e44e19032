"""What a watcher asks for, checked before any I/O (shared by both clients and the Mirrors)."""

from __future__ import annotations

from dataclasses import dataclass

from collections.abc import Iterable

from ._keys import Key, key_range
from ._namespace import ROOT, KeySpace
from ._types import WatchFilter
from ._validate import enum_member

#: Events a watcher may hold for a slow consumer before its server-side watch is
#: paused (canceled); it resumes from where it stopped once the consumer catches
#: up, so a slow consumer costs replay, never a lost event or a blocked stream.
DEFAULT_MAX_BUFFERED_EVENTS = 100_000


@dataclass(frozen=True)
class WatchSpec:
    """What a watcher asked for, key and range_end as etcd sees them; `start_revision` 0 means "from now";
    `space`: the namespace its events are shown in."""

    key: bytes
    range_end: bytes
    start_revision: int
    prev_kv: bool
    progress_notify: bool
    coalesce: bool
    fragment: bool
    filters: tuple[WatchFilter, ...] = ()  #: the events etcd leaves out
    space: KeySpace = ROOT
    #: A watch resumed more than this many revisions behind etcd ends with ReplayTooLong (0: always replays).
    max_replay: int = 0


def watch_spec(
    key: Key,
    range_end: Key | None = None,
    *,
    prefix: bool = False,
    from_key: bool = False,
    start_revision: int | None,
    prev_kv: bool,
    progress_notify: bool,
    coalesce: bool,
    fragment: bool = False,
    filters: Iterable[WatchFilter | str] = (),
    space: KeySpace = ROOT,
    max_replay: int | None = None,
) -> WatchSpec:
    """Check a watch's arguments (before any I/O) and return its spec: one key, [key, range_end), the keys
    under the prefix key, or every key from key on (see _keys.key_range), in the namespace space; filters:
    WatchFilter members or their names as a str, any case (see _validate.enum_member)."""
    start, end = space.interval(*key_range(key, range_end, prefix=prefix, from_key=from_key))
    if start_revision is not None and not _is_positive_int(start_revision):
        raise ValueError(f"start_revision must be an int >= 1 (or None for now), got {start_revision!r}")
    if isinstance(filters, (str, bytes)) or not isinstance(filters, Iterable):
        raise TypeError(f"filters must be an iterable of WatchFilter members or names, got {type(filters).__name__}")
    if max_replay is not None and not _is_positive_int(max_replay):
        raise ValueError(f"max_replay must be an int >= 1 (or None: always replay), got {max_replay!r}")
    checked = tuple(sorted({enum_member("filters item", f, WatchFilter) for f in filters}))
    return WatchSpec(start, end, start_revision or 0, bool(prev_kv), bool(progress_notify), bool(coalesce),
                     bool(fragment), checked, space, max_replay or 0)


def check_max_buffered_events(value: object) -> int:
    """Return a watcher's buffer bound if it is an int >= 1, else raise."""
    if not _is_positive_int(value):
        raise ValueError(f"max_buffered_events must be an int >= 1, got {value!r}")
    return value


def _is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
