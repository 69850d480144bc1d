"""``python -m chalicelib.csvprofile FILE...``: profile local files as the Lambda does.

One JSON line per file (``docs/csv-rules.md``, "What a profile reports");
exit status 2 when a file could not be read at all, else 1 when one was
rejected, else 0. Also ``python -m ops profile``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from chalicelib.core.csvprofile import profile_file


def main(argv: Sequence[str] | None = None) -> int:
    """Print one JSON line per file; exit 1 if any was rejected, 2 if unreadable."""
    parser = argparse.ArgumentParser(
        prog="python -m ops profile",
        description="Profile CSV files as the pipeline does: one JSON line per file. "
        "Exit status 2 when a file could not be read, else 1 when one was rejected, else 0.",
    )
    parser.add_argument("files", nargs="*", metavar="FILE")
    paths = parser.parse_args(sys.argv[1:] if argv is None else argv).files
    if not paths:
        parser.print_usage(sys.stderr)
        return 2
    worst = 0
    for path in paths:
        try:
            with open(path, "rb") as stream:
                result = profile_file(stream)
        except OSError as exc:
            print(f"{path}: {exc.strerror or exc}", file=sys.stderr)
            worst = 2
            continue
        line = {"file": path, **result.to_dict()}
        for noisy in ("header", "bytes_read"):
            line.pop(noisy)
        print(json.dumps(line, ensure_ascii=False))
        if result.status != "succeeded":
            worst = max(worst, 1)
    return worst


if __name__ == "__main__":
    sys.exit(main())
