"""Enumerations of etcd's wire format, shared by the compiled codec and its twin."""

from enum import IntEnum


class EventType(IntEnum):
    """What happened to a key (mvccpb.Event.EventType)."""

    PUT = 0
    DELETE = 1


class WatchFilter(IntEnum):
    """Events a watch leaves out (WatchCreateRequest.FilterType)."""

    NOPUT = 0
    NODELETE = 1


class SortOrder(IntEnum):
    """RangeRequest.SortOrder."""

    NONE = 0
    ASCEND = 1
    DESCEND = 2


class SortTarget(IntEnum):
    """RangeRequest.SortTarget; CREATE_REVISION and MOD_REVISION are other names of CREATE and MOD, after the
    KeyValue fields they sort by (range(sort_target="mod_revision"))."""

    KEY = 0
    VERSION = 1
    CREATE = 2
    MOD = 3
    VALUE = 4
    CREATE_REVISION = 2
    MOD_REVISION = 3


class PermissionType(IntEnum):
    """What a role's permission allows on its keys (authpb.Permission.Type)."""

    READ = 0
    WRITE = 1
    READWRITE = 2
