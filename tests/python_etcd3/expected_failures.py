"""Tests of python-etcd3's suite expected to fail on etcdstream.compat.etcd3, and why.

None is today: the compat layer has python-etcd3's gRPC stubs (kvstub, ...,
etcdrpc.AuthStub) and the watcher internals its tests replace (_watch_stub,
_new_watch_cond), through which its calls really go. The plugin marks a test
listed here xfail(strict=True): one that passes fails the run, so the list cannot
go stale. ETCD3_EXPECTED_FAILURES=none turns the marks off (for the real
python-etcd3, which these tests were written for).
"""

#: "Class::test" → why it cannot pass on the compat layer. Empty: every test of the suite passes.
EXPECTED_FAILURES: dict[str, str] = {}
