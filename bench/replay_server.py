"""A stand-in etcd Watch service that replays recorded WatchResponses as fast as gRPC takes them.

It implements only the bidirectional method /etcdserverpb.Watch/Watch, with a
generic handler over raw bytes (no generated code): a WatchCreateRequest is
answered by a created WatchResponse, then by every recorded response (from
`start_revision` on, if the request has one) with the watch's id spliced in;
a WatchCancelRequest by a canceled response. The stream stays open until the
client ends it. Watch ids are the request's `watch_id` when it sets one
(etcdstream does), else the next one of the stream, as etcd assigns them.

Run it in its own process so that the client's CPU time is the client's only::

    with ReplayProcess(messages=20_000, events_per_message=1) as server:
        etcdstream.Client(server.endpoint).watchdir("/apisix/routes/")

`python bench/replay_server.py MESSAGES EVENTS_PER_MESSAGE` prints
``PORT <port>`` once it listens and serves until its stdin closes.
"""

from __future__ import annotations

import bisect
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc

from etcdstream import _proto

SERVICE, METHOD = _proto.method_path("Watch", "Watch").strip("/").split("/")
CLUSTER_ID = 14841639068965178418  # as in corpus.watch_responses
MEMBER_ID = 10276657743932975437
WATCH_ID_TAG = b"\x10"  # field 2, varint


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # int64: a negative id takes 10 bytes
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class Recording:
    """Recorded WatchResponses, re-addressed to any watch id cheaply.

    Each response is kept as (header field, the fields after watch_id): the
    id's field goes in between, so the bytes stay in canonical field order.
    """

    def __init__(self, responses: list[bytes]) -> None:
        self._parts: list[tuple[bytes, bytes]] = []
        self.first_revisions: list[int] = []
        self.events = 0
        self.header_revision = 0
        for raw in responses:
            msg = _proto.WatchResponse.FromString(raw)
            msg.watch_id = 0
            head = _proto.WatchResponse(header=msg.header).SerializeToString()
            body = msg.SerializeToString()
            if not body.startswith(head):
                raise ValueError("a recorded response does not start with its header")
            self._parts.append((head, body[len(head):]))
            self.first_revisions.append(msg.events[0].kv.mod_revision if msg.events else msg.header.revision)
            self.events += len(msg.events)
        first = _proto.WatchResponse.FromString(responses[0]) if responses else None
        self.start_revision = self.first_revisions[0] if responses else 1
        self.header = first.header if first is not None else _proto.ResponseHeader()
        self._by_id: dict[int, list[bytes]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._parts)

    def addressed_to(self, watch_id: int) -> list[bytes]:
        """Every response with this watch id (cached per id)."""
        with self._lock:
            out = self._by_id.get(watch_id)
            if out is None:
                if len(self._by_id) >= 4:  # a client per round, or one whose ids go up: keep memory bounded
                    self._by_id.pop(next(iter(self._by_id)))
                field = WATCH_ID_TAG + _varint(watch_id) if watch_id else b""
                out = self._by_id[watch_id] = [head + field + tail for head, tail in self._parts]
            return out

    def created(self, watch_id: int) -> bytes:
        """The created response, at the revision just before the first recorded event."""
        header = _proto.ResponseHeader(cluster_id=self.header.cluster_id or CLUSTER_ID,
                                       member_id=self.header.member_id or MEMBER_ID,
                                       revision=self.start_revision - 1, raft_term=self.header.raft_term)
        return _proto.WatchResponse(header=header, watch_id=watch_id, created=True).SerializeToString()

    def canceled(self, watch_id: int) -> bytes:
        return _proto.WatchResponse(header=self.header, watch_id=watch_id, canceled=True).SerializeToString()

    def replay_from(self, start_revision: int) -> int:
        """Index of the first response at or after start_revision (0: from the start)."""
        if start_revision <= 0:
            return 0
        return bisect.bisect_left(self.first_revisions, start_revision)


class ReplayServer:
    """An in-process gRPC server replaying a Recording on loopback (see ReplayProcess for benchmarks)."""

    def __init__(self, recording: Recording, max_workers: int = 8) -> None:
        self.recording = recording
        self.streams = 0
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers),
                                   options=[("grpc.so_reuseport", 0)])
        handler = grpc.method_handlers_generic_handler(
            SERVICE, {METHOD: grpc.stream_stream_rpc_method_handler(self._watch)})  # raw bytes both ways
        self._server.add_generic_rpc_handlers((handler,))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"127.0.0.1:{self.port}"

    def start(self) -> ReplayServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _watch(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        self.streams += 1
        recording = self.recording
        next_id = 0
        for raw in requests:  # ends when the client half-closes or cancels the call
            req = _proto.WatchRequest.FromString(raw)
            kind = req.WhichOneof("request_union")
            if kind == "create_request":
                create = req.create_request
                watch_id = create.watch_id or next_id
                next_id = max(next_id, watch_id) + 1
                yield recording.created(watch_id)
                responses = recording.addressed_to(watch_id)
                yield from responses[recording.replay_from(create.start_revision):]
            elif kind == "cancel_request":
                yield recording.canceled(req.cancel_request.watch_id)
            # progress requests: nothing to report beyond what was sent


class ReplayProcess:
    """A ReplayServer in a child process (its CPU is not the benchmark's), with a corpus from bench/corpus.py."""

    def __init__(self, messages: int, events_per_message: int) -> None:
        self.messages = messages
        self.events_per_message = events_per_message
        self.events = messages * events_per_message
        self.endpoint = ""
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    def spawn(self) -> ReplayProcess:
        """Start the child (it builds its corpus); `wait_ready` waits for its port."""
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), str(self.messages), str(self.events_per_message)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        return self

    def wait_ready(self) -> ReplayProcess:
        assert self._proc is not None and self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"replay server did not start (said {line!r})")
        self.port = int(line.split()[1])
        self.endpoint = f"127.0.0.1:{self.port}"
        return self

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # the child's signal to stop
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> ReplayProcess:
        if self._proc is None:
            self.spawn()
        return self.wait_ready()

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from corpus import watch_responses

    messages, per_message = int(argv[0]), int(argv[1])
    recording = Recording(watch_responses(messages, per_message))
    recording.addressed_to(1)  # etcdstream's first watch id, and python-etcd3's server-assigned ones
    recording.addressed_to(0)
    with ReplayServer(recording) as server:
        print(f"PORT {server.port}", flush=True)
        sys.stdin.read()  # until the parent closes our stdin (or dies)


if __name__ == "__main__":
    main(sys.argv[1:])
