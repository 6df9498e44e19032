"""snapshot() (issue 14): etcd's backend streamed to a file that etcdutl checks and restores, with both clients."""

from __future__ import annotations

import hashlib
import json
import io
import subprocess

import pytest
from _clients import *
from _testbase.children import child_env

import etcdstream
from etcdstream import _proto
from etcdstream._snapshot import SnapshotFile


def _status(server, path) -> dict:
    """`etcdutl snapshot status` (etcdctl's on 3.4) of a snapshot file, as JSON."""
    proc = subprocess.run([str(server.binaries.snapshot_tool), "snapshot", "status", str(path), "-w", "json"], capture_output=True, text=True,
                          timeout=60, env=child_env(ETCDCTL_API="3"), check=True)
    return json.loads(proc.stdout)


def test_a_snapshot_is_checked_and_restores_to_the_same_keys(run, make_etcd_server, tmp_path):
    server = make_etcd_server(name="snap")

    async def body(etcd):
        for i in range(200):
            await etcd.put(f"/snap/{i:03}", "x" * 1000)
        revision = (await etcd.put("/snap/last", "v")).revision
        seen = []
        path = tmp_path / "backup.db"
        size = await etcd.snapshot(path, progress=lambda received, remaining: seen.append((received, remaining)))
        assert path.stat().st_size == size and not path.with_name(path.name + ".part").exists()
        assert seen[-1] == (size, 0) and all(a[0] < b[0] for a, b in zip(seen, seen[1:]))
        assert _status(server, path)["revision"] == revision
        into = io.BytesIO()
        assert await etcd.snapshot(into) == into.tell() > 0
        return path

    path = run(body, server.endpoint)
    server.stop()
    server.restore_snapshot(path)
    server.start()
    with etcdstream.Client(server.endpoint) as etcd:
        assert etcd.count("/snap/") == 201 and etcd.get("/snap/last").value == b"v"
        with pytest.raises(TypeError, match="snapshot needs a path or a binary file"):
            etcd.snapshot(42)


def test_a_snapshot_cut_short_fails_its_checksum_and_leaves_no_file(tmp_path):
    def response(blob: bytes, remaining: int) -> bytes:
        return _proto.SnapshotResponse(blob=blob, remaining_bytes=remaining).SerializeToString()

    data = b"backend bytes " * 5000
    whole = [response(data[:40000], 100), response(data[40000:] + hashlib.sha256(data).digest(), 0)]
    target = SnapshotFile(tmp_path / "ok.db")
    for r in whole:
        target.write(r)
    assert target.finish() == len(data) + 32 and (tmp_path / "ok.db").read_bytes()[:-32] == data
    cut = SnapshotFile(tmp_path / "cut.db")
    cut.write(whole[0])
    with pytest.raises(etcdstream.EtcdError, match="does not match etcd's checksum"):
        cut.finish()
    assert list(tmp_path.iterdir()) == [tmp_path / "ok.db"]
