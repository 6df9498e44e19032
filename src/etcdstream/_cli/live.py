"""The mirror command: a Mirror of a prefix, and a live view of how it stands against etcd."""

from __future__ import annotations

import argparse
import os
import time

from .._errors import ClientClosed
from .._mirror_sync import Mirror
from .._sync import Client
from .exits import EXIT_OK
from .output import Output
from .watch import CloseOnSignal


def cmd_mirror(client: Client, args: argparse.Namespace, out: Output) -> int:
    """mirror PREFIX [--interval S]: keep a Mirror of PREFIX; every interval print its keys, revision, lag,
    events/s, last contact, reconnects, resyncs and its consistent reads answered from the copy and by etcd
    (a line rewritten in place on a terminal, one line per interval otherwise, one JSON object per interval
    with -w json) until interrupted."""
    in_place = out.format == "simple" and out.stream.isatty()
    with CloseOnSignal(client) as interrupt:
        try:
            with Mirror(client, os.fsencode(args.prefix)) as mirror:
                delivered, since = client.stats().events_delivered, time.monotonic()
                while True:
                    client.request_progress()  # a quiet prefix's etcd revision stays fresh
                    if interrupt.wait(args.interval):
                        break
                    mirror.wait_synced(0)  # raises the error that stopped the mirror, if any
                    stats, client_stats, now = mirror.stats(), client.stats(), time.monotonic()
                    rate = (client_stats.events_delivered - delivered) / (now - since)
                    delivered, since = client_stats.events_delivered, now
                    contact = None if stats.last_contact is None else round(stats.last_contact, 1)
                    consistent = stats.consistent_reads
                    if out.format == "json":
                        out.json({"keys": stats.keys, "revision": stats.revision, "etcd_revision": stats.etcd_revision,
                                  "lag": stats.lag, "events_per_second": round(rate, 1), "last_contact": contact,
                                  "reconnects": client_stats.reconnects, "resyncs": stats.resyncs,
                                  "synced": stats.synced, "consistent_from_copy": consistent.from_copy,
                                  "consistent_fallbacks": consistent.fallbacks})
                    else:
                        line = (f"keys {stats.keys}  revision {stats.revision}  lag {stats.lag}  "
                                f"events/s {rate:.1f}  last contact {'-' if contact is None else f'{contact} s'}  "
                                f"reconnects {client_stats.reconnects}  resyncs {stats.resyncs}  "
                                f"consistent {consistent.from_copy} copy / {consistent.fallbacks} etcd")
                        out.stream.write(f"\r\x1b[K{line}" if in_place else f"{line}\n")
                    out.stream.flush()
        except ClientClosed:
            if not interrupt.signalled:
                raise
        finally:
            if in_place:
                out.stream.write("\n")
    return EXIT_OK
