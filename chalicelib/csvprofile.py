"""``python -m chalicelib.csvprofile FILE...``: profile local files as the Lambda does.

One JSON line per file with ``file`` and every field of "What a profile
reports" (``docs/csv-rules.md``); ``--ragged-rows accept|reject`` and
``--profile-rows N`` override ``RAGGED_ROWS`` / ``PROFILE_ROWS``;
``--contract contracts/x.json`` checks every row against that contract, as the
Lambda does for the keys it governs (``docs/contracts.md``). ``--jobs N``
profiles a plain file's rest (after the header and the column sample) in N
processes and stitches the parts: the same answer as one process
(``chalicelib.parallel``; default: every usable CPU, 1 for files under 16 MiB).
A gzip or zstd file is profiled by one process whatever N is (its profiler
decompresses on a thread where it may run on two CPUs). Exit status 2 when a
file could not be read at all (or the contract is not valid), else 1 when one
was rejected, else 0. Also ``python -m ops profile``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from chalicelib.core.csvprofile import CHUNK_SIZE
from chalicelib.core.profile import DEFAULT_PROFILE_ROWS, RAGGED_MODES, ProfileSettings
from chalicelib.parallel import PARALLEL_MIN_BYTES, profile_path

if TYPE_CHECKING:  # the contract model (and dateutil) only with --contract
    from chalicelib.core.contracts import Contract


def _rows(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, its width from the terminal without importing shutil
    (argparse makes one per argument; the import costs about 3 ms of start-up)."""

    def __init__(self, prog: str) -> None:
        try:
            columns = int(os.environ.get("COLUMNS") or os.get_terminal_size().columns)
        except (OSError, ValueError):
            columns = 80
        super().__init__(prog, width=max(columns - 2, 20))


def main(argv: Sequence[str] | None = None) -> int:
    """Print one JSON line per file; exit 1 if any was rejected, 2 if unreadable."""
    parser = argparse.ArgumentParser(
        formatter_class=_Formatter,
        prog="python -m ops profile",
        description="Profile CSV files as the pipeline does: one JSON line per file. "
        "Exit status 2 when a file could not be read, else 1 when one was rejected, else 0.",
    )
    parser.add_argument("files", nargs="*", metavar="FILE")
    parser.add_argument(
        "--ragged-rows",
        choices=RAGGED_MODES,
        default=os.environ.get("RAGGED_ROWS") or "reject",
        help="what a file with ragged rows becomes (default: $RAGGED_ROWS or reject)",
    )
    parser.add_argument(
        "--profile-rows",
        type=_rows,
        default=int(os.environ.get("PROFILE_ROWS") or DEFAULT_PROFILE_ROWS),
        metavar="N",
        help=f"rows in the column sample (default: $PROFILE_ROWS or {DEFAULT_PROFILE_ROWS})",
    )
    parser.add_argument(
        "--contract",
        metavar="CONTRACT.json",
        help="check every row against this contract (docs/contracts.md)",
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=_positive,
        metavar="N",
        help="processes per file: a plain file's ranges, stitched exactly (default: every "
        f"usable CPU for files from {PARALLEL_MIN_BYTES >> 20} MiB, else 1); a gzip/zstd "
        "file is read by one process whatever N is",
    )
    parser.add_argument(
        "--range-size",
        type=_positive,
        metavar="BYTES",
        help="with --jobs above 1: cut the rest of the file into ranges of this size "
        "(default: one per process; the tests force tiny ones)",
    )
    parser.add_argument(
        "--chunk-size",
        type=_positive,
        default=CHUNK_SIZE,
        metavar="BYTES",
        help=f"bytes per read (default {CHUNK_SIZE}; the tests force tiny ones)",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not args.files:
        parser.print_usage(sys.stderr)
        return 2
    contract: Contract | None = None
    if args.contract is not None:
        from pathlib import Path

        from chalicelib.core.contracts import ContractError, load_contract

        try:
            contract = load_contract(Path(args.contract))
        except ContractError as exc:
            print(f"the contract is not valid: {exc}", file=sys.stderr)
            return 2
    settings = ProfileSettings(
        ragged_rows=args.ragged_rows, profile_rows=args.profile_rows, contract=contract
    )
    worst = 0
    for path in args.files:
        try:
            result = profile_path(
                path,
                settings,
                jobs=args.jobs,
                range_size=args.range_size,
                chunk_size=args.chunk_size,
            )
        except OSError as exc:
            print(f"{path}: {exc.strerror or exc}", file=sys.stderr)
            worst = 2
            continue
        print(json.dumps({"file": path, **result.to_dict()}, ensure_ascii=False))
        if result.status != "succeeded":
            worst = max(worst, 1)
    return worst


if __name__ == "__main__":
    sys.exit(main())
