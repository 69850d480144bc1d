"""csv-pipeline: a CSV uploaded to S3 becomes a row, a result, a backup and an email.

The handlers stay a few lines; the work lives in ``chalicelib/``.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice, Request, Response, S3Event, SQSEvent

from chalicelib.api import StatusApi, api_authorizer
from chalicelib.core.settings import DeploySettings, MigrationSettings
from chalicelib.observability import invocation
from chalicelib.runtime import Container, Runtime

app = Chalice(app_name="csv-pipeline")

# Read when Chalice builds the event sources and routes (deploy time), with the
# defaults of chalicelib/core/settings.py: the seed's bucket, IAM on every route.
DEPLOY = DeploySettings.from_env()
AUTHORIZER = api_authorizer(DEPLOY.api_auth)

container = Container()


def get_runtime() -> Runtime:
    """The container's runtime, built on first use; refuses unsafe settings."""
    return container.get()


def get_api() -> StatusApi:
    """The status routes' logic on the container's runtime, for this request."""
    return get_runtime().api(app.lambda_context)


def get_request() -> Request:
    """The HTTP request a route is serving (Chalice sets it before the call)."""
    assert app.current_request is not None
    return app.current_request


class UploadEvent(S3Event):
    """Chalice's S3Event, for any event: ``s3:TestEvent`` and malformed ones reach
    the handler, which acknowledges or reports them (``chalicelib/handlers.py``)."""

    def _extract_attributes(self, event_dict: dict[str, Any]) -> None:
        try:
            super()._extract_attributes(event_dict)
        except (KeyError, IndexError, TypeError, AttributeError):
            bucket = event_dict.get("Bucket", "") if isinstance(event_dict, dict) else ""
            self.bucket, self.key = bucket if isinstance(bucket, str) else "", ""


# Start of Event Handlers.
# No suffix filter: S3's is case-sensitive and takes one suffix, and DATA.CSV,
# x.csv.gz and x.csv.zst are CSVs too; the handler ignores other keys.
@app.on_s3_event(bucket=DEPLOY.input_bucket, events=["s3:ObjectCreated:*"])
def process_upload(event: S3Event) -> dict[str, Any]:
    with invocation(event.context):
        return get_runtime().handlers.handle_s3_event(event.to_dict(), event.context)


process_upload.event_class = UploadEvent


@app.on_sqs_message(queue=DEPLOY.failure_queue, batch_size=1)
def report_failure(event: SQSEvent) -> None:
    with invocation(event.context):
        for record in event:
            receives = record.to_dict().get("attributes", {}).get("ApproximateReceiveCount", 1)
            get_runtime().handlers.report_failure(
                record.body, event.context, receive_count=int(receives)
            )


@app.route("/status", methods=["GET"], authorizer=AUTHORIZER)
def status() -> Response:
    return get_api().status()


@app.route("/", methods=["GET"], authorizer=AUTHORIZER)
def index() -> Response:
    return get_api().home(get_request().headers)


@app.route("/files", methods=["GET"], authorizer=AUTHORIZER)
def list_files() -> Response:
    return get_api().files(get_request().query_params)


@app.route("/datasets", methods=["GET"], authorizer=AUTHORIZER)
def list_datasets() -> Response:
    return get_api().datasets(get_request().query_params)


@app.route("/files/{file_id}", methods=["GET"], authorizer=AUTHORIZER)
def get_file(file_id: str) -> Response:
    return get_api().file(file_id, get_request().headers)


# The database's migrations, in the VPC (no trigger: `make deploy` invokes it).
@app.lambda_function(name="migrate")
def migrate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from chalicelib.migrate import run

    with invocation(context):
        return run(get_runtime().clients.secretsmanager, MigrationSettings.from_env())


# End of Event Handlers.
