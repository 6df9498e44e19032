"""The blocking watch driver (_watch_sync.WatchStream) against a fake transport: its threads, without etcd.

WatchStream shares one gRPC Watch stream between its stream thread and the
consumers blocked in next(), who read the stream themselves. These tests give
it a transport whose channel opens fake calls: a call is an iterator of
response bytes the test (and a small fake etcd answering creates and cancels)
feeds through a queue, and it records which thread read each response and
whether two threads ever read at once. Every test bounds its waits, so a hang
fails instead of blocking the run. Some look at the driver's private counters
(`_waiting_readers`, the consumers' own conditions in `_sleepers`) to know when a consumer waits: the
states these tests set up exist only for a moment otherwise.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from types import SimpleNamespace

import grpc
import pytest

from etcdstream import _proto
from etcdstream._cluster_ops import STATUS_CALL
from etcdstream._endpoints import parse_endpoints
from etcdstream._errors import ClientClosed, PermissionDenied
from etcdstream._watch import WATCH_METHOD
from etcdstream._watch_spec import watch_spec
from etcdstream._stats import Counters
from etcdstream._watch_sync import WatchStream
# A failed call as grpcio raises it from a stream's iterator: code() and details().
from etcdstream.compat.etcd3.exceptions import EtcdRpcError as FakeRpcError

MEMBER, CLUSTER = 0xAB, 0xC1
WAIT = 5.0  # seconds any wait may take before the test fails


def response_bytes(*, watch_id: int, revision: int, created: bool = False, canceled: bool = False,
                   events: tuple[tuple[bytes, int], ...] = ()) -> bytes:
    message = _proto.WatchResponse(
        header=_proto.ResponseHeader(cluster_id=CLUSTER, member_id=MEMBER, revision=revision, raft_term=2),
        watch_id=watch_id, created=created, canceled=canceled,
    )
    for key, mod in events:
        message.events.add(type=_proto.Event.PUT,
                           kv=_proto.KeyValue(key=key, create_revision=mod, mod_revision=mod, version=1))
    return message.SerializeToString()


class FakeCall:
    """One Watch call: what the driver reads (a queue the test feeds) and what it sent."""

    def __init__(self, etcd: FakeEtcd) -> None:
        self.etcd = etcd
        self.opened_by = threading.current_thread()
        # (label, bytes or the exception the read raises); `unread` counts those sent by etcd or the test.
        self.responses: queue.SimpleQueue[tuple[object, bytes | BaseException]] = queue.SimpleQueue()
        self.unread = 0
        self.requests: list[tuple] = []  # ("create", key, start_revision) or ("cancel", watch_id)
        self.watches: dict[int, tuple[bytes, bytes]] = {}  # watch id -> (key, range_end)
        self.reads: list[tuple[threading.Thread, object]] = []  # (reading thread, label) per response
        self.reader: threading.Thread | None = None  # the thread blocked in next() now
        self.overlaps = 0  # times a thread read while another did: the driver's first invariant broken
        self.ended: BaseException | None = None  # what every next() raises once the call ended
        self.canceled = False
        self.requests_done = False

    # --- the driver's side (grpc.Call) ---

    def __iter__(self) -> FakeCall:
        return self

    def __next__(self) -> bytes:
        me = threading.current_thread()
        with self.etcd.cond:
            if self.reader is not None:
                self.overlaps += 1
            self.reader = me
            self.etcd.cond.notify_all()
        label, item = ("end", self.ended) if self.ended is not None else self.responses.get()
        with self.etcd.cond:
            self.reader = None
            if self.ended is None and label != "cancel":
                self.unread -= 1
            if isinstance(item, BaseException):
                self.ended = item
            self.reads.append((me, label))
            self.etcd.cond.notify_all()
        if isinstance(item, BaseException):
            raise item
        return item

    def cancel(self) -> None:
        self.canceled = True
        self.responses.put(("cancel", FakeRpcError(grpc.StatusCode.CANCELLED, "Locally cancelled by application!")))

    # --- etcd's side ---

    def serve(self, request_iterator) -> None:
        """Read the requests (as grpc's own thread does) and answer creates and cancels as etcd does."""
        for raw in request_iterator:
            request = _proto.WatchRequest()
            request.ParseFromString(raw)
            with self.etcd.cond:
                if request.HasField("create_request"):
                    create = request.create_request
                    self.requests.append(("create", create.key, create.start_revision))
                    self.watches[create.watch_id] = (create.key, create.range_end)
                    self.respond("created", watch_id=create.watch_id, revision=self.etcd.revision, created=True)
                elif request.HasField("cancel_request"):
                    watch_id = request.cancel_request.watch_id
                    self.requests.append(("cancel", watch_id))
                    self.watches.pop(watch_id, None)
                    if self.etcd.answer_cancels:
                        self.respond("canceled", watch_id=watch_id, revision=self.etcd.revision, canceled=True)
                self.etcd.cond.notify_all()
        with self.etcd.cond:
            self.requests_done = True
            self.etcd.cond.notify_all()

    def respond(self, label: object, **fields) -> None:
        self._send(label, response_bytes(**fields))

    def nudge(self) -> None:
        """A progress response that wakes no watcher (every watcher is past revision 1)."""
        self.respond("nudge", watch_id=-1, revision=1)

    def end(self, error: BaseException) -> None:
        """The stream breaks (a grpc error) or etcd ends it (StopIteration) at the next read."""
        self._send("end", error)

    def _send(self, label: object, item: bytes | BaseException) -> None:
        with self.etcd.cond:
            self.unread += 1
            self.responses.put((label, item))

    def readers_of(self, label: object) -> list[threading.Thread]:
        return [thread for thread, read in self.reads if read == label]


class FakeEtcd:
    """The calls the driver opened, one revision counter, and a condition notified on every change."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.calls: list[FakeCall] = []
        self.revision = 1
        self.answer_cancels = True
        self.version = "3.6.0"

    def open_call(self, request_iterator, metadata=None) -> FakeCall:
        call = FakeCall(self)
        with self.cond:
            self.calls.append(call)
            self.cond.notify_all()
        threading.Thread(target=call.serve, args=(request_iterator,), name="fake-grpc-requests", daemon=True).start()
        return call

    @property
    def call(self) -> FakeCall:
        return self.calls[-1]

    def wait(self, predicate, what: str) -> None:
        with self.cond:
            assert self.cond.wait_for(predicate, WAIT), f"not within {WAIT:g} s: {what}"

    def put(self, key: bytes) -> int:
        """A new revision changing key: an event for every watch of the current call whose range holds it."""
        with self.cond:
            self.revision += 1
            call = self.calls[-1]
            for watch_id, (start, end) in list(call.watches.items()):
                if key == start or start <= key < end:
                    call.respond(("event", key), watch_id=watch_id, revision=self.revision,
                                 events=((key, self.revision),))
            return self.revision


class FakeChannel:
    def __init__(self, etcd: FakeEtcd) -> None:
        self.etcd = etcd

    def stream_stream(self, method: str):
        assert method == WATCH_METHOD
        return self.etcd.open_call

    def unary_unary(self, method: str):
        """Status, which the driver asks before each stream (etcd's version): answered at once."""
        assert method == STATUS_CALL.method
        answer = _proto.StatusResponse(version=self.etcd.version).SerializeToString()
        return SimpleNamespace(future=lambda request, timeout=None, metadata=None: SimpleNamespace(
            result=lambda: answer, cancel=lambda: None))


class FakeTransport:
    """What WatchStream uses of _transport_sync.Transport: one endpoint, no auth, a channel of fake calls."""

    timeout = WAIT
    can_fail_over = False

    def __init__(self) -> None:
        self.etcd = FakeEtcd()
        self.counters = Counters()
        self.endpoint = parse_endpoints("http://127.0.0.1:2379")[0]
        # The channel is back at once: the driver's pause before reconnecting ends early (it saw a failure,
        # then READY).
        states = itertools.cycle((grpc.ChannelConnectivity.TRANSIENT_FAILURE, grpc.ChannelConnectivity.READY))
        self.connection = SimpleNamespace(channel=FakeChannel(self.etcd), connectivity=lambda: next(states))
        self.tokens_forgotten = 0

    def connect(self):
        return self.connection

    def authenticate(self, call) -> None:
        pass

    def metadata(self, call):
        return ()

    def failover(self, connection) -> None:
        raise AssertionError("one endpoint: no failover")

    def replaced(self, connection) -> bool:
        return False

    def forget_token(self) -> None:
        self.tokens_forgotten += 1


class Consumer(threading.Thread):
    """Iterates a watcher (or calls get(timeout) in a loop) until it has `want` events or the iteration ends."""

    def __init__(self, watcher, want: int | None = None, *, use_get: bool = False) -> None:
        super().__init__(name=f"consumer-{'get' if use_get else 'next'}", daemon=True)
        self.watcher, self.want, self.use_get = watcher, want, use_get
        self.events: list[tuple[bytes, int]] = []
        self.error: BaseException | None = None
        self.ended = False  # the iteration stopped (StopIteration)

    def run(self) -> None:
        try:
            if self.use_get:
                while len(self.events) < self.want:
                    batch = self.watcher.get(WAIT)
                    assert batch is not None, "get() timed out"
                    self.take(batch)
                return
            for batch in self.watcher:
                if self.take(batch):
                    return
            self.ended = True
        except BaseException as e:  # noqa: BLE001 - the test asserts on it
            self.error = e

    def take(self, batch) -> bool:
        self.events += [(e.key, e.mod_revision) for e in batch]
        return self.want is not None and len(self.events) >= self.want

    def finish(self) -> None:
        self.join(WAIT)
        assert not self.is_alive(), f"{self.name} still blocked after {WAIT:g} s"


def wait_until(condition, what: str) -> None:
    """Poll a driver's private state (nothing notifies the test when it changes)."""
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT:g} s: {what}"
        time.sleep(0.0005)


def sleeping_consumers(stream) -> int:
    """Consumers waiting on their own condition (for news, or their turn to read)."""
    return sum(len(waiters) for waiters in stream._sleepers.values())


def hand_stream_to(etcd: FakeEtcd, thread: threading.Thread) -> None:
    """Wait until thread (a consumer in next()) waits in a read of the stream, every response sent read.

    Nudges the stream thread off the stream: blocked in a read when the consumer
    came, it reads the nudge (which wakes no watcher), sees a consumer waiting
    and steps aside.
    """
    deadline = time.monotonic() + WAIT
    with etcd.cond:
        while not (etcd.call.reader is thread and not etcd.call.unread):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{thread.name} never read the stream itself"
            if etcd.call.reader not in (None, thread) and not etcd.call.unread:
                etcd.call.nudge()
            etcd.cond.wait(remaining)


def open_watch(stream: WatchStream, prefix: str):
    spec = watch_spec(prefix, prefix=True, start_revision=None, prev_kv=False, progress_notify=False,
                      coalesce=False)
    return stream.open(spec, 100_000)


def stream_thread_of(etcd: FakeEtcd) -> threading.Thread:
    return etcd.calls[0].opened_by


def close_within(stream: WatchStream, seconds: float) -> None:
    """close() in a thread, so that a close that never returns fails the test instead of blocking it."""
    closing = threading.Thread(target=stream.close, name="closing", daemon=True)
    closing.start()
    closing.join(seconds)
    assert not closing.is_alive(), f"close() still running after {seconds:g} s"


@pytest.fixture
def driver():
    """A WatchStream on a fake transport; closed after the test, which must leave no thread behind."""
    transport = FakeTransport()
    stream = WatchStream(transport)
    yield stream, transport.etcd, transport
    close_within(stream, WAIT)
    etcd = transport.etcd
    if etcd.calls:
        assert not stream_thread_of(etcd).is_alive()
        etcd.wait(lambda: all(call.requests_done for call in etcd.calls), "every request iterator ended")
    assert [call.overlaps for call in etcd.calls] == [0] * len(etcd.calls), "two threads read the stream at once"


def test_an_iterating_consumer_reads_the_stream_in_its_own_thread(driver):
    stream, etcd, _ = driver
    watcher = open_watch(stream, "/a/")
    assert etcd.call.opened_by.name == "etcdstream-watch"
    assert etcd.call.readers_of("created") == [etcd.call.opened_by]  # no consumer yet: the stream thread reads
    consumer = Consumer(watcher, want=5)
    consumer.start()
    revisions = []
    for i in range(5):
        hand_stream_to(etcd, consumer)
        revisions.append(etcd.put(f"/a/{i}".encode()))
    consumer.finish()
    assert consumer.error is None
    assert consumer.events == [(f"/a/{i}".encode(), rev) for i, rev in enumerate(revisions)]
    for i in range(5):
        assert etcd.call.readers_of(("event", f"/a/{i}".encode())) == [consumer]


def test_a_consumer_that_found_the_stream_thread_reading_takes_over_after_a_read_that_woke_nobody(driver):
    stream, etcd, _ = driver
    watcher = open_watch(stream, "/a/")
    stream_thread = stream_thread_of(etcd)
    etcd.wait(lambda: etcd.call.reader is stream_thread, "the stream thread waits for the next response")
    consumer = Consumer(watcher, want=1)
    consumer.start()
    wait_until(lambda: stream._waiting_readers == 1, "the consumer found the stream busy and waits")
    etcd.call.nudge()  # once: the stream thread's read must hand the stream over
    etcd.wait(lambda: etcd.call.reader is consumer, "the consumer was never handed the stream")
    revision = etcd.put(b"/a/k")
    consumer.finish()
    assert consumer.events == [(b"/a/k", revision)]


@pytest.mark.parametrize("consumers", [2, 4])
def test_consumers_of_different_watchers_all_get_their_batches(driver, consumers):
    """Whoever reads, every consumer gets its events: one consumer on get(timeout), the others iterating."""
    stream, etcd, _ = driver
    prefixes = [f"/w{i}/" for i in range(consumers)]
    watchers = [open_watch(stream, prefix) for prefix in prefixes]
    threads = [Consumer(w, want=30, use_get=i == consumers - 1) for i, w in enumerate(watchers)]
    for thread in threads:
        thread.start()
    expected: dict[str, list[tuple[bytes, int]]] = {prefix: [] for prefix in prefixes}
    for n in range(30):
        for prefix in prefixes:
            key = f"{prefix}{n}".encode()
            expected[prefix].append((key, etcd.put(key)))
    for thread, prefix in zip(threads, prefixes):
        thread.finish()
        assert thread.error is None
        assert thread.events == expected[prefix]


def test_a_consumer_on_get_timeout_is_served_by_the_stream_thread(driver):
    stream, etcd, _ = driver
    watcher = open_watch(stream, "/a/")
    assert watcher.get(0.01) is None
    consumer = Consumer(watcher, want=1, use_get=True)
    consumer.start()
    revision = etcd.put(b"/a/k")
    consumer.finish()
    assert consumer.events == [(b"/a/k", revision)]
    assert etcd.call.readers_of(("event", b"/a/k")) == [stream_thread_of(etcd)]


def test_the_stream_thread_takes_over_once_no_consumer_waits(driver):
    stream, etcd, _ = driver
    watcher, other = open_watch(stream, "/a/"), open_watch(stream, "/b/")
    consumer = Consumer(watcher, want=1)
    consumer.start()
    hand_stream_to(etcd, consumer)
    etcd.put(b"/a/1")
    consumer.finish()  # it read its event, and leaves: nobody waits in next() now
    revision = etcd.put(b"/b/1")
    wait_until(lambda: other.revision == revision, "the stream thread read the event nobody waits for")
    assert etcd.call.readers_of(("event", b"/b/1")) == [stream_thread_of(etcd)]
    assert [(e.key, e.mod_revision) for e in other.get(0)] == [(b"/b/1", revision)]


@pytest.mark.parametrize("failure", [
    pytest.param(lambda: FakeRpcError(grpc.StatusCode.UNAVAILABLE, "Connection reset by peer"), id="unavailable"),
    pytest.param(StopIteration, id="etcd-ended-it"),
    pytest.param(lambda: FakeRpcError(grpc.StatusCode.UNAUTHENTICATED, "etcdserver: invalid auth token"),
                 id="token-expired"),
])
def test_a_stream_broken_under_a_consumers_read_is_restarted_from_each_watchers_revision(driver, failure):
    stream, etcd, transport = driver
    a, b = open_watch(stream, "/a/"), open_watch(stream, "/b/")
    consumer = Consumer(a, want=3)
    consumer.start()
    hand_stream_to(etcd, consumer)
    a1 = etcd.put(b"/a/1")
    hand_stream_to(etcd, consumer)
    b1 = etcd.put(b"/b/1")
    hand_stream_to(etcd, consumer)
    assert etcd.call.readers_of(("event", b"/b/1")) == [consumer]  # b's event, buffered by a's consumer
    broken = etcd.call
    broken.end(failure())
    etcd.wait(lambda: len(etcd.calls) == 2 and len(etcd.call.requests) == 2, "a new stream, creating both watches")
    assert broken.readers_of("end") == [consumer]
    assert broken.canceled
    assert etcd.call.opened_by is stream_thread_of(etcd)
    assert etcd.call.requests == [("create", b"/a/", a1 + 1), ("create", b"/b/", b1 + 1)]
    assert transport.tokens_forgotten == (1 if "token" in str(failure()) else 0)
    a2, a3 = etcd.put(b"/a/2"), etcd.put(b"/a/3")
    consumer.finish()
    assert consumer.error is None
    assert consumer.events == [(b"/a/1", a1), (b"/a/2", a2), (b"/a/3", a3)]
    assert [(e.key, e.mod_revision) for e in b.get(WAIT)] == [(b"/b/1", b1)]


def test_a_response_that_does_not_decode_restarts_the_stream(driver):
    """A DecodeError is a ValueError too: it must not end the stream thread as grpc's "Channel closed!" would."""
    stream, etcd, _ = driver
    watcher = open_watch(stream, "/a/")
    etcd.call._send("garbage", b"\xff\xff\xff\xff")
    etcd.wait(lambda: len(etcd.calls) == 2 and etcd.call.requests, "a new stream, creating the watch")
    revision = etcd.put(b"/a/1")
    assert [(e.key, e.mod_revision) for e in watcher.get(WAIT)] == [(b"/a/1", revision)]


def test_a_refusal_under_a_consumers_read_ends_every_watcher_with_the_error(driver):
    stream, etcd, _ = driver
    a, b = open_watch(stream, "/a/"), open_watch(stream, "/b/")
    consumer = Consumer(a)
    consumer.start()
    hand_stream_to(etcd, consumer)
    etcd.call.end(FakeRpcError(grpc.StatusCode.PERMISSION_DENIED, "etcdserver: permission denied"))
    consumer.finish()
    assert isinstance(consumer.error, PermissionDenied)
    with pytest.raises(PermissionDenied):
        b.get(WAIT)
    assert len(etcd.calls) == 1


def test_close_ends_every_consumer_promptly_and_joins_the_stream_thread(driver):
    stream, etcd, _ = driver
    a, b, c = open_watch(stream, "/a/"), open_watch(stream, "/b/"), open_watch(stream, "/c/")
    reading, waiting, getting = Consumer(a), Consumer(b), Consumer(c, want=1, use_get=True)
    reading.start()
    hand_stream_to(etcd, reading)
    waiting.start()
    getting.start()
    wait_until(lambda: sleeping_consumers(stream) == 2, "one consumer waits for its turn, one in get()")
    close_within(stream, 1)
    assert not stream_thread_of(etcd).is_alive()
    for consumer in (reading, waiting, getting):
        consumer.finish()
        assert isinstance(consumer.error, ClientClosed), consumer.name
    assert etcd.call.canceled
    with pytest.raises(ClientClosed):
        open_watch(stream, "/d/")


@pytest.mark.parametrize("reading", [True, False], ids=["reading-in-place", "waiting-for-its-turn"])
def test_a_watcher_closed_while_its_consumer_blocks_in_next_ends_the_iteration(driver, reading):
    stream, etcd, _ = driver
    watcher, other = open_watch(stream, "/a/"), open_watch(stream, "/b/")
    stream_thread = stream_thread_of(etcd)
    etcd.wait(lambda: etcd.call.reader is stream_thread, "the stream thread waits for the next response")
    consumer = Consumer(watcher)
    consumer.start()
    if reading:
        # The consumer blocks in its read: what ends it is etcd's answer to the cancel.
        hand_stream_to(etcd, consumer)
    else:
        # The consumer waits on the condition: close_watcher() wakes it, before any answer from etcd.
        etcd.answer_cancels = False
        wait_until(lambda: stream._waiting_readers == 1, "the consumer found the stream busy and waits")
    watcher.close()
    consumer.finish()
    assert consumer.ended and consumer.error is None and not consumer.events
    watch_id = watcher._state.watch_id
    etcd.wait(lambda: ("cancel", watch_id) in etcd.call.requests, "the watch was canceled on the server")
    if not reading:
        etcd.call.respond("canceled", watch_id=watch_id, revision=etcd.revision, canceled=True)
    revision = etcd.put(b"/b/1")  # the stream goes on for the others
    assert [(e.key, e.mod_revision) for e in other.get(WAIT)] == [(b"/b/1", revision)]


def test_a_consumer_leaving_after_a_read_that_woke_nobody_hands_the_stream_to_one_waiting_its_turn(driver):
    """The reading consumer's watcher is closed; etcd's answer to the cancel wakes nobody, and it leaves."""
    stream, etcd, _ = driver
    a, b = open_watch(stream, "/a/"), open_watch(stream, "/b/")
    etcd.answer_cancels = False  # answered below, once the other consumer waits again
    leaving, staying = Consumer(a), Consumer(b, want=1)
    leaving.start()
    hand_stream_to(etcd, leaving)
    staying.start()
    wait_until(lambda: stream._waiting_readers == 2, "the second consumer found the stream busy")
    a_id = a._state.watch_id
    a.close()  # wakes the waiting consumer, who finds the stream still busy and waits again
    etcd.wait(lambda: ("cancel", a_id) in etcd.call.requests, "the cancel went out")
    wait_until(lambda: sleeping_consumers(stream) == 1, "the second consumer waits for its turn again")
    etcd.call.respond("canceled", watch_id=a_id, revision=etcd.revision, canceled=True)
    leaving.finish()
    assert leaving.ended
    etcd.wait(lambda: etcd.call.reader is staying, "the waiting consumer was never handed the stream")
    revision = etcd.put(b"/b/1")
    staying.finish()
    assert staying.events == [(b"/b/1", revision)]
