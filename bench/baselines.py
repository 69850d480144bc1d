"""The csv-module approaches the profiler is measured against.

Run as ``python -m bench.baselines {stream|naive} FILE``; prints the number of
records (blank lines skipped, header included), like the profiler's
``row_count + 1``.
"""

from __future__ import annotations

import csv
import io
import sys

csv.field_size_limit(sys.maxsize)  # as the reference does: fields of any size


def stream(path: str) -> int:
    """The reference approach: a text stream (newline='') read by csv.reader."""
    with open(path, newline="", encoding="utf-8") as text:
        return sum(1 for row in csv.reader(text) if row)


def naive(path: str) -> int:
    """Read the whole file, then csv.reader over it: simple, and memory grows with it."""
    with open(path, newline="", encoding="utf-8") as text:
        whole = text.read()
    return sum(1 for row in csv.reader(io.StringIO(whole, newline="")) if row)


def main(argv: list[str]) -> int:
    approaches = {"stream": stream, "naive": naive}
    if len(argv) != 2 or argv[0] not in approaches:
        print("usage: python -m bench.baselines {stream|naive} FILE", file=sys.stderr)
        return 2
    print(approaches[argv[0]](argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
