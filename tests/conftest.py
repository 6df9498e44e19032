import importlib
import os

import pytest

pytest_plugins = ["_testbase.fixtures"]

# Tests that start etcd get the `etcd` mark: tests/run runs them again on etcd 3.4.
ETCD_FIXTURES = {
    "etcd_server", "etcd_tls", "etcd_mtls", "etcd_auth", "etcd_cluster", "make_etcd_server",
    "etcd_proxy", "etcd_cluster_proxy", "make_etcd_proxy", "etcd_path",
}

NO_EXTENSIONS = os.environ.get("ETCDSTREAM_NO_EXTENSIONS", "") not in ("", "0")

# The compiled codec is a required parameter unless ETCDSTREAM_NO_EXTENSIONS is
# set: if it was built but does not import, every c-codec test fails.
CODEC_MODULES = [
    pytest.param("etcdstream._codec_py", id="py-codec"),
    pytest.param(
        "etcdstream._codec",
        id="c-codec",
        marks=pytest.mark.skipif(NO_EXTENSIONS, reason="ETCDSTREAM_NO_EXTENSIONS is set"),
    ),
]


@pytest.fixture(scope="session", params=CODEC_MODULES)
def codec(request):
    """Each implementation of the codec in turn: the pure-Python twin and the compiled module."""
    return importlib.import_module(request.param)


def pytest_collection_modifyitems(items):
    for item in items:
        if ETCD_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.etcd)
