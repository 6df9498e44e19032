"""python-etcd3's key-value calls: reads, writes and transactions, with the KVMetadata they return."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ._requests import (build_delete_request, build_get_range_request, build_put_request, ops_to_requests,
                        txn_request)
from .exceptions import handle_errors
from .utils import prefix_range_end, to_bytes


class KVMetadata:
    """A key's metadata: key, create_revision, mod_revision, version, lease_id, and the response_header."""

    def __init__(self, keyvalue: Any, header: Any) -> None:
        self.key = keyvalue.key
        self.create_revision = keyvalue.create_revision
        self.mod_revision = keyvalue.mod_revision
        self.version = keyvalue.version
        self.lease_id = keyvalue.lease
        self.response_header = header


class KVMethods:
    """The key-value calls of MultiEndpointEtcd3Client, through its kvstub as python-etcd3's."""

    # python-etcd3's names for the builders (its own tests call _build_get_range_request).
    _build_get_range_request = staticmethod(build_get_range_request)
    _build_put_request = staticmethod(build_put_request)
    _build_delete_request = staticmethod(build_delete_request)
    _ops_to_requests = staticmethod(ops_to_requests)

    def _range(self, request: Any) -> Any:
        return self.kvstub.Range(request, self.timeout, credentials=self.call_credentials, metadata=self.metadata)

    # --- reads ---

    @handle_errors
    def get_response(self, key: str | bytes, **kwargs: Any) -> Any:
        """The RangeResponse of key (kwargs: the range options of _build_get_range_request, e.g. serializable)."""
        return self._range(build_get_range_request(key, **kwargs))

    def get(self, key: str | bytes, **kwargs: Any) -> tuple[bytes | None, KVMetadata | None]:
        """(value, KVMetadata) of key, or (None, None) if it does not exist."""
        response = self.get_response(key, **kwargs)
        if response.count < 1:
            return None, None
        kv = response.kvs[-1]
        return kv.value, KVMetadata(kv, response.header)

    @handle_errors
    def get_prefix_response(self, key_prefix: str | bytes, **kwargs: Any) -> Any:
        """The RangeResponse of every key under key_prefix (in one response: no 4 MiB limit here)."""
        if "key" in kwargs or "range_end" in kwargs:
            raise TypeError("Don't use key or range_end with prefix")
        prefix = to_bytes(key_prefix)
        return self._range(build_get_range_request(prefix, prefix_range_end(prefix), **kwargs))

    def get_prefix(self, key_prefix: str | bytes, **kwargs: Any) -> Iterator[tuple[bytes, KVMetadata]]:
        """(value, KVMetadata) of every key under key_prefix."""
        response = self.get_prefix_response(key_prefix, **kwargs)
        return ((kv.value, KVMetadata(kv, response.header)) for kv in response.kvs)

    @handle_errors
    def get_range_response(self, range_start: str | bytes, range_end: str | bytes, sort_order: str | None = None,
                           sort_target: str = "key", **kwargs: Any) -> Any:
        """The RangeResponse of the keys in [range_start, range_end)."""
        return self._range(build_get_range_request(range_start, range_end, sort_order=sort_order,
                                                   sort_target=sort_target, **kwargs))

    def get_range(self, range_start: str | bytes, range_end: str | bytes,
                  **kwargs: Any) -> Iterator[tuple[bytes, KVMetadata]]:
        """(value, KVMetadata) of the keys in [range_start, range_end)."""
        response = self.get_range_response(range_start, range_end, **kwargs)
        for kv in response.kvs:
            yield kv.value, KVMetadata(kv, response.header)

    @handle_errors
    def get_all_response(self, sort_order: str | None = None, sort_target: str = "key",
                         keys_only: bool = False) -> Any:
        """The RangeResponse of every key."""
        return self._range(build_get_range_request(b"\0", b"\0", sort_order=sort_order, sort_target=sort_target,
                                                   keys_only=keys_only))

    def get_all(self, **kwargs: Any) -> Iterator[tuple[bytes, KVMetadata]]:
        """(value, KVMetadata) of every key."""
        response = self.get_all_response(**kwargs)
        for kv in response.kvs:
            yield kv.value, KVMetadata(kv, response.header)

    # --- writes ---

    @handle_errors
    def put(self, key: str | bytes, value: str | bytes, lease: Any = None, prev_kv: bool = False) -> Any:
        """Write key=value; returns the PutResponse."""
        return self.kvstub.Put(build_put_request(key, value, lease, prev_kv), self.timeout,
                               credentials=self.call_credentials, metadata=self.metadata)

    @handle_errors
    def put_if_not_exists(self, key: str | bytes, value: str | bytes, lease: Any = None) -> bool:
        """Write key=value only if key does not exist; True if it was written."""
        status, _ = self.transaction(compare=[self.transactions.create(key) == "0"],
                                     success=[self.transactions.put(key, value, lease=lease)], failure=[])
        return status

    @handle_errors
    def replace(self, key: str | bytes, initial_value: str | bytes, new_value: str | bytes) -> bool:
        """Write new_value only if the value is still initial_value; True if it was written."""
        status, _ = self.transaction(compare=[self.transactions.value(key) == initial_value],
                                     success=[self.transactions.put(key, new_value)], failure=[])
        return status

    def _delete_range(self, request: Any) -> Any:
        return self.kvstub.DeleteRange(request, self.timeout, credentials=self.call_credentials,
                                       metadata=self.metadata)

    @handle_errors
    def delete(self, key: str | bytes, prev_kv: bool = False, return_response: bool = False) -> Any:
        """Delete key: True if it existed (the DeleteRangeResponse with return_response=True)."""
        response = self._delete_range(build_delete_request(key, prev_kv=prev_kv))
        return response if return_response else response.deleted >= 1

    @handle_errors
    def delete_prefix(self, prefix: str | bytes) -> Any:
        """Delete every key under prefix; returns the DeleteRangeResponse."""
        prefix = to_bytes(prefix)
        return self._delete_range(build_delete_request(prefix, prefix_range_end(prefix)))

    # --- transactions ---

    @handle_errors
    def transaction(self, compare: Iterable[Any], success: Iterable[Any] | None = None,
                    failure: Iterable[Any] | None = None) -> tuple[bool, list[Any]]:
        """Run success if every compare holds, else failure: (succeeded, responses), where a Get's response is a
        list of (value, KVMetadata) and the others are etcd's ResponseOps."""
        response = self.kvstub.Txn(txn_request(compare, success, failure), self.timeout,
                                   credentials=self.call_credentials, metadata=self.metadata)
        results: list[Any] = []
        for op in response.responses:
            if op.WhichOneof("response") == "response_range":
                results.append([(kv.value, KVMetadata(kv, response.header)) for kv in op.response_range.kvs])
            else:
                results.append(op)
        return response.succeeded, results
