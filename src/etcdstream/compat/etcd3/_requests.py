"""The etcd requests of python-etcd3's calls, built from its arguments (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ... import _proto
from .etcdrpc import NONE, NOSPACE
from .transactions import Delete, Get, Put, Txn
from .utils import lease_to_id, to_bytes

_SORT_ORDERS = {None: _proto.RangeRequest.NONE, "ascend": _proto.RangeRequest.ASCEND,
                "descend": _proto.RangeRequest.DESCEND}
_SORT_TARGETS = {None: _proto.RangeRequest.KEY, "key": _proto.RangeRequest.KEY,
                 "version": _proto.RangeRequest.VERSION, "create": _proto.RangeRequest.CREATE,
                 "mod": _proto.RangeRequest.MOD, "value": _proto.RangeRequest.VALUE}


def build_get_range_request(key: str | bytes, range_end: str | bytes | None = None, limit: int | None = None,
                            revision: int | None = None, sort_order: str | None = None,
                            sort_target: str | None = "key", serializable: bool = False, keys_only: bool = False,
                            count_only: bool = False, min_mod_revision: int | None = None,
                            max_mod_revision: int | None = None, min_create_revision: int | None = None,
                            max_create_revision: int | None = None) -> Any:
    """The RangeRequest of python-etcd3's get calls."""
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


def build_put_request(key: str | bytes, value: str | bytes, lease: Any = None, prev_kv: bool = False) -> Any:
    """The PutRequest of key=value (lease: a Lease or its id)."""
    return _proto.PutRequest(key=to_bytes(key), value=to_bytes(value), lease=lease_to_id(lease), prev_kv=prev_kv)


def build_delete_request(key: str | bytes, range_end: str | bytes | None = None, prev_kv: bool = False) -> Any:
    """The DeleteRangeRequest of key, or of [key, range_end)."""
    request = _proto.DeleteRangeRequest(key=to_bytes(key), prev_kv=prev_kv)
    if range_end is not None:
        request.range_end = to_bytes(range_end)
    return request


def ops_to_requests(ops: Iterable[Any]) -> list[Any]:
    """RequestOps of transactions.Put, Get, Delete and Txn objects."""
    request_ops = []
    for op in ops:
        if isinstance(op, Put):
            request_ops.append(_proto.RequestOp(request_put=build_put_request(op.key, op.value, op.lease, op.prev_kv)))
        elif isinstance(op, Get):
            request_ops.append(_proto.RequestOp(request_range=build_get_range_request(op.key, op.range_end)))
        elif isinstance(op, Delete):
            request_ops.append(_proto.RequestOp(
                request_delete_range=build_delete_request(op.key, op.range_end, op.prev_kv)))
        elif isinstance(op, Txn):
            request_ops.append(_proto.RequestOp(request_txn=txn_request(op.compare, op.success, op.failure)))
        else:
            raise TypeError(f"Unknown request class {type(op)}")
    return request_ops


def txn_request(compare: Iterable[Any], success: Iterable[Any] | None, failure: Iterable[Any] | None) -> Any:
    """The TxnRequest of transactions' compares and operations."""
    return _proto.TxnRequest(compare=[c.build_message() for c in compare], success=ops_to_requests(success or ()),
                             failure=ops_to_requests(failure or ()))


def build_alarm_request(alarm_action: str, member_id: int, alarm_type: str) -> Any:
    """The AlarmRequest of an action ("get", "activate", "deactivate") on a type ("none", "no space")."""
    actions = {"get": _proto.AlarmRequest.GET, "activate": _proto.AlarmRequest.ACTIVATE,
               "deactivate": _proto.AlarmRequest.DEACTIVATE}
    types = {"none": NONE, "no space": NOSPACE}
    if alarm_action not in actions:
        raise ValueError(f"Unknown alarm action: {alarm_action}")
    if alarm_type not in types:
        raise ValueError(f"Unknown alarm type: {alarm_type}")
    return _proto.AlarmRequest(action=actions[alarm_action], memberID=member_id, alarm=types[alarm_type])
