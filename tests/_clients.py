"""Run one test body with both clients: Client (blocking) and AsyncClient (asyncio).

A test takes the `run` fixture and writes its body once, as a coroutine
function of a client; `run` calls it with the blocking Client (wrapped so its
methods can be awaited) and, in the other parametrization, with AsyncClient::

    def test_put(run, etcd_server, fresh_prefix):
        async def body(etcd):
            await etcd.put(fresh_prefix + "k", "v")
        run(body, etcd_server.endpoint)

Import the fixtures into a test module with ``from _clients import *``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import etcdstream

__all__ = ["BlockingAsAsync", "client_kind", "connect", "keepers_running", "run"]


class BlockingAsAsync:
    """A Client whose methods are awaited like AsyncClient's (they still block: the call runs in place)."""

    kind = "sync"

    def __init__(self, client: etcdstream.Client) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)
        if not callable(method):
            return method

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call


@contextlib.asynccontextmanager
async def connect(kind: str, endpoints: Any, **kwargs: Any) -> AsyncIterator[Any]:
    """A client of `kind` ("sync" or "async") with awaitable methods, closed on exit."""
    if kind == "sync":
        with etcdstream.Client(endpoints, **kwargs) as client:
            yield BlockingAsAsync(client)
    else:
        async with etcdstream.AsyncClient(endpoints, **kwargs) as client:
            client.kind = "async"
            yield client


def keepers_running() -> int:
    """Lease keepalive threads (Client) and tasks (AsyncClient, in the running loop) still alive."""
    threads = [t for t in threading.enumerate() if t.name.startswith("etcdstream-lease-")]
    try:
        tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("etcdstream-lease-") and not t.done()]
    except RuntimeError:  # no running loop
        tasks = []
    return len(threads) + len(tasks)


@pytest.fixture(params=["sync", "async"])
def client_kind(request: pytest.FixtureRequest) -> str:
    """Which client a test runs with: "sync" (Client) or "async" (AsyncClient)."""
    return request.param


@pytest.fixture
def run(client_kind: str) -> Callable[..., Any]:
    """run(body, endpoints, **client kwargs): await body(client) in a new event loop; return its result."""

    def run_body(body: Callable[[Any], Awaitable[Any]], endpoints: Any, **kwargs: Any) -> Any:
        async def main() -> Any:
            async with connect(client_kind, endpoints, **kwargs) as client:
                return await body(client)

        return asyncio.run(main())

    return run_body
