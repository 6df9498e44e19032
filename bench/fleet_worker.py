"""One gateway worker of bench/test_fleet.py: an etcdstream client holding Mirrors, driven over a Unix socket.

Run as `python bench/fleet_worker.py SOCKET`: it connects to the benchmark's
socket, says its pid and answers one JSON line per command line:
- open {endpoints, prefixes, mirrors, serializable, blocking}: a client on
  endpoints (the first is used, the others are failover), `mirrors` Mirrors
  (Mirror i of prefixes[i % len(prefixes)]); an AsyncClient with AsyncMirrors,
  or with blocking=True a Client with Mirrors (a thread each); answers once
  every Mirror has synced: synced_at (time.monotonic(), one clock for every
  process of the machine);
- wait {revision}: answers once every Mirror is at revision or later: done_at
  (when the last of them got there), events (delivered to its Mirrors since the
  last open or wait);
- reopen: close the client and open a new one as the last open did (a worker
  restart, as etcd sees it: a new connection, every Mirror read and watched
  again); answers as open does;
- close; quit.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import etcdstream

TIMEOUT = 120.0


class Worker:
    def __init__(self) -> None:
        self.client: etcdstream.AsyncClient | etcdstream.Client | None = None
        self.mirrors: list = []
        self.spec: dict = {}
        self.changed_at: list[float] = []  # per Mirror: when its last batch was applied
        self.events = 0  # a blocking Mirror's callback runs in its thread: += of ints under the GIL is enough here

    def _on_change(self, index: int):
        def record(batch, resync: bool) -> None:
            self.changed_at[index] = time.monotonic()
            self.events += len(batch)
        return record

    async def _call(self, method, *args):
        """A Mirror's method: awaited (AsyncMirror) or run in a thread (Mirror)."""
        if self.spec.get("blocking"):
            return await asyncio.to_thread(method, *args)
        return await method(*args)

    async def open(self, spec: dict) -> dict:
        self.spec = spec
        prefixes = spec["prefixes"]
        blocking = spec.get("blocking", False)
        self.client = (etcdstream.Client if blocking else etcdstream.AsyncClient)(spec["endpoints"], timeout=TIMEOUT)
        mirror = etcdstream.Mirror if blocking else etcdstream.AsyncMirror
        self.changed_at = [0.0] * spec["mirrors"]
        self.mirrors = [mirror(self.client, prefixes[i % len(prefixes)], on_change=self._on_change(i),
                               serializable=spec["serializable"]) for i in range(spec["mirrors"])]
        for m in self.mirrors:
            if not await self._call(m.wait_synced, TIMEOUT):
                raise TimeoutError(f"a Mirror did not sync within {TIMEOUT:g} s")
        self.events = 0
        return {"synced_at": max(self.changed_at), "revision": min(m.revision for m in self.mirrors)}

    async def wait(self, revision: int) -> dict:
        for m in self.mirrors:
            if not await self._call(m.wait_revision, revision, TIMEOUT):
                raise TimeoutError(f"a Mirror stayed at {m.revision} < {revision} for {TIMEOUT:g} s")
        events, self.events = self.events, 0
        return {"done_at": max(self.changed_at), "events": events}

    async def close(self) -> dict:
        for m in self.mirrors:
            await self._call(m.close)
        self.mirrors = []
        if self.client is not None:
            await self._call(self.client.close)
            self.client = None
        return {}


async def main(path: str) -> None:
    worker = Worker()
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(json.dumps({"pid": os.getpid()}).encode() + b"\n")
    while line := await reader.readline():
        command = json.loads(line)
        name = command.pop("cmd")
        try:
            if name == "quit":
                await worker.close()
                break
            if name == "open":
                reply = await worker.open(command)
            elif name == "reopen":
                await worker.close()
                reply = await worker.open(worker.spec)
            elif name == "wait":
                reply = await worker.wait(command["revision"])
            elif name == "close":
                reply = await worker.close()
            else:
                raise ValueError(f"unknown command {name!r}")
        except Exception as e:  # the benchmark reports it
            reply = {"error": f"{type(e).__name__}: {e}"}
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()
    writer.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
