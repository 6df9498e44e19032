"""Connection settings from options and ETCDSTREAM_* environment variables, and the Client they make."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from .._sync import Client
from .exits import UsageError

ENVIRONMENT = {
    "endpoints": "ETCDSTREAM_ENDPOINTS",
    "cacert_file": "ETCDSTREAM_CACERT",
    "cert_file": "ETCDSTREAM_CERT",
    "key_file": "ETCDSTREAM_KEY",
    "user": "ETCDSTREAM_USER",
    "password": "ETCDSTREAM_PASSWORD",
    "timeout": "ETCDSTREAM_TIMEOUT",
}
DEFAULT_ENDPOINTS = "127.0.0.1:2379"
DEFAULT_TIMEOUT = 5.0

def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _setting(args: argparse.Namespace, name: str) -> Any:
    value = getattr(args, name, None)
    if value is None:
        value = os.environ.get(ENVIRONMENT[name]) or None
    return value


def endpoint_list(args: argparse.Namespace) -> list[str]:
    """The endpoints given (--endpoints or ETCDSTREAM_ENDPOINTS, else the default), one per item."""
    return [e.strip() for e in (_setting(args, "endpoints") or DEFAULT_ENDPOINTS).split(",") if e.strip()]


def connect(args: argparse.Namespace, endpoints: str | None = None) -> Client:
    """A Client from the connection options, falling back to the ETCDSTREAM_* environment variables;
    to `endpoints` instead of the given ones (a command that asks each endpoint: the password is asked once)."""
    user, password = _setting(args, "user"), _setting(args, "password")
    if user is not None and ":" in user and password is None:
        user, password = user.split(":", 1)
    if user is not None and password is None:
        if not sys.stdin.isatty():
            raise UsageError(f"no password for user {user}: use --user {user}:PASSWORD, --password "
                             "or ETCDSTREAM_PASSWORD")
        password = getpass.getpass(f"Password for {user}: ")
    if password is not None and user is None:
        raise UsageError("--password needs --user")
    args.user, args.password = user, password  # a second connect() asks no more
    timeout = _setting(args, "timeout")
    if isinstance(timeout, str):
        try:
            timeout = positive_float(timeout)
        except argparse.ArgumentTypeError as e:
            raise UsageError(f"{ENVIRONMENT['timeout']}: {e}") from None
    cert, key = _setting(args, "cert_file"), _setting(args, "key_file")
    if (cert is None) != (key is None):
        raise UsageError("--cert and --key go together (the client certificate and its key)")
    try:
        return Client(endpoints or _setting(args, "endpoints") or DEFAULT_ENDPOINTS, username=user, password=password,
                      ca_file=_setting(args, "cacert_file"), cert_file=cert, key_file=key,
                      timeout=timeout or DEFAULT_TIMEOUT)
    except (ValueError, TypeError) as e:
        message = str(e)
        for name, option in (("ca_file", "--cacert"), ("cert_file", "--cert"), ("key_file", "--key")):
            message = message.replace(name, option)
        raise UsageError(message) from None
