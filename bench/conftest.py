from __future__ import annotations

import pytest
from bench_etcd import close_etcd, open_etcd
from bench_settings import progress


def pytest_benchmark_update_machine_info(config, machine_info):
    from etcdstream import codec

    machine_info["etcdstream_codec"] = codec.IMPLEMENTATION


def pytest_runtest_logstart(nodeid, location):
    progress(f"RUN {nodeid}")


def pytest_terminal_summary(terminalreporter, config):
    """Per group: median per item of each variant, its ratio to the floor and its speed-up over protobuf."""
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups = {}
    for bench in session.benchmarks:
        if bench.stats is None:
            continue
        groups.setdefault(bench.group, []).append(bench)
    terminalreporter.section("etcdstream: medians per item, ratios to the floor and to protobuf-upb")
    floor_missing = False
    for group, benches in groups.items():
        baseline = next((b for b in benches if b.name.endswith("[protobuf-upb]")), None)
        floor = next((b for b in benches if b.name.endswith("[floor]")), None)
        floor_missing |= floor is None and baseline is not None
        terminalreporter.write_line(group)
        for bench in benches:
            items = bench.extra_info.get("items", 1)
            median = bench.stats.median
            line = f"  {bench.name:45s} median {median * 1e3:9.3f} ms  {median / items * 1e9:8.1f} ns/item"
            if floor is not None:
                line += f"  {median / floor.stats.median:5.2f}x floor"
            if baseline is not None:
                line += f"  {baseline.stats.median / median:5.2f}x protobuf"
            terminalreporter.write_line(line)
    if floor_missing:
        terminalreporter.write_line("no floor: build it with `python bench/build_floor.py` (needs Cython)")


@pytest.fixture(scope="session")
def bench_etcd():
    """The etcd every etcd-backed suite uses: one started on free loopback ports, or --endpoints'.

    A started one is killed and its data deleted at the end; on an existing
    cluster the suites delete the prefixes they wrote.
    """
    etcd = open_etcd()
    try:
        yield etcd
    finally:
        close_etcd(etcd)
