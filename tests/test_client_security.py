"""TLS, mTLS and username/password auth, with both clients, against real etcd."""

from __future__ import annotations

import asyncio

import pytest
from _clients import *
from _testbase import READONLY_PREFIX

import etcdstream


def test_tls_with_ca_file(run, etcd_tls, fresh_prefix):
    async def body(etcd):
        await etcd.put(fresh_prefix + "k", "over tls")
        assert (await etcd.get(fresh_prefix + "k")).value == b"over tls"
        assert (await etcd.version()).server == etcd_tls.version  # /version over https too

    run(body, etcd_tls.endpoint, ca_file=etcd_tls.ca_file)
    run(body, etcd_tls.url, ca_file=etcd_tls.ca_file)  # https:// URL


def test_tls_with_wrong_ca_is_refused(run, etcd_tls, etcd_tls_files):
    async def body(etcd):
        with pytest.raises(etcdstream.ConnectionFailed) as e:
            await etcd.get("k")
        assert "TLS" in str(e.value) or "etcd running" in str(e.value)

    run(body, etcd_tls.url, ca_file=etcd_tls_files.other_ca_file, timeout=3)


def test_plain_client_against_tls_server_fails(run, etcd_tls):
    async def body(etcd):
        with pytest.raises(etcdstream.ConnectionFailed):
            await etcd.get("k")

    run(body, etcd_tls.endpoint, timeout=3)


def test_mtls(run, etcd_mtls, fresh_prefix):
    async def body(etcd):
        await etcd.put(fresh_prefix + "k", "mtls")
        assert (await etcd.get(fresh_prefix + "k")).value == b"mtls"

    run(body, etcd_mtls.url, ca_file=etcd_mtls.ca_file, cert_file=etcd_mtls.client_cert_file,
        key_file=etcd_mtls.client_key_file)


def test_mtls_without_or_with_a_foreign_client_certificate_is_refused(run, etcd_mtls, etcd_tls_files):
    async def body(etcd):
        with pytest.raises(etcdstream.ConnectionFailed):
            await etcd.get("k")

    run(body, etcd_mtls.url, ca_file=etcd_mtls.ca_file, timeout=3)
    run(body, etcd_mtls.url, ca_file=etcd_mtls.ca_file, cert_file=etcd_tls_files.other_client_cert_file,
        key_file=etcd_tls_files.other_client_key_file, timeout=3)


def test_auth_root_reads_and_writes(run, etcd_auth, fresh_prefix):
    async def body(etcd):
        await etcd.put(fresh_prefix + "k", "v")
        assert (await etcd.get(fresh_prefix + "k")).value == b"v"
        assert (await etcd.readdir(fresh_prefix)).kvs[0].value == b"v"
        lease = await etcd.grant(10)
        await etcd.revoke(lease)
        assert await etcd.health()

    run(body, etcd_auth.endpoint, username="root", password=etcd_auth.root_password)


def test_auth_reader_is_denied_outside_its_prefix(run, etcd_auth):
    etcd_auth.etcdctl("put", READONLY_PREFIX + "k", "readable")

    async def body(etcd):
        assert (await etcd.get(READONLY_PREFIX + "k")).value == b"readable"
        with pytest.raises(etcdstream.PermissionDenied) as e:
            await etcd.get("/elsewhere")
        assert "role" in str(e.value)
        with pytest.raises(etcdstream.PermissionDenied):
            await etcd.put(READONLY_PREFIX + "k", "write")  # reader may only read
        assert await etcd.health()  # a denied read still proves the cluster works

    run(body, etcd_auth.endpoint, username="reader", password=etcd_auth.reader_password)


def test_auth_wrong_password_and_missing_credentials(run, etcd_auth):
    async def wrong_password(etcd):
        with pytest.raises(etcdstream.AuthFailed) as e:
            await etcd.get("k")
        assert "password" in str(e.value)

    run(wrong_password, etcd_auth.endpoint, username="root", password="wrong")

    async def no_credentials(etcd):
        with pytest.raises((etcdstream.AuthFailed, etcdstream.PermissionDenied)):
            await etcd.get("k")

    run(no_credentials, etcd_auth.endpoint)


def test_auth_token_is_refreshed_transparently(run, make_etcd_server, fresh_prefix):
    server = make_etcd_server(auth=True, auth_token_ttl=2)

    async def body(etcd):
        await etcd.put(fresh_prefix + "k", "v1")
        await asyncio.sleep(3.5)  # the token expires after 2 s without use
        await etcd.put(fresh_prefix + "k", "v2")  # "invalid auth token": authenticate again, retry once
        assert (await etcd.get(fresh_prefix + "k")).value == b"v2"

    run(body, server.endpoint, username="root", password=server.root_password)
