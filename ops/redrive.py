"""Re-drive uploads: process again the ones that failed, or backfill missed ones.

Runs from an operator's shell with S3 (and Lambda) access; it needs no route
to the database. It reads the result JSONs in the output bucket to find
uploads in a status, or lists the input bucket for CSV objects (``.csv``,
``.csv.gz``, ``.csv.zst``, any case) that have
no result, and sends each one to the function as the S3 event it would have
received, marked as a re-drive. The function itself reopens the upload's row
(only if it is still ``failed``), so running the command twice is safe: an
upload that succeeded on the first re-drive is left alone by the second.

    python -m ops redrive --status failed --since 2025-09-01 --target local
    python -m ops redrive --backfill --target lambda \\
        --function csv-pipeline-prod-process_upload
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from chalicelib.core import keys
from chalicelib.core.events import REDRIVE_MARK
from chalicelib.core.results import iso_utc


@dataclass(frozen=True)
class Target:
    """One upload to send again, as the S3 event record fields it needs."""

    bucket: str
    key: str
    event_time: str
    size: int | None
    etag: str | None
    version_id: str | None
    sequencer: str | None


def event_for(target: Target) -> dict[str, Any]:
    """The S3 notification for ``target`` (key URL-encoded, as S3 sends it)."""
    from urllib.parse import quote_plus

    obj: dict[str, Any] = {"key": quote_plus(target.key, safe="/"), "size": target.size}
    for name, value in (
        ("eTag", target.etag),
        ("versionId", target.version_id),
        ("sequencer", target.sequencer),
    ):
        if value:
            obj[name] = value
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "eventTime": target.event_time,
                "s3": {"bucket": {"name": target.bucket}, "object": obj},
            }
        ],
        REDRIVE_MARK: True,
    }


def target_from_result(document: dict[str, Any]) -> Target:
    """Rebuild the upload's identity from its result JSON."""
    source = document["input"]
    upload_id = str(source.get("upload_id") or "")
    return Target(
        bucket=source["bucket"],
        key=source["key"],
        event_time=source["event_time"],
        size=source.get("size"),
        etag=source.get("etag"),
        version_id=upload_id[2:] if upload_id.startswith("v:") else source.get("version_id"),
        sequencer=upload_id[2:] if upload_id.startswith("s:") else None,
    )


def select_results(
    documents: Iterable[dict[str, Any]], status: str, since: datetime | None
) -> Iterator[Target]:
    """Uploads whose latest result has ``status``, at or after ``since``."""
    for document in documents:
        if document.get("status") != status:
            continue
        target = target_from_result(document)
        when = datetime.fromisoformat(target.event_time.replace("Z", "+00:00"))
        if since is None or when >= since:
            yield target


# -- adapters (handed their clients) ------------------------------------------------------


def iter_results(s3: Any, output_bucket: str) -> Iterator[dict[str, Any]]:
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=output_bucket, Prefix="results/"):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=output_bucket, Key=item["Key"])["Body"].read()
            yield json.loads(body)


def iter_missing(s3: Any, input_bucket: str, output_bucket: str, prefix: str) -> Iterator[Target]:
    """CSV objects in the input bucket with no result JSON (never processed)."""
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=input_bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if keys.csv_suffix(key) is None or _exists(s3, output_bucket, keys.result_key(key)):
                continue
            yield Target(
                bucket=input_bucket,
                key=key,
                event_time=iso_utc(item["LastModified"].astimezone(UTC)),
                size=item.get("Size"),
                etag=str(item.get("ETag", "")).strip('"') or None,
                version_id=None,
                sequencer=None,
            )


def _exists(s3: Any, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        return False
    return True


def lambda_sender(client: Any, function_name: str) -> Callable[[dict[str, Any]], None]:
    """Send events as S3 does: asynchronous invocations (with Lambda's retries)."""

    def send(event: dict[str, Any]) -> None:
        client.invoke(FunctionName=function_name, InvocationType="Event", Payload=json.dumps(event))

    return send


def queue_sender(client: Any, queue_url: str) -> Callable[[dict[str, Any]], None]:
    """Send events to the local stack's S3 notification queue."""

    def send(event: dict[str, Any]) -> None:
        client.send_message(QueueUrl=queue_url, MessageBody=json.dumps(event))

    return send


def progress(done: int, total: int, out: TextIO) -> None:
    width = 30
    filled = width * done // total if total else width
    out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} re-driven")
    if done == total:
        out.write("\n")
    out.flush()


def run(
    targets: list[Target],
    send: Callable[[dict[str, Any]], None],
    out: TextIO,
    dry_run: bool = False,
) -> int:
    for done, target in enumerate(targets, 1):
        if dry_run:
            out.write(f"would re-drive s3://{target.bucket}/{target.key}\n")
            continue
        send(event_for(target))
        progress(done, len(targets), out)
    return len(targets)


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(prog="python -m ops redrive", description=__doc__)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--status", choices=["failed"], help="uploads whose result says this")
    what.add_argument("--backfill", action="store_true", help="inputs with no result at all")
    parser.add_argument("--since", type=datetime.fromisoformat, help="event time, e.g. 2025-09-01")
    parser.add_argument("--prefix", default="", help="--backfill: only keys under this prefix")
    parser.add_argument("--target", choices=["lambda", "local"], default="lambda")
    parser.add_argument("--function", help="--target lambda: the process_upload function name")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)

    env = os.environ
    s3 = boto3.client("s3")
    if args.backfill:
        targets = list(iter_missing(s3, env["INPUT_BUCKET"], env["OUTPUT_BUCKET"], args.prefix))
    else:
        since = args.since.replace(tzinfo=args.since.tzinfo or UTC) if args.since else None
        targets = list(select_results(iter_results(s3, env["OUTPUT_BUCKET"]), args.status, since))
    if args.target == "local":
        send = queue_sender(boto3.client("sqs"), env["EVENTS_QUEUE_URL"])
    elif args.function:
        send = lambda_sender(boto3.client("lambda"), args.function)
    else:
        parser.error("--target lambda needs --function NAME")
    count = run(targets, send, sys.stderr, args.dry_run)
    print(f"{count} upload(s) {'selected' if args.dry_run else 're-driven'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
