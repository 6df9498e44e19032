import importlib
import os

import pytest

# pytest_plugins = ["_testbase.fixtures"]

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
