"""The check command: versions, members, leader, DB size, alarms and health."""

from __future__ import annotations

import argparse
import re

from .._errors import EtcdError, PermissionDenied
from .._results import Alarm
from .._sync import Client
from .exits import EXIT_OK, CommandFailed
from .output import Output

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def _version_tuple(text: str) -> tuple[int, int, int] | None:
    match = _VERSION_RE.match(text)
    if not match:
        return None
    return int(match[1]), int(match[2]), int(match[3] or 0)


def min_version_arg(text: str) -> str:
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
    members = client.member_list(serializable=True)  # the member in use's view: answers without a quorum too
    names = {m.id: m.name for m in members}
    alarms: list[Alarm] | None
    try:
        alarms = client.alarm_list()
    except PermissionDenied:
        alarms = None  # not this user's to see; says nothing about health
    healthy = client.health()

    if not status.leader:
        problems.append("no leader")
    for a in alarms or ():
        problems.append(f"alarm {a.alarm} on member {names.get(a.member_id) or f'{a.member_id:x}'}")
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
            "endpoint": client.endpoint,
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
            "alarms": None if alarms is None else [{"member_id": a.member_id, "alarm": a.alarm} for a in alarms],
            "healthy": not problems,
            "problems": problems,
            "version_ok": not too_old,
        })
    else:
        alarm_text = ("unknown (permission denied)" if alarms is None
                      else ", ".join(f"{a.alarm} on {names.get(a.member_id) or f'{a.member_id:x}'}" for a in alarms) or "none")
        leader_text = f"{leader_name or '?'} ({status.leader:x})" if status.leader else "none"
        summary = [
            ("endpoint", client.endpoint),
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
