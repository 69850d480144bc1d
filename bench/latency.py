"""End-to-end latency of small uploads on the local stack: p50 and p95.

Starts the local stack (embedded PostgreSQL, moto, the dispatcher and its
handler processes; no status API), then uploads small CSVs one at a time and
measures, for each, the time from the upload call to the moment its row is
marked notified (the email is out). One at a time, so the figure is the
latency of one upload, not of a queue.

``--ref REF`` also measures the project as committed at git ``REF``
(exported with ``git archive`` under ``.bench/latency-ref/``), interleaved:
each side runs its own local stack in its own process, from its own files
(devstack, app, chalicelib), and the uploads alternate between them, so that
a busy moment of the machine hits both alike. It prints both sides' p50 and
p95 and their ratios (this tree over the reference), against issue 12's bound
of 1.2x.

    python -m bench.latency [--uploads 100] [--ref REF]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parents[1]
BODY = b"id,name,amount\n" + b"".join(b"%d,name-%d,%d.50\n" % (i, i, i) for i in range(200))
WARM = 3  # uploads first, unmeasured: they warm the handler processes
#: Issue 12: small-upload p50 and p95 within this much of today's.
TARGET = 1.2


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


@contextmanager
def local_stack() -> Iterator[Any]:
    """The local stack of the project this process imports, and an ``upload(key)``."""
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
        conn = None
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

            def upload(key: str) -> float:
                """Seconds from the upload call to the row marked notified."""
                began = time.time()
                s3.put_object(Bucket=env["INPUT_BUCKET"], Key=key, Body=BODY)
                deadline = time.monotonic() + 60
                while (done := notified_at(conn, key)) is None:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{key} was not processed within 60 s")
                    time.sleep(0.005)
                return done - began

            yield upload
        finally:
            if conn is not None:
                conn.close()
            stack.stop()


def run(uploads: int) -> list[float]:
    with local_stack() as upload:
        for i in range(WARM):
            upload(f"latency/warm-{i}.csv")
        return [upload(f"latency/{i:04d}.csv") for i in range(uploads)]


def serve(stdin: TextIO) -> int:
    """``--serve``: a stack of the project on ``sys.path``; a key per line in, seconds out
    (on the original stdout: whatever else writes to it, the handlers' logs, is dropped)."""
    stdout = os.fdopen(os.dup(1), "w")
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
    with local_stack() as upload:
        print("ready", file=stdout, flush=True)
        for line in stdin:
            key = line.strip()
            if not key:
                break
            print(f"{upload(key):.6f}", file=stdout, flush=True)
    return 0


def project_at(ref: str) -> Path:
    """The project's files at git ``ref``, exported under ``.bench/latency-ref/``."""
    out = ROOT / ".bench" / "latency-ref"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return out


class Side:
    """One project tree's local stack, in a child process that runs this file (``--serve``)
    with that tree first on its path."""

    def __init__(self, name: str, tree: Path) -> None:
        self.name = name
        env = {**os.environ, "PYTHONPATH": str(tree)}
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve"],
            cwd=tree,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.latencies: list[float] = []

    def ask(self, key: str) -> float:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(key + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError(f"the {self.name} stack stopped (exit {self.proc.wait()})")
        return float(answer)

    def wait_ready(self) -> None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"the {self.name} stack did not start (exit {self.proc.wait()})")

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.write("\n")
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def compare(uploads: int, ref: str) -> tuple[list[float], list[float]]:
    """This tree's latencies and ``ref``'s, uploads alternating (ABBA order)."""
    sides = [Side("this tree", ROOT), Side(ref, project_at(ref))]
    try:
        for side in sides:
            side.wait_ready()
        for i in range(WARM):
            for side in sides:
                side.ask(f"latency/warm-{i}.csv")
        for i in range(uploads):
            for side in sides if i % 2 == 0 else reversed(sides):
                side.latencies.append(side.ask(f"latency/{i:04d}.csv"))
        return sides[0].latencies, sides[1].latencies
    finally:
        for side in sides:
            side.close()


def summary(values: list[float]) -> str:
    p50, p95 = percentile(values, 0.5) * 1000, percentile(values, 0.95) * 1000
    mean, worst = statistics.mean(values) * 1000, max(values) * 1000
    return f"p50 {p50:.0f} ms   p95 {p95:.0f} ms   mean {mean:.0f} ms   max {worst:.0f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency")
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--ref", help="also measure the project at this git ref, interleaved")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(sys.stdin)
    size = f"{len(BODY):,} bytes"
    if not args.ref:
        values = run(args.uploads)
        print(f"end-to-end latency of {len(values)} small uploads ({size}) on the local stack")
        print(summary(values))
        return 0
    ours, theirs = compare(args.uploads, args.ref)
    print(
        f"end-to-end latency of {len(ours)} small uploads ({size}) on the local stack, "
        f"interleaved with {args.ref}"
    )
    print(f"this tree: {summary(ours)}")
    print(f"{args.ref}: {summary(theirs)}")
    for label, share in (("p50", 0.5), ("p95", 0.95)):
        ratio = percentile(ours, share) / percentile(theirs, share)
        verdict = "met" if ratio <= TARGET else "NOT MET"
        print(f"{label}: {ratio:.2f}x {args.ref}'s (target <= {TARGET}x): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
