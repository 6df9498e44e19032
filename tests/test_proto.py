"""etcdstream._proto: committed descriptors, round trips, and staying out of the way.

The subprocess tests matter most: other etcd clients register etcd's file names
in protobuf's default descriptor pool, so etcdstream must never do the same, and
it must build its classes on every protobuf runtime it claims to support.

ETCDSTREAM_PROTOBUF_DIRS lists `pip install --target DIR protobuf==X` trees
(os.pathsep-separated) to run the import check against; unset, that test is skipped.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import descriptor_pb2

import etcdstream
from etcdstream import _etcd_descriptors, _proto

ROOT = Path(__file__).resolve().parents[1]
# Where etcdstream is imported from (src/ or site-packages); subprocesses need it.
PACKAGE_PARENT = Path(etcdstream.__file__).resolve().parent.parent
ETCD_FILES = ("kv.proto", "auth.proto", "rpc.proto")
PEERS = ("etcd3", "aetcd", "pyetcd")  # python-etcd3, aetcd, etcd-sdk-python
PROTOBUF_DIRS = [d for d in os.environ.get("ETCDSTREAM_PROTOBUF_DIRS", "").split(os.pathsep) if d]

# Imports etcdstream._proto in a fresh interpreter, round-trips a WatchResponse
# and checks that protobuf's default pool knows none of etcd's files or messages.
IMPORT_CHECK = textwrap.dedent(
    """
    from google.protobuf import descriptor_pool
    import etcdstream._proto as p

    kv = p.KeyValue(key=b"k", value=b"v", create_revision=1, mod_revision=7, version=2, lease=-1)
    msg = p.WatchResponse(
        header=p.ResponseHeader(cluster_id=1, member_id=2, revision=7, raft_term=3),
        watch_id=4,
        events=[p.Event(type=p.Event.DELETE, kv=kv, prev_kv=kv)],
    )
    assert p.WatchResponse.FromString(msg.SerializeToString()) == msg
    assert p.method_path("Watch", "Watch") == "/etcdserverpb.Watch/Watch"

    default = descriptor_pool.Default()
    leaked = []
    for name in p.FILE_NAMES:
        try:
            default.FindFileByName(name)
            leaked.append(name)
        except KeyError:
            pass
    for name in ("mvccpb.KeyValue", "etcdserverpb.WatchResponse", "authpb.Role"):
        try:
            default.FindMessageTypeByName(name)
            leaked.append(name)
        except KeyError:
            pass
    assert not leaked, f"etcdstream registered {leaked} in the default pool"
    """
)


def run_python(code: str, cwd: Path, *, path_first: str = "", env: dict[str, str] | None = None):
    """Run ``code`` in a fresh interpreter that imports etcdstream from where this test does."""
    pythonpath = [p for p in (path_first, str(PACKAGE_PARENT), os.environ.get("PYTHONPATH", "")) if p]
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join(pythonpath), **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )


def _load_generate() -> ModuleType:
    path = ROOT / "protos" / "generate.py"
    if not path.exists():
        pytest.skip("protos/ is not in this tree")
    spec = importlib.util.spec_from_file_location("etcdstream_protos_generate", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- (a) the committed descriptors are those of protos/ ---------------------------------


def test_committed_descriptors_match_protos():
    pytest.importorskip("grpc_tools")
    fresh = descriptor_pb2.FileDescriptorSet.FromString(_load_generate().compile_descriptor_set())
    committed = descriptor_pb2.FileDescriptorSet.FromString(_etcd_descriptors.FILE_DESCRIPTOR_SET)
    # Compare parsed files, not bytes: another protoc may serialize the same files differently.
    fresh_files = {f.name: f for f in fresh.file}
    committed_files = {f.name: f for f in committed.file}
    stale = sorted(
        n for n in fresh_files.keys() | committed_files.keys() if fresh_files.get(n) != committed_files.get(n)
    )
    assert not stale, f"{stale} changed: run python protos/generate.py"


def test_pool_holds_etcd_files():
    assert _proto.FILE_NAMES == ETCD_FILES
    for name, package in zip(ETCD_FILES, ("mvccpb", "authpb", "etcdserverpb"), strict=True):
        assert _proto.POOL.FindFileByName(name).package == package


def test_every_message_is_a_module_attribute():
    for file_name in ETCD_FILES:
        for name, desc in _proto.POOL.FindFileByName(file_name).message_types_by_name.items():
            cls = getattr(_proto, name)
            assert cls.DESCRIPTOR.full_name == desc.full_name
            assert name in _proto.__all__
    assert _proto.RangeRequest.DESCRIPTOR.full_name == "etcdserverpb.RangeRequest"
    assert _proto.KeyValue.DESCRIPTOR.full_name == "mvccpb.KeyValue"
    assert _proto.Permission.DESCRIPTOR.full_name == "authpb.Permission"


def test_enums():
    assert (_proto.Event.PUT, _proto.Event.DELETE) == (0, 1)
    assert _proto.Event.EventType.Name(1) == "DELETE"
    assert _proto.RangeRequest.SortOrder.Value("DESCEND") == 2
    assert _proto.RangeRequest.SortTarget.Name(3) == "MOD"
    assert _proto.Compare.CompareResult.Value("NOT_EQUAL") == 3
    assert _proto.Compare.CompareTarget.Name(4) == "LEASE"
    assert _proto.WatchCreateRequest.FilterType.Value("NODELETE") == 1
    assert _proto.Permission.Type.Name(2) == "READWRITE"
    assert _proto.AlarmType.Value("CORRUPT") == 2


def test_method_path():
    assert _proto.method_path("KV", "Range") == "/etcdserverpb.KV/Range"
    assert _proto.method_path("Watch", "Watch") == "/etcdserverpb.Watch/Watch"
    assert _proto.method_path("Lease", "LeaseKeepAlive") == "/etcdserverpb.Lease/LeaseKeepAlive"
    assert _proto.method_path("Auth", "Authenticate") == "/etcdserverpb.Auth/Authenticate"
    method = _proto.POOL.FindServiceByName("etcdserverpb.Maintenance").methods_by_name["Snapshot"]
    assert method.output_type.full_name == "etcdserverpb.SnapshotResponse"
    with pytest.raises(KeyError):
        _proto.method_path("KV", "Get")


# -- (b) round trips ---------------------------------------------------------------------


def test_wire_format_of_key_value():
    # Hand-encoded: field numbers and int64 (not zigzag) encoding come from kv.proto.
    kv = _proto.KeyValue(key=b"k", mod_revision=5, lease=-1)
    assert kv.SerializeToString() == b"\x0a\x01k\x18\x05\x30" + b"\xff" * 9 + b"\x01"


def test_watch_response_round_trip():
    def kv(key: bytes, rev: int) -> _proto.KeyValue:
        return _proto.KeyValue(
            key=key, value=b"v%d" % rev, create_revision=2, mod_revision=rev, version=rev - 1, lease=0
        )

    msg = _proto.WatchResponse(
        header=_proto.ResponseHeader(cluster_id=2**64 - 1, member_id=9, revision=12, raft_term=3),
        watch_id=-1,
        compact_revision=0,
        fragment=True,
        events=[
            _proto.Event(type=_proto.Event.PUT, kv=kv(b"a", 11), prev_kv=kv(b"a", 10)),
            _proto.Event(
                type=_proto.Event.DELETE, kv=_proto.KeyValue(key=b"b", mod_revision=12), prev_kv=kv(b"b", 9)
            ),
        ],
    )
    back = _proto.WatchResponse.FromString(msg.SerializeToString())
    assert back == msg
    assert back.header.cluster_id == 2**64 - 1
    assert back.watch_id == -1
    assert [e.type for e in back.events] == [_proto.Event.PUT, _proto.Event.DELETE]
    assert back.events[0].prev_kv.mod_revision == 10
    assert back.events[1].prev_kv.value == b"v9"
    assert not back.events[1].kv.value


def test_range_response_round_trip():
    msg = _proto.RangeResponse(
        header=_proto.ResponseHeader(revision=42),
        kvs=[_proto.KeyValue(key=b"k%03d" % i, value=bytes(i), mod_revision=i + 1) for i in range(50)],
        more=True,
        count=120,
    )
    back = _proto.RangeResponse.FromString(msg.SerializeToString())
    assert back == msg
    assert len(back.kvs) == 50 and back.kvs[49].key == b"k049" and back.kvs[49].value == bytes(49)
    assert back.more and back.count == 120


def test_txn_request_round_trip():
    msg = _proto.TxnRequest(
        compare=[
            _proto.Compare(
                result=_proto.Compare.EQUAL, target=_proto.Compare.VALUE, key=b"lock", value=b"me"
            ),
            _proto.Compare(
                result=_proto.Compare.LESS,
                target=_proto.Compare.MOD,
                key=b"a",
                range_end=b"b",
                mod_revision=100,
            ),
        ],
        success=[_proto.RequestOp(request_put=_proto.PutRequest(key=b"lock", value=b"", prev_kv=True))],
        failure=[
            _proto.RequestOp(
                request_range=_proto.RangeRequest(key=b"lock", sort_order=_proto.RangeRequest.DESCEND)
            )
        ],
    )
    back = _proto.TxnRequest.FromString(msg.SerializeToString())
    assert back == msg
    assert [c.WhichOneof("target_union") for c in back.compare] == ["value", "mod_revision"]
    assert back.compare[1].range_end == b"b"
    assert back.success[0].WhichOneof("request") == "request_put"
    assert back.failure[0].request_range.sort_order == _proto.RangeRequest.DESCEND


# -- (c) nothing in protobuf's default pool ----------------------------------------------


def test_default_pool_stays_empty(tmp_path):
    # A fresh interpreter: this test process may already hold a peer's registrations.
    result = run_python(IMPORT_CHECK, tmp_path)
    assert result.returncode == 0, result.stderr


# -- (d) coexistence with other etcd clients ---------------------------------------------


@functools.cache
def _peer_env(peer: str, cwd: Path) -> tuple[dict[str, str] | None, str]:
    """Find an environment in which ``peer`` imports on its own, or say why none does."""
    # python-etcd3 0.12 ships gencode from before protoc 3.19, which protobuf >= 4
    # accepts only with its pure-Python backend.
    for env in ({}, {"PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"}):
        result = run_python(f"import {peer}", cwd, env=env)
        if result.returncode == 0:
            return env, ""
    return None, result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("order", ["peer-first", "etcdstream-first"])
@pytest.mark.parametrize("peer", PEERS)
def test_coexists_with_peer(peer, order, tmp_path_factory):
    if importlib.util.find_spec(peer) is None:
        pytest.skip(f"{peer} is not installed")
    env, why = _peer_env(peer, tmp_path_factory.getbasetemp())
    if env is None:
        pytest.skip(f"{peer} does not import here on its own: {why}")
    imports = [f"import {peer}", "import etcdstream._proto"]
    if order == "etcdstream-first":
        imports.reverse()
    # The peer's registrations are in the default pool, so only the round trip part
    # of IMPORT_CHECK applies; check that etcdstream still uses its own classes.
    code = "\n".join(imports) + textwrap.dedent(
        """
        import etcdstream._proto as p
        msg = p.WatchResponse(watch_id=3, events=[p.Event(kv=p.KeyValue(key=b"k", mod_revision=2))])
        assert p.WatchResponse.FromString(msg.SerializeToString()) == msg
        assert p.WatchResponse.DESCRIPTOR.file.pool is p.POOL
        """
    )
    result = run_python(code, tmp_path_factory.getbasetemp(), env=env)
    assert result.returncode == 0, result.stderr


# -- (e) protobuf runtimes -----------------------------------------------------------------


def _protobuf_version(directory: str) -> str:
    for dist in importlib.metadata.distributions(path=[directory]):
        if dist.metadata["Name"].lower() == "protobuf":
            return dist.version
    raise AssertionError(f"no protobuf distribution in {directory}")


@pytest.mark.parametrize("backend", ["default", "python"])
@pytest.mark.parametrize("protobuf_dir", PROTOBUF_DIRS)
def test_protobuf_runtime(protobuf_dir, backend, tmp_path):
    expected = _protobuf_version(protobuf_dir)
    env = {"PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"} if backend == "python" else {}
    code = (
        "import google.protobuf\n"
        f"assert google.protobuf.__version__ == {expected!r}, google.protobuf.__version__\n" + IMPORT_CHECK
    )
    result = run_python(code, tmp_path, path_first=protobuf_dir, env=env)
    assert result.returncode == 0, result.stderr
