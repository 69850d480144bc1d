"""Lambda, as ``make local`` plays it.

S3 notifications (through an SQS queue) invoke the real handler ``app.process_upload``
in worker processes that stand in for Lambda containers; a failed invocation is
retried after ``retry_delays`` (Lambda's two async retries), then sent to the
on-failure destination (the failure queue), whose messages invoke
``app.report_failure``, as the SQS trigger does in AWS.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from devstack.aws import poll
from devstack.console import Console
from devstack.services import Services

LAMBDA_ARN_PREFIX = "arn:aws:lambda:us-east-1:123456789012:function:"


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
        return _error(exc, retryable=bool(getattr(exc, "retryable", True)))


def _error(exc: BaseException, *, retryable: bool) -> dict[str, Any]:
    return {
        "ok": False,
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "retryable": retryable,
        "code": getattr(exc, "code", "UNHANDLED"),
    }


class LambdaEmulator:
    """The handlers' worker processes, the two queues that trigger them, and the retries.

    ``event_keys`` names the uploads in an S3 event (for the console and :meth:`wait`).
    """

    def __init__(
        self,
        services: Services,
        console: Console,
        event_keys: Callable[[dict[str, Any]], list[str]],
        *,
        concurrency: int,
        retry_delays: tuple[float, ...],
        timeout: float,
    ) -> None:
        self.services, self.console, self.event_keys = services, console, event_keys
        self.concurrency, self.retry_delays, self.timeout = concurrency, retry_delays, timeout
        self.stopping = threading.Event()
        self._pool: ProcessPoolExecutor | None = None
        self._threads: list[threading.Thread] = []
        self._timers: list[threading.Timer] = []
        self._finished: dict[str, str] = {}
        self._finished_changed = threading.Condition()

    def start(self) -> None:
        services = self.services
        worker_env = {k: v for k, v in services.env.items() if k != "DATABASE_URL"}
        worker_env["LOCAL_LAMBDA_LOG"] = str(services.state_dir / "lambda.log")
        self._pool = ProcessPoolExecutor(
            max_workers=self.concurrency,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(worker_env,),
        )
        res = services.resources
        for queue_url, handle in (
            (res.events_queue_url, self._on_s3_message),
            (res.failure_queue_url, self._on_failure_message),
        ):
            self._threads.append(
                poll(services.aws_url, queue_url, handle, self.stopping, self.console.say)
            )

    def wait(self, keys: list[str], timeout: float) -> dict[str, str]:
        """The final status of each upload (``timed out`` if it has none after ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        with self._finished_changed:
            while not all(k in self._finished for k in keys) and time.monotonic() < deadline:
                self._finished_changed.wait(0.5)
            return {k: self._finished.get(k, "timed out") for k in keys}

    def stop(self) -> None:
        self.stopping.set()
        for timer in self._timers:
            timer.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        for thread in self._threads:
            thread.join(3)

    # -- invocations

    def _on_s3_message(self, message: dict[str, Any]) -> None:
        # S3's s3:TestEvent goes to the handler too: it acknowledges and ignores it.
        self._submit("process_upload", json.loads(message["Body"]), attempt=0)

    def _submit(self, function: str, event: dict[str, Any], attempt: int) -> None:
        if self.stopping.is_set() or self._pool is None:
            return
        started = time.monotonic()
        try:
            future = self._pool.submit(invoke, function, event, int(self.timeout))
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
            response = _error(exc, retryable=True) | {"code": "UNHANDLED"}
        if response["ok"]:
            if function == "process_upload":  # report_failure: the email tells the story
                self._uploaded(response["payload"], time.monotonic() - started)
        elif function != "process_upload":
            self.console.failed(function, response)
        elif response["retryable"] and attempt < len(self.retry_delays):
            self._retry(event, response, attempt)
        else:
            self.console.exhausted(self._label(event), response)
            self._send_to_destination(event, response)

    def _label(self, event: dict[str, Any]) -> str:
        return ", ".join(self.event_keys(event)) or "process_upload"

    def _uploaded(self, payload: Any, elapsed: float) -> None:
        self.console.uploads(payload, elapsed)
        if isinstance(payload, dict) and not payload.get("ignored"):
            for item in payload.get("uploads", []):
                if item["status"] != "duplicate":
                    self._finish(item["key"], item["status"])

    def _retry(self, event: dict[str, Any], response: dict[str, Any], attempt: int) -> None:
        delay = self.retry_delays[attempt]
        attempts = len(self.retry_delays) + 1
        self.console.retrying(self._label(event), response, attempt + 1, attempts, delay)
        timer = threading.Timer(delay, self._submit, ("process_upload", event, attempt + 1))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _send_to_destination(self, event: dict[str, Any], response: dict[str, Any]) -> None:
        import boto3

        record = {
            "version": "1.0",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "requestContext": {
                "functionArn": f"{LAMBDA_ARN_PREFIX}csv-pipeline-local-process_upload",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": len(self.retry_delays) + 1,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
            "responsePayload": {
                "errorType": response["errorType"],
                "errorMessage": response["errorMessage"],
            },
        }
        sqs = boto3.client("sqs", endpoint_url=self.services.aws_url)
        queue_url = self.services.resources.failure_queue_url
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))

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
                    + self.services.names.failure_queue,
                    "awsRegion": "us-east-1",
                }
            ]
        }
        record = json.loads(message["Body"])
        self._submit("report_failure", sqs_event, attempt=0)
        for key in self.event_keys(record.get("requestPayload") or {}):
            self._finish(key, "failed")

    def _finish(self, key: str, status: str) -> None:
        with self._finished_changed:
            self._finished[key] = status
            self._finished_changed.notify_all()
