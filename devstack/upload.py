"""Upload files to the local stack's input bucket: ``python -m devstack.upload FILE...``.

Reads ``.local/env`` (or the environment) for the endpoint and bucket, so it
works from any terminal while ``make local`` runs. Keys are the file names,
or ``--prefix`` + the file name.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from devstack.local import DEFAULT_STATE


def load_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.startswith("export ") and "=" in line:
                name, value = line[len("export ") :].split("=", 1)
                values[name] = shlex.split(value)[0] if value else ""
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.upload")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--prefix", default="", help="key prefix, e.g. reports/2025/")
    parser.add_argument("--env", type=Path, default=DEFAULT_STATE / "env")
    args = parser.parse_args(argv)
    env = {**load_env(args.env), **{k: v for k, v in os.environ.items() if k.startswith("AWS_")}}
    if "AWS_ENDPOINT_URL" not in env or "INPUT_BUCKET" not in {**env, **os.environ}:
        print(f"no local stack settings in {args.env}: is `make local` running?", file=sys.stderr)
        return 2
    os.environ.update(env)
    import boto3

    bucket = os.environ.get("INPUT_BUCKET") or env["INPUT_BUCKET"]
    s3 = boto3.client("s3")
    for path in args.files:
        key = args.prefix + path.name
        s3.upload_file(str(path), bucket, key)
        print(f"uploaded {path} to s3://{bucket}/{key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
