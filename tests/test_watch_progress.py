"""request_progress() during a replay (issue 24), against real etcd, both clients, every etcd version.

etcd before 3.4.25 and 3.5.8 answers a progress request at once with its head revision, while a replaying
watcher still has thousands of events to come (etcd #15220); a watcher moved there lost them all at the next
resume. Here a watcher replays REVISIONS single-key revisions, request_progress() is called at once, and the
watch is resumed mid-replay by a cut connection, by a pause for a slow consumer, or by a cut that needs a new
auth token: every revision must arrive once, in order, and no batch may claim a revision ahead of an event
still to come.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest
from _clients import *
from _testbase.proxy import FaultProxy

import etcdstream
from etcdstream._watch_progress import synchronises_progress

pytestmark = pytest.mark.every_version

REVISIONS = 5_000  # five of etcd's catch-up responses (1,000 revisions each)
KEYS = 1_000


async def write_revisions(endpoint: str, prefix: str, count: int, **credentials: str) -> list[int]:
    """count puts under prefix (KEYS keys, round robin), each its own revision; the revisions, in order."""
    revisions = []
    async with etcdstream.AsyncClient(endpoint, **credentials) as writer:
        for start in range(0, count, 50):
            puts = [writer.put(f"{prefix}{i % KEYS:04d}", str(i)) for i in range(start, min(start + 50, count))]
            revisions += [result.revision for result in await asyncio.gather(*puts)]
    return sorted(revisions)


def assert_delivered_once_in_order_never_ahead(batches: list[tuple[int, list[int]]], expected: list[int]) -> None:
    """Every expected revision once, in order; no batch's revision at or above an event of a later batch."""
    delivered = [revision for _, events in batches for revision in events]
    assert delivered == expected, (
        f"{len(delivered)} events delivered of {len(expected)}; first difference at "
        f"{next((i for i, (a, b) in enumerate(zip(delivered, expected)) if a != b), min(len(delivered), len(expected)))}"
    )
    claimed = 0
    for batch_revision, events in batches:
        assert not events or events[0] > claimed, f"batch revision {claimed} came before an event of {events[0]}"
        assert batch_revision >= claimed, f"batch revisions went back: {claimed} -> {batch_revision}"
        claimed = batch_revision


async def ask_progress(etcd) -> bool:
    sent = etcd.request_progress()
    return (await sent) if inspect.isawaitable(sent) else sent


@pytest.mark.parametrize("resume", ["cut", "slow consumer", "token refresh"])
def test_a_progress_request_during_a_replay_loses_nothing_when_the_watch_resumes(run, make_etcd_server,
                                                                                 fresh_prefix, resume):
    auth = resume == "token refresh"
    server = make_etcd_server(name="progress", auth=auth, auth_token_ttl=1) if auth else make_etcd_server(
        name="progress")
    credentials = {"username": "root", "password": server.root_password} if auth else {}
    synchronised = synchronises_progress(server.binaries.version)
    expected = asyncio.run(write_revisions(server.endpoint, fresh_prefix, REVISIONS, **credentials))
    with FaultProxy(server.endpoint) as proxy:

        async def body(etcd):
            watcher = await open_watch(etcd, fresh_prefix, start_revision=expected[0],
                                       max_buffered_events=300 if resume == "slow consumer" else 100_000)
            assert await ask_progress(etcd) is synchronised
            batches: list[tuple[int, list[int]]] = []
            broken = False
            while not batches or batches[-1][0] < expected[-1]:
                batch = await watcher.get(30)
                assert batch is not None, f"nothing within 30 s after revision {batches[-1][0] if batches else 0}"
                batches.append((batch.revision, [event.mod_revision for event in batch]))
                if not broken and sum(len(events) for _, events in batches) >= 1_000 and resume != "slow consumer":
                    broken = True
                    if auth:
                        await asyncio.sleep(2.5)  # the watching client's token expires unused
                    proxy.reset()
                    assert await ask_progress(etcd) in (False, synchronised)  # False while it reconnects
            assert_delivered_once_in_order_never_ahead(batches, expected)
            await watcher.close()

        run(body, [proxy.endpoint], **credentials)


def test_an_old_etcds_progress_answer_would_have_claimed_revisions_ahead_of_the_events(make_etcd_server,
                                                                                         fresh_prefix):
    """The premise of the test above, on the wire: etcd before 3.4.25/3.5.8 answers a progress request from a
    replaying stream at once with its head (so a client trusting it would skip events); later ones do not."""
    server = make_etcd_server(name="progress-wire")
    expected = asyncio.run(write_revisions(server.endpoint, fresh_prefix, 3_000))
    answers = asyncio.run(progress_answers_during_a_replay(server.endpoint, fresh_prefix, expected[0]))
    if synchronises_progress(server.binaries.version):
        assert all(revision == expected[-1] for revision, events_before in answers if events_before < 3_000), answers
        assert all(events_before == 3_000 for _, events_before in answers), answers
    else:
        assert answers and answers[0][1] < 3_000, answers  # answered while events were still to come


async def progress_answers_during_a_replay(endpoint: str, prefix: str, start: int) -> list[tuple[int, int]]:
    """(revision, events received before it) of each progress answer on a raw Watch stream replaying prefix
    from start, with one progress request sent right after the create."""
    import grpc

    from etcdstream import _proto, codec
    from etcdstream._keys import prefix_range

    requests: asyncio.Queue[bytes | None] = asyncio.Queue()
    key, range_end = prefix_range(prefix.encode())
    await requests.put(codec.encode_watch_create(key, range_end, start_revision=start, prev_kv=False,
                                                 progress_notify=False, fragment=False, watch_id=1, filters=()))
    await requests.put(codec.encode_watch_progress())

    async def request_stream():
        while (request := await requests.get()) is not None:
            yield request

    answers, events = [], 0
    async with grpc.aio.insecure_channel(endpoint) as channel:
        call = channel.stream_stream(_proto.method_path("Watch", "Watch"))(request_stream())
        async for raw in call:
            resp = codec.decode_watch_response(raw)
            if resp.watch_id == -1 and not resp.created:
                answers.append((resp.revision, events))
            events += len(resp.events)
            if events >= 3_000:
                await asyncio.sleep(0.5)  # a synchronised answer comes now, if at all
                await requests.put(None)
                call.cancel()
                break
    return answers
