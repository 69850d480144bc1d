"""``python -m ops contracts check [DIR]``: is every contract file valid?

Reads every ``*.json`` in DIR (default: the repository's ``contracts/``) as the
Lambda does: the format (``docs/contracts.md``), patterns that compile, names
used once, no prefix governed by two contracts. Prints one line per file and
exits 1 if any is not valid. ``make test`` runs it (``tests/unit/test_ops.py``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from chalicelib.core.contracts import (
    PACKAGED_DIR,
    Contract,
    ContractError,
    ContractSet,
    load_contract,
)

#: Where the Lambda reads contracts from (packaged with ``chalicelib/``); the
#: repository's ``contracts/`` is a link to it.
DEFAULT_DIR = PACKAGED_DIR


def check(directory: Path) -> tuple[list[str], list[str]]:
    """(lines for valid files, lines for problems) over ``directory``."""
    if not directory.is_dir():
        return [], [f"{directory}: not a directory"]
    good: list[str] = []
    problems: list[str] = []
    contracts: list[Contract] = []
    for path in sorted(directory.glob("*.json")):
        try:
            contract = load_contract(path)
        except ContractError as exc:
            problems.append(str(exc))
            continue
        contracts.append(contract)
        good.append(
            f"{path}: ok: contract {contract.name!r} governs "
            + ", ".join(repr(p) for p in contract.prefixes)
            + f" ({len(contract.fields)} columns)"
        )
    for i, later in enumerate(contracts):  # every clash, not only the first
        for earlier in contracts[:i]:
            try:
                ContractSet((earlier, later))
            except ContractError as exc:
                problems.append(str(exc))
    return good, problems


def _shown(directory: Path) -> Path:
    """The directory relative to the working directory when it is under it (shorter lines)."""
    try:
        return directory.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return directory


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops contracts",
        description="Check contract files before deploying them (docs/contracts.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    checker = commands.add_parser("check", help="check that every contract file is valid")
    checker.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIR, metavar="DIR")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    good, problems = check(_shown(args.directory))
    for line in good:
        print(line)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return 1
    if not good:
        print(f"{args.directory}: no contract files (*.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
