"""bench/plot.py draws a chart per kind of row in a results dict (harness.py's), and none without its rows."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

PLOT = Path(__file__).resolve().parents[1] / "bench" / "plot.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def plot():
    spec = importlib.util.spec_from_file_location("etcdstream_bench_plot", PLOT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(scenario: str, variant: str, median_s: float, items: int = 1, **extra_info) -> dict:
    return {"scenario": scenario, "variant": variant, "median_s": median_s, "items": items,
            "per_item_s": median_s / items, "extra_info": dict(extra_info, items=items)}


def _results(rows: list[dict]) -> dict:
    return {"size": "quick", "date": "2026-12-02", "machine": "test machine, 2 cores", "versions": "etcdstream 0.1.0",
            "rows": rows}


ROWS = [
    _row("readdir 1,000 keys", "etcdstream readdir (default)", 0.003, 1000),
    _row("readdir 1,000 keys", "etcdctl get --prefix (Go process)", 0.010, 1000),
    _row("watch replay 1/msg", "grpcio raw bytes (floor)", 0.09, 1000, cpu_us_per_event=65.6),
    _row("watch replay 1/msg", "etcdstream watchdir", 0.14, 1000, cpu_us_per_event=117.6),
    _row("watch replay 100/msg", "grpcio raw bytes (floor)", 0.03, 20000, cpu_us_per_event=0.95),
    _row("watch replay 100/msg", "etcd-sdk-python watch_prefix", 0.17, 20000, cpu_us_per_event=7.6),
    *[_row("catch-up by gap", f"{strategy} {gap}", gap * 5e-6, gap, gap=gap, strategy=strategy, etcd="3.5.1")
      for gap in (100, 10_000) for strategy in ("replay", "auto")],
    _row("fleet of 10 Mirrors", "direct", 0.4, fleet_mode="direct", converge_s=0.4, server_watchers=10),
    _row("fleet of 10 Mirrors", "proxy", 0.6, fleet_mode="proxy", converge_s=0.6, server_watchers=1),
]


def test_every_chart_is_written_as_png(plot, tmp_path):
    written = plot.write_charts(_results(ROWS), tmp_path / "charts")
    assert [p.name for p in written] == ["watch_replay_cpu.png", "readdir.png", "catch_up.png", "fleet.png"]
    for path in written:
        assert path.read_bytes().startswith(PNG_MAGIC), path


def test_charts_without_their_rows_are_skipped(plot, tmp_path):
    readdir_only = [r for r in ROWS if r["scenario"].startswith("readdir")]
    assert [p.name for p in plot.write_charts(_results(readdir_only), tmp_path)] == ["readdir.png"]
    assert plot.write_charts({"rows": []}, tmp_path / "none") == []


def test_command_line_reads_a_saved_json(plot, tmp_path, capsys):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(_results(ROWS[:2])))
    assert plot.main([str(results), str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "out" / "readdir.png")]
