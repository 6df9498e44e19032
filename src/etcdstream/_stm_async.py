# The source of _stm_sync.py: edit this file, then run `python tests/unasync.py` (tests/test_one_source.py checks).
"""Software transactional memory over etcd (Go's concurrency.STM): a function's reads and writes applied as
one transaction, run again while another writer changed what it read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from ._errors import STMConflict
from ._keys import Key, to_bytes
from ._results import RangeResult, TxnResult
from ._txn import Compare, Delete, Put

T = TypeVar("T")

#: Go's isolation levels, strongest first (concurrency.SerializableSnapshot is Go's default, and ours).
ISOLATIONS = ("serializable_snapshot", "serializable", "repeatable_read", "read_committed")


class AsyncSTMClient(Protocol):
    """What an STM needs of its client."""

    async def range(self, key: Key, range_end: Key | None = None, **options: Any) -> RangeResult: ...
    async def txn(self, compare: Any, success: Any = (), failure: Any = (), *,
                  timeout: float | None = None) -> TxnResult: ...


class AsyncSTM:
    """One try of an stm() function: get() reads (from etcd once per key, then from this try), put() and
    delete() are buffered until the commit. What get() sees depends on the isolation:
    serializable_snapshot and serializable read every key at the revision of the first read, repeatable_read
    each key at its first read, read_committed too but without checking anything at the commit."""

    def __init__(self, client: AsyncSTMClient, isolation: str) -> None:
        self._client = client
        self._isolation = isolation
        self._reads: dict[bytes, tuple[bytes | None, int]] = {}  # key -> (value, mod revision: 0 when absent)
        self._writes: dict[bytes, bytes | None] = {}  # key -> value, None to delete
        self._base_revision = 0  # the first read's revision (serializable levels)

    async def get(self, key: Key) -> bytes | None:
        """key's value as this transaction sees it (None when absent)."""
        key_bytes = to_bytes("key", key, allow_empty=False)
        if key_bytes in self._writes:
            return self._writes[key_bytes]
        if key_bytes not in self._reads:
            serializable = self._isolation in ("serializable_snapshot", "serializable")
            at = (self._base_revision or None) if serializable else None
            read = await self._client.range(key_bytes, revision=at)
            if serializable and not self._base_revision:
                self._base_revision = read.revision
            kv = read.kvs[0] if read.kvs else None
            self._reads[key_bytes] = (kv.value, kv.mod_revision) if kv is not None else (None, 0)
        return self._reads[key_bytes][0]

    async def revision(self, key: Key) -> int:
        """key's mod revision as this transaction read it (0 when absent)."""
        await self.get(key)
        return self._reads[to_bytes("key", key, allow_empty=False)][1]

    def put(self, key: Key, value: Key) -> None:
        """Write key=value at the commit."""
        self._writes[to_bytes("key", key, allow_empty=False)] = to_bytes("value", value)

    def delete(self, key: Key) -> None:
        """Delete key at the commit."""
        self._writes[to_bytes("key", key, allow_empty=False)] = None

    async def _commit(self) -> bool:
        """Apply the writes if nothing this try relied on changed; False: run again."""
        compares = []
        if self._isolation != "read_committed":
            compares = [Compare(key, "mod_revision", "==", revision) for key, (_, revision) in self._reads.items()]
        if self._isolation == "serializable_snapshot" and self._base_revision:
            compares += [Compare(key, "mod_revision", "<", self._base_revision + 1) for key in self._writes]
        operations = [Delete(key) if value is None else Put(key, value) for key, value in self._writes.items()]
        return (await self._client.txn(compares, operations)).succeeded


async def run_stm(client: AsyncSTMClient, apply: Callable[[AsyncSTM], Awaitable[T]], isolation: str,
                  tries: int) -> T:
    """Run apply in tries until one commits; its result. ConflictError after `tries` conflicting ones."""
    if isolation not in ISOLATIONS:
        raise ValueError(f"isolation must be one of {', '.join(ISOLATIONS)}, got {isolation!r}")
    if not isinstance(tries, int) or isinstance(tries, bool) or tries < 1:
        raise ValueError(f"tries must be an int >= 1, got {tries!r}")
    for _ in range(tries):
        stm = AsyncSTM(client, isolation)
        result = await apply(stm)
        if await stm._commit():
            return result
    raise STMConflict(f"stm(): {tries} tries all conflicted with other writers (raise tries=, or write less at once)")
