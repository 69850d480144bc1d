"""The harness for tests that run `make local` as a newcomer would.

Starts the stack as a subprocess on free ports (in its own process group, like
a terminal), reads its ``.local/env``, and talks to what it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from devstack.net import free_port
from devstack.upload import load_env

ROOT = Path(__file__).resolve().parents[2]


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

    def s3(self) -> Any:
        """An S3 client as "another terminal" gets it after `source .local/env`."""
        import boto3

        env = self.env()
        return boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name=env["AWS_DEFAULT_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )

    def stop(self, sig: signal.Signals = signal.SIGINT, timeout: float = 20) -> None:
        """Ctrl-C (or ``sig``) to the whole group; SIGKILL if it does not stop."""
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def start_local(
    tmp_path: Path, name: str, *args: str, extra_env: dict[str, str] | None = None
) -> Running:
    state = tmp_path / name
    ports = {"aws": free_port(), "api": free_port(), "pg": free_port()}
    env = {
        **os.environ,
        **(extra_env or {}),
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


def run_devstack(*args: str, python: str | None = None, timeout: float = 120) -> Any:
    """``python -m devstack ARGS`` to completion (what `make local` runs)."""
    return subprocess.run(
        [python or str(ROOT / ".venv" / "bin" / "python"), "-m", "devstack", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def connect(env: dict[str, str]) -> Any:
    """A pg8000 connection to the stack's database (``DATABASE_URL``)."""
    from urllib.parse import unquote, urlparse

    import pg8000.native

    url = urlparse(env["DATABASE_URL"])
    return pg8000.native.Connection(
        user=unquote(url.username or ""),
        password=unquote(url.password or ""),
        host=url.hostname,
        port=url.port,
        database=url.path.lstrip("/"),
        timeout=10,
    )


def rows(env: dict[str, str]) -> list[dict[str, Any]]:
    conn = connect(env)
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
