"""Parsing and checking the endpoints a client connects to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Endpoint", "parse_endpoints"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One etcd client address: `host`, `port` and whether its URL said https (`tls`: True/False, None for bare host:port)."""

    host: str
    port: int
    tls: bool | None = None

    @property
    def target(self) -> str:
        """The address as gRPC takes it: "host:port" ("[::1]:2379" for IPv6)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return self.target


_SCHEMES = {"http": False, "https": True}


def _split_userinfo(text: str) -> tuple[str, str]:
    """(text with any "user:password@" replaced by "***@", the userinfo found): messages must not show it."""
    scheme, separator, rest = text.rpartition("://")
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at:
        return text, ""
    return f"{scheme}{separator}***@{host}{slash}{path}", userinfo


def _parse_one(text: str) -> Endpoint:
    if not isinstance(text, str):
        raise TypeError(f"an endpoint must be a str like '127.0.0.1:2379', got {type(text).__name__}")
    text = text.strip()
    shown, userinfo = _split_userinfo(text)
    if userinfo:
        raise ValueError(f"endpoint {shown!r}: credentials in the URL are not used; "
                         "pass username= and password= (the command line's --user NAME:PASSWORD)")
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme not in _SCHEMES:
            raise ValueError(f"endpoint {text!r}: scheme must be http:// or https://, not {scheme}://")
        tls: bool | None = _SCHEMES[scheme]
        parts = urlsplit(text)
    else:
        tls = None
        parts = urlsplit("//" + text)  # lets urlsplit parse host:port and [v6]:port
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"endpoint {text!r}: expected host:port or http(s)://host:port, nothing more")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"endpoint {text!r}: the port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError(f"endpoint {text!r}: no host; expected host:port, e.g. '127.0.0.1:2379'")
    if port is None or port == 0:
        raise ValueError(f"endpoint {text!r}: no port; etcd's client port is usually 2379, e.g. '{parts.hostname}:2379'")
    return Endpoint(parts.hostname, port, tls)


def parse_endpoints(endpoints: str | Sequence[str]) -> tuple[Endpoint, ...]:
    """Parse "host:port", "http(s)://host:port", a comma-separated string of them, or a list.

    Raises ValueError/TypeError for anything else, including an empty list and
    a mix of http:// and https:// (one client uses one kind of connection).
    """
    if isinstance(endpoints, str):
        items: Sequence[str] = [e for e in endpoints.split(",") if e.strip()]
    elif isinstance(endpoints, Sequence) and not isinstance(endpoints, (bytes, bytearray)):
        items = endpoints
    else:
        raise TypeError(f"endpoints must be a str or a list of str, got {type(endpoints).__name__}")
    parsed = tuple(_parse_one(e) for e in items)
    if not parsed:
        raise ValueError("no endpoint given; pass e.g. '127.0.0.1:2379'")
    if len({e.tls for e in parsed if e.tls is not None}) > 1:
        raise ValueError("endpoints mix http:// and https://; use one scheme for all")
    return parsed
