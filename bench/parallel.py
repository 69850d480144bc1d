"""The CLI's ``--jobs``: wall time and CPU of ``-j1`` against ``-jN``, by file size.

``python -m bench.parallel --corpus .bench/sparse-quote-64MB.csv --sizes 1,2,4,8,16,64``

Each size is the corpus's first N MiB (a copy under ``.bench/parallel/``); the
jobs take turns, round after round (``--repeat``), each a whole process
(``python -m chalicelib.csvprofile --jobs J``), the best wall time kept and the
CPU (user + system of the process and its workers) of that run. The outputs
must be equal. Run it under ``flock /tmp/bench.lock`` on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20


def run(path: Path, jobs: int) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (with the workers) and stdout of one CLI run."""
    before = os.times()
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "chalicelib.csvprofile", "--jobs", str(jobs), str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu, out.replace(str(path), "FILE")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, default=ROOT / ".bench" / "sparse-quote-64MB.csv")
    parser.add_argument("--sizes", default="1,2,4,8,16,32,64", help="MiB, comma-separated")
    parser.add_argument("--jobs", default="1,2", help="comma-separated")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    data = args.corpus.read_bytes()
    folder = ROOT / ".bench" / "parallel"
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [int(j) for j in args.jobs.split(",")]
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    print("| MiB | " + " | ".join(f"-j{j} wall s | -j{j} CPU s" for j in jobs) + " | speed-up |")
    print("|" + " --- |" * (2 * len(jobs) + 2))
    for size in (int(s) for s in args.sizes.split(",")):
        path = folder / f"{args.corpus.stem}-{size}MiB.csv"
        if not path.exists() or path.stat().st_size != min(size * MIB, len(data)):
            path.write_bytes(data[: size * MIB])
        best: dict[int, tuple[float, float]] = {j: (float("inf"), 0.0) for j in jobs}
        outs = set()
        for _ in range(args.repeat):
            for j in jobs:
                wall, cpu, out = run(path, j)
                outs.add(out)
                if wall < best[j][0]:
                    best[j] = (wall, cpu)
        if len(outs) != 1:
            raise SystemExit(f"{path}: the outputs differ between jobs")
        cells = " | ".join(f"{best[j][0]:.3f} | {best[j][1]:.3f}" for j in jobs)
        speedup = best[jobs[0]][0] / best[jobs[-1]][0]
        print(f"| {size} | {cells} | {speedup:.2f}x |", flush=True)
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
