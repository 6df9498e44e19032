"""Sizes and shared plumbing of the benchmark suites, set by bench/harness.py through the environment.

ETCDSTREAM_BENCH_SIZE=quick (or full, the default) scales every suite;
ETCDSTREAM_BENCH_ENDPOINTS=HOST:PORT[,...] uses an existing etcd instead of
starting one; ETCDSTREAM_BENCH_PROGRESS_FD is where progress lines go.
"""

from __future__ import annotations

import os

QUICK = os.environ.get("ETCDSTREAM_BENCH_SIZE", "full") == "quick"
ENDPOINTS = os.environ.get("ETCDSTREAM_BENCH_ENDPOINTS") or None



def sizes(quick: bool) -> dict:
    """Every suite's size, quick or full."""
    if quick:
        return {"READDIR_KEYS": 10_000, "READDIR_ROUNDS": 3, "CATCHUP_KEYS": 10_000,
                "REPLAY_SIZES": {"1/msg": (1_000, 1), "100/msg": (200, 100)},
                "WATCH_ROUNDS": 2, "LIVE_SECONDS": 0.5, "N_WATCHES": 1_000, "CATCH_UP_GAPS": (1_000, 10_000),
                "MIRROR_WRITES": 500, "MIRROR_ROUNDS": 2,
                "FLEET": {"WORKERS": 4, "MIRRORS": 25, "PREFIXES": 25, "WRITES": 2_000, "ROUNDS": 2}}
    # Replay scaled down from 20,000 / 200,000 events per round: on 2 shared cores
    # the Python replay server and grpcio need ~250 µs per one-event message.
    return {"READDIR_KEYS": 100_000, "READDIR_ROUNDS": 5, "CATCHUP_KEYS": 100_000,
            "REPLAY_SIZES": {"1/msg": (5_000, 1), "100/msg": (1_000, 100)},
            "WATCH_ROUNDS": 5, "LIVE_SECONDS": 2.0, "N_WATCHES": 1_000,
            "CATCH_UP_GAPS": (1_000, 10_000, 100_000), "MIRROR_WRITES": 2_000, "MIRROR_ROUNDS": 3,
            # 1,000 Mirrors on 2 cores: workers, 3 members and proxies share them.
            "FLEET": {"WORKERS": 10, "MIRRORS": 100, "PREFIXES": 100, "WRITES": 10_000, "ROUNDS": 3}}


def describe(quick: bool, endpoints: str | None) -> str:
    """What the run measured, in words, for the table's heading."""
    s = sizes(quick)
    fleet = s["FLEET"]
    replay = ", ".join(f"{m:,} msgs x {e}" for m, e in s["REPLAY_SIZES"].values())
    where = f"etcd at {endpoints}" if endpoints else "etcd started on loopback for this run"
    return (f"setup: {where}; readdir of {s['READDIR_KEYS']:,} keys (~180 B values); catch-up over "
            f"{s['CATCHUP_KEYS']:,} events written in txns of 100 ops ({s['CATCHUP_KEYS'] // 100:,} revisions; "
            f"one key per revision would take etcd minutes); live: one writer process putting at full speed for "
            f"{s['LIVE_SECONDS']:g} s per round; replay server (its own process): {replay} per round; "
            f"{s['N_WATCHES']:,} watches on distinct prefixes; Mirror catch-up after gaps of "
            f"{', '.join(f'{g:,}' for g in s['CATCH_UP_GAPS'])} single-key revisions on 1,000 keys; "
            f"{s['MIRROR_WRITES']:,} puts over 1 or 100 Mirrors of one client; client CPU = "
            f"this process, all threads; fleet: {fleet['WORKERS']} worker processes x {fleet['MIRRORS']} Mirrors of "
            f"{fleet['PREFIXES']} prefixes on a 3-member cluster, bursts of {fleet['WRITES']:,} puts")


_SIZES = sizes(QUICK)
READDIR_KEYS = _SIZES["READDIR_KEYS"]
READDIR_ROUNDS = _SIZES["READDIR_ROUNDS"]
CATCHUP_KEYS = _SIZES["CATCHUP_KEYS"]
REPLAY_SIZES = _SIZES["REPLAY_SIZES"]
WATCH_ROUNDS = _SIZES["WATCH_ROUNDS"]
LIVE_SECONDS = _SIZES["LIVE_SECONDS"]
N_WATCHES = _SIZES["N_WATCHES"]
CATCH_UP_GAPS = _SIZES["CATCH_UP_GAPS"]
MIRROR_WRITES = _SIZES["MIRROR_WRITES"]
MIRROR_ROUNDS = _SIZES["MIRROR_ROUNDS"]
FLEET_WORKERS, FLEET_MIRRORS, FLEET_PREFIXES, FLEET_WRITES, FLEET_ROUNDS = (
    _SIZES["FLEET"][k] for k in ("WORKERS", "MIRRORS", "PREFIXES", "WRITES", "ROUNDS"))

_progress_fd = int(os.environ.get("ETCDSTREAM_BENCH_PROGRESS_FD", "-1"))


def progress(text: str) -> None:
    """Tell the harness what runs now (a no-op under plain pytest)."""
    if _progress_fd >= 0:
        try:
            os.write(_progress_fd, (text.replace("\n", " ") + "\n").encode())
        except OSError:
            pass
