"""Cold start: importing the app and the first invocation's set-up, against boto3.

Each measurement is a fresh interpreter (as a new Lambda container is), runs
are interleaved so that machine noise hits every variant alike, and the
median is reported. Timed inside the process, so Python's own start-up is
excluded for all variants.

Variants:
- ``import boto3``: the floor of any Python Lambda that talks to AWS.
- ``boto3 + clients``: that plus the three clients this function uses
  (s3, sns, secretsmanager): what a minimal hand-written handler pays.
- ``import app``: Chalice, the app and its modules, before any invocation.
- ``app + settings``: plus the container's runtime (settings read and checked),
  which is all the first invocation builds before it needs a client.
- ``app + set-up``: ``import app`` plus what the first invocation builds before
  its first network call: settings, the same three clients, the pipeline's
  adapters, and pg8000 (loaded for the first connection).

    python -m bench.coldstart [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ENV = {
    "INPUT_BUCKET": "bench-input",
    "OUTPUT_BUCKET": "bench-output",
    "BACKUP_BUCKET": "bench-backup",
    "SNS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:bench",
    "DB_SECRET_ID": "bench/secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
}

CLIENTS = "\n".join(
    f"boto3.client({name!r}, config=config)" for name in ("s3", "sns", "secretsmanager")
)

VARIANTS = {
    "import boto3": "import boto3",
    "boto3 + clients": (
        "import boto3\nfrom botocore.config import Config\n"
        "config = Config(retries={'mode': 'standard', 'max_attempts': 4})\n" + CLIENTS
    ),
    "import app": "import app",
    "app + settings": "import app\nruntime = app.get_runtime()",
    "app + set-up": (
        "import app\n"
        "runtime = app.get_runtime()\n"
        "runtime.pipeline\n"
        "runtime.secretsmanager\n"
        "runtime.database\n"
        "import pg8000.native\n"
    ),
}

TIMER = """
import time
_t = time.perf_counter()
{body}
print(time.perf_counter() - _t)
"""


def measure(body: str) -> float:
    env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT)}
    env.pop("AWS_ENDPOINT_URL", None)
    out = subprocess.run(
        [sys.executable, "-c", TIMER.format(body=body)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def run(runs: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for body in VARIANTS.values():  # warm the file cache once
        measure(body)
    for _ in range(runs):
        for name, body in VARIANTS.items():
            samples[name].append(measure(body))
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", type=Path, help="also write the medians here")
    args = parser.parse_args(argv)
    medians = run(args.runs)
    base = medians["import boto3"]
    floor = medians["boto3 + clients"]
    print(f"cold start, median of {args.runs} fresh interpreters")
    print(f"{'variant':<18} {'ms':>8} {'/ import boto3':>15} {'/ boto3 + clients':>18}")
    for name, value in medians.items():
        print(f"{name:<18} {value * 1000:>8.1f} {value / base:>15.2f} {value / floor:>18.2f}")
    if args.json:
        args.json.write_text(json.dumps(medians, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
