"""Saving etcd's backend (Maintenance/Snapshot) to a file: the request, each response's blob, and the file that
receives them, checked and moved into place only when complete. No network I/O: the client streams the call."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import IO

from . import _proto
from ._calls import Call, check_timeout, parse_message
from ._errors import EtcdError

_SNAPSHOT = _proto.method_path("Maintenance", "Snapshot")
#: etcd sends the SHA-256 of the database after it: the file keeps it (etcdutl checks it on restore).
_HASH_SIZE = hashlib.sha256().digest_size


def snapshot_call(timeout: float | None) -> Call:
    """The Snapshot call (a server stream; no deadline unless timeout says so: a backend may be gigabytes)."""
    return Call(_SNAPSHOT, _proto.SnapshotRequest().SerializeToString(), check_timeout(timeout))


class SnapshotFile:
    """Where a snapshot goes: a path (written as path.part, renamed once complete and checked, removed on
    failure) or a binary file object (written as is)."""

    def __init__(self, target: str | os.PathLike[str] | IO[bytes]) -> None:
        if isinstance(target, (str, os.PathLike)):
            self.path: Path | None = Path(target)
            self._partial = self.path.with_name(self.path.name + ".part")
            self._file: IO[bytes] = open(self._partial, "wb")  # noqa: SIM115 - closed by finish()/abort()
        elif hasattr(target, "write"):
            self.path, self._file = None, target
        else:
            raise TypeError(f"snapshot needs a path or a binary file, got {type(target).__name__}")
        self._digest = hashlib.sha256()
        self._tail = b""  # the last _HASH_SIZE bytes so far: etcd's checksum once the stream ends
        self.size = 0

    def write(self, response: bytes) -> int:
        """Write one response's blob; return the bytes etcd says remain."""
        resp = parse_message(_proto.SnapshotResponse, response)
        blob = bytes(resp.blob)
        self._file.write(blob)
        self.size += len(blob)
        data = self._tail + blob
        self._digest.update(data[:-_HASH_SIZE] if len(data) > _HASH_SIZE else b"")
        self._tail = data[-_HASH_SIZE:]
        return int(resp.remaining_bytes)

    def finish(self) -> int:
        """The stream ended: check etcd's checksum, move the file into place; return its size."""
        if len(self._tail) < _HASH_SIZE or self._digest.digest() != self._tail:
            self.abort()
            raise EtcdError(f"the snapshot received ({self.size} bytes) does not match etcd's checksum: "
                            "the stream was cut short (try again)")
        if self.path is not None:
            self._file.close()
            os.replace(self._partial, self.path)
        else:
            self._file.flush()
        return self.size

    def abort(self) -> None:
        """The stream failed: remove the partial file (a file object is left to its owner)."""
        if self.path is not None:
            self._file.close()
            self._partial.unlink(missing_ok=True)
