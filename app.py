"""csv-pipeline: a CSV uploaded to S3 becomes a row, a result, a backup and an email.

The handlers stay a few lines; the work lives in ``chalicelib/``.
"""

from __future__ import annotations

import atexit
import os
from typing import Any

from chalice.app import Chalice, Request, Response, S3Event, SQSEvent

from chalicelib.api import StatusApi, api_authorizer
from chalicelib.observability import invocation
from chalicelib.runtime import Runtime

app = Chalice(app_name="csv-pipeline")

# Read when Chalice builds the event sources (deploy time): the deploy exports
# them from the stage's config; the seed's names are the defaults.
INPUT_BUCKET = os.environ.get("INPUT_BUCKET", "candidate-test-input")
FAILURE_QUEUE = os.environ.get("FAILURE_QUEUE_NAME", "csv-pipeline-failures")
# Deployed stages put every route behind IAM (SigV4); only the local stage's
# config sets API_AUTH=none (chalice local, on 127.0.0.1).
AUTHORIZER = api_authorizer(os.environ.get("API_AUTH", "iam"))

_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    """The container's runtime, built on first use; refuses unsafe settings."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime.from_env()
        atexit.register(_runtime.close)
    return _runtime


def get_api() -> StatusApi:
    """The status routes' logic on the container's runtime, for this request."""
    return StatusApi(get_runtime(), app.lambda_context)


def get_request() -> Request:
    """The HTTP request a route is serving (Chalice sets it before the call)."""
    assert app.current_request is not None
    return app.current_request


class UploadEvent(S3Event):
    """Chalice's S3Event, tolerating the ``s3:TestEvent`` S3 sends on setup."""

    def _extract_attributes(self, event_dict: dict[str, Any]) -> None:
        if "Records" in event_dict:
            super()._extract_attributes(event_dict)
        else:
            self.bucket, self.key = event_dict.get("Bucket", ""), ""


# Start of Event Handlers.
@app.on_s3_event(bucket=INPUT_BUCKET, events=["s3:ObjectCreated:*"], suffix=".csv")
def process_upload(event: S3Event) -> dict[str, Any]:
    with invocation(event.context):
        return get_runtime().handle_s3_event(event.to_dict(), event.context)


process_upload.event_class = UploadEvent


@app.on_sqs_message(queue=FAILURE_QUEUE, batch_size=1)
def report_failure(event: SQSEvent) -> None:
    with invocation(event.context):
        for record in event:
            get_runtime().report_failure(record.body)


@app.route("/status", methods=["GET"], authorizer=AUTHORIZER)
def status() -> Response:
    code, body = get_runtime().status()
    return Response(body=body, status_code=code)


@app.route("/", methods=["GET"], authorizer=AUTHORIZER)
def index() -> Response:
    return get_api().home(get_request().headers)


@app.route("/files", methods=["GET"], authorizer=AUTHORIZER)
def list_files() -> Response:
    return get_api().files(get_request().query_params)


@app.route("/files/{file_id}", methods=["GET"], authorizer=AUTHORIZER)
def get_file(file_id: str) -> Response:
    return get_api().file(file_id)


# End of Event Handlers.
