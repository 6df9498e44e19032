"""The watch stream's outage bookkeeping (Outage), on a fake clock: what it logs and counts, no etcd."""

from __future__ import annotations

import logging

import pytest

from etcdstream._errors import ConnectionFailed
from etcdstream._stats import Counters
from etcdstream._watch_outage import UNREACHABLE_WARNING_AFTER, Outage


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def records(caplog):
    caplog.set_level(logging.DEBUG, logger="etcdstream.watch")
    return lambda: [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "etcdstream.watch"]


def test_an_outage_is_logged_once_then_warned_about_at_30_60_120_s_then_its_end(records):
    clock, counters = Clock(), Counters()
    outage = Outage(counters, clock)
    outage.answered(2)  # no outage: nothing to say
    assert records() == [] and counters.reconnects == 0

    outage.broke(ConnectionFailed("etcd down"))
    assert records() == [(logging.INFO, "watch stream broken (etcd down): reconnecting")]
    assert counters.last_error == "ConnectionFailed: etcd down"
    for seconds_down in (1, 29, 30, 31, 59, 60, 119, 120):
        clock.now = 100.0 + seconds_down
        outage.broke()  # the call ended without an error: the last one is still the one told
    assert UNREACHABLE_WARNING_AFTER == 30.0
    assert records()[1:] == [
        (logging.WARNING, f"watch stream: no answer from etcd for {s} s (last error: etcd down); still trying")
        for s in (30, 60, 120)
    ]

    outage.resuming([7, 3, 5])
    clock.now = 100.0 + 121.25
    outage.answered(4)
    assert records()[-1] == (logging.INFO, "watch stream reconnected after 121.2 s: 4 watchers resumed "
                                           "from revisions 3..7")
    assert counters.reconnects == 1
    outage.answered(4)  # already over
    assert counters.reconnects == 1 and len(records()) == 5


def test_a_new_outage_starts_over(records):
    clock = Clock()
    outage = Outage(Counters(), clock)
    outage.broke()
    assert records() == [(logging.INFO, "watch stream broken (the call ended): reconnecting")]
    clock.now += 45
    outage.broke()  # a WARNING (45 s down); the next would be due at 60 s
    outage.answered(0)
    assert records()[-1] == (logging.INFO, "watch stream reconnected after 45.0 s: 0 watchers resumed")

    outage.broke()
    clock.now += 31
    outage.broke()  # a new outage warns at 30 s again, not 60, and its last error is its own (none)
    assert records()[-2:] == [
        (logging.INFO, "watch stream broken (the call ended): reconnecting"),
        (logging.WARNING, "watch stream: no answer from etcd for 31 s (last error: none); still trying"),
    ]
