"""``python -m bench``: measure, print the table; ``plot``: draw it; ``table``: print it again.

``python -m bench table --markdown`` prints the last results as a Markdown table;
``python -m bench table PATH`` those of another results file.

Environment: ``BENCH_MB`` (size of the main corpora, default 256),
``BENCH_REPEAT`` (runs per measurement, best kept, default 3),
``BENCH_NAIVE_MAX_MB`` (largest file given to the read-all approach, default 2048),
``BENCH_CORPORA`` (a comma-separated list of corpus names to run, plain or compressed
such as ``sparse-quote.gz``, default all).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench.measure import ROOT, load, run_all, table, targets


def main(argv: list[str]) -> int:
    if argv[:1] == ["plot"]:
        from bench.plot import plot  # matplotlib only when drawing

        results = load(Path(argv[1]) if len(argv) > 1 else None)
        for path in plot(results, ROOT / "docs"):
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    if argv[:1] == ["table"]:
        paths = [arg for arg in argv[1:] if arg != "--markdown"]
        results = load(Path(paths[0]) if paths else None)
        print(table(results, markdown="--markdown" in argv))
        print(targets(results))
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    results = run_all(
        base_mb=int(os.environ.get("BENCH_MB", "256")),
        repeat=int(os.environ.get("BENCH_REPEAT", "3")),
        naive_max_mb=int(os.environ.get("BENCH_NAIVE_MAX_MB", "2048")),
        only=[name for name in os.environ.get("BENCH_CORPORA", "").split(",") if name],
    )
    print(table(results))
    print(targets(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
