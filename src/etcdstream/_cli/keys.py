"""The commands that read and write keys: get, ls, put, del."""

from __future__ import annotations

import argparse
import os

from .._results import Snapshot
from .._sync import Client
from .exits import EXIT_OK, CommandFailed, UsageError
from .output import Output, Progress, display, kv_json


def _key_arg(text: str) -> bytes:
    if not text:
        raise UsageError("a key must not be empty")
    return os.fsencode(text)


def _read_snapshot(client: Client, args: argparse.Namespace, prefix: bytes, *, keys_only: bool,
                   what: str) -> Snapshot:
    progress = Progress(what)
    try:
        return client.readdir(prefix, revision=args.rev or None, page_size=args.page_size, keys_only=keys_only,
                              on_page=progress.page)
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
        page = client.range(key, revision=args.rev or None)
        kvs, revision = page.kvs, page.revision
        if not kvs:
            raise CommandFailed(f"key not found: {args.key}")
    if out.format == "json":
        out.json({"revision": revision, "count": len(kvs), "kvs": [kv_json(kv) for kv in kvs]})
    elif out.format == "table":
        out.table(["KEY", "VALUE", "MOD_REVISION", "VERSION", "LEASE"],
                  [[display(kv.key), display(kv.value), kv.mod_revision, kv.version, kv.lease] for kv in kvs])
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
        out.json({"revision": snapshot.revision, "count": len(kvs), "kvs": [kv_json(kv, value=False) for kv in kvs]})
    elif out.format == "table":
        out.table(["KEY", "CREATE_REVISION", "MOD_REVISION", "VERSION", "LEASE"],
                  [[display(kv.key), kv.create_revision, kv.mod_revision, kv.version, kv.lease] for kv in kvs])
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
