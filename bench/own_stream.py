"""Does a Mirror serving consistent reads need a watch stream of its own? Measured, not assumed.

    ETCD_BIN=/path/to/etcd .venv/bin/python bench/own_stream.py [--revisions N] [--reads N]

A client holds a watcher replaying a long history (its consumer reads as fast as it can), on the client's
stream; etcd answers a progress request only once every watcher of the stream is synced. Beside it, a Mirror of
a quiet prefix, on the client's stream (own_stream=False) or on its own (the default), answers consistent reads
while writes land elsewhere, so that the copy moves only through progress answers. Prints, for each, the reads
answered from the copy and by etcd (after the 3 s wait), the read latency p50/p99, and the empty batches the
replaying watcher got (progress answers it never asked for).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import etcdstream  # noqa: E402
from _testbase import find_binaries  # noqa: E402
from _testbase.server import EtcdServer  # noqa: E402
from test_watch_progress import write_revisions  # noqa: E402


def measure(endpoint: str, first: int, reads: int, own_stream: bool) -> str:
    with etcdstream.Client(endpoint) as client:
        behind = client.watchdir("/history/", start_revision=first)
        replayed, empty = [0], [0]

        def consume() -> None:
            for batch in behind:
                replayed[0] += len(batch)
                empty[0] += not batch

        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        mirror = etcdstream.Mirror(client, "/quiet/", own_stream=own_stream)
        mirror.wait_synced(10)
        latencies = []
        for i in range(reads):
            client.put("/elsewhere", str(i))
            began = time.perf_counter()
            mirror.consistent_get("/quiet/none")
            latencies.append(time.perf_counter() - began)
        counts = mirror.stats().consistent_reads.by_outcome
        mirror.close()
        behind.close()
        consumer.join(10)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return (f"own_stream={own_stream!s:5}: {counts['copy']:4} from the copy, {counts['timeout']:3} by etcd after the "
            f"wait, {counts['unsupported']:3} unsupported; read p50 {statistics.median(latencies) * 1e3:7.2f} ms, "
            f"p99 {p99 * 1e3:7.1f} ms; the replaying watcher got {replayed[0]} events and {empty[0]} empty batches")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--revisions", type=int, default=100_000, help="history the watcher replays")
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args()
    binaries = find_binaries()
    with EtcdServer(binaries=binaries, name="own-stream") as server:
        began = time.monotonic()
        revisions = asyncio.run(write_revisions(server.endpoint, "/history/", args.revisions))
        print(f"etcd {binaries.version}: {args.revisions} revisions of history written in "
              f"{time.monotonic() - began:.1f} s", flush=True)
        for own_stream in (False, True):
            print(measure(server.endpoint, revisions[0], args.reads, own_stream), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
