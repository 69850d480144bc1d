"""Run each tool on each corpus as its own process: wall time and peak RSS.

Peak RSS is the kernel's accounting of that one process (``ru_maxrss``), read
by GNU time: Linux carries a process's high-water mark across ``execve``, so a
child forked straight from this Python process would report at least this
process's own size. Without ``/usr/bin/time`` the figure falls back to
``os.wait4``, a floor of about 20 MB. Times are whole-process (interpreter start
included), best of ``BENCH_REPEAT`` runs (the tools take turns, round after round,
so that a busier moment weighs on all alike), with the file in the page cache:
the wall time, and the CPU time (user + system, from ``os.wait4``), which other
tenants of a shared machine move far less (every tool here is single-threaded).
"""

from __future__ import annotations

import compileall
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.corpora import MB, Corpus, compressed_corpora, corpora, ensure
from chalicelib.core.csvprofile import gunzip_library

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".bench"
TOOLS = ("profiler", "profiler -j2", "profiler (python)", "csv-stream", "csv-read-all", "wc -l")
#: The profiler without its C scanner (``CSV_PIPELINE_SCANNER=python``): the fallback.
FALLBACK = "profiler (python)"
#: The profiler in two processes (``--jobs 2``; "profiler" is ``--jobs 1``).
PARALLEL = "profiler -j2"
#: The issue's anchors, on the sparse-quote corpus only.
ANCHORS = ("polars", "duckdb")
ANCHORED = "sparse-quote"
#: Per kind of compressed corpus: the profiler, and each library decompressing alone
#: (no ``profiler -j2``: the CLI reads gzip and zstd in one process whatever ``--jobs``).
GZIP_ALONE = ("gunzip-isal", "gunzip-zlib", "gunzip-zlib-ng")
COMPRESSED_TOOLS = {
    "gzip": ("profiler", "profiler (zlib)", *GZIP_ALONE),
    "zstd": ("profiler", "unzstd"),
    "gzip-members": ("profiler", "gunzip-isal"),  # the memory target; measured once
}
#: The decompression alone that each profiler is held to (the same library).
ALONE = {"gzip": "gunzip-isal", "zstd": "unzstd", "gzip-members": "gunzip-isal"}
ALONE_ZLIB = "gunzip-zlib"
#: Rounds of the gzip and zstd corpora at least, whatever ``BENCH_REPEAT``: a run of
#: one library on this machine takes either about 0.40 s or about 0.60 s for the same
#: work (the process's own CPU time moves alike: the host, not the tool), so a best
#: of 3 often catches the fast speed for one tool and not the other. A round of the
#: 256 MB pair is a few seconds.
COMPRESSED_ROUNDS = 9
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
    cpu: float = 0.0  # user + system seconds, best of the runs (0: not measured)
    rounds: list[float] = field(default_factory=list)  # wall seconds, round by round

    @property
    def mb_per_s(self) -> float:
        return self.size / MB / self.seconds


def command(tool: str, path: Path) -> list[str]:
    python = sys.executable
    return {
        "profiler": [python, "-m", "chalicelib.csvprofile", "--jobs", "1", str(path)],
        PARALLEL: [python, "-m", "chalicelib.csvprofile", "--jobs", "2", str(path)],
        FALLBACK: [
            *("env", "CSV_PIPELINE_SCANNER=python", python, "-m", "chalicelib.csvprofile"),
            *("--jobs", "1", str(path)),
        ],
        "csv-stream": [python, "-m", "bench.baselines", "stream", str(path)],
        "csv-read-all": [python, "-m", "bench.baselines", "naive", str(path)],
        "wc -l": ["wc", "-l", str(path)],
        "profiler (zlib)": [python, "-m", "bench.baselines", "profile-zlib", str(path)],
    }.get(tool) or [python, "-m", "bench.baselines", tool, str(path)]


def records(tool: str, output: str) -> int | None:
    """The record count a tool printed (header included), to check they agree."""
    if tool.startswith("profiler"):
        line = json.loads(output)
        return None if line["row_count"] is None else int(line["row_count"]) + 1
    if tool.startswith("csv") or tool in ANCHORS:
        return int(output)
    return None  # wc -l, and the decompressors (they print bytes)


def run_once(cmd: list[str]) -> tuple[float, int, str, float]:
    """Wall seconds, peak RSS in bytes, stdout and CPU seconds of one process."""
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
    # wait4's usage includes the children the process waited for (GNU time's one).
    return seconds, kib * 1024, out, usage.ru_utime + usage.ru_stime


def measure(corpus: Corpus, path: Path, tools: tuple[str, ...], repeat: int) -> list[Run]:
    """Every tool on one corpus, ``repeat`` rounds interleaved (so that a busy moment of
    a shared machine hits them alike), the best time, every round's and the highest
    RSS of each."""
    rounds: dict[str, list[float]] = {tool: [] for tool in tools}
    cpu = dict.fromkeys(tools, float("inf"))
    peak = dict.fromkeys(tools, 0)
    out = dict.fromkeys(tools, "")
    for _ in range(repeat):
        for tool in tools:
            seconds, rss, out[tool], used = run_once(command(tool, path))
            rounds[tool].append(seconds)
            peak[tool] = max(peak[tool], rss)
            cpu[tool] = min(cpu[tool], used)
            print(".", end="", file=sys.stderr, flush=True)
    size = path.stat().st_size
    return [
        Run(
            corpus=corpus.name,
            tool=tool,
            size=size,
            seconds=min(rounds[tool]),
            peak_rss=peak[tool],
            records=records(tool, out[tool]),
            cpu=cpu[tool],
            rounds=rounds[tool],
        )
        for tool in tools
    ]


def per_round(ours: Run, alone: Run) -> float | None:
    """The median over the rounds of ``ours`` / ``alone`` in the same round (None when
    the runs kept no rounds: results saved before 2026-12-04). Interleaved, a round's
    two figures saw the same machine; the best of each may come from different minutes,
    and a quiet minute helps one thread more often than two."""
    if not ours.rounds or len(ours.rounds) != len(alone.rounds):
        return None
    return statistics.median(a / b for a, b in zip(ours.rounds, alone.rounds, strict=True))


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
    """Seconds to profile (or stream) a one-line file: the fixed cost in every MB/s
    (wall, and ``<tool> cpu``: CPU seconds)."""
    DATA.mkdir(exist_ok=True)
    tiny = DATA / "startup.csv"
    tiny.unlink(missing_ok=True)  # a link to another checkout's file is not written through
    tiny.write_bytes(b"a,b\n1,2\n")
    found: dict[str, float] = {}
    for tool in ("profiler", "csv-stream"):
        runs = [run_once(command(tool, tiny)) for _ in range(max(repeat, 5))]
        found[tool] = min(run[0] for run in runs)
        found[f"{tool} cpu"] = min(run[3] for run in runs)
    return found


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
        tools = TOOLS + (ANCHORS if corpus.name == ANCHORED else ())
        if corpus.size > naive_max_mb * MB:  # read-all holds the whole file several times over
            tools = tuple(tool for tool in tools if tool != "csv-read-all")
        runs += measure(corpus, path, tools, repeat)
    for corpus in compressed_corpora(base_mb):
        if only and corpus.name not in only:
            continue
        assert corpus.compression is not None
        path = ensure(corpus, DATA)
        rounds = 1 if corpus.compression == "gzip-members" else max(repeat, COMPRESSED_ROUNDS)
        runs += measure(corpus, path, COMPRESSED_TOOLS[corpus.compression], rounds)
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


def _render(rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(row) + " |" for row in rows]
        lines.insert(1, "|" + "|".join(" --- " for _ in rows[0]) + "|")
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def plain_names(runs: list[Run]) -> list[str]:
    """The plain corpora measured (those the csv module read)."""
    return list(dict.fromkeys(run.corpus for run in runs if run.tool == "csv-stream"))


def table(results: dict[str, object], markdown: bool = False) -> str:
    """The plain corpora: MB/s and peak RSS of every tool, ours/csv; then the compressed."""
    runs = runs_of(results)
    by = {(run.corpus, run.tool): run for run in runs}
    names = plain_names(runs)
    head = ["corpus", "size MB"]
    for tool in TOOLS:
        head += [f"{tool} MB/s", "RSS MB"]
    head += ["ours/csv", "on CPU", "-j2/csv", "rows agree"]
    rows = [head]
    for name in names:
        first = next(run for run in runs if run.corpus == name)
        row = [name, f"{first.size / MB:.0f}"]
        for tool in TOOLS:
            run = by.get((name, tool))
            row += [f"{run.mb_per_s:.0f}", f"{run.peak_rss / MB:.0f}"] if run else ["-", "-"]
        ours, csv_ = by[(name, "profiler")], by[(name, "csv-stream")]
        row.append(f"{ours.mb_per_s / csv_.mb_per_s:.1f}x")
        row.append(f"{csv_.cpu / ours.cpu:.1f}x" if ours.cpu and csv_.cpu else "-")
        two = by.get((name, PARALLEL))
        row.append(f"{two.mb_per_s / csv_.mb_per_s:.1f}x" if two else "-")
        counts = {by[(name, tool)].records for tool in TOOLS if (name, tool) in by} - {None}
        row.append("yes" if len(counts) == 1 else f"NO {sorted(map(str, counts))}")
        rows.append(row)
    compressed = compressed_table(runs, markdown)
    return _render(rows, markdown) + ("\n\n" + compressed if compressed else "")


def _kind(name: str) -> str:
    return "zstd" if name.endswith(".zst") else "gzip-members" if "members" in name else "gzip"


def compressed_table(runs: list[Run], markdown: bool = False) -> str:
    """Per compressed corpus and tool: seconds, peak RSS, and the time over decompressing
    alone with the same library (and over zlib alone, for gzip)."""
    by = {(run.corpus, run.tool): run for run in runs}
    names = [
        name for name in dict.fromkeys(run.corpus for run in runs) if (name, "csv-stream") not in by
    ]
    names = [name for name in names if (name, "profiler") in by]
    if not names:
        return ""
    rows = [
        ["compressed", "stored MB", "tool", "s", "RSS MB", "/ same library alone", "/ zlib alone"]
    ]
    for name in names:
        kind = _kind(name)
        for tool in COMPRESSED_TOOLS[kind]:
            run = by.get((name, tool))
            if run is None:
                continue
            library = ALONE_ZLIB if tool == "profiler (zlib)" else ALONE[kind]
            alone, zlib_alone = by.get((name, library)), by.get((name, ALONE_ZLIB))
            label = tool
            if tool == "profiler":  # the library it uses in this environment
                label = f"profiler ({'zstd' if kind == 'zstd' else gunzip_library()})"
            rows.append(
                [
                    name,
                    f"{run.size / MB:.0f}",
                    label,
                    f"{run.seconds:.2f}",
                    f"{run.peak_rss / MB:.0f}",
                    f"{run.seconds / alone.seconds:.2f}x"
                    if alone and tool.startswith("profiler")
                    else "",
                    f"{run.seconds / zlib_alone.seconds:.2f}x" if zlib_alone else "",
                ]
            )
    return _render(rows, markdown)


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
            ours, csv_ = by[(name, "profiler")], by[(name, "csv-stream")]
            ratio = ours.mb_per_s / csv_.mb_per_s
            verdict = "met" if ratio >= least else "NOT MET"
            on_cpu = f"; on CPU time {csv_.cpu / ours.cpu:.1f}x" if ours.cpu and csv_.cpu else ""
            lines.append(
                f"{name}: {ratio:.1f}x the csv module (target >= {least:g}x): {verdict}{on_cpu}"
            )
            if (name, PARALLEL) in by:
                two = by[(name, PARALLEL)]
                lines.append(
                    f"{name}: {PARALLEL} at {two.mb_per_s / csv_.mb_per_s:.1f}x"
                    f" the csv module, {ours.seconds / two.seconds:.2f}x -j1"
                )
            if (name, FALLBACK) in by:
                slow = by[(name, FALLBACK)]
                lines.append(
                    f"{name}: without the C scanner {slow.mb_per_s / csv_.mb_per_s:.1f}x"
                    f" the csv module; the scanner makes it {slow.seconds / ours.seconds:.2f}x"
                    " faster"
                )
    peak = max(run.peak_rss for run in runs if run.tool == "profiler")
    verdict = "met" if peak < RSS_TARGET else "NOT MET"
    lines.append(f"profiler peak RSS, any corpus: {peak / MB:.0f} MB (target < 80 MB): {verdict}")
    lines += compressed_targets(by)
    for anchor in ANCHORS:
        if (ANCHORED, anchor) in by:
            ours, theirs = by[(ANCHORED, "profiler")], by[(ANCHORED, anchor)]
            lines.append(
                f"{ANCHORED} (LF): the profiler at {ours.mb_per_s / theirs.mb_per_s:.2f}x "
                f"the speed of {anchor} ({ours.seconds:.2f} s against {theirs.seconds:.2f} s)"
            )
            if (ANCHORED, PARALLEL) in by:
                two = by[(ANCHORED, PARALLEL)]
                lines.append(
                    f"{ANCHORED} (LF): {PARALLEL} at {two.mb_per_s / theirs.mb_per_s:.2f}x "
                    f"the speed of {anchor} ({two.seconds:.2f} s; both use the 2 cores)"
                )
    start = results.get("startup")
    if isinstance(start, dict):
        cpu = ""
        if "profiler cpu" in start:
            cpu = (
                f" (CPU {start['profiler cpu'] * 1000:.0f} and "
                f"{start['csv-stream cpu'] * 1000:.0f} ms)"
            )
        lines.append(
            f"start-up (a one-line file, in every MB/s above): profiler "
            f"{start['profiler'] * 1000:.0f} ms, csv-stream {start['csv-stream'] * 1000:.0f} ms"
            f"{cpu}"
        )
    return "\n".join(lines)


#: Issue 12: profiling a compressed file takes at most this times decompressing it alone.
COMPRESSED_TARGET = 1.3


def compressed_targets(by: dict[tuple[str, str], Run]) -> list[str]:
    lines = []
    for name, kind in (("sparse-quote.gz", "gzip"), ("sparse-quote.zst", "zstd")):
        if (name, "profiler") not in by:
            continue
        ours, alone = by[(name, "profiler")], by[(name, ALONE[kind])]
        ratio = ours.seconds / alone.seconds
        verdict = "met" if ratio <= COMPRESSED_TARGET else "NOT MET"
        lines.append(
            f"{name}: profiling takes {ratio:.2f}x {ALONE[kind]} alone "
            f"(target <= {COMPRESSED_TARGET}x): {verdict}"
        )
        median = per_round(ours, alone)
        if median is not None and len(ours.rounds) > 1:
            lines.append(
                f"{name}: round by round, the median of {len(ours.rounds)} is {median:.2f}x "
                "(the verdict above is on the best of each)"
            )
        if kind == "gzip" and (name, "profiler (zlib)") in by:
            zlib_run, zlib_alone = by[(name, "profiler (zlib)")], by[(name, ALONE_ZLIB)]
            cut = 1 - ours.seconds / zlib_run.seconds
            lines.append(
                f"{name} with zlib: {zlib_run.seconds / zlib_alone.seconds:.2f}x "
                f"gunzip-zlib alone; isal cuts the profile by {cut:.0%}"
            )
            speeds = ", ".join(
                f"{tool} {zlib_alone.seconds / by[(name, tool)].seconds:.2f}x"
                for tool in GZIP_ALONE
                if (name, tool) in by
            )
            lines.append(f"{name}: gunzip speed against zlib: {speeds}")
    members = [run for (name, tool), run in by.items() if "members" in name and tool == "profiler"]
    for run in members:
        verdict = "met" if run.peak_rss < RSS_TARGET else "NOT MET"
        lines.append(
            f"{run.corpus} ({run.size / MB:.0f} MB of gzip): profiler peak RSS "
            f"{run.peak_rss / MB:.0f} MB (target < 80 MB): {verdict}"
        )
    return lines
