"""python-etcd3's client (Etcd3Client, MultiEndpointEtcd3Client, client()) on an etcdstream Client.

As in python-etcd3, every call goes through a gRPC stub of the client: kvstub, leasestub, clusterstub,
maintenancestub, authstub, and the watcher's _watch_stub (watchstub). They are etcdrpc's stubs made on the
client's `channel` (_channel.TransportChannel), which sends python-etcd3's protobuf requests through
etcdstream's transport: one channel, failover between endpoints, reads retried through failures, writes never
sent twice when etcd may have applied them, the auth token refreshed; watches are etcdstream watchers. A stub
replaced on the client, or patched on its class or in etcdrpc before the client is made, is called as
python-etcd3 calls it: its errors are translated and its responses read as python-etcd3 does.

The calls come in mixins, one module per concern: _kv_methods (reads, writes, transactions), _watch_methods,
_lease_methods (leases, locks) and _maintenance_methods (cluster, maintenance); _requests builds the requests.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc

import etcdstream.compat.etcd3.etcdrpc as etcdrpc  # looked up at each use: tests patch its stubs
from ..._core import DEFAULT_TIMEOUT
from ..._sync import Client
from ._channel import TransportChannel
from ._kv_methods import KVMetadata, KVMethods
from ._lease_methods import LeaseMethods
from ._maintenance_methods import Alarm, MaintenanceMethods, Status
from ._watch_methods import WatchMethods
from .transactions import Create, Delete, Get, Mod, Put, Txn, Value, Version
from .transactions import Lease as LeaseCompare
from .watch import Watcher

# KVMetadata, Status and Alarm are python-etcd3's etcd3.client names too.
__all__ = ("Alarm", "Endpoint", "Etcd3Client", "EtcdTokenCallCredentials", "KVMetadata", "MultiEndpointEtcd3Client",
           "Status", "Transactions", "client")


class Transactions:
    """client.transactions: the compares (value, version, create, mod, lease) and operations (put, get, delete,
    txn) of a transaction."""

    def __init__(self) -> None:
        self.value = Value
        self.version = Version
        self.create = Create
        self.mod = Mod
        self.lease = LeaseCompare
        self.put = Put
        self.get = Get
        self.delete = Delete
        self.txn = Txn


class _StubAttribute:
    """A client attribute holding the stub of one of etcd's services (kvstub, ...). Class-level, so that a test
    may patch it on the class (mock.patch.object(Etcd3Client, "kvstub")); one set on a client hides it."""

    def __init__(self, service: str) -> None:
        self.service = service

    def __get__(self, client: Any, owner: type | None = None) -> Any:
        if client is None:
            return self
        return client._stubs[self.service]


class _TokenMetadata(tuple):
    """The client's `metadata`, (("token", token),), whose repr() hides the token (tracebacks show locals)."""

    def __repr__(self) -> str:
        return "(('token', '<hidden>'),)"


class EtcdTokenCallCredentials(grpc.AuthMetadataPlugin):
    """gRPC call credentials carrying an etcd token (etcdstream's client sends and refreshes its own)."""

    def __init__(self, access_token: str) -> None:
        self._access_token = access_token

    def __call__(self, context: Any, callback: Any) -> None:
        callback((("token", self._access_token),), None)


class Endpoint:
    """An etcd endpoint of MultiEndpointEtcd3Client: host, port, and whether it speaks TLS."""

    def __init__(self, host: str = "localhost", port: int = 2379, secure: bool = False, credentials: Any = None,
                 time_retry: float = 300.0, opts: Any = None) -> None:
        if secure and credentials is None:
            raise ValueError("Please set TLS credentials for secure connections")
        self.host = host
        self.netloc = f"{host}:{port}"
        self.secure = secure
        self.protocol = "https" if secure else "http"
        self.credentials = credentials
        self.time_retry = time_retry

    def __str__(self) -> str:
        return f"Endpoint({self.protocol}://{self.netloc})"


class MultiEndpointEtcd3Client(KVMethods, WatchMethods, LeaseMethods, MaintenanceMethods):
    """python-etcd3's client over several endpoints; etcdstream fails over between them by itself (`failover`
    is accepted for compatibility: reads are retried on the next endpoint, writes raise when etcd may have
    applied them). Endpoints with TLS need PEM files: use Etcd3Client(ca_cert=...) or etcdstream.Client."""

    def __init__(self, endpoints: Iterable[Endpoint], timeout: float | None = None, user: str | None = None,
                 password: str | None = None, failover: bool = False) -> None:
        self.endpoints = {ep.netloc: ep for ep in endpoints}
        if any(ep.secure for ep in self.endpoints.values()):
            raise ValueError("etcdstream.compat.etcd3 takes TLS settings as files: use "
                             "Etcd3Client(host, port, ca_cert=..., cert_key=..., cert_cert=...)")
        self.failover = failover
        self._connect(list(self.endpoints), timeout, user, password)

    kvstub = _StubAttribute("KV")
    leasestub = _StubAttribute("Lease")
    clusterstub = _StubAttribute("Cluster")
    maintenancestub = _StubAttribute("Maintenance")
    authstub = _StubAttribute("Auth")

    def _connect(self, urls: list[str], timeout: float | None, user: str | None, password: str | None,
                 **client_options: Any) -> None:
        if bool(user) != bool(password):
            raise ValueError("if using authentication credentials both user and password must be specified.")
        self.timeout = timeout
        self._client = Client(urls, username=user or None, password=password or None,
                              timeout=DEFAULT_TIMEOUT if timeout is None else timeout, **client_options)
        #: What the stubs are made on: a grpc.Channel look-alike sending through etcdstream's transport.
        self.channel = TransportChannel(self._client)
        self.metadata: tuple[tuple[str, str], ...] | None = None
        self.call_credentials: grpc.CallCredentials | None = None
        try:
            # Looked up in etcdrpc now, as python-etcd3 does: a stub class patched there is the client's.
            self._stubs = {"Auth": etcdrpc.AuthStub(self.channel), "KV": etcdrpc.KVStub(self.channel),
                           "Lease": etcdrpc.LeaseStub(self.channel), "Cluster": etcdrpc.ClusterStub(self.channel),
                           "Maintenance": etcdrpc.MaintenanceStub(self.channel),
                           "Watch": etcdrpc.WatchStub(self.channel)}
            if user:
                self._authenticate(user, password)  # type: ignore[arg-type]
            self.watcher = Watcher(self._stubs["Watch"], timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
                                   call_credentials=self.call_credentials, metadata=self.metadata)
        except BaseException:
            self._client.close()
            raise
        self.transactions = Transactions()

    def _authenticate(self, user: str, password: str) -> None:
        """Check the credentials now, as python-etcd3 does (a grpc error if etcd refuses them), and keep the
        token as python-etcd3 does (`metadata`, `call_credentials`). etcdstream's transport sends the token it
        fetches itself, and fetches a new one whenever etcd refuses it."""
        self.auth_stub = self._stubs["Auth"]  # python-etcd3's name for it
        response = self.auth_stub.Authenticate(etcdrpc.AuthenticateRequest(name=user, password=password),
                                               self.timeout)
        self.metadata = _TokenMetadata((("token", response.token),))
        self.call_credentials = grpc.metadata_call_credentials(EtcdTokenCallCredentials(response.token))

    @property
    def watchstub(self) -> Any:
        """The watcher's stub (its _watch_stub, as python-etcd3 names it): its Watch opens the stream of every
        watch of the client. Setting it sets the watcher's; deleting it gives the watcher its own back."""
        return self.watcher._watch_stub

    @watchstub.setter
    def watchstub(self, stub: Any) -> None:
        self.watcher._watch_stub = stub

    @watchstub.deleter
    def watchstub(self) -> None:  # what mock.patch.object(client, "watchstub") does when it ends
        self.watcher._watch_stub = self._stubs["Watch"]

    @property
    def endpoint_in_use(self) -> Endpoint | None:
        """The endpoint the client uses now."""
        return self.endpoints.get(self._client.endpoint.split("://")[-1])

    def close(self) -> None:
        """Stop the watches and close the connection."""
        self.watcher.close()
        self._client.close()

    def __enter__(self) -> MultiEndpointEtcd3Client:
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()


_KEEPALIVE_OPTIONS = {"grpc.keepalive_time_ms": "keepalive_time", "grpc.keepalive_timeout_ms": "keepalive_timeout"}


class Etcd3Client(MultiEndpointEtcd3Client):
    """python-etcd3's client of one endpoint (see the package docstring for what differs)."""

    def __init__(self, host: str = "localhost", port: int = 2379, ca_cert: str | None = None,
                 cert_key: str | None = None, cert_cert: str | None = None, timeout: float | None = None,
                 user: str | None = None, password: str | None = None,
                 grpc_options: Iterable[tuple[str, Any]] | None = None) -> None:
        if ca_cert is not None and (cert_key is None) != (cert_cert is None):
            raise ValueError("to use a secure channel ca_cert is required by itself, "
                             "or cert_cert and cert_key must both be specified.")
        self.uses_secure_channel = ca_cert is not None
        tls = {"ca_file": ca_cert, "cert_file": cert_cert, "key_file": cert_key} if ca_cert is not None else {}
        # etcdstream lifts gRPC's message limits itself; keepalive options are the ones it takes.
        keepalive = {_KEEPALIVE_OPTIONS[name]: value / 1000 for name, value in grpc_options or ()
                     if name in _KEEPALIVE_OPTIONS}
        endpoint = Endpoint(host, port)
        self.endpoints = {endpoint.netloc: endpoint}
        self.failover = False
        self._connect([f"{'https' if ca_cert else 'http'}://{endpoint.netloc}"], timeout, user, password,
                      **tls, **keepalive)


def client(host: str = "localhost", port: int = 2379, ca_cert: str | None = None, cert_key: str | None = None,
           cert_cert: str | None = None, timeout: float | None = None, user: str | None = None,
           password: str | None = None, grpc_options: Iterable[tuple[str, Any]] | None = None) -> Etcd3Client:
    """An Etcd3Client."""
    return Etcd3Client(host=host, port=port, ca_cert=ca_cert, cert_key=cert_key, cert_cert=cert_cert,
                       timeout=timeout, user=user, password=password, grpc_options=grpc_options)
