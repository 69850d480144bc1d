"""``python -m ops COMMAND [ARGS...]``: the operator commands, one front door.

Each command takes ``--help`` for its own options.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from importlib import import_module

#: command -> (module with a ``main(argv)``, one line for the listing)
COMMANDS: dict[str, tuple[str, str]] = {
    "profile": (
        "chalicelib.csvprofile",
        "profile local CSV files as the Lambda does (one JSON line per file)",
    ),
    "contracts": (
        "ops.contracts",
        "check that every data contract file is valid (run by make test)",
    ),
    "migrate": (
        "ops.migrate",
        "apply the database migrations and set the functions' database logins",
    ),
    "redrive": (
        "ops.redrive",
        "process failed uploads again, or backfill uploads that have no result",
    ),
    "upload": (
        "devstack.upload",
        "upload files to the local stack's input bucket (while `make local` runs)",
    ),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: python -m ops COMMAND [ARGS...]",
        "",
        "Operator commands of csv-pipeline; `python -m ops COMMAND --help` for each.",
        "",
        "commands:",
    ]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    command: Callable[[list[str]], int] = import_module(COMMANDS[name][0]).main
    return command(rest)


if __name__ == "__main__":
    sys.exit(main())
