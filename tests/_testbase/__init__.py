"""Real etcd servers for etcdstream's tests (never a mock).

`fixtures` is the pytest plugin (``pytest_plugins = ["_testbase.fixtures"]``);
the classes here also work on their own, e.g. in benchmarks::

    with EtcdServer() as etcd:
        etcd.etcdctl("put", "k", "v")

    with EtcdServer() as etcd, EtcdGrpcProxy(etcd) as proxy:
        proxy.etcdctl("put", "k", "v")  # through the proxy, as etcdstream.Client(proxy.endpoint) would

`guarantees` checks etcd's six watch guarantees on what a watcher delivered, against etcd's history as
`history` reads it with etcdctl::

    assert_watch_guarantees(batches, WatchRequest.prefix("/p/", start_revision=2), read_history(etcd, 2))
"""

from .binaries import Binaries, EtcdNotFoundError, etcd_version, find_binaries
from .grpcproxy import EtcdGrpcProxy
from .guarantees import (
    History,
    MirrorChecker,
    Violation,
    WatchChecker,
    WatchRequest,
    assert_watch_guarantees,
    watch_violations,
)
from .history import HistoryRecorder, read_history
from .server import READONLY_PREFIX, EtcdCluster, EtcdctlError, EtcdServer, EtcdStartError, free_port
from .tls import TLSFiles, make_tls_files

__all__ = [
    "READONLY_PREFIX",
    "Binaries",
    "EtcdCluster",
    "EtcdGrpcProxy",
    "EtcdNotFoundError",
    "EtcdServer",
    "EtcdStartError",
    "EtcdctlError",
    "History",
    "HistoryRecorder",
    "MirrorChecker",
    "TLSFiles",
    "Violation",
    "WatchChecker",
    "WatchRequest",
    "assert_watch_guarantees",
    "etcd_version",
    "find_binaries",
    "free_port",
    "make_tls_files",
    "read_history",
    "watch_violations",
]
