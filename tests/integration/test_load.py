"""Load on the local stack: 500 uploads at once, each handled exactly once.

Prints the drain time and the database connections used (recorded in
docs/reliability.md); asserts only outcomes, never timings.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.integration.localstack import connect, rows, start_local

pytestmark = [pytest.mark.integration, pytest.mark.slow]

UPLOADS = 500
CONCURRENCY = 2  # handler processes: Lambda containers


def connections(env: dict[str, str]) -> int:
    conn = connect(env)
    try:
        result = conn.run(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'csv-pipeline'"
        )
        return int(result[0][0]) if result else 0
    finally:
        conn.close()


def test_500_uploads_at_once_each_end_succeeded_exactly_once(tmp_path: Path) -> None:
    running = start_local(tmp_path, "load", "--no-samples", f"--concurrency {CONCURRENCY}")
    try:
        running.wait_for("csv-pipeline local stack ready in")
        env = running.env()
        s3 = running.s3()
        keys = [f"load/batch-{i:03d}.csv" for i in range(UPLOADS)]
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.25):
                peak[0] = max(peak[0], connections(env))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        began = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            list(
                pool.map(
                    lambda k: s3.put_object(
                        Bucket=env["INPUT_BUCKET"], Key=k, Body=f"id,n\n1,{k}\n2,x\n".encode()
                    ),
                    keys,
                )
            )
        sent = time.monotonic() - began
        deadline = time.monotonic() + 600
        while True:
            final = [r for r in rows(env) if r["notified_at"] is not None]
            if len(final) >= UPLOADS or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        drained = time.monotonic() - began
        done.set()
        sampler.join(5)

        all_rows: list[dict[str, Any]] = rows(env)
        assert sorted(r["filename"] for r in all_rows) == keys  # one row each
        assert {r["status"] for r in all_rows} == {"succeeded"}
        running.wait_for("✉ email", count=UPLOADS, timeout=60)
        mail = [
            json.loads(line) for line in (running.state / "mail.jsonl").read_text().splitlines()
        ]
        assert len(mail) == UPLOADS  # exactly one notification each
        results = s3.list_objects_v2(Bucket=env["OUTPUT_BUCKET"], Prefix="results/load/")
        assert results["KeyCount"] == UPLOADS
        # One connection per container: the handler processes, plus the one of
        # `chalice local` (the status route, asked once at start-up).
        assert peak[0] <= CONCURRENCY + 1
        print(
            f"\nload: {UPLOADS} uploads sent in {sent:.1f} s, drained in {drained:.1f} s "
            f"({UPLOADS / drained:.1f}/s) with {CONCURRENCY} handler processes; "
            f"peak database connections {peak[0]}"
        )
    finally:
        running.stop()
