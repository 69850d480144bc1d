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
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.aws import free_port, port_in_use
from devstack.upload import load_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ODD_KEYS = ["with space.csv", "a+b.csv", "100%.csv", "ü/日本.csv", "nested/deeper/q3.csv"]
CSV = b'id,city\n1,Oslo\n2,"Rio, RJ"\n'


class Running:
    def __init__(
        self, state: Path, log: Path, proc: subprocess.Popen[bytes], ports: dict[str, int]
    ):
        self.state, self.log, self.proc, self.ports = state, log, proc, ports

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 120, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while self.output().count(text) < count:
            if self.proc.poll() is not None:
                raise AssertionError(f"make local exited early:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not seen after {timeout} s:\n{self.output()}")
            time.sleep(0.2)

    def env(self) -> dict[str, str]:
        return load_env(self.state / "env")


def start_local(tmp_path: Path, name: str, *args: str) -> Running:
    state = tmp_path / name
    ports = {"aws": free_port(), "api": free_port(), "pg": free_port()}
    env = {
        **os.environ,
        "LOCAL_STATE_DIR": str(state),
        "LOCAL_AWS_PORT": str(ports["aws"]),
        "LOCAL_API_PORT": str(ports["api"]),
        "LOCAL_PG_PORT": str(ports["pg"]),
    }
    for var in ("AWS_ENDPOINT_URL", "DATABASE_URL"):
        env.pop(var, None)  # the stack writes its own; a newcomer has none
    log = tmp_path / f"{name}.log"
    command = ["make", "--no-print-directory", "local"]
    if args:
        command.append("ARGS=" + " ".join(args))
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, as in a terminal
    )
    return Running(state, log, proc, ports)


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Running]:
    running = start_local(tmp_path, "stack")
    try:
        yield running
    finally:
        if running.proc.poll() is None:
            os.killpg(running.proc.pid, signal.SIGKILL)
            running.proc.wait(10)


def rows(env: dict[str, str]) -> list[dict[str, Any]]:
    from urllib.parse import unquote, urlparse

    import pg8000.native

    url = urlparse(env["DATABASE_URL"])
    conn = pg8000.native.Connection(
        user=unquote(url.username or ""),
        password=unquote(url.password or ""),
        host=url.hostname,
        port=url.port,
        database=url.path.lstrip("/"),
        timeout=10,
    )
    try:
        result = conn.run("SELECT * FROM file_metadata ORDER BY id")
        columns = [c["name"] for c in conn.columns or []]
        return [dict(zip(columns, row, strict=True)) for row in result or []]
    finally:
        conn.close()


def wait_rows(env: dict[str, str], keys: list[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        final = {
            r["filename"]: r for r in rows(env) if r["status"] != "processing" and r["notified_at"]
        }
        if all(k in final for k in keys):
            return final
        assert time.monotonic() < deadline, f"not all processed: {sorted(final)}"
        time.sleep(0.3)


def test_make_local_processes_samples_and_uploads_then_stops_cleanly(
    local: Running, tmp_path: Path
) -> None:
    import boto3

    local.wait_for("csv-pipeline local stack ready in")
    local.wait_for("samples/sales-2025-q3.csv  120 rows")
    local.wait_for("REJECTED: broken-export.csv (UNTERMINATED_QUOTE)")
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
    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )
    s3 = session.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
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
    local.wait_for("✉ email", count=3 + len(ODD_KEYS))
    mail = [json.loads(line) for line in (local.state / "mail.jsonl").read_text().splitlines()]
    for key in ODD_KEYS:
        assert sum(f"s3://{env['INPUT_BUCKET']}/{key}\n" in m["body"] for m in mail) == 1

    with urllib.request.urlopen(env["STATUS_URL"], timeout=10) as response:
        status = json.loads(response.read())
    assert status["database"]["ok"] is True
    assert status["counts"]["succeeded"] == 2 + len(ODD_KEYS)
    assert status["counts"]["rejected"] == 1

    # A second `make local` on the same state is refused clearly.
    second = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "devstack", "--state-dir", str(local.state)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
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
        state = tmp_path / "busy"
        result = subprocess.run(
            [
                str(ROOT / ".venv/bin/python"),
                "-m",
                "devstack",
                "--state-dir",
                str(state),
                "--aws-port",
                str(port),
                "--pg-port",
                str(free_port()),
                "--api-port",
                str(free_port()),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    assert f"port {port} for the AWS emulator is already in use" in result.stderr
