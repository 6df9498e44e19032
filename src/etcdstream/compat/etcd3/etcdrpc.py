"""etcd's protobuf messages and gRPC stubs under python-etcd3's module name (etcd3.etcdrpc): RangeRequest, Compare,
PutResponse, ..., the AlarmType values NONE, NOSPACE and CORRUPT, and KVStub, WatchStub, LeaseStub, ClusterStub,
MaintenanceStub and AuthStub.

The messages are etcdstream's classes (a private descriptor pool, any protobuf from 4.21 on). A stub is made on
a channel, as grpc's generated ones are: on a compat client's `channel` its calls go through etcdstream's
transport (what the client's kvstub, leasestub, ... are), on a grpc channel straight to etcd.
"""

from __future__ import annotations

from typing import Any

from ... import _proto
from ..._proto import *  # noqa: F403
from ..._proto import AlarmType

NONE = AlarmType.Value("NONE")
NOSPACE = AlarmType.Value("NOSPACE")
CORRUPT = AlarmType.Value("CORRUPT")


def _stub_class(service_name: str) -> type:
    """The stub class of one of etcd's services: a callable attribute per method, made on the channel given."""
    service = _proto.POOL.FindServiceByName(f"{_proto.SERVICE_PACKAGE}.{service_name}")
    methods = []
    for method in service.methods:
        kind = f"{'stream' if method.client_streaming else 'unary'}_{'stream' if method.server_streaming else 'unary'}"
        request_class = _proto.message_class(method.input_type)
        response_class = _proto.message_class(method.output_type)
        methods.append((method.name, kind, f"/{service.full_name}/{method.name}", request_class.SerializeToString,
                        response_class.FromString))

    def __init__(self: Any, channel: Any) -> None:
        for name, kind, path, serialize, deserialize in methods:
            setattr(self, name, getattr(channel, kind)(path, request_serializer=serialize,
                                                       response_deserializer=deserialize))

    doc = (f"etcd's {service_name} service on a channel: {', '.join(m[0] for m in methods)} "
           f"(as grpc's generated {service_name}Stub).")
    return type(f"{service_name}Stub", (), {"__init__": __init__, "__doc__": doc, "__module__": __name__})


KVStub = _stub_class("KV")
WatchStub = _stub_class("Watch")
LeaseStub = _stub_class("Lease")
ClusterStub = _stub_class("Cluster")
MaintenanceStub = _stub_class("Maintenance")
AuthStub = _stub_class("Auth")
