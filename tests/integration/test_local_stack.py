"""`make local` end to end: the README's quick start, run as a newcomer would.

Starts the stack as a subprocess (in its own process group, like a terminal),
uploads through boto3 from "another terminal", checks every effect, calls the
status route, then sends Ctrl-C (SIGINT) and checks nothing is left running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from devstack.net import free_port, port_in_use
from tests.integration.localstack import ROOT, Running, run_devstack, start_local, wait_rows

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ODD_KEYS = ["with space.csv", "a+b.csv", "100%.csv", "ü/日本.csv", "nested/deeper/q3.csv"]
CSV = b'id,city\n1,Oslo\n2,"Rio, RJ"\n'


#: samples/: 4 succeed (sales, customers, the Excel export, the gzip), 3 are rejected
SAMPLES = sorted(p.name for p in (ROOT / "samples").iterdir() if p.is_file())


def test_make_local_processes_samples_and_uploads_then_stops_cleanly(
    local: Running, tmp_path: Path
) -> None:

    local.wait_for("csv-pipeline local stack ready in")
    local.wait_for("samples/sales/sales-2025-q3.csv  120 rows")
    local.wait_for("REJECTED: broken-export.csv (UNTERMINATED_QUOTE)")
    # the first screen shows each outcome: a UTF-16 export with a sep= line,
    # a gzip file, a file with ragged rows
    local.wait_for("samples/excel/excel-unicode-export.csv  12 rows")
    local.wait_for("samples/orders/orders-2025-10.csv.gz  200 rows")
    local.wait_for("REJECTED: ragged-inventory.csv (RAGGED_ROWS)")
    # the sales contract (contracts/sales.json) governs samples/sales/: one sample breaks it
    local.wait_for("REJECTED: sales-2025-q4-broken.csv (CONTRACT_VIOLATION)")
    local.wait_for("column 'region': 2 values break enum; first at row 3 (line 4)")
    env = local.env()
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "INPUT_BUCKET",
        "OUTPUT_BUCKET",
        "BACKUP_BUCKET",
        "SNS_TOPIC_ARN",
        "DB_SECRET_ID",
        "DATABASE_URL",
        "STATUS_URL",
    ):
        assert env.get(name), f"{name} missing from .local/env"

    # "Another terminal": source .local/env, then boto3.
    s3 = local.s3()
    for key in ODD_KEYS:
        s3.put_object(Bucket=env["INPUT_BUCKET"], Key=key, Body=CSV)

    final = wait_rows(env, ODD_KEYS)
    for key in ODD_KEYS:
        row = final[key]
        assert (row["status"], row["row_count"]) == ("succeeded", 2)
        result = json.loads(
            s3.get_object(Bucket=env["OUTPUT_BUCKET"], Key=row["result_key"])["Body"].read()
        )
        assert result["input"]["key"] == key
        backup = s3.get_object(Bucket=env["BACKUP_BUCKET"], Key=row["backup_key"])
        assert backup["Body"].read() == CSV
    local.wait_for("✉ email", count=len(SAMPLES) + len(ODD_KEYS))
    mail = [json.loads(line) for line in (local.state / "mail.jsonl").read_text().splitlines()]
    for key in ODD_KEYS:
        assert sum(f"s3://{env['INPUT_BUCKET']}/{key}\n" in m["body"] for m in mail) == 1

    with urllib.request.urlopen(env["STATUS_URL"], timeout=10) as response:
        status = json.loads(response.read())
    assert status["database"]["ok"] is True
    assert status["counts"]["succeeded"] == 4 + len(ODD_KEYS)
    assert status["counts"]["rejected"] == 3  # broken-export, ragged-inventory, the contract sample

    # A second `make local` on the same state is refused clearly.
    second = run_devstack("--state-dir", str(local.state), timeout=60)
    assert second.returncode == 2
    assert "another `make local` is already running" in second.stderr

    # Ctrl-C: everything stops within a few seconds, no port left behind.
    began = time.monotonic()
    os.killpg(local.proc.pid, signal.SIGINT)
    local.proc.wait(20)
    assert time.monotonic() - began < 15
    assert "stopped: PostgreSQL, the AWS emulator" in local.output()
    for port in local.ports.values():
        assert not port_in_use("127.0.0.1", port)
    leftovers = subprocess.run(
        ["pgrep", "-f", str(local.state)], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout.strip() == ""

    # Starting again works, and says what happened to the earlier data.
    again = run_devstack(
        "--state-dir", str(local.state),
        "--once", str(ROOT / "samples" / "customers-eu.csv"),
        "--aws-port", str(free_port()), "--pg-port", str(free_port()),
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    recorded = len(SAMPLES) + len(ODD_KEYS)
    assert f"kept from earlier runs ({recorded} uploads recorded" in again.stdout
    assert "summary: 1 of 1 file(s) succeeded" in again.stdout


def test_make_local_once_processes_files_and_exits_with_a_summary(tmp_path: Path) -> None:
    good = ROOT / "samples" / "sales-2025-q3.csv"
    bad = ROOT / "samples" / "broken-export.csv"
    running = start_local(tmp_path, "once", "--once", str(good), str(bad))
    code = running.proc.wait(180)
    out = running.output()
    assert code != 0, out  # one file was rejected
    assert "summary: 1 of 2 file(s) succeeded" in out
    assert "succeeded  sales-2025-q3.csv" in out
    assert "rejected   broken-export.csv" in out
    assert "stopped: PostgreSQL" in out

    only_good = start_local(tmp_path, "once-good", "--once", str(good))
    assert only_good.proc.wait(180) == 0, only_good.output()


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = run_devstack(
            "--state-dir", str(tmp_path / "busy"),
            "--aws-port", str(port), "--pg-port", str(free_port()), "--api-port", str(free_port()),
            timeout=60,
        )  # fmt: skip
    assert result.returncode == 2
    assert f"port {port} for the AWS emulator is already in use" in result.stderr


def test_a_missing_dependency_is_a_clear_error(tmp_path: Path) -> None:
    """Run outside the virtualenv, with an interpreter that has none of its packages."""
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    result = run_devstack("--once", "x.csv", python=str(venv / "bin" / "python"), timeout=60)
    assert result.returncode == 2
    assert "make local: missing dependency" in result.stderr
    assert "Run `make local`" in result.stderr


def test_a_failing_handler_is_retried_twice_then_reported(tmp_path: Path) -> None:
    """Lambda's async retries and on-failure destination, as `make local` plays them."""
    running = start_local(
        tmp_path, "faults", "--no-samples", "--retry-delays 0.5,1", extra_env={"DB_TIMEOUT": "1"}
    )
    key = "while-db-frozen.csv"
    try:
        running.wait_for("csv-pipeline local stack ready in")
        env = running.env()
        found = subprocess.run(
            ["pgrep", "-f", str(running.state / "postgres")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        postgres = [int(pid) for pid in found.stdout.split()]
        assert postgres
        for pid in postgres:
            os.kill(pid, signal.SIGSTOP)  # the database freezes
        try:
            running.s3().put_object(Bucket=env["INPUT_BUCKET"], Key=key, Body=CSV)
            running.wait_for(f"retrying   {key}", count=2, timeout=90)
            running.wait_for(f"error      {key}", timeout=60)
            running.wait_for(f"FAILED: {key} (DATABASE_ERROR)", timeout=60)
        finally:
            for pid in postgres:
                os.kill(pid, signal.SIGCONT)
        out = running.output()
        assert "(attempt 1 of 3" in out
        assert "(attempt 2 of 3" in out
        assert "retries exhausted: sent to the failure destination" in out
        mail = [json.loads(x) for x in (running.state / "mail.jsonl").read_text().splitlines()]
        [failure] = [m for m in mail if key in m["subject"]]
        assert "Record:      not written (the database was unavailable)" in failure["body"]
        result = running.s3().get_object(
            Bucket=env["OUTPUT_BUCKET"], Key="results/while-db-frozen.json"
        )
        assert json.loads(result["Body"].read())["status"] == "failed"
    finally:
        running.stop()
