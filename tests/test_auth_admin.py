"""Auth administration (auth_enable/auth_disable/auth_status, user_*, role_*) with both clients, against a
fresh etcd per test (auth off, as on a new cluster); and its I/O-free operations: argument checks, the
requests they build, and that changes are never sent twice.

Passwords must not show in a result's repr, an exception (its chain and its traceback's locals) or a log.
"""

from __future__ import annotations

import inspect

import grpc
import pytest
from _clients import *
from test_client_security import assert_hidden, debug_logs, error_texts  # noqa: F401 - debug_logs: a fixture

import etcdstream
from etcdstream import (
    AlreadyExists,
    AuthFailed,
    AuthStatus,
    EtcdError,
    NotFound,
    Permission,
    PermissionDenied,
    PermissionType,
    WriteConnectionLost,
)
from etcdstream import _auth_ops, _proto
from etcdstream._core import ClientCore
from etcdstream._retry import RetryPolicy

# Distinctive, so finding one anywhere is a leak and not a coincidence.
ROOT_PW = "Root-pw-4hd8-never-shown"
APP_PW = "App-pw-k2m9-never-shown"
NEW_APP_PW = "New-app-pw-7qx1-never-shown"


def has_auth_status(server) -> bool:
    """Whether the server's etcd has the AuthStatus call (3.5 on)."""
    return server.binaries.version_info >= (3, 5)


def root_role_permissions(server) -> list[Permission]:
    """What RoleGet answers for the role root."""
    if server.binaries.version_info >= (3, 6):
        return [Permission(PermissionType.READWRITE, b"", b"\x00")]
    return []


async def add_root(etcd) -> None:
    """The user root with the role root, which auth_enable() needs."""
    await etcd.user_add("root", ROOT_PW)
    await etcd.role_add("root")
    await etcd.user_grant_role("root", "root")


async def raised(call) -> EtcdError:
    """The EtcdError call() raises (awaited if it returns a coroutine).

    Tests looking at an error's traceback locals pass a lambda on the Client itself (etcd.client), not on
    the test wrapper, whose frame would hold the call's arguments, the password among them.
    """
    try:
        result = call()
        if inspect.isawaitable(result):
            await result
    except EtcdError as e:
        return e
    raise AssertionError("expected the call to fail")


def test_auth_admin_end_to_end(run, make_etcd_server):
    server = make_etcd_server(name="auth-admin")
    endpoint = server.endpoint

    async def body(etcd):  # no credentials: auth is off until auth_enable()
        await add_root(etcd)
        await etcd.role_add("app-rw")
        await etcd.role_grant_permission("app-rw", "/app/", prefix=True, perm_type=PermissionType.READWRITE)
        await etcd.user_add("app", APP_PW)
        await etcd.user_grant_role("app", "app-rw")
        await etcd.user_add("cert-only", no_password=True)  # logs in with a TLS client certificate only

        assert await etcd.user_list() == ["app", "cert-only", "root"]
        assert await etcd.role_list() == ["app-rw", "root"]
        assert await etcd.user_get("app") == ["app-rw"]
        assert await etcd.user_get("root") == ["root"]
        assert await etcd.user_get("cert-only") == []
        [permission] = await etcd.role_get("app-rw")
        assert permission == Permission(PermissionType.READWRITE, b"/app/", b"/app0")
        assert permission.prefix
        # root needs no permissions: it may do anything. From 3.6 etcd says so, as one permission on every key
        # (rootPerm in server/auth/store.go); before, it answered none.
        assert await etcd.role_get("root") == root_role_permissions(server)
        if has_auth_status(server):
            before = await etcd.auth_status()
            assert before.enabled is False

        await etcd.auth_enable()
        with pytest.raises(AuthFailed):
            await etcd.get("/app/k")  # a client without credentials is refused from now on

        async with connect(etcd.kind, endpoint, username="app", password=APP_PW) as app:
            await app.put("/app/k", "v")
            assert (await app.get("/app/k")).value == b"v"
            assert (await app.range("/app/", prefix=True)).count == 1
            with pytest.raises(PermissionDenied):
                await app.put("/other/k", "v")
            with pytest.raises(PermissionDenied):
                await app.get("/other/k")
            with pytest.raises(PermissionDenied):
                await app.user_list()  # only root administers auth

        async with connect(etcd.kind, endpoint, username="root", password=ROOT_PW) as root:
            if has_auth_status(server):
                status = await root.auth_status()
                assert status.enabled is True and status.auth_revision >= before.auth_revision

            async with connect(etcd.kind, endpoint, username="app", password=APP_PW, timeout=5) as logged_in:
                assert (await logged_in.get("/app/k")).value == b"v"  # holds a token now
                await root.user_change_password("app", NEW_APP_PW)
                if has_auth_status(server):
                    assert (await root.auth_status()).auth_revision > status.auth_revision
                with pytest.raises(AuthFailed):
                    await logged_in.get("/app/k")  # its token is void, and its password no longer logs in
            async with connect(etcd.kind, endpoint, username="app", password=APP_PW, timeout=5) as old:
                with pytest.raises(AuthFailed):
                    await old.get("/app/k")
            async with connect(etcd.kind, endpoint, username="app", password=NEW_APP_PW) as app:
                assert (await app.get("/app/k")).value == b"v"

                await root.role_revoke_permission("app-rw", "/app/", prefix=True)
                assert await root.role_get("app-rw") == []
                # app's token predates the change: etcd says "auth store is old", the client logs in
                # again and is refused with its current roles.
                with pytest.raises(PermissionDenied):
                    await app.get("/app/k")
                with pytest.raises(PermissionDenied):
                    await app.put("/app/k", "v2")

                await root.role_grant_permission("app-rw", "/app/", prefix=True, perm_type="read")
                assert (await app.get("/app/k")).value == b"v"
                with pytest.raises(PermissionDenied):
                    await app.put("/app/k", "v2")  # READ only now
                await root.user_revoke_role("app", "app-rw")
                assert await root.user_get("app") == []
                with pytest.raises(PermissionDenied):
                    await app.get("/app/k")

            await root.auth_disable()

        # Auth is off: a client without credentials works again (one with them gets AuthFailed,
        # "authentication is not enabled", as when connecting to an etcd without auth).
        await etcd.put("/other/k", "v")
        assert await etcd.user_list() == ["app", "cert-only", "root"]  # users and roles are kept
        if has_auth_status(server):
            assert (await etcd.auth_status()).enabled is False
        await etcd.user_delete("cert-only")
        await etcd.role_delete("app-rw")
        assert await etcd.user_list() == ["app", "root"]
        assert await etcd.role_list() == ["root"]

    run(body, endpoint)


def test_auth_status_needs_etcd_3_5(run, make_etcd_server):
    server = make_etcd_server(name="auth-status")

    async def body(etcd):
        if has_auth_status(server):
            status = await etcd.auth_status()
            assert isinstance(status, AuthStatus) and status.enabled is False and status.auth_revision >= 0
        else:
            error = await raised(etcd.auth_status)
            assert type(error) is EtcdError and error.code == "UNIMPLEMENTED"
            assert "auth_status() needs etcd 3.5" in str(error)

    run(body, server.endpoint)


def test_unknown_and_duplicate_users_and_roles(run, make_etcd_server):
    server = make_etcd_server(name="auth-errors")

    async def body(etcd):
        error = await raised(etcd.auth_enable)
        assert type(error) is EtcdError and error.details == "etcdserver: root user does not exist"
        assert "user_add('root'" in str(error)
        await etcd.user_add("root", ROOT_PW)
        error = await raised(etcd.auth_enable)
        assert error.details == "etcdserver: root user does not have root role" and "user_grant_role" in str(error)

        await etcd.role_add("reader")
        await etcd.role_grant_permission("reader", "/r/", prefix=True, perm_type="read")
        for call, details in [
            (lambda: etcd.user_add("root", APP_PW), "user name already exists"),
            (lambda: etcd.role_add("reader"), "role name already exists"),
        ]:
            error = await raised(call)
            assert isinstance(error, AlreadyExists) and details in error.details

        for call, details in [
            (lambda: etcd.user_get("nobody"), "user name not found"),
            (lambda: etcd.user_delete("nobody"), "user name not found"),
            (lambda: etcd.user_change_password("nobody", NEW_APP_PW), "user name not found"),
            (lambda: etcd.user_grant_role("nobody", "reader"), "user name not found"),
            (lambda: etcd.user_grant_role("root", "nobody"), "role name not found"),
            (lambda: etcd.user_revoke_role("root", "reader"), "role is not granted to the user"),
            (lambda: etcd.role_get("nobody"), "role name not found"),
            (lambda: etcd.role_delete("nobody"), "role name not found"),
            (lambda: etcd.role_grant_permission("nobody", "/k", perm_type="read"), "role name not found"),
            (lambda: etcd.role_revoke_permission("reader", "/k"), "permission is not granted to the role"),
            # Only the exact range granted: the prefix /r/ is not the key /r/ alone.
            (lambda: etcd.role_revoke_permission("reader", "/r/"), "permission is not granted to the role"),
        ]:
            error = await raised(call)
            assert isinstance(error, NotFound) and details in error.details, (details, error)

        assert await etcd.user_list() == ["root"]  # nothing was changed
        assert await etcd.role_list() == ["reader"]
        assert await etcd.role_get("reader") == [Permission(PermissionType.READ, b"/r/", b"/r0")]

        await etcd.role_add("root")
        await etcd.user_grant_role("root", "root")
        await etcd.auth_enable()
        async with connect(etcd.kind, server.endpoint, username="root", password=ROOT_PW) as root:
            error = await raised(lambda: root.user_delete("root"))
            assert "auth_disable() first" in str(error)  # "invalid auth management"
            await root.auth_disable()

    run(body, server.endpoint)


def test_passwords_are_never_shown(run, make_etcd_server, debug_logs):  # noqa: F811 - the fixture imported
    server = make_etcd_server(name="auth-secrets")

    async def body(etcd):
        client = getattr(etcd, "client", etcd)  # the Client itself: see raised()
        await add_root(etcd)
        await etcd.role_add("app-rw")
        await etcd.role_grant_permission("app-rw", "/app/", prefix=True, perm_type="readwrite")
        await etcd.user_add("app", APP_PW)
        await etcd.user_grant_role("app", "app-rw")
        results = [await etcd.user_get("app"), await etcd.user_list(), await etcd.role_get("app-rw"),
                   await etcd.role_list()]
        if has_auth_status(server):
            results.append(await etcd.auth_status())

        errors = [
            await raised(lambda: client.user_add("app", NEW_APP_PW)),  # AlreadyExists
            await raised(lambda: client.user_change_password("nobody", NEW_APP_PW)),  # NotFound
        ]
        await etcd.auth_enable()
        errors.append(await raised(lambda: client.user_change_password("app", NEW_APP_PW)))  # no credentials
        async with connect(etcd.kind, server.endpoint, username="app", password=APP_PW) as app:
            app_client = getattr(app, "client", app)
            errors.append(await raised(lambda: app_client.user_change_password("app", NEW_APP_PW)))  # not root
        async with connect(etcd.kind, server.endpoint, username="root", password=ROOT_PW) as root:
            root_client = getattr(root, "client", root)
            await root.user_change_password("app", NEW_APP_PW)
            errors.append(await raised(lambda: root_client.user_add("app", APP_PW)))
            await root.auth_disable()

        assert [type(e) for e in errors] == [AlreadyExists, NotFound, AuthFailed, PermissionDenied, AlreadyExists]
        text = "\n".join([repr(results)] + [error_texts(e) for e in errors])
        assert_hidden(text, ROOT_PW, APP_PW, NEW_APP_PW)

    run(body, server.endpoint)
    assert_hidden(debug_logs(), ROOT_PW, APP_PW, NEW_APP_PW)


# --- the operations, without I/O ---


def test_argument_errors_name_the_argument_never_the_password():
    for call, error_class, words in [
        (lambda: _auth_ops.user_add("u"), ValueError, "no_password=True"),
        (lambda: _auth_ops.user_add("u", APP_PW, no_password=True), ValueError, "not both"),
        (lambda: _auth_ops.user_add("u", ""), ValueError, "password must not be empty"),
        (lambda: _auth_ops.user_add("u", APP_PW.encode()), TypeError, "password must be a str, got bytes"),
        (lambda: _auth_ops.user_add("", APP_PW), ValueError, "name must not be empty"),
        (lambda: _auth_ops.user_add(b"u", APP_PW), TypeError, "name must be a str, got bytes"),
        (lambda: _auth_ops.user_add("u", APP_PW, no_password=1), TypeError, "no_password must be a bool"),
        (lambda: _auth_ops.user_change_password("u", None), TypeError, "password must be a str, got NoneType"),
        (lambda: _auth_ops.user_grant_role("u", ""), ValueError, "role must not be empty"),
        (lambda: _auth_ops.role_add(None), TypeError, "role must be a str"),
        (lambda: _auth_ops.role_grant_permission("r", "/k", perm_type="admin"), ValueError, "PermissionType.READ"),
        (lambda: _auth_ops.role_grant_permission("r", "/k", perm_type=2), TypeError, "got int"),
        (lambda: _auth_ops.role_grant_permission("r", "", perm_type="read"), ValueError, "key must not be empty"),
        (lambda: _auth_ops.role_grant_permission("r", "/b", "/a", perm_type="read"), ValueError, "sort after"),
        (lambda: _auth_ops.role_revoke_permission("r", "/a", "/b", prefix=True), ValueError, "not both"),
        (lambda: _auth_ops.role_revoke_permission("r", 5), TypeError, "key must be str or bytes"),
        (lambda: _auth_ops.user_get("u", timeout=0), ValueError, "timeout"),
    ]:
        with pytest.raises(error_class) as raised_error:
            call()
        assert words in str(raised_error.value)
        assert_hidden(error_texts(raised_error.value, with_locals=False), APP_PW)


def test_permission_ranges():
    assert _auth_ops.permission_range("/app/", None, True) == (b"/app/", b"/app0")
    assert _auth_ops.permission_range(b"\xff", None, True) == (b"\xff", b"\0")
    assert _auth_ops.permission_range("", None, True) == (b"\0", b"\0")  # every key, as etcdctl sends it
    assert _auth_ops.permission_range("/k", None, False) == (b"/k", b"")
    assert _auth_ops.permission_range("/a", "/b", False) == (b"/a", b"/b")
    assert _auth_ops.permission_range("/a", b"\0", False) == (b"/a", b"\0")  # every key from /a on
    assert Permission(PermissionType.READ, b"/app/", b"/app0").prefix
    assert Permission(PermissionType.READ, b"\0", b"\0").prefix
    assert not Permission(PermissionType.READ, b"/app/").prefix
    assert Permission(PermissionType.READ, b"/a", b"/b").prefix  # the keys under /a are [/a, /b)
    assert not Permission(PermissionType.READ, b"/a", b"/c").prefix
    assert not Permission(PermissionType.READ, b"/a", b"\0").prefix


def test_requests():
    call = next(_auth_ops.role_grant_permission("r", "/app/", prefix=True, perm_type=PermissionType.WRITE))
    request = _proto.AuthRoleGrantPermissionRequest.FromString(call.request)
    assert (request.name, request.perm.permType, request.perm.key, request.perm.range_end) == (
        "r", _proto.Permission.WRITE, b"/app/", b"/app0")
    request = _proto.AuthUserAddRequest.FromString(next(_auth_ops.user_add("c", no_password=True)).request)
    assert (request.name, request.password, request.options.no_password) == ("c", "", True)
    call = next(_auth_ops.user_add("u", APP_PW))
    assert _proto.AuthUserAddRequest.FromString(call.request).password == APP_PW
    assert_hidden(repr(call) + str(call), APP_PW)


CHANGES = [
    lambda: _auth_ops.auth_enable(), lambda: _auth_ops.auth_disable(), lambda: _auth_ops.user_add("u", APP_PW),
    lambda: _auth_ops.user_delete("u"), lambda: _auth_ops.user_change_password("u", APP_PW),
    lambda: _auth_ops.user_grant_role("u", "r"), lambda: _auth_ops.user_revoke_role("u", "r"),
    lambda: _auth_ops.role_add("r"), lambda: _auth_ops.role_delete("r"),
    lambda: _auth_ops.role_grant_permission("r", "/k", perm_type="read"),
    lambda: _auth_ops.role_revoke_permission("r", "/k"),
]
READS = [
    lambda: _auth_ops.auth_status(), lambda: _auth_ops.user_get("u"), lambda: _auth_ops.user_list(),
    lambda: _auth_ops.role_get("r"), lambda: _auth_ops.role_list(),
]


def test_changes_are_never_sent_twice():
    core = ClientCore("127.0.0.1:2379", username=None, password=None, ca_file=None, cert_file=None, key_file=None,
                      timeout=5, keepalive_time=10, keepalive_timeout=5)
    for make in CHANGES:
        call = next(make())
        assert not call.idempotent, call.method
        # The connection broke with the change on its way: raised as of unknown outcome, not sent again.
        with pytest.raises(WriteConnectionLost):
            RetryPolicy(core, call).decide(grpc.StatusCode.UNAVAILABLE, "Socket closed")
    for make in READS:
        assert next(make()).idempotent


def test_public_names():
    for name in ("AlreadyExists", "NotFound", "AuthStatus", "Permission", "PermissionType"):
        assert name in etcdstream.__all__
    for method in ("auth_enable", "auth_disable", "auth_status", "user_add", "user_delete", "user_get", "user_list",
                   "user_change_password", "user_grant_role", "user_revoke_role", "role_add", "role_delete",
                   "role_get", "role_list", "role_grant_permission", "role_revoke_permission"):
        for client_class in (etcdstream.Client, etcdstream.AsyncClient):
            assert getattr(client_class, method).__doc__, (client_class, method)
