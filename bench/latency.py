"""End-to-end latency of small uploads on the local stack: p50 and p95.

Starts the local stack in this process (embedded PostgreSQL, moto, the
dispatcher and its handler processes; no status API), then uploads small CSVs
one at a time and measures, for each, the time from the upload call to the
moment its row is marked notified (the email is out). One at a time, so the
figure is the latency of one upload, not of a queue.

    python -m bench.latency [--uploads 100]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BODY = b"id,name,amount\n" + b"".join(b"%d,name-%d,%d.50\n" % (i, i, i) for i in range(200))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def notified_at(conn: Any, key: str) -> float | None:
    from pg8000.exceptions import DatabaseError

    try:
        rows = conn.run("SELECT notified_at FROM file_metadata WHERE filename = :k", k=key)
    except DatabaseError:  # the first invocation has not created the table yet
        return None
    if rows and rows[0][0] is not None:
        return float(rows[0][0].timestamp())
    return None


def run(uploads: int) -> list[float]:
    import boto3
    import pg8000.native

    from devstack.aws import free_port
    from devstack.local import LocalStack, Options

    with tempfile.TemporaryDirectory(prefix="csv-pipeline-latency-") as state:
        options = Options(
            state_dir=Path(state),
            aws_port=free_port(),
            api_port=free_port(),
            pg_port=free_port(),
            samples=False,
            api=False,
        )
        stack = LocalStack(options, out=io.StringIO())  # quiet: no emails on screen
        stack.start()
        try:
            env = stack.env
            s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
            conn = pg8000.native.Connection(
                user="pipeline",
                password=(Path(state) / "db-password").read_text().strip(),
                host="127.0.0.1",
                port=options.pg_port,
                database="pipeline",
            )
            latencies = []
            for i in range(uploads + 3):  # the first three warm the handler processes
                key = f"latency/{i:04d}.csv"
                began = time.time()
                s3.put_object(Bucket=env["INPUT_BUCKET"], Key=key, Body=BODY)
                deadline = time.monotonic() + 60
                while (done := notified_at(conn, key)) is None:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{key} was not processed within 60 s")
                    time.sleep(0.005)
                if i >= 3:
                    latencies.append(done - began)
            conn.close()
            return latencies
        finally:
            stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency")
    parser.add_argument("--uploads", type=int, default=100)
    args = parser.parse_args(argv)
    values = run(args.uploads)
    size = f"{len(BODY):,} bytes"
    print(f"end-to-end latency of {len(values)} small uploads ({size}) on the local stack")
    p50, p95 = percentile(values, 0.5) * 1000, percentile(values, 0.95) * 1000
    mean, worst = statistics.mean(values) * 1000, max(values) * 1000
    print(f"p50 {p50:.0f} ms   p95 {p95:.0f} ms   mean {mean:.0f} ms   max {worst:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
