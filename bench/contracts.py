"""Contract validation (issue 14): the fast validator against the csv module.

``python -m bench.contracts [--mb N] [--huge-mb N] [--repeat N]`` builds the
contract corpora under ``.bench/`` (7 typed columns: ``sparse`` with a quoted note
in about one row in 20, some holding a comma, a doubled quote or a line end;
``plain`` with no quote at all; each with LF and CRLF line ends), writes the
bench's contract (integers with bounds, a number with bounds, a date, an enum, a
pattern, a length), and runs each tool on each corpus as its own process (wall
time, peak RSS by GNU time, as :mod:`bench.measure`):

- **fast**: ``python -m chalicelib.csvprofile --contract C FILE``, the whole
  profile with every row checked (what the Lambda runs);
- **csv-stream**: the csv module counting rows (``python -m bench.baselines stream``);
- **straightforward**: ``csv.reader`` plus one :meth:`FieldSpec.check` per cell
  (``python -m bench.contracts straightforward C FILE``).

It prints the table, the ratios against the issue's targets (fast at least 1x the
csv stream and at least 3x the straightforward validator) and peak RSS (under 80
MB), then the fast validator once on a ``--huge-mb`` file (1 GB by default;
0 skips it). ``--broken`` adds a sparse corpus where one block in 32 breaks the
contract (the fast path then finds the rows that fail).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.corpora import BLOCK, CITIES, DISTINCT_BLOCKS, FIRST, LAST, MB, NOTES, sparse_note
from bench.measure import DATA, run_once

csv.field_size_limit(sys.maxsize)

HEADER = "id,name,city,amount,date,quantity,note"
CONTRACT = {
    "name": "bench",
    "prefixes": ["bench/"],
    "schema": {
        "fields": [
            {"name": "id", "type": "integer", "constraints": {"required": True, "minimum": 0}},
            {"name": "name", "constraints": {"required": True, "pattern": "\\S+ \\S+"}},
            {"name": "city", "constraints": {"enum": CITIES}},
            {"name": "amount", "type": "number", "constraints": {"minimum": 0, "maximum": 5000}},
            {"name": "date", "type": "date", "constraints": {"minimum": "2025-01-01"}},
            {"name": "quantity", "type": "integer", "constraints": {"minimum": 1, "maximum": 49}},
            {"name": "note", "constraints": {"maxLength": 200}},
        ]
    },
}
TOOLS = ("fast", "csv-stream", "straightforward")
TARGETS = {"csv-stream": 1.0, "straightforward": 3.0}
RSS_TARGET = 80 * MB


def _row(rng: random.Random, quotes: bool, broken: bool) -> str:
    note = sparse_note(rng) if quotes else rng.choice(NOTES)
    quantity = str(rng.randrange(1, 50))
    if broken and rng.random() < 1 / 500:
        quantity = rng.choice(["0", "50", "x", ""])
    return (
        f"{rng.randrange(10**7)},{rng.choice(FIRST)} {rng.choice(LAST)},{rng.choice(CITIES)},"
        f"{rng.uniform(0, 5000):.2f},2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d},"
        f"{quantity},{note}\n"
    )


def _blocks(size: int, quotes: bool, crlf: bool, broken: bool) -> Iterator[bytes]:
    rng = random.Random(size)
    distinct = []
    for index in range(DISTINCT_BLOCKS):
        text, length = [], 0
        while length < BLOCK:
            row = _row(rng, quotes, broken and index == 0)
            text.append(row)
            length += len(row)
        block = "".join(text)
        distinct.append((block.replace("\n", "\r\n") if crlf else block).encode())
    header = (HEADER + ("\r\n" if crlf else "\n")).encode()
    yield header
    written = len(header)
    while written < size:
        block = rng.choice(distinct)
        yield block
        written += len(block)


def corpus(name: str, size: int) -> Path:
    """``sparse-lf``, ``plain-crlf``, ``broken-lf`` ...: generated once under .bench/."""
    path = DATA / f"contract-{name}-{size // MB}MB.csv"
    if path.exists() and path.stat().st_size >= size:
        return path
    kind, ends = name.split("-")
    DATA.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        for block in _blocks(size, kind != "plain", ends == "crlf", kind == "broken"):
            out.write(block)
    partial.replace(path)
    return path


def contract_file() -> Path:
    path = DATA / "contract-bench.json"
    DATA.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(CONTRACT, indent=1))
    return path


def straightforward(contract_path: str, path: str) -> int:
    """csv.reader over a text stream, one FieldSpec.check per cell: the violations."""
    from chalicelib.core.contractreference import ReferenceValidator
    from chalicelib.core.contracts import load_contract

    contract = load_contract(Path(contract_path))
    with open(path, newline="", encoding="utf-8") as text:
        reader = csv.reader(text)
        header = next(reader)
        validator = ReferenceValidator(contract, header)
        width, row, line = len(header), 0, reader.line_num
        for fields in reader:
            start, line = line + 1, reader.line_num
            if not fields:
                continue
            row += 1
            if len(fields) == width:
                validator.record(row, start, fields)
    return validator.report().total


def command(tool: str, contract: Path, path: Path) -> list[str]:
    python = sys.executable
    return {
        "fast": [python, "-m", "chalicelib.csvprofile", "--contract", str(contract), str(path)],
        "csv-stream": [python, "-m", "bench.baselines", "stream", str(path)],
        "straightforward": [
            python,
            "-m",
            "bench.contracts",
            "straightforward",
            str(contract),
            str(path),
        ],
    }[tool]


def violations(tool: str, output: str) -> int | None:
    """What a tool found (the validators' totals), to check that they agree."""
    if tool == "fast":
        report = json.loads(output)["contract"]
        return int(report["total"])
    if tool == "straightforward":
        return int(output)
    return None


def measure(tool: str, contract: Path, path: Path, repeat: int) -> tuple[float, int, int | None]:
    best, peak, out = float("inf"), 0, ""
    for _ in range(repeat):
        seconds, rss, out, _ = run_once(command(tool, contract, path))
        best, peak = min(best, seconds), max(peak, rss)
    return best, peak, violations(tool, out)


def run(mb: int, huge_mb: int, repeat: int, broken: bool, say: Callable[[str], None]) -> int:
    contract = contract_file()
    names = ["sparse-lf", "sparse-crlf", "plain-lf", "plain-crlf"]
    names += ["broken-lf"] if broken else []
    say(f"contract validation, {mb} MB corpora, best of {repeat} ({', '.join(TOOLS)})")
    head = f"{'corpus':<12} {'fast MB/s':>9} {'RSS MB':>6} {'csv MB/s':>8} {'straight MB/s':>13}"
    say(head + f" {'fast/csv':>8} {'fast/straight':>13} {'violations':>10}")
    failed = 0
    peaks = []
    for name in names:
        path = corpus(name, mb * MB)
        size = path.stat().st_size / MB
        figures = {tool: measure(tool, contract, path, repeat) for tool in TOOLS}
        speed = {tool: size / figures[tool][0] for tool in TOOLS}
        ratios = {tool: speed["fast"] / speed[tool] for tool in TARGETS}
        peaks.append(figures["fast"][1])
        found = {figures[t][2] for t in ("fast", "straightforward")}
        agree = str(found.pop()) if len(found) == 1 else f"DIFFER {sorted(map(str, found))}"
        say(
            f"{name:<12} {speed['fast']:>9.0f} {figures['fast'][1] / MB:>6.0f} "
            f"{speed['csv-stream']:>8.0f} {speed['straightforward']:>13.0f} "
            f"{ratios['csv-stream']:>7.2f}x {ratios['straightforward']:>12.2f}x {agree:>10}"
        )
        for tool, least in TARGETS.items():
            if not name.startswith("broken") and ratios[tool] < least:
                failed += 1
    for tool, least in TARGETS.items():
        say(f"target: fast >= {least:g}x {tool}, on sparse and plain, LF and CRLF")
    if huge_mb:
        path = corpus("sparse-lf", huge_mb * MB)
        seconds, rss, _ = measure("fast", contract, path, 1)
        peaks.append(rss)
        size = path.stat().st_size / MB
        say(f"fast on {size:.0f} MB: {size / seconds:.0f} MB/s, peak RSS {rss / MB:.0f} MB")
    peak = max(peaks)
    verdict = "met" if peak < RSS_TARGET else "NOT MET"
    say(f"fast peak RSS, every corpus: {peak / MB:.0f} MB (target < 80 MB): {verdict}")
    failed += peak >= RSS_TARGET
    say("speed targets: " + ("met" if not failed else f"{failed} NOT MET"))
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["straightforward"] and len(argv) == 3:
        print(straightforward(argv[1], argv[2]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.contracts", description=__doc__)
    parser.add_argument("--mb", type=int, default=256, help="size of each corpus (MB)")
    parser.add_argument("--huge-mb", type=int, default=1024, help="the large file (0: none)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best kept)")
    parser.add_argument("--broken", action="store_true", help="add a corpus that breaks it")
    args = parser.parse_args(argv)
    return run(args.mb, args.huge_mb, args.repeat, args.broken, print)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
