"""Logging (issue 16 §1): what a client tells through the `etcdstream` loggers, with both clients, against etcd.

Each test catches the records of the `etcdstream` logger tree and checks their level, logger and message,
and that no password, token or value is in them.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time

import pytest
from _clients import *
from _testbase.proxy import FaultProxy

import etcdstream


@pytest.fixture
def records(caplog):
    """The records of the etcdstream loggers, at every level."""
    caplog.set_level(logging.DEBUG, logger="etcdstream")

    def matching(level: int | None = None, logger: str | None = None) -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name.startswith("etcdstream")
                and (level is None or r.levelno == level) and (logger is None or r.name == logger)]

    return matching


async def wait_for_record(records, logger: str, text: str, timeout: float = 30.0) -> logging.LogRecord:
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in records(logger=logger) if text in r.getMessage()]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no {logger} record with {text!r}: {[r.getMessage() for r in records()]}"
        await asyncio.sleep(0.05)


def test_the_library_configures_nothing_but_a_null_handler():
    root = logging.getLogger("etcdstream")
    assert [type(h) for h in root.handlers] == [logging.NullHandler]
    assert root.level == logging.NOTSET and root.propagate


def test_a_failover_says_from_where_to_where_and_why(run, etcd_server, records):
    async def body(etcd):
        await etcd.put("/log/k", "secret-value")
        failover = [r for r in records(logging.INFO, "etcdstream.client") if r.getMessage().startswith("failover")]
        assert len(failover) == 1, [r.getMessage() for r in records()]
        assert f"from 127.0.0.1:1 to {etcd_server.endpoint}" in failover[0].getMessage()
        assert "127.0.0.1:1" in failover[0].getMessage().split(": ", 1)[1]  # why: that endpoint refused
        assert any(r.getMessage() == f"connected to {etcd_server.endpoint}" for r in records(logging.INFO))
        retry = [r.getMessage() for r in records(logging.DEBUG, "etcdstream.client")]
        assert "/etcdserverpb.KV/Put on 127.0.0.1:1 failed (UNAVAILABLE): failover" in retry
        assert not any("secret-value" in r.getMessage() for r in records())

    run(body, ["127.0.0.1:1", etcd_server.endpoint])


def test_a_broken_watch_stream_logs_the_break_and_the_resume(run, etcd_server, fresh_prefix, records):
    with FaultProxy(etcd_server.endpoint) as proxy:

        async def body(etcd):
            watcher = await open_watch(etcd, fresh_prefix)
            revision = (await etcd.put(fresh_prefix + "a", "v")).revision
            await collect(watcher, 1)
            proxy.drop()
            await wait_for_record(records, "etcdstream.watch", "watch stream broken")
            proxy.resume()
            record = await wait_for_record(records, "etcdstream.watch", "watch stream reconnected")
            assert record.levelno == logging.INFO
            assert f"1 watchers resumed from revisions {revision + 1}..{revision + 1}" in record.getMessage()
            await watcher.close()

        run(body, [proxy.endpoint])


def test_a_mirror_resync_says_why_and_what_changed(run, etcd_server, fresh_prefix, records):
    with FaultProxy(etcd_server.endpoint) as proxy:

        async def body(etcd):
            for key in ("a", "b"):
                await etcd.put(fresh_prefix + key, "v")
            mirror = MirrorOf(etcd, fresh_prefix)
            assert await mirror.wait_synced(20)
            proxy.drop()
            with etcdstream.Client(etcd_server.endpoint) as other:
                other.delete(fresh_prefix + "a")
                other.put(fresh_prefix + "b", "changed")
                other.put(fresh_prefix + "c", "new")
                latest = other.put(fresh_prefix + "d", "new").revision
                other.compact(latest)
            proxy.resume()
            record = await wait_for_record(records, "etcdstream.mirror", "read its prefix again")
            assert record.levelno == logging.INFO
            message = record.getMessage()
            assert f"etcd compacted its history up to {latest}" in message
            assert "2 keys added, 1 changed, 1 removed" in message
            assert fresh_prefix not in message  # keys only at DEBUG
            await mirror.close()

        run(body, [proxy.endpoint])


def test_a_lost_lease_is_a_warning(run, etcd_server, records):
    async def body(etcd):
        lease = await etcd.grant(30, keep_alive=True)
        with etcdstream.Client(etcd_server.endpoint) as other:
            other.revoke(lease)
        record = await wait_for_record(records, "etcdstream.lease", "lost")
        assert record.levelno == logging.WARNING and f"lease {lease.id:x} lost" in record.getMessage()
        assert client_of(etcd).stats().leases_lost == 1

    run(body, etcd_server.endpoint)


def test_a_refreshed_token_is_logged_and_no_secret_ever_is(run, make_etcd_server, fresh_prefix, records):
    server = make_etcd_server(auth=True, auth_token_ttl=2)

    async def body(etcd):
        await etcd.put("/t/k", "a-value-nobody-logs")
        await asyncio.sleep(3.5)  # the token expires unused
        await etcd.get("/t/k")
        await wait_for_record(records, "etcdstream.client", "logging in again")
        token = client_of(etcd)._transport.core.token
        assert token
        for record in records():
            text = record.getMessage()
            assert server.root_password not in text and token not in text and "a-value-nobody-logs" not in text

    run(body, server.endpoint, username="root", password=server.root_password)


def test_a_healthy_client_under_load_says_almost_nothing_at_info(run, etcd_server, fresh_prefix, records):
    async def body(etcd):
        watcher = await open_watch(etcd, fresh_prefix)
        for i in range(300):
            await etcd.put(f"{fresh_prefix}{i}", "v")
        await collect(watcher, 300)
        await etcd.readdir(fresh_prefix)
        await watcher.close()
        at_info = [r.getMessage() for r in records() if r.levelno >= logging.INFO]
        assert at_info == [f"connected to {etcd_server.endpoint}"]

    run(body, etcd_server.endpoint)


@pytest.mark.parametrize("verbosity, shown", [("", []), ("-v", ["INFO"]), ("-vv", ["INFO", "DEBUG"])])
def test_the_cli_logs_to_stderr_with_v(etcd_server, fresh_prefix, verbosity, shown):
    command = [sys.executable, "-m", "etcdstream", "--endpoints", f"127.0.0.1:1,{etcd_server.endpoint}",
               "put", fresh_prefix + "k", "v"] + ([verbosity] if verbosity else [])
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    levels = sorted({line.split()[1] for line in proc.stderr.splitlines() if line.startswith("etcdstream: ")})
    assert levels == sorted(shown), proc.stderr
    if shown:
        assert f"etcdstream: INFO etcdstream.client: failover from 127.0.0.1:1 to {etcd_server.endpoint}" in proc.stderr
