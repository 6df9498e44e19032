"""Cluster and maintenance commands (etcdctl's): member, endpoint, compact, defrag, alarm, snapshot.

Member ids are hexadecimal in simple and table output and on the command line, as etcdctl shows
and takes them; JSON has them as numbers, as etcdctl -w json does.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from .._errors import ConnectionFailed, EtcdError, Timeout
from .._results import Alarm, Member
from .._sync import Client
from .exits import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, CommandFailed
from .output import Output
from .settings import connect, endpoint_list

T = TypeVar("T")


def member_id_arg(text: str) -> int:
    try:
        value = int(text, 16)
    except ValueError:
        value = -1
    if not 0 < value < 1 << 64:
        raise argparse.ArgumentTypeError(f"expected a member ID in hex as member list shows it, got {text!r}")
    return value


def urls_arg(text: str) -> list[str]:
    urls = [u.strip() for u in text.split(",") if u.strip()]
    if not urls:
        raise argparse.ArgumentTypeError("expected URLs, comma separated")
    return urls


def _member_json(m: Member) -> dict[str, object]:
    return {"id": m.id, "name": m.name, "peer_urls": m.peer_urls, "client_urls": m.client_urls,
            "is_learner": m.is_learner}


def _print_members(out: Output, members: list[Member]) -> None:
    if out.format == "json":
        out.json({"members": [_member_json(m) for m in members]})
        return
    rows = [[f"{m.id:x}", "started" if m.name else "unstarted", m.name, ",".join(m.peer_urls),
             ",".join(m.client_urls), str(m.is_learner).lower()] for m in members]
    if out.format == "table":
        out.table(["ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"], rows)
    else:
        for row in rows:
            out.line(", ".join(row))


def cmd_member_list(client: Client, args: argparse.Namespace, out: Output) -> int:
    """member list"""
    _print_members(out, client.member_list())
    return EXIT_OK


def cmd_member_add(client: Client, args: argparse.Namespace, out: Output) -> int:
    """member add NAME --peer-urls URL[,URL] [--learner]: prints the new member's etcd settings, as etcdctl."""
    added = client.member_add(args.peer_urls, learner=args.learner)
    settings = {
        "ETCD_NAME": args.name,
        "ETCD_INITIAL_CLUSTER": added.initial_cluster(args.name),
        "ETCD_INITIAL_ADVERTISE_PEER_URLS": ",".join(added.member.peer_urls),
        "ETCD_INITIAL_CLUSTER_STATE": "existing",
    }
    if out.format == "json":
        out.json({"member": _member_json(added.member), "members": [_member_json(m) for m in added.members],
                  "environment": settings})
    elif out.format == "table":
        out.table(["VARIABLE", "VALUE"], settings.items())
    else:
        out.line(f"Member {added.member.id:x} added to cluster")
        out.line()
        for name, value in settings.items():
            out.line(f'{name}="{value}"')
    return EXIT_OK


def _member_change(what: str, change: Callable[..., list[Member]]) -> Callable[[Client, argparse.Namespace, Output], int]:
    def run(client: Client, args: argparse.Namespace, out: Output) -> int:
        members = change(client, args)
        if out.format == "simple":
            out.line(f"Member {args.member_id:x} {what} cluster")
        else:
            _print_members(out, members)
        return EXIT_OK

    run.__doc__ = f"member {what.split()[0]} ID"
    return run


cmd_member_remove = _member_change("removed from", lambda c, a: c.member_remove(a.member_id))
cmd_member_update = _member_change("updated in", lambda c, a: c.member_update(a.member_id, a.peer_urls))
cmd_member_promote = _member_change("promoted in", lambda c, a: c.member_promote(a.member_id))


def cmd_compact(client: Client, args: argparse.Namespace, out: Output) -> int:
    """compact REV [--physical]"""
    revision = client.compact(args.revision, physical=args.physical)
    if out.format == "json":
        out.json({"compacted": args.revision, "revision": revision})
    elif out.format == "table":
        out.table(["COMPACTED", "REVISION"], [[args.revision, revision]])
    else:
        out.line(f"compacted revision {args.revision}")
    return EXIT_OK


def _alarm_text(a: Alarm) -> str:
    return f"memberID:{a.member_id:x} alarm:{a.alarm}"


def _print_alarms(out: Output, alarms: list[Alarm]) -> None:
    if out.format == "json":
        out.json({"alarms": [{"member_id": a.member_id, "alarm": a.alarm} for a in alarms]})
    elif out.format == "table":
        out.table(["MEMBER ID", "ALARM"], [[f"{a.member_id:x}", a.alarm] for a in alarms])
    else:
        for a in alarms:
            out.line(_alarm_text(a))


def cmd_alarm_list(client: Client, args: argparse.Namespace, out: Output) -> int:
    """alarm list"""
    _print_alarms(out, client.alarm_list())
    return EXIT_OK


def cmd_alarm_disarm(client: Client, args: argparse.Namespace, out: Output) -> int:
    """alarm disarm: every raised alarm; prints those disarmed."""
    _print_alarms(out, client.alarm_disarm())
    return EXIT_OK


# --- commands that ask each endpoint in turn ---


def _each_endpoint(client: Client, args: argparse.Namespace,
                   ask: Callable[[Client], T]) -> Iterator[tuple[str, T | EtcdError]]:
    """(endpoint, ask(a client of that endpoint alone) or its error) for each endpoint given."""
    endpoints = endpoint_list(args)
    if len(endpoints) == 1:
        try:
            yield endpoints[0], ask(client)
        except EtcdError as e:
            yield endpoints[0], e
        return
    for endpoint in endpoints:
        with connect(args, endpoint) as one:
            try:
                yield endpoint, ask(one)
            except EtcdError as e:
                yield endpoint, e


def _failed(what: str, failures: list[tuple[str, EtcdError]]) -> CommandFailed:
    unreachable = all(isinstance(e, (ConnectionFailed, Timeout)) for _, e in failures)
    return CommandFailed("; ".join(f"{what} {endpoint}: {e}" for endpoint, e in failures),
                         EXIT_UNREACHABLE if unreachable else EXIT_FAILED)


def _split(results: list[tuple[str, T | EtcdError]]) -> tuple[list[tuple[str, T]], list[tuple[str, EtcdError]]]:
    good = [(e, r) for e, r in results if not isinstance(r, EtcdError)]
    bad = [(e, r) for e, r in results if isinstance(r, EtcdError)]
    return good, bad  # type: ignore[return-value]


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.0f} {unit}"
        n /= 1000  # type: ignore[assignment]
    raise AssertionError


def cmd_endpoint_status(client: Client, args: argparse.Namespace, out: Output) -> int:
    """endpoint status: one line per endpoint."""
    good, bad = _split(list(_each_endpoint(client, args, lambda c: c.status())))
    if out.format == "json":
        out.json([{"endpoint": e, "member_id": s.member_id, "version": s.version, "db_size": s.db_size,
                   "leader": s.leader, "is_learner": s.is_learner, "raft_term": s.raft_term,
                   "raft_index": s.raft_index, "revision": s.revision, "errors": s.errors} for e, s in good])
    else:
        rows = [[e, f"{s.member_id:x}", s.version, _size(s.db_size), str(s.member_id == s.leader).lower(),
                 str(s.is_learner).lower(), s.raft_term, s.raft_index, ", ".join(s.errors)] for e, s in good]
        if out.format == "table":
            out.table(["ENDPOINT", "ID", "VERSION", "DB SIZE", "IS LEADER", "IS LEARNER", "RAFT TERM",
                       "RAFT INDEX", "ERRORS"], rows)
        else:
            for row in rows:
                out.line(", ".join(str(c) for c in row))
    if bad:
        raise _failed("status of", bad)
    return EXIT_OK


def _timed_health(c: Client) -> tuple[bool, float]:
    started = time.monotonic()
    healthy = c.health()
    return healthy, time.monotonic() - started


def cmd_endpoint_health(client: Client, args: argparse.Namespace, out: Output) -> int:
    """endpoint health: whether each endpoint serves a linearizable read, and how long it took."""
    results = [(e, r if isinstance(r, tuple) else (False, 0.0))
               for e, r in _each_endpoint(client, args, _timed_health)]
    if out.format == "json":
        out.json([{"endpoint": e, "health": ok, "took_ms": round(took * 1000, 3)} for e, (ok, took) in results])
    elif out.format == "table":
        out.table(["ENDPOINT", "HEALTH", "TOOK"], [[e, str(ok).lower(), f"{took * 1000:.1f}ms"]
                                                   for e, (ok, took) in results])
    else:
        for e, (ok, took) in results:
            out.line(f"{e} is healthy: took = {took * 1000:.1f}ms" if ok
                     else f"{e} is unhealthy: no answer to a linearizable read")
    unhealthy = [e for e, (ok, _) in results if not ok]
    if unhealthy:
        raise CommandFailed(f"unhealthy: {', '.join(unhealthy)}")
    return EXIT_OK


def cmd_endpoint_hashkv(client: Client, args: argparse.Namespace, out: Output) -> int:
    """endpoint hashkv [--rev N]: each member's hash of its key-value history."""
    good, bad = _split(list(_each_endpoint(client, args, lambda c: c.hash_kv(args.rev or 0))))
    if out.format == "json":
        out.json([{"endpoint": e, "member_id": h.member_id, "hash": h.hash, "compact_revision": h.compact_revision,
                   "revision": h.revision} for e, h in good])
    elif out.format == "table":
        out.table(["ENDPOINT", "HASH", "COMPACT REVISION"], [[e, h.hash, h.compact_revision] for e, h in good])
    else:
        for e, h in good:
            out.line(f"{e}, {h.hash}")
    if bad:
        raise _failed("hashkv of", bad)
    return EXIT_OK


def cmd_defrag(client: Client, args: argparse.Namespace, out: Output) -> int:
    """defrag: each endpoint in turn (each blocks while it defragments; --timeout bounds each)."""
    good, bad = _split(list(_each_endpoint(client, args, lambda c: c.defragment())))
    if out.format == "json":
        out.json([{"endpoint": e, "defragmented": True} for e, _ in good])
    elif out.format == "table":
        out.table(["ENDPOINT", "DEFRAGMENTED"], [[e, "true"] for e, _ in good])
    else:
        for e, _ in good:
            out.line(f"Finished defragmenting etcd member[{e}]")
    if bad:
        raise _failed("defragmenting", bad)
    return EXIT_OK


def cmd_snapshot_save(client: Client, args: argparse.Namespace, out: Output) -> int:
    """snapshot save FILE: the backend of the member in use, checked against etcd's checksum before FILE
    appears; a progress line on a terminal (stderr)."""
    show = sys.stderr.isatty()

    def progress(received: int, remaining: int) -> None:
        total = received + remaining
        percent = f" {100 * received / total:3.0f}%" if total else ""
        sys.stderr.write(f"\rsaving snapshot: {received / 2**20:,.1f} MiB{percent} ")
        sys.stderr.flush()

    try:
        size = client.snapshot(args.file, progress=progress if show else None)
    except OSError as e:  # the file: a missing directory, no permission, a full disk
        raise CommandFailed(f"cannot write the snapshot to {args.file}: {e.strerror or e}") from None
    if show:
        sys.stderr.write("\n")
    if out.format == "json":
        out.json({"file": args.file, "size": size, "endpoint": client.endpoint})
    elif out.format == "table":
        out.table(["FILE", "SIZE", "ENDPOINT"], [[args.file, size, client.endpoint]])
    else:
        out.line(f"Snapshot saved at {args.file} ({size:,} bytes from {client.endpoint})")
    return EXIT_OK
