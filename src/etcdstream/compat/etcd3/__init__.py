"""python-etcd3's API (``import etcd3``) on etcdstream: change ``import etcd3`` to
``import etcdstream.compat.etcd3 as etcd3`` and keep the rest.

It is python-etcd3 0.12.0's public API, and its later master's ``MultiEndpointEtcd3Client`` and ``Endpoint``:
the client and its methods, responses as etcd's protobuf messages, KVMetadata, events, leases, python-etcd3's
locks (``/locks/<name>``, shared with python-etcd3 processes), members, alarms, exceptions, utils, and etcdrpc's
messages and stubs. As in python-etcd3, the client's calls go through its stubs (``kvstub``, ``leasestub``,
``clusterstub``, ``maintenancestub``, ``authstub``, ``watcher._watch_stub``), which send through etcdstream's
transport; a test may replace or patch them as it did python-etcd3's.

What is better than python-etcd3 behind the same calls:
- it imports with any protobuf from 4.21 on (python-etcd3 0.12.0 does not import under protobuf >= 4);
- watches resume after a broken connection, a failover or an etcd restart from their last revision, losing
  and repeating nothing (python-etcd3's end with ConnectionFailedError), and survive an expired token;
- get_prefix and get_all have no 4 MiB limit;
- with several endpoints, calls fail over by themselves; reads are retried through failures, and a write is
  never sent twice when etcd may have applied it;
- a lock waiter sees a release between its attempt and its watch (python-etcd3 issue 1107) and no longer
  leaks a lease per failed attempt.

Known differences: ``timeout=None`` means etcdstream's default (10 s per call) rather than no deadline; of
``grpc_options`` only the keepalive options are used (etcdstream sets its own channel options); TLS settings are
files (``ca_cert``, ``cert_key``, ``cert_cert``), so ``Endpoint(secure=True, credentials=...)`` is refused; watch
ids are the client's own numbers; the credentials and metadata given to the stubs are not sent (the transport
sends the token it fetched, and fetches a new one when etcd refuses it).
"""

from . import etcdrpc, events, exceptions, leases, locks, members, transactions, utils, watch
from .client import Endpoint, Etcd3Client, MultiEndpointEtcd3Client, Transactions, client
from .exceptions import Etcd3Exception
from .leases import Lease
from .locks import Lock
from .members import Member

__version__ = "0.12.0"

__all__ = (
    "Endpoint",
    "Etcd3Client",
    "Etcd3Exception",
    "Lease",
    "Lock",
    "Member",
    "MultiEndpointEtcd3Client",
    "Transactions",
    "client",
    "etcdrpc",
    "events",
    "exceptions",
    "leases",
    "locks",
    "members",
    "transactions",
    "utils",
    "watch",
)
