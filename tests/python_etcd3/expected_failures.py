"""Tests of python-etcd3's suite expected to fail on etcdstream.compat.etcd3, and why.

Only tests that patch or replace python-etcd3's private internals belong here: the
compat layer offers python-etcd3's public API, not its insides. The plugin marks
them xfail(strict=True): a test listed here that passes fails the run, so the list
cannot go stale. ETCD3_EXPECTED_FAILURES=none turns the marks off (for the real
python-etcd3, which these tests were written for).
"""

#: "Class::test" → why it cannot pass on the compat layer.
EXPECTED_FAILURES: dict[str, str] = {
    "TestEtcd3::test_new_watch_error": "patches the private etcd.watcher._new_watch_cond.wait",
    "TestEtcd3::test_watch_timeout_on_establishment": "replaces the private foo_etcd.watcher._watch_stub.Watch",
    "TestEtcd3::test_internal_exception_on_internal_error": "replaces the gRPC stub etcd.kvstub",
    "TestEtcd3::test_connection_failure_exception_on_connection_failure": "replaces the gRPC stub etcd.kvstub",
    "TestEtcd3::test_connection_timeout_exception_on_connection_timeout": "replaces the gRPC stub etcd.kvstub",
    "TestEtcd3::test_grpc_exception_on_unknown_code": "replaces the gRPC stub etcd.kvstub",
    "TestClient::test_user_pwd_auth": "patches python-etcd3's gRPC stub etcdrpc.AuthStub (a top-level etcdrpc, as "
                                      "its tox.ini's PYTHONPATH allowed)",
}
