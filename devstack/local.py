"""``make local``: the whole pipeline on this machine, no AWS account.

The options, and the composition of three parts: the services (PostgreSQL, moto
with the pipeline's resources, ``chalice local``: :mod:`devstack.services`), the
Lambda emulator that runs the real handlers (:mod:`devstack.lambdas`) and what is
printed (:mod:`devstack.console`).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from devstack.aws import poll
from devstack.console import Console
from devstack.lambdas import LambdaEmulator
from devstack.net import port_in_use
from devstack.services import ROOT, Services, StackError

DEFAULT_STATE = ROOT / ".local"


def sample_key(name: str) -> str:
    """The key a sample is uploaded under on start: its feed's folder, then its name."""
    return f"samples/{name.split('-', 1)[0]}/{name}"


@dataclass
class Options:
    state_dir: Path = DEFAULT_STATE
    aws_port: int = 4566
    api_port: int = 8000
    pg_port: int = 54329
    concurrency: int = 2
    retry_delays: tuple[float, ...] = (2.0, 4.0)
    timeout: float = 120.0
    samples: bool = True
    reset: bool = False
    once: list[Path] = field(default_factory=list)
    api: bool = True


def parse_args(argv: list[str] | None = None) -> Options:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="make local",
        description="Run csv-pipeline on this machine: PostgreSQL, an AWS emulator, "
        "the real handler and the status route.",
    )
    parser.add_argument(
        "--state-dir", type=Path, default=Path(env.get("LOCAL_STATE_DIR", DEFAULT_STATE))
    )
    parser.add_argument("--aws-port", type=int, default=int(env.get("LOCAL_AWS_PORT", 4566)))
    parser.add_argument("--api-port", type=int, default=int(env.get("LOCAL_API_PORT", 8000)))
    parser.add_argument("--pg-port", type=int, default=int(env.get("LOCAL_PG_PORT", 54329)))
    parser.add_argument(
        "--concurrency", type=int, default=2, help="handler processes (Lambda containers)"
    )
    parser.add_argument(
        "--retry-delays",
        default="2,4",
        help="seconds before Lambda's two async retries (AWS waits about 60 and 120)",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="--once: seconds to wait")
    parser.add_argument("--no-samples", action="store_true", help="do not upload samples/")
    parser.add_argument("--reset", action="store_true", help="start with an empty database")
    parser.add_argument(
        "--once",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="process these files, print a summary and exit (1 if any did not succeed)",
    )
    ns = parser.parse_args(argv)
    return Options(
        state_dir=ns.state_dir.absolute(),
        aws_port=ns.aws_port,
        api_port=ns.api_port,
        pg_port=ns.pg_port,
        concurrency=max(1, ns.concurrency),
        retry_delays=tuple(float(x) for x in ns.retry_delays.split(",") if x.strip()),
        timeout=ns.timeout,
        samples=not ns.no_samples and not ns.once,
        reset=ns.reset,
        once=list(ns.once or []),
        api=not ns.once,
    )


class LocalStack:
    """The services, the Lambda emulator and the console, started and stopped together."""

    def __init__(self, options: Options, out: TextIO = sys.stdout) -> None:
        self.options = options
        self.console = Console(out, options.state_dir / "mail.jsonl")
        self.services = Services(
            options.state_dir,
            pg_port=options.pg_port,
            aws_port=options.aws_port,
            api_port=options.api_port,
            reset=options.reset,
        )
        self.lambdas = LambdaEmulator(
            self.services,
            self.console,
            _event_keys,
            concurrency=options.concurrency,
            retry_delays=options.retry_delays,
            timeout=options.timeout,
        )
        self.stopping = self.lambdas.stopping
        self.say = self.console.say
        self._lock_file: TextIO | None = None
        self._inbox: threading.Thread | None = None

    @property
    def env(self) -> dict[str, str]:
        return self.services.env

    def start(self) -> float:
        began = time.monotonic()
        opts = self.options
        opts.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock()
        self._check_ports()
        earlier = self.services.start_database()
        self.services.start_aws()
        os.environ.update(self.env)
        self._migrate()
        self.lambdas.start()
        if opts.api:
            self.services.start_api()
        self._inbox = poll(
            self.services.aws_url,
            self.services.resources.inbox_queue_url,
            self.console.email,
            self.stopping,
            self.say,
        )
        ready = time.monotonic() - began
        self.console.banner(ready, earlier, self.services, interactive=not opts.once)
        return ready

    @staticmethod
    def _migrate() -> None:
        """The schema and the function roles' logins, as `make deploy` does (ops migrate)."""
        from ops.migrate import run_here

        run_here()

    def _lock(self) -> None:
        path = self.options.state_dir / "local.lock"
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "unknown"
            handle.close()
            raise StackError(
                f"another `make local` is already running (pid {pid}) with state in "
                f"{self.options.state_dir}. Stop it with Ctrl-C in its terminal, or give "
                "this one another --state-dir and ports."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_file = handle

    def _check_ports(self) -> None:
        opts = self.options
        wanted = [
            ("AWS emulator", "--aws-port", "LOCAL_AWS_PORT", opts.aws_port),
            ("PostgreSQL", "--pg-port", "LOCAL_PG_PORT", opts.pg_port),
        ]
        if opts.api:
            wanted.append(("status API", "--api-port", "LOCAL_API_PORT", opts.api_port))
        for what, flag, var, port in wanted:
            if port_in_use("127.0.0.1", port):
                raise StackError(
                    f"port {port} for the {what} is already in use on 127.0.0.1. Stop "
                    f"what runs there, or pick another: make local ARGS='{flag} NNNN' "
                    f"(or set {var})."
                )

    # -- uploads in
    def upload(self, path: Path, key: str | None = None) -> str:
        import boto3

        key = key or path.name
        s3 = boto3.client("s3", endpoint_url=self.services.aws_url)
        s3.upload_file(str(path), self.services.names.input_bucket, key)
        return key

    def upload_samples(self) -> None:
        """Each sample into the folder of its feed, the first word of its name
        (``samples/sales/sales-2025-q3.csv``): a folder is a dataset, whose
        uploads are compared with each other (docs/outputs.md, schema changes)."""
        from chalicelib.core.keys import csv_suffix

        for path in sorted((ROOT / "samples").iterdir()):
            if path.is_file() and csv_suffix(path.name):
                self.upload(path, sample_key(path.name))

    def run_once(self, files: list[Path]) -> int:
        keys = []
        for path in files:
            if not path.is_file():
                self.say(f"  missing    {path}: no such file")
                continue
            keys.append(self.upload(path))
        results = self.lambdas.wait(keys, self.options.timeout)
        time.sleep(1.0)  # let the last emails print
        ok = sum(1 for s in results.values() if s == "succeeded")
        self.say("")
        self.say(f"summary: {ok} of {len(files)} file(s) succeeded")
        for key, status in results.items():
            self.say(f"  {status:<10} {key}")
        return 0 if ok == len(files) else 1

    def serve_forever(self) -> None:
        if self.options.samples:
            self.upload_samples()
        api = self.services.api
        while not self.stopping.wait(0.5):
            if api is not None and api.poll() is not None:
                self.say("`chalice local` stopped unexpectedly; stopping the stack")
                return

    def stop(self) -> None:
        self.lambdas.stop()  # sets stopping: the inbox poller ends too
        if self._inbox is not None:
            self._inbox.join(3)
        self.services.stop()
        if self._lock_file is not None:
            self._lock_file.close()


def _event_keys(event: dict[str, Any]) -> list[str]:
    from chalicelib.core.events import uploads_from_event

    try:
        return [u.key for u in uploads_from_event(event)]
    except (KeyError, ValueError):
        return []


def main(argv: list[str] | None = None) -> int:
    try:
        options = parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        import boto3  # noqa: F401
        import chalice  # noqa: F401
        import moto  # noqa: F401
        import pg8000  # noqa: F401
    except ImportError as exc:
        print(
            f"make local: missing dependency {exc.name!r}. Run `make local`, which installs "
            "requirements-dev.txt into .venv, or `pip install -r requirements-dev.txt`.",
            file=sys.stderr,
        )
        return 2
    stack = LocalStack(options)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stack.say(f"\n{signal.Signals(signum).name}: stopping...")
        stack.stopping.set()
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = 0
    try:
        stack.start()
        if options.once:
            code = stack.run_once(options.once)
        else:
            stack.serve_forever()
    except StackError as exc:
        print(f"make local: {exc}", file=sys.stderr)
        code = 2
    finally:
        stack.stop()
        stack.say("stopped: PostgreSQL, the AWS emulator, the handlers and the status API")
    return code
