"""Prometheus metrics of etcdstream clients and Mirrors: ``pip install 'etcdstream[prometheus]'``.

    collector = etcdstream.metrics.register(client)          # prometheus_client's default registry
    collector.add_mirror(routes, "routes")                    # a Mirror's lag and last contact too

Counters are read from client.stats() and mirror.stats() at each scrape (nothing is counted twice), named the
usual way: ``etcdstream_calls_total{client, method, outcome}``, ``etcdstream_retries_total{client}``,
``etcdstream_failovers_total``, ``etcdstream_watch_streams_total``, ``etcdstream_watch_reconnects_total``,
``etcdstream_watch_events_received_total``, ``etcdstream_watch_bytes_received_total``,
``etcdstream_watch_events_delivered_total``, ``etcdstream_mirror_resyncs_total``,
``etcdstream_leases_lost_total``; gauges
``etcdstream_watchers{client}``, ``etcdstream_endpoint_info{client, endpoint}`` (1),
``etcdstream_last_error_timestamp_seconds{client}``. Per Mirror (label ``mirror``): gauges
``etcdstream_mirror_revision``, ``etcdstream_mirror_lag_revisions``, ``etcdstream_mirror_last_contact_seconds``,
``etcdstream_mirror_keys``; the counter ``etcdstream_mirror_consistent_reads_total{mirror, outcome}`` (outcome
``copy``: answered from the copy; ``timeout``, ``unsupported``: answered by etcd instead); the histogram
``etcdstream_mirror_consistent_read_wait_seconds{mirror}``: how long consistent reads waited for the copy.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from itertools import accumulate
from typing import Any, Protocol

from ._mirror_consistent import OUTCOMES
from ._stats import ClientStats, ConsistentReadStats, MirrorStats

try:
    from prometheus_client import REGISTRY
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
    from prometheus_client.registry import Collector as _PrometheusCollector
    from prometheus_client.utils import floatToGoString
except ImportError as e:  # the extra is optional: say how to get it
    raise ImportError("etcdstream.metrics needs prometheus_client: pip install 'etcdstream[prometheus]'") from e

__all__ = ["Collector", "register"]

#: ClientStats counters exported as <name>_total, with their help.
_COUNTERS = (
    ("retries", "etcdstream_retries", "Failed call attempts tried again."),
    ("failovers", "etcdstream_failovers", "Moves to another endpoint."),
    ("watch_streams", "etcdstream_watch_streams", "Watch streams opened (the first and each reconnect)."),
    ("reconnects", "etcdstream_watch_reconnects", "Watch streams that answered again after a break."),
    ("events_received", "etcdstream_watch_events_received", "Watch events received from etcd."),
    ("bytes_received", "etcdstream_watch_bytes_received", "Bytes of watch responses received from etcd."),
    ("events_delivered", "etcdstream_watch_events_delivered", "Watch events handed to the application."),
    ("resyncs", "etcdstream_mirror_resyncs", "Mirror re-reads of their prefix (compaction, another history)."),
    ("leases_lost", "etcdstream_leases_lost", "Kept-alive leases etcd no longer has."),
)


class _HasStats(Protocol):
    def stats(self) -> Any: ...


class Collector(_PrometheusCollector):
    """The metrics of the clients and Mirrors added to it, read at each scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, _HasStats] = {}
        self._mirrors: dict[str, _HasStats] = {}

    def add_client(self, client: _HasStats, name: str = "default") -> None:
        """Export client's stats() with the label client=name."""
        with self._lock:
            self._clients[name] = client

    def add_mirror(self, mirror: _HasStats, name: str) -> None:
        """Export a Mirror's (or AsyncMirror's) stats() with the label mirror=name."""
        with self._lock:
            self._mirrors[name] = mirror

    def remove(self, name: str) -> None:
        """Stop exporting the client or Mirror of that name."""
        with self._lock:
            self._clients.pop(name, None)
            self._mirrors.pop(name, None)

    def describe(self) -> list[Metric]:
        return []  # the families depend on what is added: nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            clients = {name: client.stats() for name, client in self._clients.items()}
            mirrors = {name: mirror.stats() for name, mirror in self._mirrors.items()}
        yield from _client_metrics(clients)
        yield from _mirror_metrics(mirrors)


def _client_metrics(clients: dict[str, ClientStats]) -> Iterator[Metric]:
    calls = CounterMetricFamily("etcdstream_calls", "Calls to etcd by method and outcome (ok or the error).",
                                labels=["client", "method", "outcome"])
    for name, stats in clients.items():
        for (method, outcome), count in sorted(stats.calls.items()):
            calls.add_metric([name, method, outcome], count)
    yield calls
    for attribute, metric, help_text in _COUNTERS:
        family = CounterMetricFamily(metric, help_text, labels=["client"])
        for name, stats in clients.items():
            family.add_metric([name], getattr(stats, attribute))
        yield family
    watchers = GaugeMetricFamily("etcdstream_watchers", "Live watchers.", labels=["client"])
    endpoint = GaugeMetricFamily("etcdstream_endpoint_info", "The endpoint in use (value 1).",
                                 labels=["client", "endpoint"])
    last_error = GaugeMetricFamily("etcdstream_last_error_timestamp_seconds",
                                   "When a call or the watch stream last met an error (Unix time).", labels=["client"])
    for name, stats in clients.items():
        watchers.add_metric([name], stats.watchers)
        endpoint.add_metric([name, stats.endpoint], 1)
        if stats.last_error_time is not None:
            last_error.add_metric([name], stats.last_error_time)
    yield from (watchers, endpoint, last_error)


def _mirror_metrics(mirrors: dict[str, MirrorStats]) -> Iterator[Metric]:
    gauges = (
        ("revision", "etcdstream_mirror_revision", "The revision the Mirror's copy is at."),
        ("lag", "etcdstream_mirror_lag_revisions", "Revisions etcd is known to be ahead of the copy."),
        ("last_contact", "etcdstream_mirror_last_contact_seconds", "Seconds since etcd was last heard from."),
        ("keys", "etcdstream_mirror_keys", "Keys in the copy."),
    )
    for attribute, metric, help_text in gauges:
        family = GaugeMetricFamily(metric, help_text, labels=["mirror"])
        for name, stats in mirrors.items():
            value = getattr(stats, attribute)
            if value is not None:
                family.add_metric([name], value)
        yield family
    reads = CounterMetricFamily("etcdstream_mirror_consistent_reads",
                                "Consistent reads of a Mirror by outcome: copy (answered from the copy), timeout or "
                                "unsupported (answered by etcd instead).", labels=["mirror", "outcome"])
    waits = HistogramMetricFamily("etcdstream_mirror_consistent_read_wait_seconds",
                                  "How long consistent reads waited for the Mirror's copy to reach etcd's revision "
                                  "(reads that could not wait, outcome unsupported, are not counted).",
                                  labels=["mirror"])
    for name, stats in mirrors.items():
        consistent = stats.consistent_reads
        # Every outcome, 0 until it happens: a series that appears late breaks rate() over its first scrape.
        for outcome, count in {**dict.fromkeys(OUTCOMES, 0), **consistent.by_outcome}.items():
            reads.add_metric([name, outcome], count)
        waits.add_metric([name], _cumulative_buckets(consistent), consistent.wait_sum)
    yield from (reads, waits)


def _cumulative_buckets(reads: ConsistentReadStats) -> list[tuple[str, float]]:
    """Prometheus' buckets (le, reads that waited at most that long) from ConsistentReadStats' per-bucket counts,
    whose last count (longer waits) is only in +Inf."""
    cumulative = list(accumulate(reads.wait_counts)) or [0]
    return [*((floatToGoString(bound), count) for bound, count in zip(reads.wait_buckets, cumulative)),
            ("+Inf", cumulative[-1])]


def register(client: _HasStats | None = None, registry: Any = None, *, name: str = "default") -> Collector:
    """A Collector registered with registry (default: prometheus_client's REGISTRY), exporting client's stats
    under the label client=name if given. Add more clients and Mirrors to it with add_client/add_mirror."""
    collector = Collector()
    if client is not None:
        collector.add_client(client, name)
    (REGISTRY if registry is None else registry).register(collector)
    return collector
