"""etcdstream.metrics (issue 16 §2): the Prometheus collector, scraped and read back with prometheus_client's
own text parser, with both clients against etcd."""

from __future__ import annotations

import asyncio

from _clients import *
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import etcdstream.metrics
from etcdstream import MirrorStats
from etcdstream._stats import ConsistentReadStats


def scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of the registry's text exposition."""
    text = generate_latest(registry).decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_the_scrape_carries_the_clients_counters_and_a_mirrors_lag(run, etcd_server, fresh_prefix):
    async def body(etcd):
        registry = CollectorRegistry()
        collector = etcdstream.metrics.register(client_of(etcd), registry, name="gw")
        await etcd.put(fresh_prefix + "a", "v")
        watcher = await open_watch(etcd, fresh_prefix)
        revision = (await etcd.put(fresh_prefix + "b", "v")).revision
        await collect(watcher, 1)
        mirror = MirrorOf(etcd, fresh_prefix)
        assert await mirror.wait_revision(revision, 20)
        collector.add_mirror(mirror.mirror, "routes")
        samples = scrape(registry)
        assert samples["etcdstream_calls_total", (("client", "gw"), ("method", "Put"), ("outcome", "ok"))] == 2
        assert samples["etcdstream_watch_events_received_total", (("client", "gw"),)] >= 1
        assert samples["etcdstream_watch_events_delivered_total", (("client", "gw"),)] >= 1
        assert samples["etcdstream_failovers_total", (("client", "gw"),)] == 0
        assert samples["etcdstream_watchers", (("client", "gw"),)] == 2  # the watcher and the Mirror's
        assert samples["etcdstream_endpoint_info", (("client", "gw"), ("endpoint", etcd_server.endpoint))] == 1
        assert samples["etcdstream_mirror_lag_revisions", (("mirror", "routes"),)] == 0
        assert samples["etcdstream_mirror_revision", (("mirror", "routes"),)] >= revision
        assert samples["etcdstream_mirror_keys", (("mirror", "routes"),)] == 2
        collector.remove("routes")
        assert not any(name.startswith("etcdstream_mirror_lag") for name, _ in scrape(registry))
        await mirror.close()
        await watcher.close()

    run(body, etcd_server.endpoint)


async def maybe_await(result):
    """A blocking Mirror's result as it is, an AsyncMirror's awaited."""
    return (await result) if asyncio.iscoroutine(result) else result


def consistent_read_samples(samples, mirror: str) -> tuple[dict[str, float], dict[str, float], float, float]:
    """({outcome: count}, {le: cumulative count}, count, sum) of one Mirror's consistent read metrics."""
    outcomes = {dict(labels)["outcome"]: value for (name, labels), value in samples.items()
                if name == "etcdstream_mirror_consistent_reads_total" and dict(labels)["mirror"] == mirror}
    buckets = {dict(labels)["le"]: value for (name, labels), value in samples.items()
               if name == "etcdstream_mirror_consistent_read_wait_seconds_bucket" and dict(labels)["mirror"] == mirror}
    one = (("mirror", mirror),)
    return (outcomes, buckets, samples["etcdstream_mirror_consistent_read_wait_seconds_count", one],
            samples["etcdstream_mirror_consistent_read_wait_seconds_sum", one])


def test_a_mirrors_consistent_reads_are_counted_and_their_waits_a_histogram(run, etcd_server, fresh_prefix):
    """What the scrape says about consistent reads is what mirror.stats().consistent_reads says, each read
    counted once, the waits of those that waited in Prometheus' cumulative buckets."""
    async def body(etcd):
        registry = CollectorRegistry()
        collector = etcdstream.metrics.register(registry=registry)
        mirror = MirrorOf(etcd, fresh_prefix)
        collector.add_mirror(mirror.mirror, "routes")
        assert await mirror.wait_synced(20)
        outcomes, buckets, count, total = consistent_read_samples(scrape(registry), "routes")
        assert outcomes == {"copy": 0, "timeout": 0, "unsupported": 0}
        assert set(buckets.values()) == {0} and "+Inf" in buckets and (count, total) == (0, 0)

        written = await etcd.put(fresh_prefix + "a", "v")
        reads = 0
        for _ in range(5):
            kv = await maybe_await(mirror.mirror.consistent_get(fresh_prefix + "a"))
            assert kv.value == b"v" and kv.mod_revision == written.revision  # read-your-writes, whoever answered
            reads += 1
        snapshot = await maybe_await(mirror.mirror.consistent_snapshot())
        assert [kv.key for kv in snapshot.kvs] == [(fresh_prefix + "a").encode()]
        reads += 1

        stats = mirror.mirror.stats().consistent_reads
        outcomes, buckets, count, total = consistent_read_samples(scrape(registry), "routes")
        assert outcomes == stats.by_outcome and sum(outcomes.values()) == reads
        # Reads that waited for the copy (all but "unsupported") are in the histogram, once each.
        assert count == reads - outcomes["unsupported"] == sum(stats.wait_counts)
        assert total == stats.wait_sum
        bounds = [float(le) for le in buckets]
        assert bounds == [*stats.wait_buckets, float("inf")]
        cumulative = [buckets[le] for le in buckets]
        assert cumulative == [sum(stats.wait_counts[:i + 1]) for i in range(len(stats.wait_counts))]
        assert buckets["+Inf"] == count
        await mirror.close()

    run(body, etcd_server.endpoint)


class StatsOf:
    """Something with stats(), as a Mirror has: the collector reads nothing else."""

    def __init__(self, stats: MirrorStats) -> None:
        self._stats = stats

    def stats(self) -> MirrorStats:
        return self._stats


def test_wait_counts_per_bucket_become_cumulative_buckets():
    reads = ConsistentReadStats({"copy": 3, "timeout": 1}, wait_buckets=(0.1, 1.0), wait_counts=(2, 0, 2),
                                wait_sum=7.5)
    registry = CollectorRegistry()
    etcdstream.metrics.register(registry=registry).add_mirror(
        StatsOf(MirrorStats(10, 10, 0, 0.5, 1, 0, True, reads)), "m")
    outcomes, buckets, count, total = consistent_read_samples(scrape(registry), "m")
    assert outcomes == {"copy": 3, "timeout": 1, "unsupported": 0}  # an outcome not met yet is there, at 0
    assert buckets == {"0.1": 2, "1.0": 2, "+Inf": 4}  # the last count (waits over 1 s) only in +Inf
    assert (count, total) == (4, 7.5)
