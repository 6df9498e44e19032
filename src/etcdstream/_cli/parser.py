"""The `etcdstream` argument parser."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Sequence
from typing import NoReturn

from .._kv_ops import DEFAULT_PAGE_SIZE
from .apisix import APISIX_DIRS, DIR_VALUE, cmd_init
from .auth import (
    cmd_auth_disable,
    cmd_auth_enable,
    cmd_auth_status,
    cmd_role_add,
    cmd_role_delete,
    cmd_role_get,
    cmd_role_grant_permission,
    cmd_role_list,
    cmd_role_revoke_permission,
    cmd_user_add,
    cmd_user_delete,
    cmd_user_get,
    cmd_user_grant_role,
    cmd_user_list,
    cmd_user_passwd,
    cmd_user_revoke_role,
)
from .check import cmd_check, min_version_arg
from .cluster import (
    cmd_alarm_disarm,
    cmd_alarm_list,
    cmd_compact,
    cmd_defrag,
    cmd_endpoint_hashkv,
    cmd_endpoint_health,
    cmd_endpoint_status,
    cmd_member_add,
    cmd_member_list,
    cmd_member_promote,
    cmd_member_remove,
    cmd_member_update,
    cmd_snapshot_save,
    member_id_arg,
    urls_arg,
)
from .concurrency import cmd_elect, cmd_lock
from .exits import EXIT_USAGE
from .keys import cmd_del, cmd_get, cmd_ls, cmd_put
from .settings import DEFAULT_ENDPOINTS, DEFAULT_TIMEOUT, positive_float, positive_int
from .live import cmd_mirror
from .watch import cmd_watch


class _Parser(argparse.ArgumentParser):
    #: The arguments being parsed (set by main), so that error() can spot a password typed as a word.
    argv: Sequence[str] = ()

    def error(self, message: str) -> NoReturn:
        if any(f"invalid choice: {word!r}" in message for word in _words_after_user(self.argv)):
            # `--user NAME PASSWORD get ...`: argparse would print the password as the unknown command.
            message = ("the word after --user NAME is not a command; give the password as --user NAME:PASSWORD "
                       "or --password (the word is not shown)")
        # One line, like every other expected failure; the usage is one --help away.
        self.exit(EXIT_USAGE, f"etcdstream: error: {message} (see {self.prog} --help)\n")


def _words_after_user(argv: Sequence[str]) -> Iterator[str]:
    """The word following each `--user NAME` without a password: a password typed after a space."""
    for i, word in enumerate(argv):
        if word == "--user" and i + 2 < len(argv) and ":" not in argv[i + 1]:
            yield argv[i + 2]
        elif word.startswith("--user=") and ":" not in word and i + 1 < len(argv):
            yield argv[i + 1]


def _common_options(defaults: bool) -> argparse.ArgumentParser:
    """Options every command takes, before or after its name (only the top level sets defaults)."""
    parser = argparse.ArgumentParser(add_help=False)
    d = (lambda value: value) if defaults else (lambda value: argparse.SUPPRESS)
    group = parser.add_argument_group("connection (environment: ETCDSTREAM_ENDPOINTS, ETCDSTREAM_CACERT, ...)")
    group.add_argument("--endpoints", default=d(None), metavar="HOST:PORT[,...]",
                       help=f"etcd client URLs, comma separated (default {DEFAULT_ENDPOINTS})")
    group.add_argument("--cacert", dest="cacert_file", default=d(None), metavar="FILE",
                       help="verify the server with this CA (TLS)")
    group.add_argument("--cert", dest="cert_file", default=d(None), metavar="FILE", help="client certificate (mTLS)")
    group.add_argument("--key", dest="key_file", default=d(None), metavar="FILE",
                       help="client certificate's key (mTLS)")
    group.add_argument("--user", default=d(None), metavar="NAME[:PASSWORD]", help="etcd user (and password)")
    group.add_argument("--password", default=d(None), help="the user's password (else asked for on a terminal)")
    group.add_argument("--timeout", default=d(None), type=positive_float, metavar="SECONDS",
                       help=f"per request (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("-w", "--write-out", default=d(None), choices=("simple", "json", "table"),
                        help="output format (default simple; json lines for watch)")
    parser.add_argument("-v", "--verbose", action="count", default=d(0),
                        help="log what the client does on stderr: -v state changes, -vv every retry too")
    return parser


_EPILOG = """\
exit codes: 0 ok; 1 etcd refused (auth, permission, compacted, key not found)
or check found the cluster unhealthy; 2 etcd unreachable or timed out;
64 bad arguments; 130 interrupted (watch and mirror exit 0 on Ctrl-C).
"""


def build_parser() -> argparse.ArgumentParser:
    """The `etcdstream` argument parser."""
    parser = _Parser(prog="etcdstream", parents=[_common_options(True)], epilog=_EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     description="Check, initialise, read, write, list and watch an etcd v3 cluster.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    common = [_common_options(False)]

    def command(name: str, run: Callable[..., int], help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=common, help=help_text, description=help_text)
        sub.set_defaults(run=run)
        return sub

    def group(name: str, help_text: str) -> Callable[[str, Callable[..., int], str], argparse.ArgumentParser]:
        """A command with subcommands (member list, ...); returns command() for them."""
        parent = commands.add_parser(name, help=help_text, description=help_text)
        subcommands = parent.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND", parser_class=_Parser)
        subcommands.required = True

        def subcommand(sub_name: str, run: Callable[..., int], sub_help: str) -> argparse.ArgumentParser:
            sub = subcommands.add_parser(sub_name, parents=common, help=sub_help, description=sub_help)
            sub.set_defaults(run=run)
            return sub

        return subcommand

    sub = command("check", cmd_check, "connect and report versions, members, leader, DB size, alarms and health")
    sub.add_argument("--min-version", type=min_version_arg, metavar="X.Y.Z",
                     help="fail when the cluster version is older")

    sub = command("init", cmd_init, "create the directory keys and seed keys that do not exist yet (idempotent)")
    sub.add_argument("--prefix", required=True, help="the directory to initialise, e.g. /apisix")
    sub.add_argument("file", nargs="?", metavar="FILE",
                     help='seed keys: JSON or YAML {"key": value, ...} or {"dirs": [...], "keys": {...}}; '
                          "keys are relative to --prefix unless they start with /, non-string values are "
                          "stored as compact JSON")
    sub.add_argument("--dir", action="append", metavar="NAME",
                     help=f"a directory key PREFIX/NAME/ to create (repeatable; default APISIX's: "
                          f"{', '.join(APISIX_DIRS)})")
    sub.add_argument("--no-dirs", action="store_true", help="create no directory keys, only the seed file's")
    sub.add_argument("--dir-value", default=DIR_VALUE, metavar="VALUE",
                     help=f"the value of directory keys (default {DIR_VALUE})")

    sub = command("get", cmd_get, "print a key, or every key under a prefix")
    sub.add_argument("key", metavar="KEY")
    sub.add_argument("--prefix", action="store_true", help="every key starting with KEY")
    sub.add_argument("--rev", type=positive_int, metavar="N", help="as of revision N")
    sub.add_argument("--page-size", type=positive_int, metavar="N",
                     help=f"keys per request with --prefix (default: {DEFAULT_PAGE_SIZE:,} first, then the rest "
                          "at once when it fits 64 MiB)")

    sub = command("put", cmd_put, "write a key")
    sub.add_argument("key", metavar="KEY")
    sub.add_argument("value", metavar="VALUE")
    sub.add_argument("--ttl", type=positive_int, metavar="SECONDS", help="delete the key after this (a new lease)")

    sub = command("del", cmd_del, "delete a key, or every key under a prefix")
    sub.add_argument("key", metavar="KEY")
    sub.add_argument("--prefix", action="store_true", help="every key starting with KEY")

    sub = command("ls", cmd_ls, "list the keys under a prefix (read in pages at one revision)")
    sub.add_argument("prefix", metavar="PREFIX")
    sub.add_argument("--rev", type=positive_int, metavar="N", help="as of revision N")
    sub.add_argument("--page-size", type=positive_int, metavar="N",
                     help=f"keys per request (default: {DEFAULT_PAGE_SIZE:,} first, then the rest at once when "
                          "it fits 64 MiB)")

    sub = command("watch", cmd_watch, "print changes under a prefix as they happen, until interrupted")
    sub.add_argument("prefix", metavar="PREFIX")
    sub.add_argument("--rev", type=positive_int, metavar="N", help="start at revision N (replaying history)")
    sub.add_argument("--prev-kv", action="store_true", help="include each key's previous value")

    sub = command("mirror", cmd_mirror, "keep a copy of a prefix and show how it stands against etcd, until "
                                        "interrupted: keys, revision, lag, events/s, last contact, reconnects, "
                                        "resyncs, consistent reads answered from the copy / by etcd")
    sub.add_argument("prefix", metavar="PREFIX")
    sub.add_argument("--interval", type=positive_float, default=1.0, metavar="SECONDS",
                     help="between two reports (default 1)")

    sub = command("lock", cmd_lock, "hold a distributed lock (etcdctl lock's): while COMMAND runs, or until interrupted")
    sub.add_argument("name", metavar="NAME")
    sub.add_argument("exec_args", nargs=argparse.REMAINDER, metavar="[--] COMMAND ...",
                     help="run this holding the lock and exit with its exit code (ETCD_LOCK_KEY and "
                          "ETCD_LOCK_REV in its environment); without it, print the lock's key and hold "
                          "the lock until Ctrl-C or SIGTERM")
    sub.add_argument("--ttl", type=positive_int, default=10, metavar="SECONDS",
                     help="the session's lease: the lock goes this long after etcdstream dies (default 10)")

    sub = command("elect", cmd_elect, "campaign in an election (etcdctl elect's) and lead until interrupted, "
                                      "or print each leader (--listen)")
    sub.add_argument("name", metavar="NAME")
    sub.add_argument("proposal", nargs="?", metavar="PROPOSAL", help="this candidate's value")
    sub.add_argument("-l", "--listen", action="store_true", help="print each leader's key and value as it changes")
    sub.add_argument("--ttl", type=positive_int, default=60, metavar="SECONDS",
                     help="the session's lease: the leadership goes this long after etcdstream dies (default 60)")

    _cluster_commands(command, group)
    _auth_commands(group)

    # Parsed by bench/harness.py (main() hands it everything after "bench"); listed here for --help.
    sub = commands.add_parser("bench", add_help=False, help="start a local etcd and run the benchmarks "
                              "(from a source checkout; etcdstream bench --help)")
    sub.add_argument("bench_args", nargs=argparse.REMAINDER)
    return parser


def _cluster_commands(command: Callable[..., argparse.ArgumentParser], group: Callable[..., Callable[..., argparse.ArgumentParser]]) -> None:
    member = group("member", "list, add, remove, update or promote cluster members (IDs in hex)")
    member("list", cmd_member_list, "every member, learners included")
    sub = member("add", cmd_member_add, "add a member; prints the ETCD_* settings to start it with")
    sub.add_argument("name", metavar="NAME", help="the new member's name (its --name)")
    sub.add_argument("--peer-urls", type=urls_arg, required=True, metavar="URL[,URL]",
                     help="the new member's peer URLs")
    sub.add_argument("--learner", action="store_true", help="add it as a non-voting learner")
    sub = member("remove", cmd_member_remove, "remove a member")
    sub.add_argument("member_id", type=member_id_arg, metavar="ID")
    sub = member("update", cmd_member_update, "set a member's peer URLs")
    sub.add_argument("member_id", type=member_id_arg, metavar="ID")
    sub.add_argument("--peer-urls", type=urls_arg, required=True, metavar="URL[,URL]")
    sub = member("promote", cmd_member_promote, "make a learner a voting member")
    sub.add_argument("member_id", type=member_id_arg, metavar="ID")

    endpoint = group("endpoint", "status, health or KV hash of each endpoint in --endpoints, one line each")
    endpoint("status", cmd_endpoint_status, "version, DB size, leader, raft term and index of each endpoint")
    endpoint("health", cmd_endpoint_health, "whether each endpoint serves a linearizable read")
    sub = endpoint("hashkv", cmd_endpoint_hashkv, "each endpoint's hash of the key-value history")
    sub.add_argument("--rev", type=positive_int, metavar="N", help="up to revision N (default: the latest)")

    sub = command("compact", cmd_compact, "drop the key history before a revision")
    sub.add_argument("revision", type=positive_int, metavar="REV")
    sub.add_argument("--physical", action="store_true", help="return once the backend has applied it")
    command("defrag", cmd_defrag, "defragment each endpoint in --endpoints in turn (each blocks while it does)")

    snapshot = group("snapshot", "save the backend of the member in use to a file (etcdutl restores it)")
    sub = snapshot("save", cmd_snapshot_save, "stream the backend to FILE (written beside it, moved into place once "
                                              "etcd's checksum matches)")
    sub.add_argument("file", metavar="FILE")

    alarm = group("alarm", "list or disarm alarms (NOSPACE)")
    alarm("list", cmd_alarm_list, "every raised alarm")
    alarm("disarm", cmd_alarm_disarm, "disarm every raised alarm (free space first: compact, defrag)")


def _auth_commands(group: Callable[..., Callable[..., argparse.ArgumentParser]]) -> None:
    command = group("auth", "enable, disable or show etcd's authentication")
    command("enable", cmd_auth_enable, "turn auth on (needs the user root holding the role root)")
    command("disable", cmd_auth_disable, "turn auth off")
    command("status", cmd_auth_status, "whether auth is on, and the auth revision (etcd 3.5+)")

    def password_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--new-user-password", metavar="PASSWORD",
                         help="the password (visible to other local users in the process list: prefer the "
                              "prompt, or stdin's first line when it is not a terminal)")

    user = group("user", "add, delete, list users, set their passwords and roles")
    sub = user("add", cmd_user_add, "add a user; its password is asked for (or read from stdin)")
    sub.add_argument("user_name", metavar="NAME")
    password_option(sub)
    sub.add_argument("--no-password", action="store_true",
                     help="no password: the user logs in with a TLS client certificate only")
    user("delete", cmd_user_delete, "delete a user").add_argument("user_name", metavar="NAME")
    user("get", cmd_user_get, "a user's roles").add_argument("user_name", metavar="NAME")
    user("list", cmd_user_list, "every user")
    sub = user("passwd", cmd_user_passwd, "change a user's password (asked for, or read from stdin)")
    sub.add_argument("user_name", metavar="NAME")
    password_option(sub)
    for name, run, help_text in (("grant-role", cmd_user_grant_role, "give a user a role"),
                                 ("revoke-role", cmd_user_revoke_role, "take a role from a user")):
        sub = user(name, run, help_text)
        sub.add_argument("user_name", metavar="USER")
        sub.add_argument("role", metavar="ROLE")

    role = group("role", "add, delete, list roles and their key permissions")
    role("add", cmd_role_add, "add a role").add_argument("role", metavar="ROLE")
    role("delete", cmd_role_delete, "delete a role").add_argument("role", metavar="ROLE")
    role("get", cmd_role_get, "a role's permissions").add_argument("role", metavar="ROLE")
    role("list", cmd_role_list, "every role")
    for name, run, help_text in (("grant-permission", cmd_role_grant_permission,
                                  "let a role read and/or write a key, a range or a prefix"),
                                 ("revoke-permission", cmd_role_revoke_permission,
                                  "take a permission (given as granted) from a role")):
        sub = role(name, run, help_text)
        sub.add_argument("role", metavar="ROLE")
        if name == "grant-permission":
            sub.add_argument("perm_type", choices=("read", "write", "readwrite"), metavar="read|write|readwrite")
        sub.add_argument("key", metavar="KEY")
        sub.add_argument("range_end", nargs="?", metavar="RANGE_END", help="the keys in [KEY, RANGE_END)")
        sub.add_argument("--prefix", action="store_true", help="every key starting with KEY")
        sub.add_argument("--from-key", action="store_true", help="every key from KEY on")
