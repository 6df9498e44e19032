"""pytest plugin: python-etcd3's own test suite on a real etcd cluster, ``etcd3`` bound to the module under test.

tests/run runs it on etcd 3.5 and 3.4. By hand, from the repository::

    root=$(.venv/bin/python tests/python_etcd3/fetch.py)    # python-etcd3 0.12.0's sdist, extracted
    (cd "$root" && ETCD_BIN=/usr/bin/etcd PYTHONPATH="$OLDPWD/tests/python_etcd3:$OLDPWD/tests" \\
        "$OLDPWD/.venv/bin/python" -m pytest -p plugin -p no:cacheprovider tests/test_etcd3.py)

pytest must run in the sdist's root: the suite opens "tests/ca.crt" and friends.
To check the harness itself, run the same with ETCD3_UNDER_TEST=etcd3
ETCD3_EXPECTED_FAILURES=none in a venv holding the real python-etcd3 and what it
was released with: etcd3==0.12.0 protobuf==3.20.3 tenacity==6.1.0 grpcio pytest
hypothesis mock six. All 82 tests pass there, on etcd 3.5 and 3.4.

Environment:

- ETCD3_UNDER_TEST: the module ``import etcd3`` gives the suite, its submodules
  becoming ``etcd3.<name>`` (default: etcdstream.compat.etcd3). "etcd3" means the
  installed python-etcd3 itself, aliased to nothing.
- ETCD3_EXPECTED_FAILURES=none: do not mark expected_failures.py's tests xfail
  (for the real python-etcd3, whose internals those tests patch).
- ETCD_BIN: the etcd to run, as for the rest of the tests; its etcdctl goes first on PATH.

The suite was written for a pifpaf-made cluster, and this plugin makes one like it
for the session: members pifpaf0, pifpaf1 and pifpaf2 (test_member_list checks the
names; ``_out_quorum`` SIGSTOPs ``pgrep -f -- '--name pifpaf[12]'``, so a pifpaf1
running elsewhere on the machine is stopped too), pifpaf0 on 127.0.0.1:2379 (many
tests call ``etcd3.client()`` with no arguments), and the variables its tests read.
"""

from __future__ import annotations

import importlib
import os
import socket
import sys
from types import ModuleType

import pytest
from hypothesis import HealthCheck, settings

from _testbase.binaries import EtcdNotFoundError, find_binaries
from _testbase.server import EtcdCluster, EtcdStartError
from expected_failures import EXPECTED_FAILURES

SUBMODULES = ("client", "etcdrpc", "events", "exceptions", "leases", "locks", "members", "transactions", "utils",
              "watch")
MEMBER_NAMES = ("pifpaf0", "pifpaf1", "pifpaf2")
CLIENT_PORT = 2379  # etcd3.client()'s default


def _under_test() -> str:
    return os.environ.get("ETCD3_UNDER_TEST") or "etcdstream.compat.etcd3"


def _marks_expected_failures() -> bool:
    value = os.environ.get("ETCD3_EXPECTED_FAILURES", "")
    if value not in ("", "none"):
        raise pytest.UsageError(f'ETCD3_EXPECTED_FAILURES must be unset or "none", not {value!r}')
    return value == ""


def _import_outside_cwd(name: str) -> ModuleType:
    """Import name with the current directory off sys.path.

    The cwd is python-etcd3's sdist root, which holds a copy of the etcd3 package:
    it must not stand in for the installed one.
    """
    cwd = os.getcwd()
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != cwd]
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise pytest.UsageError(f"ETCD3_UNDER_TEST={name} does not import: {type(e).__name__}: {e}") from e
    finally:
        sys.path[:] = saved


def _bind_etcd3(name: str) -> ModuleType:
    """Make `import etcd3` and `import etcd3.<sub>` give module name and its submodules."""
    module = _import_outside_cwd(name)
    if name == "etcd3":
        # python-etcd3's tox.ini ran the suite with its package directory on PYTHONPATH:
        # test_user_pwd_auth's @mock.patch('etcdrpc.AuthStub') imports a top-level etcdrpc.
        # Appended, so that the package's modules shadow nothing.
        sys.path.append(os.path.dirname(module.__file__))
        return module
    sys.modules["etcd3"] = module
    for sub in SUBMODULES:
        try:
            sys.modules[f"etcd3.{sub}"] = importlib.import_module(f"{name}.{sub}")
        except ModuleNotFoundError as e:
            if e.name != f"{name}.{sub}":
                raise
            # Left out: `import etcd3.<sub>` then fails in the tests that need it, not at collection.
    if "etcd3.etcdrpc" in sys.modules:
        # The top-level etcdrpc python-etcd3's tox.ini made importable (see above): the module under test's,
        # so that test_user_pwd_auth's patch of etcdrpc.AuthStub is the stub the client authenticates with.
        sys.modules.setdefault("etcdrpc", sys.modules["etcd3.etcdrpc"])
    return module


def _check_port_free(port: int) -> None:
    with socket.socket() as s:
        # As etcd binds: a previous run's connections in TIME_WAIT do not count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            raise pytest.UsageError(
                f"127.0.0.1:{port} is taken ({e.strerror}): python-etcd3's tests call etcd3.client() with no "
                f"arguments, i.e. localhost:{port}, so member pifpaf0 must serve there. Stop what listens on {port}."
            ) from e


def pytest_configure(config: pytest.Config) -> None:
    """Bind etcd3 and load the hypothesis profile before the suite's module is imported."""
    _marks_expected_failures()  # a bad value fails now, not after the cluster started
    _bind_etcd3(_under_test())
    # The suite's @given tests take the function-scoped `etcd` fixture, which modern
    # hypothesis refuses. Its module registers a profile "default" without a parent,
    # which inherits from the one loaded then: this one. No example database: it would
    # be written into the sdist's tree and replay one run's failures in the next.
    settings.register_profile(
        "python-etcd3-harness", suppress_health_check=[HealthCheck.function_scoped_fixture], database=None
    )
    settings.load_profile("python-etcd3-harness")


def pytest_report_header(config: pytest.Config) -> list[str]:
    module = sys.modules["etcd3"]
    marks = "xfail marks from expected_failures.py" if _marks_expected_failures() else "no xfail marks"
    try:
        etcd = f"etcd {find_binaries().version} ({find_binaries().etcd})"
    except EtcdNotFoundError:
        etcd = "etcd not found"  # pytest_sessionstart says more
    return [f"python-etcd3 suite: etcd3 = {_under_test()} ({module.__file__}), {marks}", f"python-etcd3 suite: {etcd}"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start the pifpaf-like cluster (closed when pytest ends) and set the variables the suite reads."""
    try:
        binaries = find_binaries()
    except EtcdNotFoundError as e:
        raise pytest.UsageError(str(e)) from e
    _check_port_free(CLIENT_PORT)
    cluster = EtcdCluster(3, binaries=binaries, names=MEMBER_NAMES, client_ports=(CLIENT_PORT, None, None))
    session.config.add_cleanup(cluster.close)
    try:
        cluster.start()
    except EtcdStartError as e:
        raise pytest.UsageError(f"the cluster for python-etcd3's tests did not start: {e}") from e
    os.environ.update(
        PYTHON_ETCD_HTTP_URL=cluster.members[0].url,
        TEST_ETCD_VERSION=f"v{binaries.version}",  # compared as a string: "v3.5.1" < "v3.3" is False
        ETCDCTL_API="3",
        # The suite runs a bare `etcdctl`: the one of the etcd under test.
        PATH=os.pathsep.join([str(binaries.etcdctl.parent), os.environ.get("PATH", "")]),
    )


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselect: the stale-name check sees every test
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark expected_failures.py's tests xfail(strict=True): reported as such, and a pass fails the run."""
    if not _marks_expected_failures():
        return
    by_name = {item.nodeid.split("::", 1)[-1]: item for item in items}
    for name, reason in EXPECTED_FAILURES.items():
        if name in by_name:
            by_name[name].add_marker(pytest.mark.xfail(strict=True, reason=reason))
    unknown = sorted(set(EXPECTED_FAILURES) - set(by_name))
    # Only a whole-file run collects every test; "file::Class::test" arguments select fewer.
    if unknown and not any("::" in arg for arg in config.args):
        raise pytest.UsageError(f"expected_failures.py names tests the suite does not have: {unknown}")
