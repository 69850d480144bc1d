"""S3 event records turned into uploads (pure: no AWS calls).

S3 URL-encodes keys in events (``a b+c.csv`` arrives as ``a+b%2Bc.csv``); they
are decoded here exactly once, the way Chalice's ``S3Event.key`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

TEST_EVENT = "s3:TestEvent"
#: Top-level flag on an S3 event sent by ``python -m chalicelib.redrive``.
REDRIVE_MARK = "csvPipelineRedrive"


@dataclass(frozen=True)
class Upload:
    """One object created in the input bucket: what the pipeline processes."""

    bucket: str
    key: str
    event_time: datetime
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None
    event_name: str = "ObjectCreated:Put"

    @property
    def upload_id(self) -> str:
        """Tells this upload from another of the same key (DESIGN.md identity)."""
        if self.version_id and self.version_id != "null":
            return f"v:{self.version_id}"
        if self.sequencer:
            return f"s:{self.sequencer}"
        return f"t:{self.event_time.isoformat()}:{self.etag or ''}"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def is_test_event(event: Mapping[str, Any]) -> bool:
    """S3 sends ``s3:TestEvent`` when a notification is configured."""
    return event.get("Event") == TEST_EVENT and "Records" not in event


def parse_event_time(value: str | None) -> datetime:
    """``2025-09-02T14:30:00.000Z`` -> an aware UTC datetime."""
    if not value:
        raise ValueError("the S3 event record has no eventTime")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def upload_from_record(record: Mapping[str, Any]) -> Upload:
    """One ``Records[]`` entry of an S3 notification."""
    s3 = record["s3"]
    obj = s3["object"]
    size = obj.get("size")
    return Upload(
        bucket=s3["bucket"]["name"],
        key=unquote_plus(obj["key"]),
        event_time=parse_event_time(record.get("eventTime")),
        size=int(size) if size is not None else None,
        etag=obj.get("eTag") or None,
        version_id=obj.get("versionId") or None,
        sequencer=obj.get("sequencer") or None,
        event_name=record.get("eventName", "ObjectCreated:Put"),
    )


def uploads_from_event(event: Mapping[str, Any]) -> list[Upload]:
    """Every object-created record of an S3 event; none for a test event."""
    if is_test_event(event):
        return []
    return [
        upload_from_record(record)
        for record in event.get("Records", [])
        if record.get("eventSource") == "aws:s3"
        and str(record.get("eventName", "")).startswith("ObjectCreated")
    ]
