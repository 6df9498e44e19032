"""The library's loggers: "etcdstream" and a child per area. A NullHandler and no other configuration: where
records go is the application's choice (the CLI's -v turns them on).

Levels: INFO for state changes (connected, failover, watch stream reconnected, Mirror resync, token
refreshed), WARNING for degraded states that persist (etcd unreachable for a while, a watcher paused for
a slow consumer, a lease lost), DEBUG for per-call detail. Never a password, a token or a value; keys
only at DEBUG.
"""

from __future__ import annotations

import logging

logging.getLogger("etcdstream").addHandler(logging.NullHandler())

CLIENT = logging.getLogger("etcdstream.client")
WATCH = logging.getLogger("etcdstream.watch")
MIRROR = logging.getLogger("etcdstream.mirror")
LEASE = logging.getLogger("etcdstream.lease")
