"""The test base itself: real etcd servers and etcd's gRPC proxy from the fixtures, checked with etcdctl.

The proxy's tests talk through it with etcdstream (what it is there for) and check etcd behind it with etcdctl.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import etcdstream
from _testbase import READONLY_PREFIX, EtcdCluster, EtcdctlError, EtcdGrpcProxy, EtcdServer, EtcdStartError, free_port
from _testbase import Binaries, TLSFiles

WATCHERS = "etcd_debugging_mvcc_watcher_total"


def get_value(server: EtcdServer | EtcdCluster, key: str, *flags: str) -> str:
    """The value of key via etcdctl, or "" if absent."""
    out = server.etcdctl("get", key, "--print-value-only", *flags).stdout
    return out.rstrip("\n")


def etcdctl_with(server: EtcdServer, *flags: str) -> subprocess.CompletedProcess[str]:
    """`etcdctl get x` with exactly these TLS flags, failing fast (for refused connections)."""
    cmd = [str(server.binaries.etcdctl), f"--endpoints={server.url}", "--dial-timeout=1s",
           "--command-timeout=1s", *flags, "get", "x"]
    env = {**os.environ, "ETCDCTL_API": "3"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env)


def eventually(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Wait until condition() is true; fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def next_keys(watcher: etcdstream.Watcher) -> list[bytes]:
    """The keys of the next batch of events a watcher gets (batches without events are skipped)."""
    while True:
        batch = watcher.get(timeout=10)
        assert batch is not None, "no event within 10 s"
        if len(batch):
            return [event.key for event in batch]


def put_through_member_loss(client: etcdstream.Client, key: str, value: str) -> None:
    """Put, again if the answer was lost (the same value twice is harmless here).

    Just after a member is killed, the proxy may still send a call to it and
    answer UNAVAILABLE "error reading from server: EOF".
    """
    for attempt in range(3):
        try:
            client.put(key, value)
            return
        except etcdstream.ConnectionFailed:
            if attempt == 2:
                raise


def test_binaries(etcd_binaries: Binaries) -> None:
    assert re.fullmatch(r"3\.\d+\.\d+", etcd_binaries.version)
    assert etcd_binaries.version_info >= (3, 4)
    assert etcd_binaries.etcdctl.is_file()
    # 3.6 removed etcdctl's snapshot restore and status: etcdutl must be found there.
    assert etcd_binaries.snapshot_tool.is_file()


@pytest.mark.parametrize(("version", "spelled"), [
    ("3.4.23", "--experimental-watch-progress-notify-interval=500ms"),
    ("3.5.36", "--experimental-watch-progress-notify-interval=500ms"),
    ("3.6.17", "--watch-progress-notify-interval=500ms"),
    ("3.7.4", "--watch-progress-notify-interval=500ms"),
])
def test_flags_renamed_in_3_6(version: str, spelled: str) -> None:
    binaries = Binaries(etcd=Path("etcd"), etcdctl=Path("etcdctl"), version=version)
    assert binaries.flag("watch-progress-notify-interval", "500ms") == spelled
    assert binaries.flag("quota-backend-bytes", 1) == "--quota-backend-bytes=1"  # never experimental
    assert binaries.flag("unsafe-no-fsync") == "--unsafe-no-fsync"


def test_fresh_prefix(fresh_prefix: str) -> None:
    assert re.fullmatch(r"/t/test_fresh_prefix-\d+/", fresh_prefix)


def test_single_node(etcd_server: EtcdServer, fresh_prefix: str) -> None:
    assert etcd_server.url == f"http://{etcd_server.endpoint}"
    etcd_server.etcdctl("put", fresh_prefix + "k", "v1")
    assert get_value(etcd_server, fresh_prefix + "k") == "v1"
    assert "etcd_server_has_leader 1" in etcd_server.metrics()
    with pytest.raises(EtcdctlError, match="unknown command"):
        etcd_server.etcdctl("no-such-command")


def test_kill_leaves_server_down(etcd_server: EtcdServer, fresh_prefix: str) -> None:
    etcd_server.etcdctl("put", "/t/survives-kill", "yes")
    pid = etcd_server.pid
    assert pid is not None
    etcd_server.kill()
    assert etcd_server.pid is None and not etcd_server.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    # Left down on purpose: the next test checks the fixture brought it back.


def test_killed_server_is_restarted_after_test(etcd_server: EtcdServer) -> None:
    assert etcd_server.running
    assert get_value(etcd_server, "/t/survives-kill") in ("yes", "")  # "" when run alone


def test_tls(etcd_tls: EtcdServer, fresh_prefix: str) -> None:
    assert etcd_tls.url.startswith("https://") and etcd_tls.ca_file is not None
    etcd_tls.etcdctl("put", fresh_prefix + "k", "tls")
    assert get_value(etcd_tls, fresh_prefix + "k") == "tls"
    assert "etcd_server_has_leader" in etcd_tls.metrics()
    assert etcdctl_with(etcd_tls, f"--cacert={etcd_tls.other_ca_file}").returncode != 0


def test_mtls(etcd_mtls: EtcdServer, etcd_tls_files: TLSFiles, fresh_prefix: str) -> None:
    etcd_mtls.etcdctl("put", fresh_prefix + "k", "mtls")
    assert get_value(etcd_mtls, fresh_prefix + "k") == "mtls"
    assert "etcd_server_has_leader" in etcd_mtls.metrics()
    ca = f"--cacert={etcd_mtls.ca_file}"
    assert etcdctl_with(etcd_mtls, ca).returncode != 0  # no client certificate
    wrong = etcdctl_with(etcd_mtls, ca, f"--cert={etcd_tls_files.other_client_cert_file}",
                         f"--key={etcd_tls_files.other_client_key_file}")
    assert wrong.returncode != 0  # client certificate from another CA


def test_auth(etcd_auth: EtcdServer, fresh_prefix: str) -> None:
    key = READONLY_PREFIX + fresh_prefix.lstrip("/")
    etcd_auth.etcdctl("put", key, "r")  # as root
    assert get_value(etcd_auth, key, "--user", f"reader:{etcd_auth.reader_password}") == "r"
    assert etcd_auth.etcdctl("get", key, user="reader").stdout.splitlines() == [key, "r"]
    for denied in (("put", key, "x"), ("get", fresh_prefix + "k")):
        with pytest.raises(EtcdctlError, match="permission denied"):
            etcd_auth.etcdctl(*denied, user="reader")
    with pytest.raises(EtcdctlError, match="user name is empty"):
        etcd_auth.etcdctl("get", key, user="")


def test_make_etcd_server_with_flags(make_etcd_server: Callable[..., EtcdServer], fresh_prefix: str) -> None:
    server = make_etcd_server(auth=True, auth_token_ttl=2, extra_args=["--auto-compaction-retention=1"])
    assert "--auth-token-ttl=2" in server.command()
    server.etcdctl("put", fresh_prefix + "k", "v")
    assert get_value(server, fresh_prefix + "k") == "v"


def test_start_failure_shows_log(etcd_binaries: Binaries) -> None:
    with pytest.raises(EtcdStartError, match=r"(?s)etcd exited.*no-such-flag"):
        with EtcdServer(binaries=etcd_binaries, extra_args=["--no-such-flag"]):
            pass


def test_cluster_kill_leader(etcd_cluster: EtcdCluster, fresh_prefix: str) -> None:
    assert len(etcd_cluster.endpoints) == 3
    old = etcd_cluster.leader()
    old.kill()
    new = etcd_cluster.leader()
    assert new is not old
    etcd_cluster.etcdctl("put", fresh_prefix + "k", "written while a member was down")
    old.start()
    # A serializable read answers from the member's own data: it has caught up.
    deadline = time.monotonic() + 30
    while get_value(old, fresh_prefix + "k", "--consistency=s") == "":
        assert time.monotonic() < deadline, "restarted member did not catch up"
        time.sleep(0.05)
    assert etcd_cluster.leader() in etcd_cluster.members


def test_cluster_member_is_restarted_after_test(etcd_cluster: EtcdCluster) -> None:
    etcd_cluster.members[1].stop()  # the fixture brings it back after the test


def test_cluster_all_members_up(etcd_cluster: EtcdCluster) -> None:
    assert all(m.running for m in etcd_cluster.members)
    health = etcd_cluster.etcdctl("endpoint", "health")
    assert (health.stdout + health.stderr).count("is healthy") == 3


def test_cluster_names_and_client_ports(etcd_binaries: Binaries) -> None:
    port = free_port()
    cluster = EtcdCluster(3, binaries=etcd_binaries, names=["a0", "a1", "a2"], client_ports=[port, None, None])
    try:
        assert [m.name for m in cluster.members] == ["a0", "a1", "a2"]
        assert cluster.members[0].client_port == port and len(set(cluster.endpoints)) == 3
        command = " ".join(cluster.members[1].command())
        assert " --name a1 " in command  # two tokens: `pgrep -f -- '--name a1'` finds the member
    finally:
        cluster.close()


def test_close_kills_and_deletes(etcd_binaries: Binaries) -> None:
    server = EtcdServer(binaries=etcd_binaries, name="closing").start()
    directory, pid = server.dir, server.pid
    assert pid is not None and (directory / "etcd.log").is_file()
    server.close()
    assert not directory.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_proxy_put_reaches_etcd(etcd_proxy: EtcdGrpcProxy, etcd_server: EtcdServer, fresh_prefix: str) -> None:
    assert etcd_proxy.backend is etcd_server and etcd_proxy.url == f"http://{etcd_proxy.endpoint}"
    with etcdstream.Client(etcd_proxy.endpoint) as client:
        client.put(fresh_prefix + "k", "through the proxy")
    assert get_value(etcd_server, fresh_prefix + "k") == "through the proxy"
    # MemberList through the proxy names the proxy alone.
    assert etcd_proxy.url in etcd_proxy.etcdctl("member", "list").stdout
    if etcd_proxy.binaries.version_info >= (3, 5):
        assert etcd_proxy.metric("etcd_grpc_proxy_cache_keys_total") >= 0
    else:
        with pytest.raises(RuntimeError, match="does not serve its own metrics"):
            etcd_proxy.metrics()


def test_proxy_restarts_on_the_same_port(etcd_proxy: EtcdGrpcProxy, fresh_prefix: str) -> None:
    endpoint, pid = etcd_proxy.endpoint, etcd_proxy.pid
    with etcdstream.Client(etcd_proxy.endpoint, timeout=10) as client:
        client.put(fresh_prefix + "k", "before")
        etcd_proxy.stop()
        assert not etcd_proxy.running and etcd_proxy.pid is None
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", etcd_proxy.port), timeout=1).close()
        etcd_proxy.start()
        assert etcd_proxy.endpoint == endpoint and etcd_proxy.pid not in (None, pid)
        kv = client.get(fresh_prefix + "k")  # the client reconnects to the same address by itself
        assert kv is not None and kv.value == b"before"


def test_proxy_kill_leaves_it_down(etcd_proxy: EtcdGrpcProxy) -> None:
    etcd_proxy.kill()
    assert not etcd_proxy.running
    # Left down on purpose: the next test checks the fixture brought it back.


def test_killed_proxy_is_restarted_after_test(etcd_proxy: EtcdGrpcProxy, fresh_prefix: str) -> None:
    assert etcd_proxy.running
    etcd_proxy.etcdctl("put", fresh_prefix + "k", "v")


def test_proxy_start_failure_shows_log(etcd_server: EtcdServer) -> None:
    with pytest.raises(EtcdStartError, match=r"(?s)the proxy exited.*no-such-flag"):
        with EtcdGrpcProxy(etcd_server, extra_args=["--no-such-flag"]):
            pass


def test_proxy_coalesces_watchers(make_etcd_server: Callable[..., EtcdServer],
                                  make_etcd_proxy: Callable[..., EtcdGrpcProxy], fresh_prefix: str) -> None:
    # A server of its own: watchers other tests leave closing on a shared one would move the count.
    server = make_etcd_server()
    proxy = make_etcd_proxy(server)
    before = server.metric(WATCHERS)
    with etcdstream.Client(proxy.endpoint) as a, etcdstream.Client(proxy.endpoint) as b:
        watchers = [client.watchdir(fresh_prefix) for client in (a, b) for _ in range(3)]
        # Each new watcher has a server watcher of its own until the proxy merges it into the first.
        eventually(lambda: server.metric(WATCHERS) == before + 1, "6 watchers of one prefix became 1 on etcd")
        server.etcdctl("put", fresh_prefix + "k", "v")
        for watcher in watchers:
            assert next_keys(watcher) == [f"{fresh_prefix}k".encode()]
        assert server.metric(WATCHERS) == before + 1
    eventually(lambda: server.metric(WATCHERS) == before, "the proxy cancelled its watcher once its clients left")


def test_cluster_proxy_with_a_member_killed(etcd_cluster_proxy: EtcdGrpcProxy, etcd_cluster: EtcdCluster,
                                            fresh_prefix: str) -> None:
    assert etcd_cluster_proxy.backend_endpoints == etcd_cluster.endpoints
    with etcdstream.Client(etcd_cluster_proxy.endpoint) as client:
        watcher = client.watchdir(fresh_prefix)
        leader = etcd_cluster.leader()
        # A follower: no election. The proxy spreads calls over all members.
        next(m for m in etcd_cluster.members if m is not leader).kill()
        keys = [f"{fresh_prefix}k{i}" for i in range(6)]
        for key in keys:
            put_through_member_loss(client, key, "written while a member was down")
        assert all(get_value(etcd_cluster, key) == "written while a member was down" for key in keys)
        seen: list[bytes] = []
        while len(set(seen)) < len(keys):
            seen += next_keys(watcher)
        assert list(dict.fromkeys(seen)) == [key.encode() for key in keys]  # a put sent twice shows twice
