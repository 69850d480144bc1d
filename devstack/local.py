"""``make local``: the whole pipeline on this machine, no AWS account.

Starts an embedded PostgreSQL, moto's server as the AWS endpoint, the buckets,
topic, queues and database secret; S3 notifications go to an SQS queue, and a
dispatcher invokes the real Lambda handler (``app.process_upload``) for each,
in worker processes that stand in for Lambda containers, with Lambda's async
retries and on-failure destination. ``chalice local`` serves the status route.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import multiprocessing
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STATE = ROOT / ".local"
LAMBDA_ARN_PREFIX = "arn:aws:lambda:us-east-1:123456789012:function:"


class StackError(Exception):
    """Something stops the local stack from starting; the message says what to do."""


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
    parser.add_argument("--no-samples", action="store_true", help="do not upload samples/*.csv")
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


# -- the worker processes: one Lambda container each ---------------------------------


def _worker_init(env: dict[str, str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the dispatcher stops us
    os.environ.update(env)
    if env.get("LOCAL_LAMBDA_LOG"):  # what CloudWatch Logs would hold: JSON logs, EMF
        sys.stdout = open(env["LOCAL_LAMBDA_LOG"], "a", buffering=1)  # noqa: SIM115
    import app  # noqa: F401  (a cold start, once per worker)


def invoke(function_name: str, event: dict[str, Any], timeout_s: int) -> dict[str, Any]:
    """Call a Chalice handler as Lambda does; return Lambda's response shape."""
    from chalice.local import LambdaContext

    import app

    handler = getattr(app, function_name)
    context = LambdaContext(function_name, memory_size=1024, max_runtime_ms=timeout_s * 1000)
    try:
        return {"ok": True, "payload": handler(event, context)}
    except Exception as exc:  # Lambda reports any exception; so do we
        return {
            "ok": False,
            "errorType": type(exc).__name__,
            "errorMessage": str(exc),
            "retryable": bool(getattr(exc, "retryable", True)),
            "code": getattr(exc, "code", "UNHANDLED"),
        }


# -- the stack --------------------------------------------------------------------------


class LocalStack:
    def __init__(self, options: Options, out: TextIO = sys.stdout) -> None:
        self.options = options
        self.out = out
        self.stopping = threading.Event()
        self._lock_file: TextIO | None = None
        self._postgres: Any = None
        self._moto: Any = None
        self._api: subprocess.Popen[bytes] | None = None
        self._pool: ProcessPoolExecutor | None = None
        self._threads: list[threading.Thread] = []
        self._timers: list[threading.Timer] = []
        self._print_lock = threading.Lock()
        self._finished: dict[str, str] = {}
        self._finished_changed = threading.Condition()
        self.env: dict[str, str] = {}
        self.resources: Any = None

    # -- output
    def say(self, text: str = "") -> None:
        with self._print_lock:
            print(text, file=self.out, flush=True)

    # -- start
    def start(self) -> float:
        began = time.monotonic()
        opts = self.options
        opts.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock()
        self._check_ports()
        earlier = self._start_postgres()
        self._start_moto()
        self._write_env()
        os.environ.update(self.env)
        self._migrate()
        self._start_workers()
        if opts.api:
            self._start_api()
        self._start_pollers()
        ready = time.monotonic() - began
        self._banner(ready, earlier)
        return ready

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
        from devstack.aws import port_in_use

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

    def _start_postgres(self) -> int | None:
        from devstack.postgres import PostgresServer, PostgresServerError

        data = self.options.state_dir / "postgres"
        if self.options.reset and data.exists():
            shutil.rmtree(data)
        fresh = not data.exists()
        self._postgres = PostgresServer(data, port=self.options.pg_port)
        try:
            self._postgres.start()
        except PostgresServerError as exc:
            raise StackError(f"PostgreSQL did not start: {exc}") from exc
        password = self._db_password()
        self._postgres.create_role("pipeline", password)
        # the owner creates the function roles, as RDS's master user may
        self._postgres.execute("ALTER ROLE pipeline CREATEROLE")
        self._postgres.create_database("pipeline", owner="pipeline")
        if fresh:
            return None
        rows = self._postgres.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'file_metadata'", dbname="pipeline"
        )
        if not rows or not rows[0][0]:
            return 0
        count = self._postgres.execute("SELECT count(*) FROM file_metadata", dbname="pipeline")
        return int(str(count[0][0]))

    def _db_password(self) -> str:
        import secrets

        path = self.options.state_dir / "db-password"
        if path.exists():
            return path.read_text().strip()
        password = secrets.token_urlsafe(18)
        path.write_text(password)
        path.chmod(0o600)
        return password

    def _start_moto(self) -> None:
        from devstack.aws import MotoServer, Names, provision

        self._moto = MotoServer(port=self.options.aws_port)
        self._moto.start()
        secret = {
            "username": "pipeline",
            "password": self._db_password(),
            "host": "127.0.0.1",
            "port": self.options.pg_port,
            "dbname": "pipeline",
        }
        self.resources = provision(self._moto.url, secret, Names())

    def _migrate(self) -> None:
        """The schema and the function roles' logins, as `make deploy` does (ops migrate)."""
        from ops.migrate import run_here

        run_here()

    def _write_env(self) -> None:
        from devstack.aws import client_env, pipeline_env

        names = self.resources.names
        self.env = {
            **client_env(self._moto.url),
            **pipeline_env(names),
            "DATABASE_URL": self._postgres.url("pipeline", self._db_password(), "pipeline"),
            "STATUS_URL": f"http://127.0.0.1:{self.options.api_port}/status",
            "EVENTS_QUEUE_URL": self.resources.events_queue_url,
            "INBOX_QUEUE_URL": self.resources.inbox_queue_url,
        }
        lines = ["# csv-pipeline local stack: `source .local/env` in another terminal."]
        lines += [f"export {k}={shlex.quote(v)}" for k, v in self.env.items()]
        path = self.options.state_dir / "env"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)

    def _start_workers(self) -> None:
        worker_env = {k: v for k, v in self.env.items() if k not in ("DATABASE_URL",)}
        worker_env["LOCAL_LAMBDA_LOG"] = str(self.options.state_dir / "lambda.log")
        self._pool = ProcessPoolExecutor(
            max_workers=self.options.concurrency,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(worker_env,),
        )

    def _start_api(self) -> None:
        chalice = Path(sys.executable).with_name("chalice")
        command = [
            str(chalice),
            "local",
            "--stage",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.options.api_port),
            "--no-autoreload",
        ]
        log = (self.options.state_dir / "chalice-local.log").open("wb")
        self._api = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT
        )
        url = self.env["STATUS_URL"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._api.poll() is not None:
                raise StackError(
                    f"`chalice local` exited; see {self.options.state_dir / 'chalice-local.log'}"
                )
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5):  # noqa: S310
                return
            time.sleep(0.2)
        raise StackError("`chalice local` did not answer on " + url)

    def _start_pollers(self) -> None:
        res = self.resources
        for name, target in (
            ("events", lambda: self._poll(res.events_queue_url, self._on_s3_message)),
            ("failures", lambda: self._poll(res.failure_queue_url, self._on_failure_message)),
            ("inbox", lambda: self._poll(res.inbox_queue_url, self._on_email)),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _banner(self, ready: float, earlier: int | None) -> None:
        names = self.resources.names
        if earlier is None:
            data = "a new database"
        else:
            data = (
                f"the database kept from earlier runs ({earlier} uploads recorded; "
                "add ARGS=--reset to start empty)"
            )
        self.say(f"csv-pipeline local stack ready in {ready:.1f} s")
        self.say(f"  PostgreSQL   127.0.0.1:{self.options.pg_port}  {data}")
        self.say(
            f"  AWS (moto)   {self._moto.url}  buckets, topic, queues and secret (in memory: "
            "objects from earlier runs are gone)"
        )
        if self.options.api:
            self.say(f"  status       {self.env['STATUS_URL']}  (chalice local)")
        self.say(
            f"  settings     {self.options.state_dir / 'env'}  (source it in another terminal)"
        )
        self.say(
            f"  logs         {self.options.state_dir / 'lambda.log'}  (the handlers' JSON logs "
            "and EMF metrics)"
        )
        self.say("")
        if not self.options.once:
            self.say("Upload a CSV from another terminal:")
            self.say("  source .local/env")
            self.say(f"  aws s3 cp my.csv s3://{names.input_bucket}/      # with the AWS CLI, or")
            self.say("  .venv/bin/python -m devstack.upload my.csv")
            self.say("Stop with Ctrl-C.")
            self.say("")

    # -- uploads in
    def upload(self, path: Path, key: str | None = None) -> str:
        import boto3

        key = key or path.name
        s3 = boto3.client("s3", endpoint_url=self._moto.url)
        s3.upload_file(str(path), self.resources.names.input_bucket, key)
        return key

    def upload_samples(self) -> None:
        for path in sorted((ROOT / "samples").glob("*.csv")):
            self.upload(path, f"samples/{path.name}")

    # -- polling
    def _poll(self, queue_url: str, handle: Callable[[dict[str, Any]], None]) -> None:
        import boto3

        sqs = boto3.client("sqs", endpoint_url=self._moto.url)
        while not self.stopping.is_set():
            try:
                response = sqs.receive_message(
                    QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                )
            except Exception as exc:  # the emulator is stopping, or hiccuped
                if self.stopping.is_set():
                    return
                self.say(f"  ! polling {queue_url.rsplit('/', 1)[-1]} failed: {exc}")
                time.sleep(1)
                continue
            for message in response.get("Messages", []):
                handle(dict(message))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _on_s3_message(self, message: dict[str, Any]) -> None:
        # S3's s3:TestEvent goes to the handler too: it acknowledges and ignores it.
        self._submit("process_upload", json.loads(message["Body"]), attempt=0)

    def _submit(self, function: str, event: dict[str, Any], attempt: int) -> None:
        if self.stopping.is_set() or self._pool is None:
            return
        started = time.monotonic()
        try:
            future = self._pool.submit(invoke, function, event, int(self.options.timeout))
        except RuntimeError:  # the pool is shutting down
            return
        future.add_done_callback(lambda f: self._on_result(function, event, attempt, started, f))

    def _on_result(
        self,
        function: str,
        event: dict[str, Any],
        attempt: int,
        started: float,
        future: Future[Any],
    ) -> None:
        if future.cancelled() or self.stopping.is_set():
            return
        try:
            response = future.result()
        except Exception as exc:  # a worker died: Lambda would count it as an error
            response = {
                "ok": False,
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "retryable": True,
                "code": "UNHANDLED",
            }
        elapsed = time.monotonic() - started
        if response["ok"]:
            self._report_ok(function, response["payload"], elapsed)
            return
        keys = _event_keys(event if function == "process_upload" else {})
        label = ", ".join(keys) or function
        if (
            function == "process_upload"
            and response["retryable"]
            and attempt < len(self.options.retry_delays)
        ):
            delay = self.options.retry_delays[attempt]
            self.say(
                f"  retrying   {label}  {response['code']}: {response['errorMessage']} "
                f"(attempt {attempt + 1} of {len(self.options.retry_delays) + 1}, "
                f"next in {delay:g} s)"
            )
            timer = threading.Timer(delay, self._submit, (function, event, attempt + 1))
            timer.daemon = True
            self._timers.append(timer)
            timer.start()
            return
        if function == "process_upload":
            self.say(
                f"  error      {label}  {response['code']}: {response['errorMessage']} "
                "(retries exhausted: sent to the failure destination)"
            )
            self._send_to_destination(event, response)
        else:
            self.say(f"  ! {function} failed: {response['errorType']}: {response['errorMessage']}")

    def _report_ok(self, function: str, payload: Any, elapsed: float) -> None:
        if function == "report_failure":
            return  # the email tells the story
        if isinstance(payload, dict) and payload.get("ignored"):
            self.say(f"  ignored    {payload['ignored']} (acknowledged)")
            return
        for item in (payload or {}).get("uploads", []):
            status = item["status"]
            if status == "succeeded":
                detail = f"{item['row_count']:,} rows"
            elif status == "duplicate":
                detail = "already handled: no second effect"
            else:
                detail = item.get("error_code") or ""
            self.say(f"  {status:<10} {item['key']}  {detail}  {elapsed:.2f} s")
            if status != "duplicate":
                self._finish(item["key"], status)

    def _send_to_destination(self, event: dict[str, Any], response: dict[str, Any]) -> None:
        import boto3

        record = {
            "version": "1.0",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "requestContext": {
                "functionArn": f"{LAMBDA_ARN_PREFIX}csv-pipeline-local-process_upload",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": len(self.options.retry_delays) + 1,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
            "responsePayload": {
                "errorType": response["errorType"],
                "errorMessage": response["errorMessage"],
            },
        }
        sqs = boto3.client("sqs", endpoint_url=self._moto.url)
        sqs.send_message(QueueUrl=self.resources.failure_queue_url, MessageBody=json.dumps(record))

    def _on_failure_message(self, message: dict[str, Any]) -> None:
        sqs_event = {
            "Records": [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": {},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:"
                    + self.resources.names.failure_queue,
                    "awsRegion": "us-east-1",
                }
            ]
        }
        record = json.loads(message["Body"])
        self._submit("report_failure", sqs_event, attempt=0)
        for key in _event_keys(record.get("requestPayload") or {}):
            self._finish(key, "failed")

    def _on_email(self, message: dict[str, Any]) -> None:
        envelope = json.loads(message["Body"])
        attributes = {
            k: v.get("Value") for k, v in (envelope.get("MessageAttributes") or {}).items()
        }
        mail = {
            "subject": envelope.get("Subject"),
            "body": envelope.get("Message"),
            "attributes": attributes,
            "received": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        with (self.options.state_dir / "mail.jsonl").open("a") as box:
            box.write(json.dumps(mail, ensure_ascii=False) + "\n")
        body = "\n".join("  | " + line for line in (mail["body"] or "").rstrip().splitlines())
        self.say(f"  ✉ email    Subject: {mail['subject']}\n{body}")

    # -- the non-interactive form
    def _finish(self, key: str, status: str) -> None:
        with self._finished_changed:
            self._finished[key] = status
            self._finished_changed.notify_all()

    def run_once(self, files: list[Path]) -> int:
        keys = []
        for path in files:
            if not path.is_file():
                self.say(f"  missing    {path}: no such file")
                continue
            keys.append(self.upload(path))
        deadline = time.monotonic() + self.options.timeout
        with self._finished_changed:
            while not all(k in self._finished for k in keys) and time.monotonic() < deadline:
                self._finished_changed.wait(0.5)
        time.sleep(1.0)  # let the last emails print
        results = {k: self._finished.get(k, "timed out") for k in keys}
        ok = sum(1 for s in results.values() if s == "succeeded")
        self.say("")
        self.say(f"summary: {ok} of {len(files)} file(s) succeeded")
        for key, status in results.items():
            self.say(f"  {status:<10} {key}")
        return 0 if ok == len(files) else 1

    def serve_forever(self) -> None:
        if self.options.samples:
            self.upload_samples()
        while not self.stopping.wait(0.5):
            if self._api is not None and self._api.poll() is not None:
                self.say("`chalice local` stopped unexpectedly; stopping the stack")
                return

    # -- stop
    def stop(self) -> None:
        self.stopping.set()
        for timer in self._timers:
            timer.cancel()
        if self._api is not None and self._api.poll() is None:
            self._api.terminate()
            try:
                self._api.wait(5)
            except subprocess.TimeoutExpired:
                self._api.kill()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        for thread in self._threads:
            thread.join(3)
        if self._moto is not None:
            self._moto.stop()
        if self._postgres is not None:
            self._postgres.stop()
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
