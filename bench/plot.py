"""Draw the measured results: throughput by corpus, peak memory against file size."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from bench.corpora import MB
from bench.measure import TOOLS, plain_names, runs_of

COLOURS = {"profiler": "#1b9e77", "csv-stream": "#d95f02", "csv-read-all": "#7570b3"}
COLOURS["wc -l"] = "#999999"
COLOURS["profiler -j2"] = "#66a61e"
COLOURS["profiler (python)"] = "#a6d854"


def plot(results: dict[str, object], out: Path) -> list[Path]:
    runs = runs_of(results)
    machine = results["machine"]
    assert isinstance(machine, dict)
    note = f"{machine['cpu']}, {machine['cores']} cores, Python {machine['python']}"
    names = plain_names(runs)  # the compressed corpora are in the table only
    runs = [run for run in runs if run.corpus in names]
    by = {(run.corpus, run.tool): run for run in runs}
    out.mkdir(parents=True, exist_ok=True)

    fig, ax = plt.subplots(figsize=(10, 5))
    width = 0.8 / len(TOOLS)
    for i, tool in enumerate(TOOLS):
        xs = [n + (i - (len(TOOLS) - 1) / 2) * width for n in range(len(names))]
        speeds = [by[(name, tool)].mb_per_s if (name, tool) in by else 0 for name in names]
        bars = ax.bar(xs, speeds, width, label=tool, color=COLOURS[tool])
        ax.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    labels = [f"{name}\n{by[(name, 'profiler')].size / MB:.0f} MB" for name in names]
    ax.set_xticks(range(len(names)), labels)
    ax.set_yscale("log")
    ax.set_ylabel("MB/s, whole process (log scale)")
    ax.set_title(f"Throughput by corpus\n{note}", fontsize=10)
    ax.legend()
    fig.tight_layout()
    speed = out / "benchmarks-throughput.png"
    fig.savefig(speed, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 5.5))
    for tool in TOOLS:
        xs = [run.size / MB for run in runs if run.tool == tool]
        ys = [run.peak_rss / MB for run in runs if run.tool == tool]
        ax.scatter(xs, ys, label=tool, color=COLOURS[tool], s=40, zorder=3)
    corpora_at: dict[int, list[str]] = {}
    for name in names:  # name the corpora of each size once, above the column
        corpora_at.setdefault(round(by[(name, "profiler")].size / MB), []).append(name)
    top = max(run.peak_rss for run in runs) / MB
    for size, at in corpora_at.items():
        ax.annotate("\n".join(at), (size, top * 1.6), fontsize=8, ha="center", va="bottom")
    ax.axhline(80, linestyle="--", color="black", linewidth=0.8, label="80 MB target")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1, top * 8)
    sizes = sorted({round(run.size / MB) for run in runs})
    ax.set_xticks(sizes, [str(size) for size in sizes])
    ax.minorticks_off()
    ax.set_xlabel("file size, MB (log scale)")
    ax.set_ylabel("peak RSS, MB (log scale)")
    ax.set_title(f"Peak memory against file size, one process per point\n{note}", fontsize=10)
    ax.legend(loc="center right")
    fig.tight_layout()
    memory = out / "benchmarks-memory.png"
    fig.savefig(memory, dpi=110)
    plt.close(fig)
    return [speed, memory]
