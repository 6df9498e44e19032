"""etcd's protobuf messages (rpc.proto, kv.proto, auth.proto of etcd v3.5).

Every message is a module attribute named as in etcd: ``KeyValue``, ``Event``,
``RangeRequest``, ``WatchResponse``, ``AuthUserAddRequest``, ... Nested enums
work the usual protobuf way (``Event.PUT``, ``RangeRequest.SortOrder.Name(2)``,
``Compare.CompareResult.Value("EQUAL")``); the top-level ``AlarmType`` enum is a
module attribute too. ``method_path("KV", "Range")`` gives a method's gRPC path.

The classes live in a private descriptor pool, ``POOL``, built from the
serialized descriptors in ``_etcd_descriptors``, never in protobuf's default
pool: python-etcd3, aetcd and etcd-sdk-python register the same file names
(``kv.proto``, ``rpc.proto``, ``auth.proto``) there, and a second registration
of a file with different contents fails. Building classes from descriptors at
import, instead of shipping ``*_pb2`` gencode, also works with any protobuf
runtime from 4.21 on without a gencode version check.

These classes build requests and serve tests and benchmarks; responses on the
hot path are decoded by ``etcdstream``'s own codec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FileDescriptor
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.message import Message

from etcdstream._etcd_descriptors import FILE_DESCRIPTOR_SET

__all__ = ["POOL", "FILE_NAMES", "SERVICE_PACKAGE", "method_path", "message_class"]  # + every message name

#: The proto package of etcd's gRPC services.
SERVICE_PACKAGE = "etcdserverpb"


def _build_pool(serialized_set: bytes) -> tuple[descriptor_pool.DescriptorPool, list[FileDescriptor]]:
    pool = descriptor_pool.DescriptorPool()
    files = []
    # protoc's --include_imports writes dependencies before their users.
    for file_proto in descriptor_pb2.FileDescriptorSet.FromString(serialized_set).file:
        pool.AddSerializedFile(file_proto.SerializeToString())
        files.append(pool.FindFileByName(file_proto.name))
    return pool, files


#: The private pool holding etcd's files; look descriptors up here, not in the default pool.
POOL, _FILES = _build_pool(FILE_DESCRIPTOR_SET)

#: Names of the proto files in ``POOL`` (``kv.proto``, ``auth.proto``, ``rpc.proto``).
FILE_NAMES: tuple[str, ...] = tuple(f.name for f in _FILES)

# Type checkers see the current API; protobuf 4.21 only has MessageFactory.GetPrototype,
# which protobuf 5 removed.
if TYPE_CHECKING or hasattr(message_factory, "GetMessageClass"):

    def message_class(descriptor: Descriptor) -> type[Message]:
        """Return the message class for ``descriptor`` (a descriptor from ``POOL``)."""
        return message_factory.GetMessageClass(descriptor)

else:
    _factory = message_factory.MessageFactory(POOL)

    def message_class(descriptor: Descriptor) -> type[Message]:
        """Return the message class for ``descriptor`` (a descriptor from ``POOL``)."""
        return _factory.GetPrototype(descriptor)


def _public_names(files: list[FileDescriptor]) -> dict[str, Any]:
    names: dict[str, Any] = {}
    for file in files:
        found: dict[str, Any] = {}
        for name, desc in file.message_types_by_name.items():
            cls = message_class(desc)
            # Factory-made classes have no importable home; naming this module
            # makes repr() and pickle find them here.
            cls.__module__ = __name__
            found[name] = cls
        found.update((name, EnumTypeWrapper(desc)) for name, desc in file.enum_types_by_name.items())
        # Short names are only unambiguous because etcd's packages do not share
        # a message name; fail loudly if a future proto update breaks that.
        clash = names.keys() & found.keys()
        if clash:
            raise RuntimeError(f"etcd protos define {sorted(clash)} in two packages")
        names.update(found)
    return names


_NAMES = _public_names(_FILES)
globals().update(_NAMES)
__all__ += sorted(_NAMES)

_METHOD_PATHS: dict[tuple[str, str], str] = {
    (service.name, method.name): f"/{service.full_name}/{method.name}"
    for file in _FILES
    if file.package == SERVICE_PACKAGE
    for service in file.services_by_name.values()
    for method in service.methods
}


def method_path(service: str, method: str) -> str:
    """Return the gRPC path of an etcd method: ``method_path("KV", "Range")`` is
    ``"/etcdserverpb.KV/Range"``. Raises KeyError for a method etcd does not have."""
    try:
        return _METHOD_PATHS[service, method]
    except KeyError:
        raise KeyError(f"etcd has no method {SERVICE_PACKAGE}.{service}/{method}") from None


if TYPE_CHECKING:
    # The message classes are made at import time; tell type checkers that
    # names such as RangeRequest exist without listing all of them.
    def __getattr__(name: str) -> Any: ...
