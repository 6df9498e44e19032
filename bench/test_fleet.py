"""A gateway fleet on a 3-member etcd cluster: N worker processes, each an etcdstream Client with M Mirrors of the
same P prefixes, direct and behind etcd's gRPC proxy.

Modes (one benchmark each, group "fleet: ..."):
- direct: worker i reads and watches member i % 3 (the others as its failover),
- proxy: every worker through one `etcd grpc-proxy start` in front of the cluster,
- two proxies: half the workers through each of two proxies.
Workers use AsyncClient and AsyncMirror (see BLOCKING). A round is a burst of FLEET_WRITES puts (~150 B values)
spread round-robin over the prefixes, written by this process to the leader in txns of TXN_OPS puts to as many
prefixes (so every Mirror still gets one event per message, as from single puts; etcd takes single puts ~10x
slower), WRITE_LANES txns in flight, then one txn putting a marker key in every prefix: its revision is the
burst's last. converge_s: from the burst's first put until every
Mirror of every worker is at that revision (each worker says when its last Mirror got there, time.monotonic()
being one clock for the machine); the median column is the same round timed by this process (until the last
worker's answer arrived). extra_info, per mode: server_watchers and watch_streams (etcd's
etcd_debugging_mvcc_watcher_total and etcd_debugging_mvcc_watch_stream_total summed over the members, minus the
idle cluster's), connections (TCP connections to the members' client ports from the workers and proxies),
leader_cpu_us_per_event and others_cpu_us_per_event (the leader's CPU, and the two other members' together,
during the round over the events the Mirrors received), the same for the proxies and the workers; in proxy mode
proxy_restart_s: from killing the proxy (a write is made while it is away; it is started again at once) until every
Mirror is at that write's revision.

Restart storm (group "fleet restart storm: ..."), variants linearizable and serializable (Mirror(...,
serializable=True)): the workers read and watch directly as in "direct"; every worker at once closes its Client
and opens a new one with its Mirrors (what etcd sees of a worker restart, without Python's own start-up);
storm_s: until every Mirror has read its prefix again; leader_cpu_s (and others_cpu_s): the members' CPU meanwhile.

Needs etcd binaries to start the cluster and proxies (not with --endpoints). Run: pytest bench/test_fleet.py
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _testbase import EtcdCluster, EtcdGrpcProxy, EtcdNotFoundError, find_binaries
from _testbase.children import kill_child, make_dir, remove_dir, spawn
from _testbase.proc import connections_to
from bench_settings import (ENDPOINTS, FLEET_MIRRORS, FLEET_PREFIXES, FLEET_ROUNDS, FLEET_WORKERS, FLEET_WRITES,
                            progress)
from corpus import route_value

import etcdstream
from etcdstream import Put

PREFIXES = [f"/fleet/config/{i:03d}/" for i in range(FLEET_PREFIXES)]
MARKER = "~last"
TXN_OPS = 10  # puts per txn, each to another prefix: a watcher still gets one event per message
WRITE_LANES = 16  # txns in flight
# AsyncMirrors, as a worker mirroring many prefixes would run them (no thread per Mirror); True: blocking Mirrors
# (bench/test_mirrors.py compares the two on one client).
BLOCKING = False
TIMEOUT = 120.0
MIRRORS = FLEET_WORKERS * FLEET_MIRRORS
GROUP = (f"fleet: {FLEET_WRITES:,} puts over {FLEET_PREFIXES} prefixes, {FLEET_WORKERS} workers x "
         f"{FLEET_MIRRORS} Mirrors")
STORM_GROUP = f"fleet restart storm: {FLEET_WORKERS} workers x {FLEET_MIRRORS} Mirrors reopen at once"
_rounds = itertools.count()
_TICK = os.sysconf("SC_CLK_TCK")


assert TXN_OPS <= FLEET_PREFIXES <= 128, "etcd's --max-txn-ops (128) bounds the marker's txn"


def _key(i: int) -> str:
    """The burst's i-th key: consecutive puts go to consecutive prefixes."""
    return f"{PREFIXES[i % FLEET_PREFIXES]}{i // FLEET_PREFIXES:05d}"


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user + system, /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


class Worker:
    """One fleet_worker.py process's end of the control socket."""

    def __init__(self, conn: socket.socket, procs: dict) -> None:
        self.conn = conn
        self.stream = conn.makefile("rwb", buffering=0)
        self.pid = json.loads(self.stream.readline())["pid"]
        self.proc = procs[self.pid]  # setpriv (children.spawn's prefix) execs: the pid is python's

    def send(self, command: str, **args) -> None:
        self.stream.write(json.dumps({"cmd": command, **args}).encode() + b"\n")

    def reply(self) -> dict:
        line = self.stream.readline()
        if not line:
            return {"error": f"exited (see its log in {Path(self.proc.args[-1]).parent})"}
        return json.loads(line)


class Fleet:
    """The cluster, the workers, and what the benchmarks ask of them."""

    def __init__(self, cluster: EtcdCluster) -> None:
        self.cluster = cluster
        self.leader = cluster.members[0]
        self.dir = make_dir("fleet")
        self.procs: list = []
        self.workers: list[Worker] = []
        self.proxies: list[EtcdGrpcProxy] = []
        self.baseline = (0, 0)
        self._loop = asyncio.new_event_loop()
        self._writer: etcdstream.AsyncClient | None = None

    def spawn_workers(self) -> None:
        path = str(self.dir / "control.sock")
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind(path)
            listener.listen(FLEET_WORKERS)
            listener.settimeout(TIMEOUT)
            script = str(Path(__file__).resolve().parent / "fleet_worker.py")
            procs = [spawn([sys.executable, script, path], self.dir / f"worker{i}.log") for i in range(FLEET_WORKERS)]
            self.procs = procs
            by_pid = {proc.pid: proc for proc in procs}
            for _ in procs:
                conn, _ = listener.accept()
                conn.settimeout(TIMEOUT)
                self.workers.append(Worker(conn, by_pid))

    def ask(self, command: str, per_worker=None, **args) -> list[dict]:
        """Send command to every worker at once (per_worker(i) adds arguments), then collect their answers."""
        for i, worker in enumerate(self.workers):
            worker.send(command, **args, **(per_worker(i) if per_worker else {}))
        answers = [worker.reply() for worker in self.workers]  # all of them: the next command gets its own
        errors = [f"worker {w.pid}: {a['error']}" for w, a in zip(self.workers, answers) if "error" in a]
        if errors:
            raise RuntimeError(f"fleet {command}: " + "; ".join(errors))
        return answers

    # -- etcd's side --

    def counts(self) -> tuple[int, int]:
        """(watchers, watch streams) summed over the members."""
        watchers = streams = 0
        for member in self.cluster.members:
            text = member.metrics()
            for name in ("etcd_debugging_mvcc_watcher_total", "etcd_debugging_mvcc_watch_stream_total"):
                match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
                value = int(float(match.group(1))) if match else 0
                if name.endswith("watcher_total"):
                    watchers += value
                else:
                    streams += value
        return watchers, streams

    def settled_counts(self, quiet: float = 0.5) -> tuple[int, int]:
        """counts() once they stop changing (closed watches are cancelled asynchronously)."""
        deadline = time.monotonic() + TIMEOUT
        counts, since = self.counts(), time.monotonic()
        while time.monotonic() - since < quiet and time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.counts()
            if now != counts:
                counts, since = now, time.monotonic()
        return counts

    def member_connections(self) -> int:
        """TCP connections from the workers and proxies to the members' client ports."""
        pids = [w.pid for w in self.workers] + [p.pid for p in self.proxies if p.pid]
        return sum(connections_to(m.client_port, pid) for m in self.cluster.members for pid in pids)

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of the leader, the other members (together), the proxies and the workers."""
        leader = self.leader
        return {"leader": cpu_seconds(leader.pid),
                "others": sum(cpu_seconds(m.pid) for m in self.cluster.members if m is not leader),
                "proxies": sum(cpu_seconds(p.pid) for p in self.proxies if p.pid),
                "workers": sum(cpu_seconds(w.pid) for w in self.workers)}

    # -- the fleet --

    def open(self, mode: str, serializable: bool = False) -> None:
        """Every worker opens its Client and Mirrors on its endpoints for mode; returns once all synced."""
        members = self.cluster.endpoints

        def endpoints(i: int) -> dict:
            if mode == "direct":
                first = i % len(members)
                return {"endpoints": members[first:] + members[:first]}
            return {"endpoints": [self.proxies[i % len(self.proxies)].endpoint]}

        progress(f"fleet {mode}: {FLEET_WORKERS} workers open {MIRRORS:,} Mirrors")
        self.leader = self.cluster.leader()
        self.ask("open", endpoints, prefixes=PREFIXES, mirrors=FLEET_MIRRORS, serializable=serializable,
                 blocking=BLOCKING)

    def close(self) -> None:
        self.ask("close")
        for proxy in self.proxies:
            proxy.close()
        self.proxies = []
        self.settled_counts()

    def wait(self, revision: int) -> tuple[float, int]:
        """(when the last Mirror reached revision, events the Mirrors received since the last wait)."""
        answers = self.ask("wait", revision=revision)
        return max(a["done_at"] for a in answers), sum(a["events"] for a in answers)

    def writer(self) -> etcdstream.AsyncClient:
        if self._writer is None:
            self._writer = etcdstream.AsyncClient(self.leader.endpoint, timeout=TIMEOUT)
        return self._writer

    def run(self, coroutine):
        return self._loop.run_until_complete(coroutine)

    def write_marker(self) -> int:
        """One txn putting the marker in every prefix; its revision."""
        value = str(next(_rounds))
        result = self.run(self.writer().txn([], [Put(prefix + MARKER, value) for prefix in PREFIXES]))
        return result.revision

    def burst(self) -> int:
        """FLEET_WRITES puts spread over the prefixes (txns of TXN_OPS), then the marker; the marker's revision."""
        etcd = self.writer()

        async def lane(first: int) -> None:
            for start in range(first * TXN_OPS, FLEET_WRITES, WRITE_LANES * TXN_OPS):
                stop = min(FLEET_WRITES, start + TXN_OPS)
                await etcd.txn([], [Put(_key(i), route_value(i)) for i in range(start, stop)])

        async def all_lanes() -> None:
            await asyncio.gather(*(lane(j) for j in range(WRITE_LANES)))

        self.run(all_lanes())
        return self.write_marker()

    def shutdown(self) -> None:
        if self._writer is not None:
            self.run(self._writer.close())
        self._loop.close()
        for worker in self.workers:
            try:
                worker.send("quit")
            except OSError:
                pass
        deadline = time.monotonic() + 10
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            kill_child(proc)
        for worker in self.workers:
            worker.conn.close()
        for proxy in self.proxies:
            proxy.close()
        remove_dir(self.dir)


@pytest.fixture(scope="module")
def fleet():
    if ENDPOINTS:
        pytest.skip("the fleet runs on a 3-member cluster this run starts (not with --endpoints)")
    try:
        binaries = find_binaries()
    except EtcdNotFoundError as e:
        pytest.skip(f"no etcd to start a cluster: {e}")
    progress(f"fleet: starting a 3-member etcd {binaries.version} cluster and {FLEET_WORKERS} workers")
    with EtcdCluster(3, binaries=binaries, extra_args=["--quota-backend-bytes=4294967296"]) as cluster:
        fleet = Fleet(cluster)
        try:
            fleet.leader = cluster.leader()
            fleet.baseline = fleet.settled_counts()
            fleet.spawn_workers()
            fleet.burst()  # the prefixes hold their keys before the first full reads; the writer is connected
            yield fleet
        finally:
            fleet.shutdown()


def _us_per_event(seconds: list[float], events: list[int]) -> float:
    return round(statistics.median(s / e * 1e6 for s, e in zip(seconds, events)), 2)


@pytest.mark.parametrize("mode", ["direct", "proxy", "two proxies"])
def test_fleet_converge(benchmark, fleet, mode):
    benchmark.group = GROUP
    if mode != "direct":
        for n in range(1 if mode == "proxy" else 2):
            fleet.proxies.append(EtcdGrpcProxy(fleet.cluster, name=f"grpc-proxy{n}").start())
    try:
        fleet.open(mode)
        watchers, streams = fleet.settled_counts()
        info = {"fleet_mode": mode, "mirrors": MIRRORS, "server_watchers": watchers - fleet.baseline[0],
                "watch_streams": streams - fleet.baseline[1], "connections": fleet.member_connections()}
        rounds: dict[str, list] = {"converge": [], "events": [], "leader": [], "others": [], "proxies": [],
                                   "workers": []}

        def setup():
            rounds["cpu"] = fleet.cpu()
            rounds["start"] = time.monotonic()

        def burst() -> None:
            done_at, events = fleet.wait(fleet.burst())
            rounds["converge"].append(done_at - rounds["start"])
            rounds["events"].append(events)
            after = fleet.cpu()
            for part in after:
                rounds[part].append(after[part] - rounds["cpu"][part])

        progress(f"fleet {mode}: {FLEET_ROUNDS} bursts of {FLEET_WRITES:,} puts")
        benchmark.pedantic(burst, setup=setup, rounds=FLEET_ROUNDS, iterations=1)
        info.update(converge_s=round(statistics.median(rounds["converge"]), 3),
                    delivered_events=int(statistics.median(rounds["events"])),
                    leader_cpu_us_per_event=_us_per_event(rounds["leader"], rounds["events"]),
                    others_cpu_us_per_event=_us_per_event(rounds["others"], rounds["events"]),
                    workers_cpu_us_per_event=_us_per_event(rounds["workers"], rounds["events"]))
        if fleet.proxies:
            info["proxy_cpu_us_per_event"] = _us_per_event(rounds["proxies"], rounds["events"])
        if mode == "proxy":
            progress("fleet proxy: restarting the proxy")
            proxy = fleet.proxies[0]
            away = time.monotonic()
            proxy.kill()
            revision = fleet.write_marker()
            proxy.start()
            done_at, _ = fleet.wait(revision)
            info["proxy_restart_s"] = round(done_at - away, 3)
        benchmark.extra_info.update(info)
    finally:
        fleet.close()
    assert info["server_watchers"] >= (MIRRORS if mode == "direct" else FLEET_PREFIXES), info


@pytest.mark.parametrize("read", ["linearizable", "serializable"])
def test_fleet_restart_storm(benchmark, fleet, read):
    benchmark.group = STORM_GROUP
    fleet.open("direct", serializable=read == "serializable")
    rounds: dict[str, list] = {"storm": [], "leader": [], "others": []}
    try:
        def setup():
            rounds["cpu"] = fleet.cpu()
            rounds["start"] = time.monotonic()

        def storm() -> None:
            answers = fleet.ask("reopen")
            rounds["storm"].append(max(a["synced_at"] for a in answers) - rounds["start"])
            after = fleet.cpu()
            for part in ("leader", "others"):
                rounds[part].append(after[part] - rounds["cpu"][part])

        progress(f"fleet restart storm ({read}): {FLEET_ROUNDS} rounds")
        benchmark.pedantic(storm, setup=setup, rounds=FLEET_ROUNDS, iterations=1)
        benchmark.extra_info.update(fleet_mode="direct", mirrors=MIRRORS, read=read,
                                    storm_s=round(statistics.median(rounds["storm"]), 3),
                                    leader_cpu_s=round(statistics.median(rounds["leader"]), 3),
                                    others_cpu_s=round(statistics.median(rounds["others"]), 3))
    finally:
        fleet.close()
