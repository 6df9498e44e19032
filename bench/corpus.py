"""Benchmark corpora shaped like API-gateway configuration in etcd.

Keys ~30 B like `/apisix/routes/00000042`, values ~150 B of JSON.
"""

import json

from etcdstream import _proto

KEY_FORMAT = "/apisix/routes/%08d"


def route_value(i: int) -> bytes:
    """About 150 bytes of route JSON."""
    route = {
        "id": str(i),
        "uri": f"/api/v1/service{i % 97}/*",
        "methods": ["GET", "POST"],
        "upstream": {"type": "roundrobin", "nodes": {f"10.0.{i % 250}.{i % 200}:8080": 1}},
    }
    return json.dumps(route, separators=(",", ":")).encode()


def watch_responses(n_responses: int = 10, events_per_response: int = 1000) -> list[bytes]:
    """Serialized WatchResponses of PUT events with increasing revisions."""
    out = []
    revision = 1_000_000
    for r in range(n_responses):
        msg = _proto.WatchResponse(header=_proto.ResponseHeader(cluster_id=14841639068965178418, member_id=10276657743932975437, revision=revision + events_per_response, raft_term=5), watch_id=1)
        for i in range(events_per_response):
            revision += 1
            n = r * events_per_response + i
            event = msg.events.add()
            event.kv.key = (KEY_FORMAT % n).encode()
            event.kv.value = route_value(n)
            event.kv.create_revision = revision - 500_000
            event.kv.mod_revision = revision
            event.kv.version = 1 + n % 7
        out.append(msg.SerializeToString())
    return out


def range_response(n_keys: int = 10_000) -> bytes:
    """A serialized RangeResponse page of n_keys keys."""
    msg = _proto.RangeResponse(header=_proto.ResponseHeader(revision=2_000_000), more=True, count=100_000)
    for n in range(n_keys):
        msg.kvs.add(key=(KEY_FORMAT % n).encode(), value=route_value(n), create_revision=1000 + n, mod_revision=1000 + n, version=1)
    return msg.SerializeToString()
