"""Auth administration commands (etcdctl's): auth enable|disable|status, user ..., role ...

A new password is read from a terminal prompt (twice, not echoed), else from the first line of
stdin, or taken from --new-user-password; it is never printed, and no error message holds it.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from .._errors import EtcdError
from .._results import AuthStatus, Permission
from .._sync import Client
from .._types import PermissionType
from .exits import EXIT_OK, CommandFailed, UsageError
from .output import Output, display


def _done(out: Output, message: str, **fields: object) -> int:
    if out.format == "json":
        out.json(fields)
    elif out.format == "table":
        out.table(list(fields), [list(fields.values())])
    else:
        out.line(message)
    return EXIT_OK


def _names(out: Output, header: str, names: list[str]) -> int:
    if out.format == "json":
        out.json({header.lower() + "s": names})
    elif out.format == "table":
        out.table([header.upper()], [[n] for n in names])
    else:
        for name in names:
            out.line(name)
    return EXIT_OK


def cmd_auth_enable(client: Client, args: argparse.Namespace, out: Output) -> int:
    """auth enable (needs the user root with the role root)"""
    client.auth_enable()
    return _done(out, "Authentication Enabled", enabled=True)


def cmd_auth_disable(client: Client, args: argparse.Namespace, out: Output) -> int:
    """auth disable"""
    client.auth_disable()
    return _done(out, "Authentication Disabled", enabled=False)


def cmd_auth_status(client: Client, args: argparse.Namespace, out: Output) -> int:
    """auth status (etcd 3.5+)"""
    status: AuthStatus | None
    try:
        status = client.auth_status()
    except EtcdError as e:
        if e.code != "UNIMPLEMENTED":
            raise
        status = None  # etcd 3.4: raised below, outside the except (no chained traceback context)
    if status is None:
        raise CommandFailed("auth status needs etcd 3.5 or later")
    return _done(out, f"Authentication Status: {str(status.enabled).lower()}\nAuthRevision: {status.auth_revision}",
                 enabled=status.enabled, auth_revision=status.auth_revision)


def _new_password(args: argparse.Namespace) -> str:
    if args.new_user_password is not None:
        password = args.new_user_password
    elif sys.stdin.isatty():
        password = getpass.getpass(f"Password of {args.user_name}: ")
        if getpass.getpass(f"Type password of {args.user_name} again for confirmation: ") != password:
            raise UsageError("the two passwords typed differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise UsageError("empty password (type one, give it on stdin or with --new-user-password"
                         + (", or use --no-password)" if "no_password" in args else ")"))
    return password


def cmd_user_add(client: Client, args: argparse.Namespace, out: Output) -> int:
    """user add NAME [--new-user-password PW | --no-password]"""
    if args.no_password:
        if args.new_user_password is not None:
            raise UsageError("--no-password and --new-user-password exclude each other")
        client.user_add(args.user_name, no_password=True)
    else:
        client.user_add(args.user_name, _new_password(args))
    return _done(out, f"User {args.user_name} created", user=args.user_name, created=True)


def cmd_user_delete(client: Client, args: argparse.Namespace, out: Output) -> int:
    """user delete NAME"""
    client.user_delete(args.user_name)
    return _done(out, f"User {args.user_name} deleted", user=args.user_name, deleted=True)


def cmd_user_get(client: Client, args: argparse.Namespace, out: Output) -> int:
    """user get NAME: its roles"""
    roles = client.user_get(args.user_name)
    if out.format == "json":
        out.json({"user": args.user_name, "roles": roles})
    elif out.format == "table":
        out.table(["USER", "ROLES"], [[args.user_name, ", ".join(roles)]])
    else:
        out.line(f"User: {args.user_name}")
        out.line(f"Roles: {' '.join(roles)}")
    return EXIT_OK


def cmd_user_list(client: Client, args: argparse.Namespace, out: Output) -> int:
    """user list"""
    return _names(out, "User", client.user_list())


def cmd_user_passwd(client: Client, args: argparse.Namespace, out: Output) -> int:
    """user passwd NAME [--new-user-password PW]"""
    client.user_change_password(args.user_name, _new_password(args))
    return _done(out, "Password updated", user=args.user_name, password_updated=True)


def cmd_user_grant_role(client: Client, args: argparse.Namespace, out: Output) -> int:
    """user grant-role USER ROLE"""
    client.user_grant_role(args.user_name, args.role)
    return _done(out, f"Role {args.role} is granted to user {args.user_name}", user=args.user_name,
                 role=args.role, granted=True)


def cmd_user_revoke_role(client: Client, args: argparse.Namespace, out: Output) -> int:
    """user revoke-role USER ROLE"""
    client.user_revoke_role(args.user_name, args.role)
    return _done(out, f"Role {args.role} is revoked from user {args.user_name}", user=args.user_name,
                 role=args.role, revoked=True)


def cmd_role_add(client: Client, args: argparse.Namespace, out: Output) -> int:
    """role add ROLE"""
    client.role_add(args.role)
    return _done(out, f"Role {args.role} created", role=args.role, created=True)


def cmd_role_delete(client: Client, args: argparse.Namespace, out: Output) -> int:
    """role delete ROLE"""
    client.role_delete(args.role)
    return _done(out, f"Role {args.role} deleted", role=args.role, deleted=True)


def _range_text(p: Permission) -> str:
    if not p.range_end:
        return display(p.key)
    if p.prefix:
        return f"[{display(p.key)}, {display(p.range_end)}) (prefix {display(p.key)})"
    if p.range_end == b"\0":
        return f"[{display(p.key)}, <open ended>"
    return f"[{display(p.key)}, {display(p.range_end)})"


def cmd_role_get(client: Client, args: argparse.Namespace, out: Output) -> int:
    """role get ROLE: its permissions, as etcdctl lists them"""
    perms = client.role_get(args.role)
    if out.format == "json":
        out.json({"role": args.role, "permissions": [
            {"type": p.perm_type.name, "key": display(p.key), "range_end": display(p.range_end), "prefix": p.prefix}
            for p in perms]})
    elif out.format == "table":
        out.table(["TYPE", "RANGE"], [[p.perm_type.name, _range_text(p)] for p in perms])
    else:
        out.line(f"Role {args.role}")
        for title, kinds in (("KV Read:", (PermissionType.READ, PermissionType.READWRITE)),
                             ("KV Write:", (PermissionType.WRITE, PermissionType.READWRITE))):
            out.line(title)
            for p in perms:
                if p.perm_type in kinds:
                    out.line(f"\t{_range_text(p)}")
    return EXIT_OK


def cmd_role_list(client: Client, args: argparse.Namespace, out: Output) -> int:
    """role list"""
    return _names(out, "Role", client.role_list())


def _key_range(args: argparse.Namespace) -> tuple[bytes, bytes | None, bool]:
    key = os.fsencode(args.key)
    if args.prefix and (args.from_key or args.range_end is not None):
        raise UsageError("--prefix takes no RANGE_END and no --from-key")
    if args.from_key:
        if args.range_end is not None:
            raise UsageError("--from-key takes no RANGE_END")
        return key, b"\0", False
    return key, None if args.range_end is None else os.fsencode(args.range_end), args.prefix


def cmd_role_grant_permission(client: Client, args: argparse.Namespace, out: Output) -> int:
    """role grant-permission ROLE read|write|readwrite KEY [RANGE_END] [--prefix | --from-key]"""
    key, range_end, prefix = _key_range(args)
    client.role_grant_permission(args.role, key, range_end, prefix=prefix, perm_type=args.perm_type)
    return _done(out, f"Role {args.role} updated", role=args.role, granted=args.perm_type)


def cmd_role_revoke_permission(client: Client, args: argparse.Namespace, out: Output) -> int:
    """role revoke-permission ROLE KEY [RANGE_END] [--prefix | --from-key]"""
    key, range_end, prefix = _key_range(args)
    client.role_revoke_permission(args.role, key, range_end, prefix=prefix)
    return _done(out, f"Permission of key {args.key} is revoked from role {args.role}", role=args.role,
                 revoked=True)
