"""python-etcd3's client (Etcd3Client, MultiEndpointEtcd3Client, client()) on an etcdstream Client.

Requests and responses are python-etcd3's protobuf messages, sent through etcdstream's transport: one channel,
failover between endpoints, reads retried through failures, writes never sent twice when etcd may have applied
them, the auth token refreshed. Watches are etcdstream watchers (watch.py).
"""

from __future__ import annotations

import functools
import inspect
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import grpc

from ..._calls import Call, parse_message, single_call
from ..._core import DEFAULT_TIMEOUT
from ..._errors import EtcdError
from ... import _proto
from ..._sync import Client
from ..._types import WatchFilter
from .etcdrpc import NONE, NOSPACE
from .exceptions import WatchTimedOut, translate, translate_rpc_error
from .leases import Lease
from .locks import Lock
from .members import Member
from .transactions import Create, Delete, Get, Mod, Put, Txn, Value, Version
from .transactions import Lease as LeaseCompare
from .utils import lease_to_id, prefix_range_end, response_to_event_iterator, to_bytes
from .watch import Watcher

F = TypeVar("F", bound=Callable[..., Any])


def _handle_errors(f: F) -> F:
    """Raise python-etcd3's exceptions for etcdstream's (generator functions too, when iterated)."""
    if inspect.isgeneratorfunction(f):
        def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from f(*args, **kwargs)
            except EtcdError as e:
                raise translate(e) from e
        return functools.wraps(f)(generator)  # type: ignore[return-value]

    def handler(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except EtcdError as e:
            raise translate(e) from e
    return functools.wraps(f)(handler)  # type: ignore[return-value]


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


class KVMetadata:
    """A key's metadata: key, create_revision, mod_revision, version, lease_id, and the response_header."""

    def __init__(self, keyvalue: Any, header: Any) -> None:
        self.key = keyvalue.key
        self.create_revision = keyvalue.create_revision
        self.mod_revision = keyvalue.mod_revision
        self.version = keyvalue.version
        self.lease_id = keyvalue.lease
        self.response_header = header


class Status:
    def __init__(self, version: str, db_size: int, leader: Member | None, raft_index: int,
                 raft_term: int) -> None:
        self.version = version
        self.db_size = db_size
        self.leader = leader
        self.raft_index = raft_index
        self.raft_term = raft_term


class Alarm:
    def __init__(self, alarm_type: int, member_id: int) -> None:
        self.alarm_type = alarm_type
        self.member_id = member_id


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


_SORT_ORDERS = {None: _proto.RangeRequest.NONE, "ascend": _proto.RangeRequest.ASCEND,
                "descend": _proto.RangeRequest.DESCEND}
_SORT_TARGETS = {None: _proto.RangeRequest.KEY, "key": _proto.RangeRequest.KEY,
                 "version": _proto.RangeRequest.VERSION, "create": _proto.RangeRequest.CREATE,
                 "mod": _proto.RangeRequest.MOD, "value": _proto.RangeRequest.VALUE}


class MultiEndpointEtcd3Client:
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

    def _connect(self, urls: list[str], timeout: float | None, user: str | None, password: str | None,
                 **client_options: Any) -> None:
        if bool(user) != bool(password):
            raise ValueError("if using authentication credentials both user and password must be specified.")
        self.timeout = timeout
        self._client = Client(urls, username=user or None, password=password or None,
                              timeout=DEFAULT_TIMEOUT if timeout is None else timeout, **client_options)
        self._transport = self._client._transport
        self.watcher = Watcher(self._client)
        self.transactions = Transactions()

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

    # --- how requests travel ---

    def _call(self, service: str, method: str, request: Any, response_class: Any, *, idempotent: bool = True,
              stream: bool = False) -> Any:
        call = Call(_proto.method_path(service, method), request.SerializeToString(), None, stream=stream,
                    idempotent=idempotent)
        return self._transport.run(single_call(call, lambda raw: parse_message(response_class, raw)))

    @staticmethod
    def _build_get_range_request(key: str | bytes, range_end: str | bytes | None = None, limit: int | None = None,
                                 revision: int | None = None, sort_order: str | None = None,
                                 sort_target: str | None = "key", serializable: bool = False,
                                 keys_only: bool = False, count_only: bool = False,
                                 min_mod_revision: int | None = None, max_mod_revision: int | None = None,
                                 min_create_revision: int | None = None,
                                 max_create_revision: int | None = None) -> Any:
        if sort_order not in _SORT_ORDERS:
            raise ValueError(f'unknown sort order: "{sort_order}"')
        if sort_target not in _SORT_TARGETS:
            raise ValueError('sort_target must be one of "key", "version", "create", "mod" or "value"')
        request = _proto.RangeRequest(key=to_bytes(key), keys_only=keys_only, count_only=bool(count_only),
                                       serializable=serializable, sort_order=_SORT_ORDERS[sort_order],
                                       sort_target=_SORT_TARGETS[sort_target])
        if range_end is not None:
            request.range_end = to_bytes(range_end)
        for name, value in (("limit", limit), ("revision", revision), ("min_mod_revision", min_mod_revision),
                            ("max_mod_revision", max_mod_revision), ("min_create_revision", min_create_revision),
                            ("max_create_revision", max_create_revision)):
            if value is not None:
                setattr(request, name, value)
        return request

    def _range(self, request: Any) -> Any:
        return self._call("KV", "Range", request, _proto.RangeResponse)

    # --- reads ---

    @_handle_errors
    def get_response(self, key: str | bytes, **kwargs: Any) -> Any:
        """The RangeResponse of key (kwargs: the range options of _build_get_range_request, e.g. serializable)."""
        return self._range(self._build_get_range_request(key, **kwargs))

    def get(self, key: str | bytes, **kwargs: Any) -> tuple[bytes | None, KVMetadata | None]:
        """(value, KVMetadata) of key, or (None, None) if it does not exist."""
        response = self.get_response(key, **kwargs)
        if response.count < 1:
            return None, None
        kv = response.kvs[-1]
        return kv.value, KVMetadata(kv, response.header)

    @_handle_errors
    def get_prefix_response(self, key_prefix: str | bytes, **kwargs: Any) -> Any:
        """The RangeResponse of every key under key_prefix (in one response: no 4 MiB limit here)."""
        if "key" in kwargs or "range_end" in kwargs:
            raise TypeError("Don't use key or range_end with prefix")
        prefix = to_bytes(key_prefix)
        return self._range(self._build_get_range_request(prefix, prefix_range_end(prefix), **kwargs))

    def get_prefix(self, key_prefix: str | bytes, **kwargs: Any) -> Iterator[tuple[bytes, KVMetadata]]:
        """(value, KVMetadata) of every key under key_prefix."""
        response = self.get_prefix_response(key_prefix, **kwargs)
        return ((kv.value, KVMetadata(kv, response.header)) for kv in response.kvs)

    @_handle_errors
    def get_range_response(self, range_start: str | bytes, range_end: str | bytes, sort_order: str | None = None,
                           sort_target: str = "key", **kwargs: Any) -> Any:
        """The RangeResponse of the keys in [range_start, range_end)."""
        return self._range(self._build_get_range_request(range_start, range_end, sort_order=sort_order,
                                                         sort_target=sort_target, **kwargs))

    def get_range(self, range_start: str | bytes, range_end: str | bytes,
                  **kwargs: Any) -> Iterator[tuple[bytes, KVMetadata]]:
        """(value, KVMetadata) of the keys in [range_start, range_end)."""
        response = self.get_range_response(range_start, range_end, **kwargs)
        for kv in response.kvs:
            yield kv.value, KVMetadata(kv, response.header)

    @_handle_errors
    def get_all_response(self, sort_order: str | None = None, sort_target: str = "key",
                         keys_only: bool = False) -> Any:
        """The RangeResponse of every key."""
        return self._range(self._build_get_range_request(b"\0", b"\0", sort_order=sort_order,
                                                         sort_target=sort_target, keys_only=keys_only))

    def get_all(self, **kwargs: Any) -> Iterator[tuple[bytes, KVMetadata]]:
        """(value, KVMetadata) of every key."""
        response = self.get_all_response(**kwargs)
        for kv in response.kvs:
            yield kv.value, KVMetadata(kv, response.header)

    # --- writes ---

    @staticmethod
    def _build_put_request(key: str | bytes, value: str | bytes, lease: Any = None, prev_kv: bool = False) -> Any:
        return _proto.PutRequest(key=to_bytes(key), value=to_bytes(value),
                                  lease=lease_to_id(lease), prev_kv=prev_kv)

    @_handle_errors
    def put(self, key: str | bytes, value: str | bytes, lease: Any = None, prev_kv: bool = False) -> Any:
        """Write key=value; returns the PutResponse."""
        return self._call("KV", "Put", self._build_put_request(key, value, lease, prev_kv), _proto.PutResponse,
                          idempotent=False)

    @_handle_errors
    def put_if_not_exists(self, key: str | bytes, value: str | bytes, lease: Any = None) -> bool:
        """Write key=value only if key does not exist; True if it was written."""
        status, _ = self.transaction(compare=[self.transactions.create(key) == "0"],
                                     success=[self.transactions.put(key, value, lease=lease)], failure=[])
        return status

    @_handle_errors
    def replace(self, key: str | bytes, initial_value: str | bytes, new_value: str | bytes) -> bool:
        """Write new_value only if the value is still initial_value; True if it was written."""
        status, _ = self.transaction(compare=[self.transactions.value(key) == initial_value],
                                     success=[self.transactions.put(key, new_value)], failure=[])
        return status

    @staticmethod
    def _build_delete_request(key: str | bytes, range_end: str | bytes | None = None, prev_kv: bool = False) -> Any:
        request = _proto.DeleteRangeRequest(key=to_bytes(key), prev_kv=prev_kv)
        if range_end is not None:
            request.range_end = to_bytes(range_end)
        return request

    def _delete_range(self, request: Any) -> Any:
        return self._call("KV", "DeleteRange", request, _proto.DeleteRangeResponse, idempotent=False)

    @_handle_errors
    def delete(self, key: str | bytes, prev_kv: bool = False, return_response: bool = False) -> Any:
        """Delete key: True if it existed (the DeleteRangeResponse with return_response=True)."""
        response = self._delete_range(self._build_delete_request(key, prev_kv=prev_kv))
        return response if return_response else response.deleted >= 1

    @_handle_errors
    def delete_prefix(self, prefix: str | bytes) -> Any:
        """Delete every key under prefix; returns the DeleteRangeResponse."""
        prefix = to_bytes(prefix)
        return self._delete_range(self._build_delete_request(prefix, prefix_range_end(prefix)))

    # --- transactions ---

    def _ops_to_requests(self, ops: Iterable[Any]) -> list[Any]:
        """RequestOps of transactions.Put, Get, Delete and Txn objects."""
        request_ops = []
        for op in ops:
            if isinstance(op, Put):
                request_ops.append(_proto.RequestOp(
                    request_put=self._build_put_request(op.key, op.value, op.lease, op.prev_kv)))
            elif isinstance(op, Get):
                request_ops.append(_proto.RequestOp(request_range=self._build_get_range_request(op.key, op.range_end)))
            elif isinstance(op, Delete):
                request_ops.append(_proto.RequestOp(
                    request_delete_range=self._build_delete_request(op.key, op.range_end, op.prev_kv)))
            elif isinstance(op, Txn):
                request_ops.append(_proto.RequestOp(request_txn=self._txn_request(op.compare, op.success,
                                                                                   op.failure)))
            else:
                raise TypeError(f"Unknown request class {type(op)}")
        return request_ops

    def _txn_request(self, compare: Iterable[Any], success: Iterable[Any] | None,
                     failure: Iterable[Any] | None) -> Any:
        return _proto.TxnRequest(compare=[c.build_message() for c in compare],
                                  success=self._ops_to_requests(success or ()),
                                  failure=self._ops_to_requests(failure or ()))

    def _txn(self, compare: Iterable[Any], success: Iterable[Any] | None, failure: Iterable[Any] | None) -> Any:
        return self._call("KV", "Txn", self._txn_request(compare, success, failure), _proto.TxnResponse,
                          idempotent=False)

    @_handle_errors
    def transaction(self, compare: Iterable[Any], success: Iterable[Any] | None = None,
                    failure: Iterable[Any] | None = None) -> tuple[bool, list[Any]]:
        """Run success if every compare holds, else failure: (succeeded, responses), where a Get's response is a
        list of (value, KVMetadata) and the others are etcd's ResponseOps."""
        response = self._txn(compare, success, failure)
        results: list[Any] = []
        for op in response.responses:
            if op.WhichOneof("response") == "response_range":
                results.append([(kv.value, KVMetadata(kv, response.header)) for kv in op.response_range.kvs])
            else:
                results.append(op)
        return response.succeeded, results

    # --- watches ---

    @_handle_errors
    def add_watch_callback(self, *args: Any, **kwargs: Any) -> int:
        """Watch key (range_end=, start_revision=, progress_notify=, filters=, prev_kv=) and call callback with
        each WatchResponse (or an exception) on a thread of the watch; returns the watch id."""
        return self.watcher.add_callback(*args, **kwargs)

    def add_watch_prefix_callback(self, key_prefix: str | bytes, callback: Callable[[Any], object],
                                  **kwargs: Any) -> int:
        """add_watch_callback for every key under key_prefix."""
        kwargs["range_end"] = prefix_range_end(to_bytes(key_prefix))
        return self.add_watch_callback(key_prefix, callback, **kwargs)

    def watch_response(self, key: str | bytes, **kwargs: Any) -> tuple[Iterator[Any], Callable[[], None]]:
        """(iterator of WatchResponses, cancel) of a watch of key."""
        responses: queue.Queue[Any] = queue.Queue()
        watch_id = self.add_watch_callback(key, responses.put, **kwargs)
        canceled = threading.Event()

        def cancel() -> None:
            canceled.set()
            responses.put(None)
            self.cancel_watch(watch_id)

        def iterator() -> Iterator[Any]:
            while not canceled.is_set():
                response = responses.get()
                if response is None:
                    canceled.set()
                elif isinstance(response, Exception):
                    canceled.set()
                    if isinstance(response, grpc.RpcError):
                        raise translate_rpc_error(response)
                    raise response
                else:
                    yield response

        return iterator(), cancel

    def watch(self, key: str | bytes, **kwargs: Any) -> tuple[Iterator[Any], Callable[[], None]]:
        """(iterator of events, cancel) of a watch of key."""
        responses, cancel = self.watch_response(key, **kwargs)
        return response_to_event_iterator(responses), cancel

    def watch_prefix_response(self, key_prefix: str | bytes, **kwargs: Any) -> tuple[Iterator[Any], Callable[[], None]]:
        kwargs["range_end"] = prefix_range_end(to_bytes(key_prefix))
        return self.watch_response(key_prefix, **kwargs)

    def watch_prefix(self, key_prefix: str | bytes, **kwargs: Any) -> tuple[Iterator[Any], Callable[[], None]]:
        kwargs["range_end"] = prefix_range_end(to_bytes(key_prefix))
        return self.watch(key_prefix, **kwargs)

    def watch_once_response(self, key: str | bytes, timeout: float | None = None, **kwargs: Any) -> Any:
        """The first WatchResponse of a watch of key; WatchTimedOut if none came within timeout."""
        responses: queue.Queue[Any] = queue.Queue()
        watch_id = self.add_watch_callback(key, responses.put, **kwargs)
        try:
            response = responses.get(timeout=timeout)
        except queue.Empty:
            raise WatchTimedOut() from None
        finally:
            self.cancel_watch(watch_id)
        if isinstance(response, Exception):
            raise response
        return response

    def watch_once(self, key: str | bytes, timeout: float | None = None, **kwargs: Any) -> Any:
        """The first event of a watch of key; WatchTimedOut if none came within timeout."""
        return self.watch_once_response(key, timeout=timeout, **kwargs).events[0]

    def watch_prefix_once_response(self, key_prefix: str | bytes, timeout: float | None = None, **kwargs: Any) -> Any:
        kwargs["range_end"] = prefix_range_end(to_bytes(key_prefix))
        return self.watch_once_response(key_prefix, timeout=timeout, **kwargs)

    def watch_prefix_once(self, key_prefix: str | bytes, timeout: float | None = None, **kwargs: Any) -> Any:
        kwargs["range_end"] = prefix_range_end(to_bytes(key_prefix))
        return self.watch_once(key_prefix, timeout=timeout, **kwargs)

    @_handle_errors
    def cancel_watch(self, watch_id: int) -> None:
        """Stop a watch of add_watch_callback."""
        self.watcher.cancel(watch_id)

    # --- leases and locks ---

    @_handle_errors
    def lease(self, ttl: int, lease_id: int | None = None) -> Lease:
        """A new lease of ttl seconds (not kept alive: refresh it)."""
        response = self._call("Lease", "LeaseGrant", _proto.LeaseGrantRequest(TTL=ttl, ID=lease_id or 0),
                              _proto.LeaseGrantResponse, idempotent=False)
        return Lease(lease_id=response.ID, ttl=response.TTL, etcd_client=self)

    @_handle_errors
    def revoke_lease(self, lease_id: int) -> None:
        """Revoke a lease (its keys are deleted)."""
        self._call("Lease", "LeaseRevoke", _proto.LeaseRevokeRequest(ID=lease_id), _proto.LeaseRevokeResponse,
                   idempotent=False)

    @_handle_errors
    def refresh_lease(self, lease_id: int) -> Iterator[Any]:
        """Refresh a lease once: yields its LeaseKeepAliveResponse (TTL 0 if it is gone)."""
        yield self._call("Lease", "LeaseKeepAlive", _proto.LeaseKeepAliveRequest(ID=lease_id),
                         _proto.LeaseKeepAliveResponse, stream=True)

    @_handle_errors
    def get_lease_info(self, lease_id: int) -> Any:
        """The LeaseTimeToLiveResponse of a lease, with its keys."""
        return self._call("Lease", "LeaseTimeToLive", _proto.LeaseTimeToLiveRequest(ID=lease_id, keys=True),
                          _proto.LeaseTimeToLiveResponse)

    def lock(self, name: str, ttl: int = 60) -> Lock:
        """The lock `name` (key /locks/<name>, as python-etcd3's), not yet acquired."""
        return Lock(name, ttl=ttl, etcd_client=self)

    def _create_key(self, key: str, value: bytes, lease: Lease) -> tuple[bool, int]:
        """Write key=value on lease if key does not exist: (written, the revision etcd answered at)."""
        response = self._txn([self.transactions.create(key) == 0], [self.transactions.put(key, value, lease=lease)],
                             [])
        return response.succeeded, response.header.revision

    @_handle_errors
    def _wait_for_delete(self, key: str, start_revision: int, timeout: float | None) -> None:
        """Return once key is deleted at start_revision or later, or after timeout seconds."""
        with self._client.watch(key, start_revision=start_revision, filters=[WatchFilter.NOPUT],
                                progress_notify=False) as watcher:
            batch = watcher.get(timeout)
            while batch is not None and not batch.events:
                batch = watcher.get(timeout)

    # --- the cluster and maintenance ---

    def _member(self, member: Any) -> Member:
        return Member(member.ID, member.name, list(member.peerURLs), list(member.clientURLs),
                              etcd_client=self)

    @_handle_errors
    def add_member(self, urls: list[str]) -> Member:
        """Add a member with these peer URLs; returns it."""
        response = self._call("Cluster", "MemberAdd", _proto.MemberAddRequest(peerURLs=urls),
                              _proto.MemberAddResponse, idempotent=False)
        return self._member(response.member)

    @_handle_errors
    def remove_member(self, member_id: int) -> None:
        self._call("Cluster", "MemberRemove", _proto.MemberRemoveRequest(ID=member_id),
                   _proto.MemberRemoveResponse, idempotent=False)

    @_handle_errors
    def update_member(self, member_id: int, peer_urls: list[str]) -> None:
        self._call("Cluster", "MemberUpdate", _proto.MemberUpdateRequest(ID=member_id, peerURLs=peer_urls),
                   _proto.MemberUpdateResponse, idempotent=False)

    @property
    @_handle_errors
    def members(self) -> Iterator[Member]:
        """Every member of the cluster."""
        response = self._call("Cluster", "MemberList", _proto.MemberListRequest(), _proto.MemberListResponse)
        return (self._member(member) for member in response.members)

    @_handle_errors
    def status(self) -> Status:
        """The status of the member in use, its leader a Member."""
        response = self._call("Maintenance", "Status", _proto.StatusRequest(), _proto.StatusResponse)
        leader = next((m for m in self.members if m.id == response.leader), None)
        return Status(response.version, response.dbSize, leader, response.raftIndex, response.raftTerm)

    @_handle_errors
    def compact(self, revision: int, physical: bool = False) -> None:
        """Compact the history up to revision."""
        self._call("KV", "Compact", _proto.CompactionRequest(revision=revision, physical=physical),
                   _proto.CompactionResponse, idempotent=False)

    @_handle_errors
    def defragment(self) -> None:
        """Defragment the backend of the member in use."""
        self._call("Maintenance", "Defragment", _proto.DefragmentRequest(), _proto.DefragmentResponse,
                   idempotent=False)

    @_handle_errors
    def hash(self) -> int:
        """The hash of the member in use's backend."""
        return int(self._call("Maintenance", "Hash", _proto.HashRequest(), _proto.HashResponse).hash)

    @staticmethod
    def _build_alarm_request(alarm_action: str, member_id: int, alarm_type: str) -> Any:
        actions = {"get": _proto.AlarmRequest.GET, "activate": _proto.AlarmRequest.ACTIVATE,
                   "deactivate": _proto.AlarmRequest.DEACTIVATE}
        types = {"none": NONE, "no space": NOSPACE}
        if alarm_action not in actions:
            raise ValueError(f"Unknown alarm action: {alarm_action}")
        if alarm_type not in types:
            raise ValueError(f"Unknown alarm type: {alarm_type}")
        return _proto.AlarmRequest(action=actions[alarm_action], memberID=member_id, alarm=types[alarm_type])

    def _alarms(self, action: str, member_id: int, alarm_type: str) -> list[Alarm]:
        response = self._call("Maintenance", "Alarm", self._build_alarm_request(action, member_id, alarm_type),
                              _proto.AlarmResponse, idempotent=action == "get")
        return [Alarm(alarm.alarm, alarm.memberID) for alarm in response.alarms]

    @_handle_errors
    def create_alarm(self, member_id: int = 0) -> list[Alarm]:
        """Raise a NOSPACE alarm on a member (0: every member)."""
        return self._alarms("activate", member_id, "no space")

    @_handle_errors
    def list_alarms(self, member_id: int = 0, alarm_type: str = "none") -> Iterator[Alarm]:
        """The alarms raised."""
        yield from self._alarms("get", member_id, alarm_type)

    @_handle_errors
    def disarm_alarm(self, member_id: int = 0) -> list[Alarm]:
        """Clear the NOSPACE alarm of a member (0: every member)."""
        return self._alarms("deactivate", member_id, "no space")

    @_handle_errors
    def snapshot(self, file_obj: Any) -> None:
        """Write the backend of the member in use to file_obj (checked against etcd's checksum)."""
        self._client.snapshot(file_obj, timeout=self.timeout)


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
