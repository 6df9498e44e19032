"""`ClientCore`: the configuration and connection state Client and AsyncClient share, without I/O.

It holds endpoints, credentials, channel options and the auth token; the
operations are in _kv_ops, _lease_ops and _cluster_ops, the retry policy in _retry.
"""

from __future__ import annotations

import copy
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from . import _proto
from ._calls import Call, check_timeout, parse_message
from ._endpoints import Endpoint, parse_endpoints

#: Seconds a call may take unless its `timeout` says otherwise.
DEFAULT_TIMEOUT = 10.0
#: A connection that stalls silently is left within DEFAULT_KEEPALIVE_TIME + DEFAULT_KEEPALIVE_TIMEOUT = 10 s.
#: etcd's default server policy refuses pings more often than every 5 s (GOAWAY too_many_pings): 6 s keeps
#: a second of margin.
DEFAULT_KEEPALIVE_TIME = 6.0
DEFAULT_KEEPALIVE_TIMEOUT = 4.0

_AUTHENTICATE = _proto.method_path("Auth", "Authenticate")


def _read_file(name: str, path: str | Path | None) -> bytes | None:
    if path is None:
        return None
    if not isinstance(path, (str, Path)):
        raise TypeError(f"{name} must be a file path, got {type(path).__name__}")
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ValueError(f"{name}: cannot read {path}: {e.strerror}") from None


class _TokenMetadata(tuple):
    """gRPC metadata carrying the auth token; its repr() hides the token (tracebacks with locals show it)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "(('token', '<hidden>'),)"


class ClientCore:
    """Configuration and connection state shared by Client and AsyncClient (no I/O beyond reading PEM files)."""

    def __init__(
        self,
        endpoints: str | Sequence[str],
        *,
        username: str | None,
        password: str | None,
        ca_file: str | Path | None,
        cert_file: str | Path | None,
        key_file: str | Path | None,
        timeout: float,
        keepalive_time: float,
        keepalive_timeout: float,
    ) -> None:
        self.endpoints = parse_endpoints(endpoints)
        self.timeout = check_timeout(timeout) or DEFAULT_TIMEOUT
        self.keepalive_time = check_timeout(keepalive_time) or DEFAULT_KEEPALIVE_TIME
        self.keepalive_timeout = check_timeout(keepalive_timeout) or DEFAULT_KEEPALIVE_TIMEOUT
        if (username is None) != (password is None):
            raise ValueError("pass both username and password, or neither")
        if username is not None and (not isinstance(username, str) or not isinstance(password, str)):
            raise TypeError("username and password must be str")
        if username == "":
            raise ValueError("username must not be empty")
        self.username = username
        self.password = password
        if (cert_file is None) != (key_file is None):
            raise ValueError("pass both cert_file and key_file (the client certificate and its key), or neither")
        self.ca_file, self.cert_file, self.key_file = ca_file, cert_file, key_file
        self.root_certificates = _read_file("ca_file", ca_file)
        self.certificate_chain = _read_file("cert_file", cert_file)
        self.private_key = _read_file("key_file", key_file)
        url_says_tls = any(e.tls for e in self.endpoints)
        if any(e.tls is False for e in self.endpoints) and (ca_file or cert_file):
            raise ValueError("endpoints say http:// but TLS files were given; use https:// endpoints")
        self.tls = url_says_tls or ca_file is not None or cert_file is not None
        self.index = 0
        self.token: str | None = None
        #: bumped on every failover, so concurrent callers fail over once per failure
        self.generation = 0

    def for_endpoint(self, endpoint: str) -> ClientCore:
        """This configuration (credentials, TLS, timeouts) for one endpoint alone: a call to a given member."""
        if not isinstance(endpoint, str):
            raise TypeError(f"endpoint must be a str like 'host:2379', got {type(endpoint).__name__}")
        one = copy.copy(self)
        one.endpoints = parse_endpoints(endpoint)
        if len(one.endpoints) != 1:
            raise ValueError(f"endpoint names one member, got {endpoint!r}")
        if one.endpoints[0].tls is False and self.tls:
            raise ValueError(f"endpoint {endpoint!r} says http:// but the client uses TLS")
        one.index, one.token, one.generation = 0, None, 0
        return one

    @property
    def endpoint(self) -> Endpoint:
        """The endpoint in use."""
        return self.endpoints[self.index]

    @property
    def has_credentials(self) -> bool:
        """Whether the client authenticates (username and password given)."""
        return self.username is not None

    def advance(self, generation: int) -> None:
        """Move to the next endpoint, unless another caller already did since `generation`."""
        if generation == self.generation:
            self.index = (self.index + 1) % len(self.endpoints)
            self.generation += 1
            self.token = None  # tokens of simple auth are per member

    def channel_options(self) -> list[tuple[str, Any]]:
        """gRPC channel options: keepalive pings and no message size limits."""
        return [
            # Pings notice a dead connection in seconds instead of TCP's minutes; etcd's
            # enforcement policy allows one every 5 s, and only while a call is open.
            ("grpc.keepalive_time_ms", int(self.keepalive_time * 1000)),
            ("grpc.keepalive_timeout_ms", int(self.keepalive_timeout * 1000)),
            # etcd's policy forbids pings without a call (GOAWAY too_many_pings): watches keep theirs.
            ("grpc.keepalive_permit_without_calls", 0),
            ("grpc.http2.max_pings_without_data", 0),
            # grpcio waits a minute for any ping's answer (a flow-control ping included, which
            # holds back the keepalive ping): a silently stalled connection would go unnoticed.
            ("grpc.http2.ping_timeout_ms", int(self.keepalive_timeout * 1000)),
            # A whole prefix may be far above grpcio's 4 MiB default.
            ("grpc.max_receive_message_length", -1),
            ("grpc.max_send_message_length", -1),
            # Failover handles retries; a quick reconnect after etcd restarts.
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ]

    def open_channel(self, api: Any) -> Any:
        """A channel to the endpoint in use; api: the grpc module (blocking) or grpc.aio (asyncio)."""
        credentials = self.channel_credentials()
        if credentials is None:
            return api.insecure_channel(self.endpoint.target, options=self.channel_options())
        return api.secure_channel(self.endpoint.target, credentials, options=self.channel_options())

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        """TLS credentials for the channel, or None for plain http."""
        if not self.tls:
            return None
        return grpc.ssl_channel_credentials(self.root_certificates, self.private_key, self.certificate_chain)

    def needs_authentication(self, call: Call) -> bool:
        """Whether a token must be fetched before sending call."""
        return call.authenticated and self.has_credentials and self.token is None

    def metadata(self, call: Call) -> tuple[tuple[str, str], ...] | None:
        """The call's metadata: the auth token, when there is one."""
        if call.authenticated and self.token:
            return _TokenMetadata((("token", self.token),))
        return None

    def authenticate_call(self) -> Call:
        """The Authenticate call that fetches a token."""
        request = _proto.AuthenticateRequest(name=self.username, password=self.password).SerializeToString()
        return Call(_AUTHENTICATE, request, self.timeout, authenticated=False)

    def accept_token(self, raw: bytes) -> None:
        """Store the token of an AuthenticateResponse."""
        self.token = parse_message(_proto.AuthenticateResponse, raw).token

    def version_url(self) -> str:
        """The URL of etcd's /version on the endpoint in use."""
        return f"{'https' if self.tls else 'http'}://{self.endpoint.target}/version"

    def ssl_context(self) -> ssl.SSLContext | None:
        """An SSLContext matching the channel's TLS settings (for /version), or None for http."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=None if self.ca_file is None else str(self.ca_file))
        if self.cert_file is not None:
            context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context

    def describe(self) -> str:
        """Endpoints for repr()."""
        return ",".join(str(e) for e in self.endpoints)

    def __repr__(self) -> str:
        # Never the password, the token or the key: a repr ends up in logs and error reports.
        if not hasattr(self, "generation"):  # __init__ raised
            return "<ClientCore not initialised>"
        user = f" user {self.username}" if self.username is not None else ""
        return f"<ClientCore {self.describe()}{user}{' tls' if self.tls else ''}>"

