"""Issue 24's scenario at full size: a watch replaying 50,000 single-key revisions, request_progress() at once,
and (unless --no-cut) the connection cut after the first 1,000 events and let through again 0.3 s later.

    ETCD_BIN=/path/to/etcd .venv/bin/python bench/progress_replay.py [--revisions N] [--no-cut]

Prints, per client, what request_progress() returned, the events delivered and whether they were every
revision once, in order, with no batch revision ahead of an event still to come. Exits 1 if not.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import etcdstream  # noqa: E402
from _testbase import find_binaries  # noqa: E402
from _testbase.proxy import FaultProxy  # noqa: E402
from _testbase.server import EtcdServer  # noqa: E402
from test_watch_progress import assert_delivered_once_in_order_never_ahead, write_revisions  # noqa: E402

PREFIX = "/p/"
CUT_AFTER = 1_000


def replay_sync(endpoint: str, last: int, cut) -> tuple[bool, list[tuple[int, list[int]]]]:
    batches: list[tuple[int, list[int]]] = []
    with etcdstream.Client([endpoint]) as client:
        watcher = client.watchdir(PREFIX, start_revision=2)
        sent = client.request_progress()
        while not batches or batches[-1][0] < last:
            batch = watcher.get(60)
            assert batch is not None, "nothing within 60 s"
            batches.append((batch.revision, [event.mod_revision for event in batch]))
            cut(batches)
    return sent, batches


async def replay_async(endpoint: str, last: int, cut) -> tuple[bool, list[tuple[int, list[int]]]]:
    batches: list[tuple[int, list[int]]] = []
    async with etcdstream.AsyncClient([endpoint]) as client:
        watcher = await client.watchdir(PREFIX, start_revision=2)
        sent = client.request_progress()
        while not batches or batches[-1][0] < last:
            batch = await watcher.get(60)
            assert batch is not None, "nothing within 60 s"
            batches.append((batch.revision, [event.mod_revision for event in batch]))
            cut(batches)
    return sent, batches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--revisions", type=int, default=50_000)
    parser.add_argument("--no-cut", action="store_true", help="replay without cutting the connection")
    args = parser.parse_args()
    binaries = find_binaries()
    failed = False
    with EtcdServer(binaries=binaries, name="progress-replay") as server:
        began = time.monotonic()
        expected = asyncio.run(write_revisions(server.endpoint, PREFIX, args.revisions))
        print(f"etcd {binaries.version}: wrote revisions {expected[0]}..{expected[-1]} in "
              f"{time.monotonic() - began:.1f} s", flush=True)
        for kind in ("sync", "async"):
            with FaultProxy(server.endpoint) as proxy:
                done = []

                def cut(batches: list[tuple[int, list[int]]]) -> None:
                    if not args.no_cut and not done and sum(len(events) for _, events in batches) >= CUT_AFTER:
                        done.append(True)
                        proxy.drop()
                        threading.Timer(0.3, proxy.resume).start()

                began = time.monotonic()
                if kind == "sync":
                    sent, batches = replay_sync(proxy.endpoint, expected[-1], cut)
                else:
                    sent, batches = asyncio.run(replay_async(proxy.endpoint, expected[-1], cut))
                delivered = sum(len(events) for _, events in batches)
                try:
                    assert_delivered_once_in_order_never_ahead(batches, expected)
                    verdict = "every revision once, in order, never ahead"
                except AssertionError as e:
                    failed, verdict = True, f"FAILED: {e}"
                print(f"  {kind}: request_progress() -> {sent}; {delivered} events in {len(batches)} batches, "
                      f"{time.monotonic() - began:.1f} s: {verdict}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
