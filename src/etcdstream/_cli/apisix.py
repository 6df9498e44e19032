"""The init command: APISIX's directory keys and a seed file's keys, created where absent."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from .._sync import Client
from .._txn import Compare, Get, Put
from .exits import EXIT_OK, CommandFailed, UsageError
from .output import Output, Progress, display, text_or_base64

#: APISIX's init_etcd directories, created by `init` unless --dir, --no-dirs or the seed file says otherwise.
APISIX_DIRS = (
    "routes", "upstreams", "services", "plugins", "consumers", "ssls", "global_rules", "plugin_configs",
    "stream_routes", "protos", "secrets", "consumer_groups", "plugin_metadata",
)
DIR_VALUE = "init_dir"

# etcd's defaults: --max-txn-ops 128 and --max-request-bytes 1.5 MiB; `init` splits larger seeds.
_TXN_MAX_OPS = 128
_TXN_MAX_BYTES = 1 << 20


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


def create_missing(client: Client, items: list[tuple[bytes, bytes]],
                   on_chunk: Callable[[int, int, bool], None] | None = None) -> tuple[list[bytes], list[bytes]]:
    """Create every absent key of items in one transaction (per 128 keys); return (created, already there).
    on_chunk(keys done, keys in all, more to do) after each transaction (a progress line).

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
            present = {kv.key for read in result.responses for kv in read.kvs}  # type: ignore[union-attr]
            existing.extend(key for key, _ in missing if key in present)
            missing = [(key, value) for key, value in missing if key not in present]
            if not missing:
                break
        else:
            raise CommandFailed("keys kept appearing while init created them; run it again")
        if on_chunk is not None:
            done = len(created) + len(existing)
            on_chunk(done, len(items), done < len(items))
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
    progress = Progress("keys initialised")
    try:
        created, existing = create_missing(client, list(wanted.items()), progress.page)
    finally:
        progress.close()
    if out.format == "json":
        out.json({"created": [text_or_base64("key", k)["key"] for k in created],
                  "existing": [text_or_base64("key", k)["key"] for k in existing]})
    elif out.format == "table":
        out.table(["KEY", "RESULT"], [[display(k), "created"] for k in created]
                  + [[display(k), "exists"] for k in existing])
    else:
        for key in created:
            out.line(f"created {display(key)}")
        out.line(f"{len(created)} created, {len(existing)} already present")
    return EXIT_OK
