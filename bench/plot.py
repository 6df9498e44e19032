"""PNG charts of an `etcdstream bench` run: `etcdstream bench --plot DIR`, or from a saved
`--json` file: python bench/plot.py RESULTS.json DIR.

Reads the results harness.py builds (its "rows"); each chart is drawn only when
its rows are there, so a run with -k, or an older JSON, gives fewer files. The
file names are stable (README.md links them from docs/bench/). Needs matplotlib:
pip install '.[plot]'.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

DPI = 120
ETCDSTREAM, OTHER, FLOOR = "#1f6fb4", "#f08c2e", "#a0a0a0"
INCH_PER_BAR = 0.42


def _color(variant: str) -> str:
    if "floor" in variant:
        return FLOOR
    return ETCDSTREAM if variant.startswith("etcdstream") else OTHER


def _unit(values: list[float]) -> tuple[float, str]:
    """One unit for a whole axis (seconds in, scale and name out), so bars and labels agree."""
    top = max(values, default=0)
    for scale, name in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if top >= scale:
            return scale, name
    return 1e-9, "ns"


def _num(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _time(seconds: float) -> str:
    """A duration in the unit that suits it (points on a log axis span several units)."""
    if seconds <= 0:
        return "0"
    scale, unit = _unit([seconds])
    return f"{_num(seconds / scale)} {unit}"


def _groups(rows: list[dict], prefix: str, key: str | None = None) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for row in rows:
        if row["scenario"].startswith(prefix) and (key is None or _is_number(row["extra_info"].get(key))):
            groups.setdefault(row["scenario"], []).append(row)
    return groups


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _figure(width: float, height: float, results: dict):
    """A Figure on the Agg canvas (no pyplot: no global state, no display) with the run's footnote."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    footnote = 0.42 / height
    # Constrained layout ignores fig.text: keep the bottom strip free for the footnote.
    fig.get_layout_engine().set(rect=(0, footnote, 1, 1 - footnote))
    machine = results.get("machine") or "machine not recorded"
    size = results.get("size")
    first = f"{machine}; {size + ' run, ' if size else ''}{_date(results)}"
    fig.text(0.005, 0.005, first + "\n" + (results.get("versions") or ""), fontsize=6.5, color="0.35",
             va="bottom", ha="left")
    return fig


def _date(results: dict) -> str:
    date = results.get("date") or results.get("pytest_benchmark", {}).get("datetime", "")[:10]
    return date or time.strftime("%Y-%m-%d")


def _legend(fig, variants: list[str]) -> None:
    """Which colour is which, in the footnote's strip at the right (beside a bar it would cover its label)."""
    from matplotlib.patches import Patch

    kinds = {_color(v) for v in variants}
    handles = [Patch(color=c, label=label) for c, label in
               ((ETCDSTREAM, "etcdstream"), (OTHER, "other clients"), (FLOOR, "floor (grpcio, no decoding)"))
               if c in kinds]
    fig.legend(handles=handles, loc="lower right", ncols=len(handles), fontsize=8, frameon=False,
               borderaxespad=0.2)


def watch_replay_cpu(results: dict, path: Path) -> bool:
    """Client CPU per event of watch replay (one subplot per events-per-message), floor included."""
    groups = _groups(results.get("rows", []), "watch replay", "cpu_us_per_event")
    if not groups:
        return False
    variants = list(dict.fromkeys(r["variant"] for rows in groups.values() for r in rows))
    fig = _figure(5.0 + 3.6 * len(groups), 1.6 + INCH_PER_BAR * len(variants), results)
    axes = fig.subplots(1, len(groups), sharey=True, squeeze=False)[0]
    for ax, (scenario, rows) in zip(axes, groups.items()):
        by_variant = {r["variant"]: r["extra_info"]["cpu_us_per_event"] for r in rows}
        floor = next((cpu for v, cpu in by_variant.items() if "floor" in v), None)
        shown = [v for v in variants if v in by_variant]
        bars = ax.barh([variants.index(v) for v in shown], [by_variant[v] for v in shown],
                       color=[_color(v) for v in shown])
        labels = [f"{_num(by_variant[v])} µs" + ("" if floor is None or "floor" in v else
                                                  f"  ({by_variant[v] / floor:.2f}x floor)") for v in shown]
        ax.bar_label(bars, labels=labels, padding=3, fontsize=8)
        if floor is not None:
            ax.axvline(floor, color=FLOOR, linestyle="--", linewidth=1)
        ax.set_xlim(0, max(by_variant.values()) * 1.6)
        ax.set_title(re.sub(r"(\d+)/msg", lambda m: f"{m[1]} event{'s' if m[1] != '1' else ''} per message",
                            scenario.removeprefix("watch replay").strip()) or scenario, fontsize=10)
        ax.set_xlabel("client CPU per event (µs)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(variants)), variants)
    axes[0].invert_yaxis()
    _legend(fig, variants)
    fig.suptitle("Watch replay: client CPU per event received (µs, all threads; lower is better)", fontsize=11)
    fig.savefig(path, dpi=DPI)
    return True


def readdir(results: dict, path: Path) -> bool:
    """Wall time of reading one prefix, by client (one subplot per readdir group)."""
    groups = _groups(results.get("rows", []), "readdir")
    if not groups:
        return False
    count = max(len(rows) for rows in groups.values())
    fig = _figure(10.5, (1.6 + INCH_PER_BAR * count) * len(groups), results)
    for ax, (scenario, rows) in zip(fig.subplots(len(groups), 1, squeeze=False)[:, 0], groups.items()):
        scale, unit = _unit([r["median_s"] for r in rows])
        values = [r["median_s"] / scale for r in rows]
        bars = ax.barh(range(len(rows)), values, color=[_color(r["variant"]) for r in rows])
        ax.bar_label(bars, padding=3, fontsize=8, labels=[
            f"{_num(v)} {unit}" + (f"  ({r['per_item_s'] * 1e6:.2f} µs/key)" if r.get("items", 1) > 1 else "")
            for v, r in zip(values, rows)])
        ax.set_yticks(range(len(rows)), [r["variant"] for r in rows])
        ax.invert_yaxis()
        ax.set_xlim(0, max(values) * 1.4)
        ax.set_xlabel(f"wall time, median ({unit})")
        ax.set_title(f"{scenario}: wall time by client ({unit}, lower is better)", fontsize=11)
        ax.grid(axis="x", alpha=0.3)
    _legend(fig, [r["variant"] for rows in groups.values() for r in rows])
    fig.savefig(path, dpi=DPI)
    return True


def catch_up(results: dict, path: Path) -> bool:
    """Time to catch up by gap size: one line per strategy (and etcd version), log-scale gap."""
    from matplotlib.ticker import FuncFormatter

    lines: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for row in results.get("rows", []):
        info = row["extra_info"]
        if _is_number(info.get("gap")) and info.get("strategy"):
            lines.setdefault((info["strategy"], str(info.get("etcd") or "")), []).append((info["gap"], row["median_s"]))
    if not lines:
        return False
    fig = _figure(9.0, 5.4, results)
    ax = fig.subplots()
    etcds = sorted({etcd for _, etcd in lines}, reverse=True)  # the newest etcd drawn solid
    for (strategy, etcd), points in sorted(lines.items()):
        points.sort()
        color = {"replay": OTHER, "auto": ETCDSTREAM}.get(strategy)
        newest = etcd == etcds[0]
        xs, ys = [g for g, _ in points], [s for _, s in points]
        ax.plot(xs, ys, color=color, linestyle="-" if newest else "--", marker="o" if newest else "s",
                markerfacecolor=color if newest else "white", label=strategy + (f", etcd {etcd}" if etcd else ""))
        # Replay's values above its points, auto's below: where the strategies agree the labels do not collide.
        above = strategy != "auto"
        for x, y in zip(xs, ys):
            ax.annotate(_time(y), (x, y), textcoords="offset points", xytext=(0, 7 if above else -12),
                        ha="center", fontsize=7.5, color=color)
    seconds = [s for points in lines.values() for _, s in points]
    ax.set_xscale("log")
    if max(seconds) > 30 * min(seconds):
        ax.set_yscale("log")  # replaying a large gap takes orders of magnitude longer than a small one
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: _time(y)))
    ax.set_xlabel("gap: events written while the watcher was away (log scale)")
    ax.set_ylabel("time until the watcher is current, median")
    ax.set_title("Catch-up after a gap, by strategy (time, lower is better)", fontsize=11)
    ax.grid(which="major", alpha=0.35)
    ax.grid(which="minor", alpha=0.1)
    ax.legend(fontsize=8, frameon=False)
    fig.savefig(path, dpi=DPI)
    return True


# The fleet chart's panels: extra_info key, title, scale of the value to the unit shown.
FLEET_PANELS = [
    ("converge_s", "time until every Mirror converged ({unit})", None),
    ("server_watchers", "watchers on the etcd server", 1),
    ("leader_cpu_us_per_event", "leader CPU per event (µs)", 1),
]


def fleet(results: dict, path: Path) -> bool:
    """Fleet convergence by path to etcd (direct, proxy, ...): one bar chart per measured quantity."""
    rows = [r for r in results.get("rows", [])
            if r["extra_info"].get("fleet_mode") and _is_number(r["extra_info"].get("converge_s"))]
    if not rows:
        return False
    modes = [r["extra_info"]["fleet_mode"] for r in rows]
    # A mode measured more than once (several fleet sizes, say) is told apart by its variant.
    labels = [m if modes.count(m) == 1 else f"{m}\n{r['variant']}" for m, r in zip(modes, rows)]
    panels = [p for p in FLEET_PANELS if any(_is_number(r["extra_info"].get(p[0])) for r in rows)]
    fig = _figure(max(6.0, (1.2 + 0.9 * len(rows)) * len(panels)), 4.8, results)
    for ax, (key, title, scale) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        present = [(label, r["extra_info"][key]) for label, r in zip(labels, rows) if _is_number(r["extra_info"].get(key))]
        unit = ""
        if scale is None:
            scale, unit = _unit([v for _, v in present])
            scale = 1 / scale
        values = [v * scale for _, v in present]
        bars = ax.bar(range(len(present)), values, color=ETCDSTREAM, width=0.6)
        ax.bar_label(bars, labels=[f"{v:,.0f}" if key == "server_watchers" else _num(v) for v in values],
                     padding=3, fontsize=8)
        ax.set_xticks(range(len(present)), [label for label, _ in present], fontsize=8.5)
        ax.set_ylim(0, max(values) * 1.18 or 1)
        ax.set_title(title.format(unit=unit), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    scenarios = {r["scenario"] for r in rows}
    what = scenarios.pop() if len(scenarios) == 1 else "Fleet of Mirrors"  # its name says the fleet's size
    fig.suptitle(f"{what}: after a burst of writes, by path to etcd (lower is better)", fontsize=11)
    fig.savefig(path, dpi=DPI)
    return True


# File name -> chart; a chart returns False (and writes nothing) when its rows are missing.
CHARTS = {
    "watch_replay_cpu.png": watch_replay_cpu,
    "readdir.png": readdir,
    "catch_up.png": catch_up,
    "fleet.png": fleet,
}


def write_charts(results: dict, directory: str | Path) -> list[Path]:
    """Draw every chart whose rows are in results (harness.py's summary) into directory; return the files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, chart in CHARTS.items():
        if chart(results, directory / name):
            written.append(directory / name)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.stderr.write("usage: python bench/plot.py RESULTS.json DIR  (RESULTS.json from etcdstream bench --json)\n")
        return 2
    import json

    with open(args[0]) as f:
        results = json.load(f)
    for path in write_charts(results, args[1]):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
