"""Run each tool on each corpus as its own process: wall time and peak RSS.

Peak RSS is the kernel's accounting of that one process (``ru_maxrss``), read
by GNU time: Linux carries a process's high-water mark across ``execve``, so a
child forked straight from this Python process would report at least this
process's own size. Without ``/usr/bin/time`` the figure falls back to
``os.wait4``, a floor of about 20 MB. Times are whole-process (interpreter start
included), best of ``BENCH_REPEAT`` runs (the tools take turns, round after round,
so that a busier moment weighs on all alike), with the file in the page cache.
"""

from __future__ import annotations

import compileall
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.corpora import MB, Corpus, corpora, ensure

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".bench"
TOOLS = ("profiler", "csv-stream", "csv-read-all", "wc -l")
GNU_TIME = Path("/usr/bin/time")


@dataclass(frozen=True)
class Run:
    """One tool on one corpus."""

    corpus: str
    tool: str
    size: int
    seconds: float
    peak_rss: int  # bytes
    records: int | None

    @property
    def mb_per_s(self) -> float:
        return self.size / MB / self.seconds


def command(tool: str, path: Path) -> list[str]:
    python = sys.executable
    return {
        "profiler": [python, "-m", "chalicelib.csvprofile", str(path)],
        "csv-stream": [python, "-m", "bench.baselines", "stream", str(path)],
        "csv-read-all": [python, "-m", "bench.baselines", "naive", str(path)],
        "wc -l": ["wc", "-l", str(path)],
    }[tool]


def records(tool: str, output: str) -> int | None:
    """The record count a tool printed (header included), to check they agree."""
    if tool == "profiler":
        line = json.loads(output)
        return None if line["row_count"] is None else int(line["row_count"]) + 1
    if tool.startswith("csv"):
        return int(output)
    return None


def run_once(cmd: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in bytes and stdout of one process."""
    with tempfile.NamedTemporaryFile("r") as report:
        if GNU_TIME.exists():
            cmd = [str(GNU_TIME), "--format=%M", f"--output={report.name}", *cmd]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        if proc.returncode not in (0, 1):  # the profiler exits 1 on a rejected file
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}")
        kib = int(report.read().split()[-1]) if GNU_TIME.exists() else usage.ru_maxrss
    return seconds, kib * 1024, out


def measure(corpus: Corpus, path: Path, tools: list[str], repeat: int) -> list[Run]:
    """Each tool ``repeat`` times, the tools taking turns (round after round), so
    that a machine busier at one moment weighs on all of them alike."""
    best = dict.fromkeys(tools, float("inf"))
    peak = dict.fromkeys(tools, 0)
    out = dict.fromkeys(tools, "")
    for _ in range(repeat):
        for tool in tools:
            seconds, rss, out[tool] = run_once(command(tool, path))
            best[tool], peak[tool] = min(best[tool], seconds), max(peak[tool], rss)
            print(".", end="", file=sys.stderr, flush=True)
    size = path.stat().st_size
    return [
        Run(corpus.name, tool, size, best[tool], peak[tool], records(tool, out[tool]))
        for tool in tools
    ]


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next(
            (line.split(":", 1)[1].strip() for line in out.splitlines() if "Model name" in line),
            model,
        )
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def startup(repeat: int) -> dict[str, float]:
    """Seconds to profile (or stream) a one-line file: the fixed cost in every MB/s."""
    DATA.mkdir(exist_ok=True)
    tiny = DATA / "startup.csv"
    tiny.write_bytes(b"a,b\n1,2\n")
    return {
        tool: min(run_once(command(tool, tiny))[0] for _ in range(max(repeat, 3)))
        for tool in ("profiler", "csv-stream")
    }


def run_all(
    base_mb: int, repeat: int, naive_max_mb: int, only: list[str] | None = None
) -> dict[str, object]:
    """Every tool on every corpus (``only``: these corpora, by name)."""
    # Bytecode as the deployed package has it (make deploy ships it), so that a
    # PYTHONDONTWRITEBYTECODE environment does not add compiling to each run.
    compileall.compile_dir(ROOT / "chalicelib", quiet=1)
    compileall.compile_dir(ROOT / "bench", quiet=1)
    runs: list[Run] = []
    for corpus in corpora(base_mb):
        if only and corpus.name not in only:
            continue
        path = ensure(corpus, DATA)
        tools = [
            tool
            for tool in TOOLS
            # csv-read-all holds the whole file several times over
            if tool != "csv-read-all" or corpus.size <= naive_max_mb * MB
        ]
        runs.extend(measure(corpus, path, tools, repeat))
    print(file=sys.stderr)
    results: dict[str, object] = {
        "base_mb": base_mb,
        "repeat": repeat,
        "machine": machine(),
        "startup": startup(repeat),
        "runs": [asdict(run) for run in runs],
    }
    DATA.mkdir(exist_ok=True)
    (DATA / "results.json").write_text(json.dumps(results, indent=1))
    return results


def load(path: Path | None = None) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((path or DATA / "results.json").read_text())
    return loaded


def runs_of(results: dict[str, object]) -> list[Run]:
    raw = results["runs"]
    assert isinstance(raw, list)
    return [Run(**run) for run in raw]


def table(results: dict[str, object], markdown: bool = False) -> str:
    """One table: per corpus, MB/s and peak RSS of every tool, and ours/csv."""
    runs = runs_of(results)
    by = {(run.corpus, run.tool): run for run in runs}
    names = list(dict.fromkeys(run.corpus for run in runs))
    head = ["corpus", "size MB"]
    for tool in TOOLS:
        head += [f"{tool} MB/s", "RSS MB"]
    head += ["ours/csv", "rows agree"]
    rows = [head]
    for name in names:
        first = next(run for run in runs if run.corpus == name)
        row = [name, f"{first.size / MB:.0f}"]
        for tool in TOOLS:
            run = by.get((name, tool))
            row += [f"{run.mb_per_s:.0f}", f"{run.peak_rss / MB:.0f}"] if run else ["-", "-"]
        ours, csv_ = by[(name, "profiler")], by[(name, "csv-stream")]
        row.append(f"{ours.mb_per_s / csv_.mb_per_s:.1f}x")
        counts = {by[(name, tool)].records for tool in TOOLS if (name, tool) in by} - {None}
        row.append("yes" if len(counts) == 1 else f"NO {sorted(map(str, counts))}")
        rows.append(row)
    if markdown:
        lines = ["| " + " | ".join(row) + " |" for row in rows]
        lines.insert(1, "|" + "|".join(" --- " for _ in head) + "|")
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


#: The issue's targets: the least speed-up over the csv module, per corpus (LF and CRLF).
SPEEDUP_TARGETS = {
    "sparse-quote": 5.0,
    "sparse-quote-crlf": 5.0,
    "numeric": 5.0,
    "numeric-crlf": 5.0,
    "all-quoted": 1.0,
}
RSS_TARGET = 80 * MB


def targets(results: dict[str, object]) -> str:
    """One line per target: the measured figure, the bound, and whether it holds."""
    runs = runs_of(results)
    by = {(run.corpus, run.tool): run for run in runs}
    lines = []
    for name, least in SPEEDUP_TARGETS.items():
        if (name, "profiler") in by:
            ratio = by[(name, "profiler")].mb_per_s / by[(name, "csv-stream")].mb_per_s
            verdict = "met" if ratio >= least else "NOT MET"
            lines.append(f"{name}: {ratio:.1f}x the csv module (target >= {least:g}x): {verdict}")
    peak = max(run.peak_rss for run in runs if run.tool == "profiler")
    verdict = "met" if peak < RSS_TARGET else "NOT MET"
    lines.append(f"profiler peak RSS, any corpus: {peak / MB:.0f} MB (target < 80 MB): {verdict}")
    start = results.get("startup")
    if isinstance(start, dict):
        lines.append(
            f"start-up (a one-line file, in every MB/s above): profiler "
            f"{start['profiler'] * 1000:.0f} ms, csv-stream {start['csv-stream'] * 1000:.0f} ms"
        )
    return "\n".join(lines)
