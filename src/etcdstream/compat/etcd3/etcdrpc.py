"""etcd's protobuf messages under python-etcd3's module name (etcd3.etcdrpc): RangeRequest, Compare, PutResponse,
..., and the AlarmType values NONE, NOSPACE and CORRUPT. They are etcdstream's classes (a private descriptor pool,
any protobuf from 4.21 on); python-etcd3's gRPC stubs are not here: calls go through etcdstream's client."""

from ..._proto import *  # noqa: F403
from ..._proto import AlarmType

NONE = AlarmType.Value("NONE")
NOSPACE = AlarmType.Value("NOSPACE")
CORRUPT = AlarmType.Value("CORRUPT")
