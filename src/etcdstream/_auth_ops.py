"""Auth administration operations (I/O-free generators of Calls, see _calls): enable and disable auth, users,
roles and their permissions, named as in etcd's Go client (client/v3/auth.go).

Every change goes through raft and is marked not idempotent, as etcd's Go client marks them
(client/v3/retry.go: nonRepeatable): after a failure that leaves unknown whether etcd applied it, the
driver raises OutcomeUnknown instead of sending it again. The reads (auth_status, user_get, user_list,
role_get, role_list) are retried like any read.

Passwords travel only inside Call.request, which Call keeps out of its repr; no message here names one.
"""

from __future__ import annotations

from typing import Any

from . import _proto
from ._calls import Call, Operation, check_timeout, parse_message, single_call
from ._keys import Key, prefix_range, to_bytes
from ._results import AuthStatus, Permission
from ._types import PermissionType
from ._validate import enum_member

_AUTH_ENABLE = _proto.method_path("Auth", "AuthEnable")
_AUTH_DISABLE = _proto.method_path("Auth", "AuthDisable")
_AUTH_STATUS = _proto.method_path("Auth", "AuthStatus")
_USER_ADD = _proto.method_path("Auth", "UserAdd")
_USER_DELETE = _proto.method_path("Auth", "UserDelete")
_USER_GET = _proto.method_path("Auth", "UserGet")
_USER_LIST = _proto.method_path("Auth", "UserList")
_USER_CHANGE_PASSWORD = _proto.method_path("Auth", "UserChangePassword")
_USER_GRANT_ROLE = _proto.method_path("Auth", "UserGrantRole")
_USER_REVOKE_ROLE = _proto.method_path("Auth", "UserRevokeRole")
_ROLE_ADD = _proto.method_path("Auth", "RoleAdd")
_ROLE_DELETE = _proto.method_path("Auth", "RoleDelete")
_ROLE_GET = _proto.method_path("Auth", "RoleGet")
_ROLE_LIST = _proto.method_path("Auth", "RoleList")
_ROLE_GRANT_PERMISSION = _proto.method_path("Auth", "RoleGrantPermission")
_ROLE_REVOKE_PERMISSION = _proto.method_path("Auth", "RoleRevokePermission")


# --- argument checks (before any I/O) ---


def _name(what: str, value: object) -> str:
    """A user or role name: a non-empty str."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    return value


def _password(value: object) -> str:
    """A password: a non-empty str. The messages never show the value, only its type."""
    if not isinstance(value, str):
        raise TypeError(f"password must be a str, got {type(value).__name__}")
    if not value:
        raise ValueError("password must not be empty (user_add(name, no_password=True) adds a user without one)")
    return value


def permission_range(key: Key, range_end: Key | None, prefix: bool) -> tuple[bytes, bytes]:
    """The (key, range_end) of a permission: key alone, [key, range_end), or every key under the prefix key
    (prefix=True; with an empty key every key, sent as etcdctl sends it: b"\\0", b"\\0")."""
    start = to_bytes("key", key)
    if prefix and range_end is not None:
        raise ValueError("give range_end or prefix=True, not both")
    if prefix:
        return prefix_range(start)
    if not start:
        raise ValueError("key must not be empty (prefix=True with an empty key covers every key)")
    if range_end is None:
        return start, b""
    end = to_bytes("range_end", range_end, allow_empty=False)
    if end != b"\0" and end <= start:
        raise ValueError(f"range_end must sort after key (or be b'\\0': every key from key on), got {end!r}")
    return start, end


def _change(method: str, request: Any, timeout: float | None) -> Operation[None]:
    """An operation of one change to the auth store (not idempotent), whose answer holds nothing else."""
    call = Call(method, request.SerializeToString(), check_timeout(timeout), idempotent=False)
    return single_call(call, lambda raw: None)


def _read(method: str, request: Any, timeout: float | None, decode: Any) -> Operation[Any]:
    """An operation of one read of the auth store."""
    return single_call(Call(method, request.SerializeToString(), check_timeout(timeout)), decode)


# --- auth on and off ---


def auth_enable(*, timeout: float | None = None) -> Operation[None]:
    """Turn auth on; etcd needs a user root holding the role root first."""
    return _change(_AUTH_ENABLE, _proto.AuthEnableRequest(), timeout)


def auth_disable(*, timeout: float | None = None) -> Operation[None]:
    """Turn auth off (a root call once auth is on)."""
    return _change(_AUTH_DISABLE, _proto.AuthDisableRequest(), timeout)


def auth_status(*, timeout: float | None = None) -> Operation[AuthStatus]:
    """Whether auth is on, and the auth store's revision (etcd 3.5 and later)."""

    def decode(raw: bytes) -> AuthStatus:
        resp = parse_message(_proto.AuthStatusResponse, raw)
        return AuthStatus(bool(resp.enabled), int(resp.authRevision))

    return _read(_AUTH_STATUS, _proto.AuthStatusRequest(), timeout, decode)


# --- users ---


def user_add(name: str, password: str | None = None, *, no_password: bool = False,
             timeout: float | None = None) -> Operation[None]:
    """Add a user with a password, or without one (no_password=True: it can only log in with a TLS client
    certificate whose common name is its name)."""
    if not isinstance(no_password, bool):
        raise TypeError(f"no_password must be a bool, got {type(no_password).__name__}")
    if no_password and password is not None:
        raise ValueError("give a password or no_password=True, not both")
    if not no_password and password is None:
        raise ValueError("a password is needed (or no_password=True for a user without one)")
    request = _proto.AuthUserAddRequest(name=_name("name", name), password="" if no_password else _password(password))
    request.options.no_password = no_password
    return _change(_USER_ADD, request, timeout)


def user_delete(name: str, *, timeout: float | None = None) -> Operation[None]:
    """Delete a user."""
    return _change(_USER_DELETE, _proto.AuthUserDeleteRequest(name=_name("name", name)), timeout)


def user_get(name: str, *, timeout: float | None = None) -> Operation[list[str]]:
    """The names of the roles a user has."""
    decode = lambda raw: list(parse_message(_proto.AuthUserGetResponse, raw).roles)
    return _read(_USER_GET, _proto.AuthUserGetRequest(name=_name("name", name)), timeout, decode)


def user_list(*, timeout: float | None = None) -> Operation[list[str]]:
    """The names of every user."""
    decode = lambda raw: list(parse_message(_proto.AuthUserListResponse, raw).users)
    return _read(_USER_LIST, _proto.AuthUserListRequest(), timeout, decode)


def user_change_password(name: str, password: str, *, timeout: float | None = None) -> Operation[None]:
    """Set a user's password."""
    request = _proto.AuthUserChangePasswordRequest(name=_name("name", name), password=_password(password))
    return _change(_USER_CHANGE_PASSWORD, request, timeout)


def user_grant_role(user: str, role: str, *, timeout: float | None = None) -> Operation[None]:
    """Give a user a role."""
    request = _proto.AuthUserGrantRoleRequest(user=_name("user", user), role=_name("role", role))
    return _change(_USER_GRANT_ROLE, request, timeout)


def user_revoke_role(user: str, role: str, *, timeout: float | None = None) -> Operation[None]:
    """Take a role from a user."""
    request = _proto.AuthUserRevokeRoleRequest(name=_name("user", user), role=_name("role", role))
    return _change(_USER_REVOKE_ROLE, request, timeout)


# --- roles ---


def role_add(role: str, *, timeout: float | None = None) -> Operation[None]:
    """Add a role (without permissions)."""
    return _change(_ROLE_ADD, _proto.AuthRoleAddRequest(name=_name("role", role)), timeout)


def role_delete(role: str, *, timeout: float | None = None) -> Operation[None]:
    """Delete a role (users holding it lose it)."""
    return _change(_ROLE_DELETE, _proto.AuthRoleDeleteRequest(role=_name("role", role)), timeout)


def role_get(role: str, *, timeout: float | None = None) -> Operation[list[Permission]]:
    """The permissions of a role."""

    def decode(raw: bytes) -> list[Permission]:
        return [Permission(PermissionType(p.permType), p.key, p.range_end)
                for p in parse_message(_proto.AuthRoleGetResponse, raw).perm]

    return _read(_ROLE_GET, _proto.AuthRoleGetRequest(role=_name("role", role)), timeout, decode)


def role_list(*, timeout: float | None = None) -> Operation[list[str]]:
    """The names of every role."""
    decode = lambda raw: list(parse_message(_proto.AuthRoleListResponse, raw).roles)
    return _read(_ROLE_LIST, _proto.AuthRoleListRequest(), timeout, decode)


def role_grant_permission(role: str, key: Key, range_end: Key | None = None, *, prefix: bool = False,
                          perm_type: PermissionType | str, timeout: float | None = None) -> Operation[None]:
    """Let a role read, write or both (perm_type) the key, the keys in [key, range_end) or those under the
    prefix key (prefix=True). A grant of the same range replaces its type."""
    name = _name("role", role)
    start, end = permission_range(key, range_end, prefix)
    perm = int(enum_member("perm_type", perm_type, PermissionType))
    permission = _proto.Permission(permType=perm, key=start, range_end=end)
    return _change(_ROLE_GRANT_PERMISSION, _proto.AuthRoleGrantPermissionRequest(name=name, perm=permission), timeout)


def role_revoke_permission(role: str, key: Key, range_end: Key | None = None, *, prefix: bool = False,
                           timeout: float | None = None) -> Operation[None]:
    """Take from a role the permission granted on exactly this range (as role_grant_permission took it)."""
    name = _name("role", role)
    start, end = permission_range(key, range_end, prefix)
    request = _proto.AuthRoleRevokePermissionRequest(role=name, key=start, range_end=end)
    return _change(_ROLE_REVOKE_PERMISSION, request, timeout)
