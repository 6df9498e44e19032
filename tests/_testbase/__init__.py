"""Real etcd servers for etcdstream's tests (never a mock).

`fixtures` is the pytest plugin (``pytest_plugins = ["_testbase.fixtures"]``);
the classes here also work on their own, e.g. in benchmarks::

    with EtcdServer() as etcd:
        etcd.etcdctl("put", "k", "v")

    with EtcdServer() as etcd, EtcdGrpcProxy(etcd) as proxy:
        proxy.etcdctl("put", "k", "v")  # through the proxy, as etcdstream.Client(proxy.endpoint) would
"""

from .binaries import Binaries, EtcdNotFoundError, etcd_version, find_binaries
from .grpcproxy import EtcdGrpcProxy
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
    "TLSFiles",
    "etcd_version",
    "find_binaries",
    "free_port",
    "make_tls_files",
]
