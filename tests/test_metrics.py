"""etcdstream.metrics (issue 16 §2): the Prometheus collector, scraped and read back with prometheus_client's
own text parser, with both clients against etcd."""

from __future__ import annotations

from _clients import *
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import etcdstream.metrics


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
