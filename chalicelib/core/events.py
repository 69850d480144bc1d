"""S3 events and Lambda destination records, turned into uploads (pure: no AWS calls).

S3 URL-encodes keys in events (``a b+c.csv`` arrives as ``a+b%2Bc.csv``); they
are decoded here exactly once, the way Chalice's ``S3Event.key`` does
(``docs/outputs.md``, "Object keys"). Here too: what S3 says of the object
read (:class:`ObjectInfo`) and the *pin* that makes every read or copy touch
that exact object and no newer upload of the same key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

TEST_EVENT = "s3:TestEvent"
#: Top-level flag on an S3 event sent by ``python -m ops.redrive``.
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
        """Tells this upload from another of the same key (``docs/outputs.md``, "Identity")."""
        if self.version_id and self.version_id != "null":
            return f"v:{self.version_id}"
        if self.sequencer:
            return f"s:{self.sequencer}"
        return f"t:{self.event_time.isoformat()}:{self.etag or ''}"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def pin(self) -> dict[str, Any]:
        """GetObject/HeadObject arguments that read this upload and no other."""
        return object_pin(self.bucket, self.key, self.version_id, self.etag)


@dataclass(frozen=True)
class ObjectInfo:
    """What S3 says about the object actually read."""

    size: int
    etag: str
    version_id: str | None
    content_type: str | None

    @classmethod
    def from_response(cls, response: Mapping[str, Any]) -> ObjectInfo:
        """From a GetObject response; a ranged one gives the whole size (Content-Range)."""
        total = str(response.get("ContentRange") or "").rpartition("/")[2]
        return cls(
            size=int(total or response["ContentLength"]),
            etag=str(response["ETag"]).strip('"'),
            version_id=response.get("VersionId"),
            content_type=response.get("ContentType"),
        )

    def pin(self, bucket: str, key: str) -> dict[str, Any]:
        """Arguments that read this exact object again (its version, else its ETag)."""
        return object_pin(bucket, key, self.version_id, self.etag)


def object_pin(bucket: str, key: str, version_id: str | None, etag: str | None) -> dict[str, Any]:
    """``Bucket``/``Key`` and ``VersionId`` (versioned) or ``IfMatch`` (the quoted ETag).

    S3 then fails (404 or 412) rather than read a newer upload of the key.
    """
    args: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id and version_id != "null":
        args["VersionId"] = version_id
    elif etag:
        args["IfMatch"] = f'"{etag.strip(chr(34))}"'
    return args


def copy_pin(args: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A pin as CopyObject takes it: the ``CopySource`` and its ``CopySourceIfMatch``."""
    source = {k: v for k, v in args.items() if k in ("Bucket", "Key", "VersionId")}
    extra = {"CopySourceIfMatch": args["IfMatch"]} if "IfMatch" in args else {}
    return source, extra


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
