"""The `etcdstream` command-line tool: check and initialise a cluster, read, write, list and watch keys.

Run ``etcdstream --help`` (or ``python -m etcdstream --help``). Expected
failures print one line on stderr and exit with a code from EXIT_*; nothing
here prints a traceback for an etcd error, a bad argument or Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import json
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

from . import _proto, codec
from ._calls import Call, Operation
from ._errors import AuthFailed, ClientClosed, ConnectionFailed, EtcdError, PermissionDenied, Timeout
from ._keys import prefix_range
from ._kv_ops import DEFAULT_PAGE_SIZE, RANGE_METHOD
from ._results import Snapshot
from ._sync import Client
from ._txn import Compare, Get, Put
from ._types import EventType
from .codec import EventBatch, KeyValue

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_UNREACHABLE", "EXIT_USAGE", "main"]

EXIT_OK = 0
#: etcd answered but said no (auth, permission, compacted, not found), or `check` found it unhealthy.
EXIT_FAILED = 1
#: etcd could not be reached, or did not answer in time.
EXIT_UNREACHABLE = 2
#: The command line is wrong (sysexits' EX_USAGE: argparse's own 2 is taken by EXIT_UNREACHABLE).
EXIT_USAGE = 64
#: Ctrl-C (128 + SIGINT), except for `watch`, which ends that way normally.
EXIT_INTERRUPTED = 130

#: APISIX's init_etcd directories, created by `init` unless --dir, --no-dirs or the seed file says otherwise.
APISIX_DIRS = (
    "routes", "upstreams", "services", "plugins", "consumers", "ssls", "global_rules", "plugin_configs",
    "stream_routes", "protos", "secrets", "consumer_groups", "plugin_metadata",
)
DIR_VALUE = "init_dir"

# etcd's defaults: --max-txn-ops 128 and --max-request-bytes 1.5 MiB; `init` splits larger seeds.
_TXN_MAX_OPS = 128
_TXN_MAX_BYTES = 1 << 20

_ENV = {
    "endpoints": "ETCDSTREAM_ENDPOINTS",
    "cacert_file": "ETCDSTREAM_CACERT",
    "cert_file": "ETCDSTREAM_CERT",
    "key_file": "ETCDSTREAM_KEY",
    "user": "ETCDSTREAM_USER",
    "password": "ETCDSTREAM_PASSWORD",
    "timeout": "ETCDSTREAM_TIMEOUT",
}
_DEFAULT_ENDPOINTS = "127.0.0.1:2379"
_DEFAULT_TIMEOUT = 5.0
_ALARM = _proto.method_path("Maintenance", "Alarm")


class UsageError(Exception):
    """A wrong command line or option value (exit EXIT_USAGE)."""


class CommandFailed(Exception):
    """A command that ran but did not succeed; the message is its one line on stderr."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Parser(argparse.ArgumentParser):
    #: The arguments being parsed (set by main), so that error() can spot a password typed as a word.
    argv: Sequence[str] = ()

    def error(self, message: str) -> NoReturn:
        if any(f"invalid choice: {word!r}" in message for word in _words_after_user(self.argv)):
            # `--user NAME PASSWORD get ...`: argparse would print the password as the unknown command.
            message = ("the word after --user NAME is not a command; give the password as --user NAME:PASSWORD "
                       "or --password (the word is not shown)")
        # One line, like every other expected failure; the usage is one --help away.
        self.exit(EXIT_USAGE, f"etcdstream: error: {message} (see {self.prog} --help)\n")


def _words_after_user(argv: Sequence[str]) -> Iterator[str]:
    """The word following each `--user NAME` without a password: a password typed after a space."""
    for i, word in enumerate(argv):
        if word == "--user" and i + 2 < len(argv) and ":" not in argv[i + 1]:
            yield argv[i + 2]
        elif word.startswith("--user=") and ":" not in word and i + 1 < len(argv):
            yield argv[i + 1]


# --- output ---


def _text_or_base64(name: str, data: bytes) -> dict[str, str]:
    """{name: text} when data is UTF-8, else {name + "_base64": ...}: JSON has no bytes."""
    try:
        return {name: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {f"{name}_base64": base64.b64encode(data).decode("ascii")}


def _kv_json(kv: KeyValue, *, value: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = _text_or_base64("key", kv.key)
    if value:
        out.update(_text_or_base64("value", kv.value))
    out.update(create_revision=kv.create_revision, mod_revision=kv.mod_revision, version=kv.version,
               lease=kv.lease)
    return out


def _event_json(event: Any, prev_kv: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"type": event.type.name}
    out.update(_text_or_base64("key", event.key))
    if event.type is EventType.PUT:
        kv = event.kv
        out.update(_text_or_base64("value", kv.value))
        out.update(mod_revision=kv.mod_revision, create_revision=kv.create_revision, version=kv.version,
                   lease=kv.lease)
    else:
        out["mod_revision"] = event.mod_revision
    if prev_kv and event.prev_kv is not None:
        out.update(_text_or_base64("prev_value", event.prev_kv.value))
    return out


def _display(data: bytes) -> str:
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
            self.stream.write(_display(data) + "\n")
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


# --- operations the Client has no method for ---


def _read_pages(prefix: bytes, *, revision: int, page_size: int, keys_only: bool, timeout: float | None,
                on_page: Callable[[int, int, bool], None]) -> Operation[Snapshot]:
    """readdir that reports each page to on_page(keys so far, keys in range, more): Client.readdir has no hook."""
    start, end = prefix_range(prefix)
    kvs: list[KeyValue] = []
    total = 0
    while True:
        request = codec.encode_range_request(start, end, limit=page_size, revision=revision, keys_only=keys_only)
        page = codec.decode_range_response((yield Call(RANGE_METHOD, request, timeout)))
        if not revision:
            revision = page.revision  # later pages read at the first one's revision: one consistent snapshot
            total = page.count
        kvs.extend(page.kvs)
        on_page(len(kvs), max(total, len(kvs)), page.more)
        if not page.more or not page.kvs:
            return Snapshot(revision, kvs, page.cluster_id, page.member_id)
        start = page.kvs[-1].key + b"\0"


def _range_once(key: bytes, revision: int, timeout: float | None) -> Operation[Any]:
    """One Range of one key (at revision, 0: the newest), decoded: its kvs and the header revision."""
    raw = yield Call(RANGE_METHOD, codec.encode_range_request(key, revision=revision), timeout)
    return codec.decode_range_response(raw)


def _get_alarms(timeout: float | None) -> Operation[list[tuple[int, str]]]:
    """Maintenance/Alarm GET: (member id, alarm name) for every raised alarm."""
    request = _proto.AlarmRequest(action=_proto.AlarmRequest.GET).SerializeToString()
    raw = yield Call(_ALARM, request, timeout)
    alarms = _proto.AlarmResponse.FromString(raw).alarms
    return [(int(a.memberID), _proto.AlarmType.Name(a.alarm)) for a in alarms]


# --- commands ---


def _key_arg(text: str) -> bytes:
    if not text:
        raise UsageError("a key must not be empty")
    return os.fsencode(text)


def _read_snapshot(client: Client, args: argparse.Namespace, prefix: bytes, *, keys_only: bool,
                   what: str) -> Snapshot:
    progress = Progress(what)
    try:
        return client._run(_read_pages(prefix, revision=args.rev or 0, page_size=args.page_size,
                                       keys_only=keys_only, timeout=None, on_page=progress.page))
    finally:
        progress.close()


def cmd_get(client: Client, args: argparse.Namespace, out: Output) -> int:
    """get KEY [--prefix] [--rev N]"""
    key = os.fsencode(args.key) if args.prefix else _key_arg(args.key)
    if args.prefix:
        snapshot = _read_snapshot(client, args, key, keys_only=False, what="keys")
        kvs, revision = snapshot.kvs, snapshot.revision
    else:
        # One Range rather than Client.get: `-w json` reports the response's revision too.
        page = client._run(_range_once(key, args.rev or 0, None))
        kvs, revision = page.kvs, page.revision
        if not kvs:
            raise CommandFailed(f"key not found: {args.key}")
    if out.format == "json":
        out.json({"revision": revision, "count": len(kvs), "kvs": [_kv_json(kv) for kv in kvs]})
    elif out.format == "table":
        out.table(["KEY", "VALUE", "MOD_REVISION", "VERSION", "LEASE"],
                  [[_display(kv.key), _display(kv.value), kv.mod_revision, kv.version, kv.lease] for kv in kvs])
    else:
        for kv in kvs:
            out.raw(kv.key)
            out.raw(kv.value)
    return EXIT_OK


def cmd_ls(client: Client, args: argparse.Namespace, out: Output) -> int:
    """ls PREFIX: the keys under PREFIX, read in pages at one revision."""
    snapshot = _read_snapshot(client, args, os.fsencode(args.prefix), keys_only=True, what="keys")
    kvs = snapshot.kvs
    if out.format == "json":
        out.json({"revision": snapshot.revision, "count": len(kvs), "kvs": [_kv_json(kv, value=False) for kv in kvs]})
    elif out.format == "table":
        out.table(["KEY", "CREATE_REVISION", "MOD_REVISION", "VERSION", "LEASE"],
                  [[_display(kv.key), kv.create_revision, kv.mod_revision, kv.version, kv.lease] for kv in kvs])
    else:
        for kv in kvs:
            out.raw(kv.key)
    return EXIT_OK


def cmd_put(client: Client, args: argparse.Namespace, out: Output) -> int:
    """put KEY VALUE [--ttl N]"""
    key = _key_arg(args.key)
    lease = client.grant(args.ttl).id if args.ttl else 0
    result = client.put(key, os.fsencode(args.value), lease=lease or None)
    if out.format == "json":
        out.json({"revision": result.revision, "lease": lease})
    elif out.format == "table":
        out.table(["REVISION", "LEASE"], [[result.revision, f"{lease:x}" if lease else ""]])
    else:
        out.line("OK")
    return EXIT_OK


def cmd_del(client: Client, args: argparse.Namespace, out: Output) -> int:
    """del KEY [--prefix]"""
    key = os.fsencode(args.key) if args.prefix else _key_arg(args.key)
    deleted = client.delete(key, prefix=args.prefix)
    if out.format == "json":
        out.json({"deleted": int(deleted)})
    elif out.format == "table":
        out.table(["DELETED"], [[int(deleted)]])
    else:
        out.line(str(int(deleted)))
    return EXIT_OK


class _CloseOnSignal:
    """While in it, SIGINT and SIGTERM close the client from a thread of its own; the main thread sees
    ClientClosed where it uses the client, never a KeyboardInterrupt.

    Python raises KeyboardInterrupt between any two bytecodes of the main thread, the client's
    code included: after the watch stream's read lock was taken and before the try that releases
    it, it left the lock taken, and close() waited for ever for the stream thread blocked on it.
    Python writes each signal's number to the wakeup fd whichever thread the signal reached.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        #: a signal closed the client
        self.signalled = False
        self._read_end, self._write_end = os.pipe()
        os.set_blocking(self._write_end, False)
        self._thread = threading.Thread(target=self._close_on_signal, name="etcdstream-cli-signals", daemon=True)

    def __enter__(self) -> _CloseOnSignal:
        self._thread.start()
        # The wakeup fd first: a signal between the two still raises KeyboardInterrupt, here in the CLI.
        self._previous_fd = signal.set_wakeup_fd(self._write_end, warn_on_full_buffer=False)
        # A signal ignored from the start stays ignored, as Python leaves it (a script's `watch &` ignores SIGINT).
        self._previous_handlers = {signum: signal.signal(signum, _ignore) for signum in (signal.SIGINT, signal.SIGTERM)
                                   if signal.getsignal(signum) is not signal.SIG_IGN}
        return self

    def _close_on_signal(self) -> None:
        if os.read(self._read_end, 1) != b"\0":
            self.signalled = True
            self._client.close()

    def __exit__(self, *exc_info: object) -> None:
        os.write(self._write_end, b"\0")  # ends the thread if no signal came
        self._thread.join()
        signal.set_wakeup_fd(self._previous_fd)
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        os.close(self._read_end)
        os.close(self._write_end)


def _ignore(signum: int, frame: Any) -> None:
    """Python's handler for a signal _CloseOnSignal handles from its wakeup fd."""


def cmd_watch(client: Client, args: argparse.Namespace, out: Output) -> int:
    """watch PREFIX [--rev N] [--prev-kv]: print events until interrupted (SIGINT or SIGTERM)."""
    with _CloseOnSignal(client) as interrupt:
        try:
            watcher = client.watchdir(os.fsencode(args.prefix), start_revision=args.rev or None,
                                      prev_kv=args.prev_kv)
            try:
                batch: EventBatch
                for batch in watcher:
                    for event in batch:
                        if out.format == "json":
                            out.json(_event_json(event, args.prev_kv))
                        else:
                            out.line(event.type.name)
                            out.raw(event.key)
                            if event.type is EventType.PUT:
                                out.raw(event.value)
                    out.stream.flush()
            finally:
                watcher.close()
        except ClientClosed:
            if not interrupt.signalled:
                raise
    return EXIT_OK


_VERSION_RE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def _version_tuple(text: str) -> tuple[int, int, int] | None:
    match = _VERSION_RE.match(text)
    if not match:
        return None
    return int(match[1]), int(match[2]), int(match[3] or 0)


def _min_version(text: str) -> str:
    if _version_tuple(text) is None:
        raise argparse.ArgumentTypeError(f"expected a version like 3.4.0, got {text!r}")
    return text


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    raise AssertionError


def cmd_check(client: Client, args: argparse.Namespace, out: Output) -> int:
    """check: versions, members, leader, DB size, alarms and health; exit 1 when unhealthy."""
    problems: list[str] = []
    status = client.status()  # unreachable: ConnectionFailed here, exit 2
    try:
        version = client.version()
        server_version, cluster_version = version.server, version.cluster
    except EtcdError as e:
        server_version, cluster_version = status.version, "unknown"
        problems.append(f"cannot read the cluster version: {e}")
    members = client.members()
    names = {m.id: m.name for m in members}
    alarms: list[tuple[int, str]] | None
    try:
        alarms = client._run(_get_alarms(None))
    except PermissionDenied:
        alarms = None  # not this user's to see; says nothing about health
    healthy = client.health()

    if not status.leader:
        problems.append("no leader")
    for member_id, alarm in alarms or ():
        problems.append(f"alarm {alarm} on member {names.get(member_id) or f'{member_id:x}'}")
    problems.extend(f"member error: {e}" for e in status.errors)
    if not healthy:
        problems.append("the cluster does not serve linearizable reads (no quorum?)")
    too_old = ""
    if args.min_version:
        have = _version_tuple(cluster_version) or _version_tuple(server_version)
        if have is None or have < _version_tuple(args.min_version):  # type: ignore[operator]
            too_old = f"cluster version {cluster_version} is older than the required {args.min_version} (--min-version)"

    leader_name = names.get(status.leader, "") if status.leader else ""
    if out.format == "json":
        out.json({
            "endpoint": str(client._core.endpoint),
            "server_version": server_version,
            "cluster_version": cluster_version,
            "member_id": status.member_id,
            "leader": status.leader,
            "leader_name": leader_name,
            "members": [{"id": m.id, "name": m.name, "peer_urls": m.peer_urls, "client_urls": m.client_urls,
                         "is_learner": m.is_learner, "is_leader": m.id == status.leader} for m in members],
            "db_size": status.db_size,
            "revision": status.revision,
            "raft_term": status.raft_term,
            "alarms": None if alarms is None else [{"member_id": m, "alarm": a} for m, a in alarms],
            "healthy": not problems,
            "problems": problems,
            "version_ok": not too_old,
        })
    else:
        alarm_text = ("unknown (permission denied)" if alarms is None
                      else ", ".join(f"{a} on {names.get(m) or f'{m:x}'}" for m, a in alarms) or "none")
        leader_text = f"{leader_name or '?'} ({status.leader:x})" if status.leader else "none"
        summary = [
            ("endpoint", str(client._core.endpoint)),
            ("server version", server_version),
            ("cluster version", cluster_version),
            ("leader", leader_text),
            ("db size", _size(status.db_size)),
            ("revision", str(status.revision)),
            ("alarms", alarm_text),
            ("health", "ok" if not problems else "UNHEALTHY"),
        ]
        member_rows = [[f"{m.id:x}", m.name, ",".join(m.client_urls), ",".join(m.peer_urls),
                        "leader" if m.id == status.leader else ("learner" if m.is_learner else "")]
                       for m in members]
        if out.format == "table":
            out.table(["FIELD", "VALUE"], summary)
            out.table(["ID", "NAME", "CLIENT URLS", "PEER URLS", "ROLE"], member_rows)
        else:
            for name, value in summary:
                out.line(f"{name}: {value}")
            out.line(f"members: {len(members)}")
            for row in member_rows:
                out.line("  " + "  ".join(str(c) for c in row if c))
    if problems:
        raise CommandFailed("unhealthy: " + "; ".join(problems + ([too_old] if too_old else [])))
    if too_old:
        raise CommandFailed(too_old)
    return EXIT_OK


# --- init ---


def _load_seed(path: str) -> object:
    """The parsed seed file: JSON, or YAML for .yaml/.yml (needs PyYAML); "-" is JSON on stdin."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CommandFailed(f"cannot read seed file {path}: {getattr(e, 'strerror', None) or e}") from None
    if path.lower().endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise CommandFailed(f"{path} is YAML, which needs PyYAML: pip install pyyaml "
                                "(or etcdstream[yaml]), or give a JSON file") from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise CommandFailed(f"{path} is not valid YAML: {' '.join(str(e).split())}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise CommandFailed(f"{path} is not valid JSON: {e}") from None


def _seed_value(value: object) -> bytes:
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _parse_seed(data: object, path: str) -> tuple[list[str], dict[str, bytes]]:
    """(dirs, {key: value}) from a seed file: {"dirs": [...], "keys": {...}}, or just the {key: value} mapping."""
    if not isinstance(data, dict):
        raise CommandFailed(f"{path}: expected a mapping of key to value, got {type(data).__name__}")
    structured = bool(data) and set(data) <= {"dirs", "keys"} and (
        isinstance(data.get("dirs"), list) or isinstance(data.get("keys"), dict))
    dirs: list[str] = []
    keys = data
    if structured:
        dirs = data.get("dirs") or []
        keys = data.get("keys") or {}
        if not isinstance(dirs, list) or not all(isinstance(d, str) and d.strip("/") for d in dirs):
            raise CommandFailed(f"{path}: 'dirs' must be a list of directory names")
        if not isinstance(keys, dict):
            raise CommandFailed(f"{path}: 'keys' must be a mapping of key to value")
    for key in keys:
        if not isinstance(key, str) or not key:
            raise CommandFailed(f"{path}: keys must be non-empty strings, got {key!r}")
    return dirs, {key: _seed_value(value) for key, value in keys.items()}


def _join(prefix: str, name: str) -> str:
    """A key under prefix; a name starting with "/" is a key of its own."""
    if name.startswith("/"):
        return name
    return f"{prefix.rstrip('/')}/{name}"


def _chunks(items: list[tuple[bytes, bytes]]) -> Iterator[list[tuple[bytes, bytes]]]:
    chunk: list[tuple[bytes, bytes]] = []
    size = 0
    for key, value in items:
        item_size = len(key) * 2 + len(value) + 16
        if chunk and (len(chunk) >= _TXN_MAX_OPS or size + item_size > _TXN_MAX_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append((key, value))
        size += item_size
    if chunk:
        yield chunk


def create_missing(client: Client, items: list[tuple[bytes, bytes]]) -> tuple[list[bytes], list[bytes]]:
    """Create every absent key of items in one transaction (per 128 keys); return (created, already there).

    The txn puts all keys if none exists; otherwise it reads which exist and the
    next txn creates the rest, so a concurrent writer's keys are never overwritten.
    """
    created: list[bytes] = []
    existing: list[bytes] = []
    for chunk in _chunks(items):
        missing = chunk
        for _ in range(10):
            result = client.txn(
                [Compare(key, "create_revision", "==", 0) for key, _ in missing],
                [Put(key, value) for key, value in missing],
                [Get(key, keys_only=True) for key, _ in missing],
            )
            if result.succeeded:
                created.extend(key for key, _ in missing)
                break
            present = {kv.key for kvs in result.responses for kv in kvs}  # type: ignore[attr-defined]
            existing.extend(key for key, _ in missing if key in present)
            missing = [(key, value) for key, value in missing if key not in present]
            if not missing:
                break
        else:
            raise CommandFailed("keys kept appearing while init created them; run it again")
    return created, existing


def cmd_init(client: Client, args: argparse.Namespace, out: Output) -> int:
    """init --prefix P [FILE]: create the directory keys and the seed file's keys that do not exist."""
    prefix = args.prefix
    if not prefix.strip("/"):
        raise UsageError("--prefix must name a directory, e.g. --prefix /apisix")
    seed_dirs: list[str] = []
    seed_keys: dict[str, bytes] = {}
    if args.file:
        seed_dirs, seed_keys = _parse_seed(_load_seed(args.file), args.file)
    if args.no_dirs:
        dirs: list[str] = []
    else:
        dirs = list(args.dir or []) + seed_dirs or list(APISIX_DIRS)
    wanted: dict[bytes, bytes] = {}
    for name in dirs:
        if not name.strip("/"):
            raise UsageError(f"--dir {name!r}: a directory needs a name")
        # APISIX's directory keys end with "/": /apisix/routes/ holds the routes /apisix/routes/1, ...
        wanted[_join(prefix, name.rstrip("/")).encode() + b"/"] = args.dir_value.encode()
    for key, value in seed_keys.items():
        wanted[_join(prefix, key).encode()] = value
    if not wanted:
        raise UsageError("nothing to create: --no-dirs and no seed keys")
    created, existing = create_missing(client, list(wanted.items()))
    if out.format == "json":
        out.json({"created": [_text_or_base64("key", k)["key"] for k in created],
                  "existing": [_text_or_base64("key", k)["key"] for k in existing]})
    elif out.format == "table":
        out.table(["KEY", "RESULT"], [[_display(k), "created"] for k in created]
                  + [[_display(k), "exists"] for k in existing])
    else:
        for key in created:
            out.line(f"created {_display(key)}")
        out.line(f"{len(created)} created, {len(existing)} already present")
    return EXIT_OK


# --- the command line ---


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _common_options(defaults: bool) -> argparse.ArgumentParser:
    """Options every command takes, before or after its name (only the top level sets defaults)."""
    parser = argparse.ArgumentParser(add_help=False)
    d = (lambda value: value) if defaults else (lambda value: argparse.SUPPRESS)
    group = parser.add_argument_group("connection (environment: ETCDSTREAM_ENDPOINTS, ETCDSTREAM_CACERT, ...)")
    group.add_argument("--endpoints", default=d(None), metavar="HOST:PORT[,...]",
                       help=f"etcd client URLs, comma separated (default {_DEFAULT_ENDPOINTS})")
    group.add_argument("--cacert", dest="cacert_file", default=d(None), metavar="FILE",
                       help="verify the server with this CA (TLS)")
    group.add_argument("--cert", dest="cert_file", default=d(None), metavar="FILE", help="client certificate (mTLS)")
    group.add_argument("--key", dest="key_file", default=d(None), metavar="FILE",
                       help="client certificate's key (mTLS)")
    group.add_argument("--user", default=d(None), metavar="NAME[:PASSWORD]", help="etcd user (and password)")
    group.add_argument("--password", default=d(None), help="the user's password (else asked for on a terminal)")
    group.add_argument("--timeout", default=d(None), type=_positive_float, metavar="SECONDS",
                       help=f"per request (default {_DEFAULT_TIMEOUT:g})")
    parser.add_argument("-w", "--write-out", default=d(None), choices=("simple", "json", "table"),
                        help="output format (default simple; json lines for watch)")
    return parser


_EPILOG = """\
exit codes: 0 ok; 1 etcd refused (auth, permission, compacted, key not found)
or check found the cluster unhealthy; 2 etcd unreachable or timed out;
64 bad arguments; 130 interrupted (watch exits 0 on Ctrl-C).
"""


def build_parser() -> argparse.ArgumentParser:
    """The `etcdstream` argument parser."""
    parser = _Parser(prog="etcdstream", parents=[_common_options(True)], epilog=_EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     description="Check, initialise, read, write, list and watch an etcd v3 cluster.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    common = [_common_options(False)]

    def command(name: str, run: Callable[..., int], help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=common, help=help_text, description=help_text)
        sub.set_defaults(run=run)
        return sub

    sub = command("check", cmd_check, "connect and report versions, members, leader, DB size, alarms and health")
    sub.add_argument("--min-version", type=_min_version, metavar="X.Y.Z",
                     help="fail when the cluster version is older")

    sub = command("init", cmd_init, "create the directory keys and seed keys that do not exist yet (idempotent)")
    sub.add_argument("--prefix", required=True, help="the directory to initialise, e.g. /apisix")
    sub.add_argument("file", nargs="?", metavar="FILE",
                     help='seed keys: JSON or YAML {"key": value, ...} or {"dirs": [...], "keys": {...}}; '
                          "keys are relative to --prefix unless they start with /, non-string values are "
                          "stored as compact JSON")
    sub.add_argument("--dir", action="append", metavar="NAME",
                     help=f"a directory key PREFIX/NAME/ to create (repeatable; default APISIX's: "
                          f"{', '.join(APISIX_DIRS)})")
    sub.add_argument("--no-dirs", action="store_true", help="create no directory keys, only the seed file's")
    sub.add_argument("--dir-value", default=DIR_VALUE, metavar="VALUE",
                     help=f"the value of directory keys (default {DIR_VALUE})")

    sub = command("get", cmd_get, "print a key, or every key under a prefix")
    sub.add_argument("key", metavar="KEY")
    sub.add_argument("--prefix", action="store_true", help="every key starting with KEY")
    sub.add_argument("--rev", type=_positive_int, metavar="N", help="as of revision N")
    sub.add_argument("--page-size", type=_positive_int, default=DEFAULT_PAGE_SIZE, metavar="N",
                     help=f"keys per request with --prefix (default {DEFAULT_PAGE_SIZE})")

    sub = command("put", cmd_put, "write a key")
    sub.add_argument("key", metavar="KEY")
    sub.add_argument("value", metavar="VALUE")
    sub.add_argument("--ttl", type=_positive_int, metavar="SECONDS", help="delete the key after this (a new lease)")

    sub = command("del", cmd_del, "delete a key, or every key under a prefix")
    sub.add_argument("key", metavar="KEY")
    sub.add_argument("--prefix", action="store_true", help="every key starting with KEY")

    sub = command("ls", cmd_ls, "list the keys under a prefix (read in pages at one revision)")
    sub.add_argument("prefix", metavar="PREFIX")
    sub.add_argument("--rev", type=_positive_int, metavar="N", help="as of revision N")
    sub.add_argument("--page-size", type=_positive_int, default=DEFAULT_PAGE_SIZE, metavar="N",
                     help=f"keys per request (default {DEFAULT_PAGE_SIZE})")

    sub = command("watch", cmd_watch, "print changes under a prefix as they happen, until interrupted")
    sub.add_argument("prefix", metavar="PREFIX")
    sub.add_argument("--rev", type=_positive_int, metavar="N", help="start at revision N (replaying history)")
    sub.add_argument("--prev-kv", action="store_true", help="include each key's previous value")

    # Parsed by bench/harness.py (main() hands it everything after "bench"); listed here for --help.
    sub = commands.add_parser("bench", add_help=False, help="start a local etcd and run the benchmarks "
                              "(from a source checkout; etcdstream bench --help)")
    sub.add_argument("bench_args", nargs=argparse.REMAINDER)
    return parser


def cmd_bench(argv: Sequence[str]) -> int:
    """Run bench/harness.py of the source checkout this package was installed from (pip install -e '.[bench]')."""
    harness = Path(__file__).resolve().parents[2] / "bench" / "harness.py"
    if not harness.is_file():
        _error("etcdstream bench runs from a source checkout: git clone the repository and run bash bench/run")
        return EXIT_USAGE
    import importlib.util

    spec = importlib.util.spec_from_file_location("etcdstream_bench_harness", harness)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return int(module.main(list(argv)))


def _setting(args: argparse.Namespace, name: str) -> Any:
    value = getattr(args, name, None)
    if value is None:
        value = os.environ.get(_ENV[name]) or None
    return value


def connect(args: argparse.Namespace) -> Client:
    """A Client from the connection options, falling back to the ETCDSTREAM_* environment variables."""
    user, password = _setting(args, "user"), _setting(args, "password")
    if user is not None and ":" in user and password is None:
        user, password = user.split(":", 1)
    if user is not None and password is None:
        if not sys.stdin.isatty():
            raise UsageError(f"no password for user {user}: use --user {user}:PASSWORD, --password "
                             "or ETCDSTREAM_PASSWORD")
        password = getpass.getpass(f"Password for {user}: ")
    if password is not None and user is None:
        raise UsageError("--password needs --user")
    timeout = _setting(args, "timeout")
    if isinstance(timeout, str):
        try:
            timeout = _positive_float(timeout)
        except argparse.ArgumentTypeError as e:
            raise UsageError(f"{_ENV['timeout']}: {e}") from None
    cert, key = _setting(args, "cert_file"), _setting(args, "key_file")
    if (cert is None) != (key is None):
        raise UsageError("--cert and --key go together (the client certificate and its key)")
    try:
        return Client(_setting(args, "endpoints") or _DEFAULT_ENDPOINTS, username=user, password=password,
                      ca_file=_setting(args, "cacert_file"), cert_file=cert, key_file=key,
                      timeout=timeout or _DEFAULT_TIMEOUT)
    except (ValueError, TypeError) as e:
        message = str(e)
        for name, option in (("ca_file", "--cacert"), ("cert_file", "--cert"), ("key_file", "--key")):
            message = message.replace(name, option)
        raise UsageError(message) from None


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
    try:
        return _main(args)
    finally:
        restore_stderr()


def _main(args: argparse.Namespace) -> int:
    out = Output(args.write_out or ("json" if args.command == "watch" else "simple"))
    if args.command == "watch" and out.format == "table":
        _error("watch prints json (one object per line) or simple, not table")
        return EXIT_USAGE
    client = None
    try:
        if args.command == "watch":
            # Stop like on Ctrl-C, exit 0 (once the watch starts, _CloseOnSignal takes both over).
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
        return EXIT_OK if args.command == "watch" else EXIT_INTERRUPTED
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
