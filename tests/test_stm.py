"""stm() (issue 14): Go's concurrency.STM, with both clients."""

from __future__ import annotations

import asyncio

import pytest
from _clients import *

import etcdstream


def transfer(client, a: str, b: str):
    """An stm function moving 1 from a to b (a coroutine function for the asyncio client)."""
    if isinstance(client, etcdstream.AsyncClient):
        async def apply(stm):
            x, y = int(await stm.get(a)), int(await stm.get(b))
            stm.put(a, str(x - 1))
            stm.put(b, str(y + 1))
            return x - 1
        return apply

    def apply(stm):
        x, y = int(stm.get(a)), int(stm.get(b))
        stm.put(a, str(x - 1))
        stm.put(b, str(y + 1))
        return x - 1
    return apply


@pytest.mark.parametrize("isolation", ["serializable_snapshot", "serializable", "repeatable_read"])
def test_concurrent_transfers_each_apply_once(run, etcd_server, fresh_prefix, isolation):
    a, b = fresh_prefix + "a", fresh_prefix + "b"

    async def body(etcd):
        client = client_of(etcd)
        await etcd.put(a, "100")
        await etcd.put(b, "0")

        async def worker() -> None:
            for _ in range(5):
                if isinstance(client, etcdstream.AsyncClient):
                    await client.stm(transfer(client, a, b), isolation=isolation, tries=100)
                else:
                    await asyncio.to_thread(client.stm, transfer(client, a, b), isolation=isolation, tries=100)

        await asyncio.gather(*(worker() for _ in range(4)))
        assert ((await etcd.get(a)).value, (await etcd.get(b)).value) == (b"80", b"20")

    run(body, etcd_server.endpoint)


def test_a_conflicting_writer_makes_the_function_run_again_and_tries_run_out(run, etcd_server, fresh_prefix):
    key = fresh_prefix + "k"

    async def body(etcd):
        client = client_of(etcd)
        await etcd.put(key, "1")
        runs = []
        with etcdstream.Client(etcd_server.endpoint) as other:
            def interfere(times: int) -> None:
                runs.append(1)
                if len(runs) <= times:
                    other.put(key, "changed by another writer %d" % len(runs))

            if isinstance(client, etcdstream.AsyncClient):
                async def apply(stm, times=1):
                    value = await stm.get(key)
                    interfere(times)
                    stm.put(key, value + b"+1")
                    return value
            else:
                def apply(stm, times=1):
                    value = stm.get(key)
                    interfere(times)
                    stm.put(key, value + b"+1")
                    return value

            assert await etcd.stm(apply) == b"changed by another writer 1"
            assert len(runs) == 2 and (await etcd.get(key)).value == b"changed by another writer 1+1"
            runs.clear()
            with pytest.raises(etcdstream.STMConflict, match="3 tries all conflicted"):
                await etcd.stm(lambda stm: apply(stm, times=100), tries=3)
            assert len(runs) == 3
            with pytest.raises(ValueError, match="isolation must be one of"):
                await etcd.stm(apply, isolation="snapshot")

    run(body, etcd_server.endpoint)
