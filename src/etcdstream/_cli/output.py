"""What commands print: etcdctl's simple, json and table formats, and a progress line for long reads."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterable, Sequence
from typing import IO, Any

from .._types import EventType
from ..codec import KeyValue


def text_or_base64(name: str, data: bytes) -> dict[str, str]:
    """{name: text} when data is UTF-8, else {name + "_base64": ...}: JSON has no bytes."""
    try:
        return {name: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {f"{name}_base64": base64.b64encode(data).decode("ascii")}


def kv_json(kv: KeyValue, *, value: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = text_or_base64("key", kv.key)
    if value:
        out.update(text_or_base64("value", kv.value))
    out.update(create_revision=kv.create_revision, mod_revision=kv.mod_revision, version=kv.version,
               lease=kv.lease)
    return out


def event_json(event: Any, prev_kv: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"type": event.type.name}
    out.update(text_or_base64("key", event.key))
    if event.type is EventType.PUT:
        kv = event.kv
        out.update(text_or_base64("value", kv.value))
        out.update(mod_revision=kv.mod_revision, create_revision=kv.create_revision, version=kv.version,
                   lease=kv.lease)
    else:
        out["mod_revision"] = event.mod_revision
    if prev_kv and event.prev_kv is not None:
        out.update(text_or_base64("prev_value", event.prev_kv.value))
    return out


def display(data: bytes) -> str:
    return data.decode("utf-8", errors="backslashreplace")


class Output:
    """Writes a command's results to stdout in one of etcdctl's formats: simple, json or table."""

    def __init__(self, fmt: str, stream: IO[str] | None = None) -> None:
        self.format = fmt
        self.stream = stream or sys.stdout

    def json(self, obj: object) -> None:
        """One JSON document on one line."""
        self.stream.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")

    def line(self, text: str = "") -> None:
        """A line of text."""
        self.stream.write(text + "\n")

    def raw(self, data: bytes) -> None:
        """A line of bytes as they are (simple output shows values unchanged, like etcdctl)."""
        self.stream.flush()
        buffer = getattr(self.stream, "buffer", None)
        if buffer is None:
            self.stream.write(display(data) + "\n")
        else:
            buffer.write(data + b"\n")
            buffer.flush()

    def table(self, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        """An ASCII table like etcdctl -w table."""
        cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
        rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
        self.line(rule)
        for n, row in enumerate(cells):
            self.line("|" + "|".join(f" {c.ljust(w)} " for c, w in zip(row, widths, strict=True)) + "|")
            if n == 0:
                self.line(rule)
        self.line(rule)


class Progress:
    """"listed N/M keys" on stderr, rewritten per page, when stderr is a terminal and there is more than one page."""

    def __init__(self, what: str, stream: IO[str] | None = None) -> None:
        self.what = what
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.shown = False

    def page(self, done: int, total: int, more: bool) -> None:
        """Called after each page with keys read so far, keys in the whole range and whether pages remain."""
        if not self.enabled or not (more or self.shown):
            return
        width = 30
        filled = width * done // total if total else width
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {self.what}")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        """Erase the progress line."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False
