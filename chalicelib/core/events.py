"""S3 events and Lambda destination records, turned into uploads (pure: no AWS calls).

S3 URL-encodes keys in events (``a b+c.csv`` arrives as ``a+b%2Bc.csv``); they
are decoded here exactly once, the way Chalice's ``S3Event.key`` does
(``docs/outputs.md``, "Object keys").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from chalicelib.core.errors import BadEvent
from chalicelib.core.objects import object_pin

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
    """One ``Records[]`` entry of an S3 notification; :class:`BadEvent` if it is not one."""
    try:
        s3 = record["s3"]
        obj = s3["object"]
        size = obj.get("size")
        return Upload(
            bucket=_text(s3["bucket"]["name"], "s3.bucket.name"),
            key=unquote_plus(_text(obj["key"], "s3.object.key")),
            event_time=parse_event_time(record.get("eventTime")),
            size=int(size) if size is not None else None,
            etag=obj.get("eTag") or None,
            version_id=obj.get("versionId") or None,
            sequencer=obj.get("sequencer") or None,
            event_name=str(record.get("eventName", "ObjectCreated:Put")),
        )
    except BadEvent:
        raise
    except KeyError as exc:
        missing = str(exc.args[0])[:40] if exc.args else "field"
        raise BadEvent(f"an S3 event record has no {missing!r}", shape(record)) from exc
    except (TypeError, ValueError, AttributeError) as exc:
        raise BadEvent(  # the exception's text may hold the record's values: not shown
            f"an S3 event record has a field of the wrong type or form ({type(exc).__name__})",
            shape(record),
        ) from exc


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadEvent(f"an S3 event record's {where} is not a non-empty string", shape(value))
    return value


def read_event(event: Any) -> tuple[list[Upload], list[BadEvent]]:
    """Every object-created record of an S3 event, and what could not be read.

    A test event has none. Records of other sources or event types are skipped.
    """
    if not isinstance(event, Mapping):
        return [], [BadEvent("the event is not a JSON object", shape(event))]
    if is_test_event(event):
        return [], []
    records = event.get("Records")
    if not isinstance(records, list):
        return [], [BadEvent("the event has no list of Records", shape(event))]
    uploads: list[Upload] = []
    bad: list[BadEvent] = []
    for record in records:
        if not isinstance(record, Mapping):
            bad.append(BadEvent("an event record is not a JSON object", shape(record)))
            continue
        if record.get("eventSource") != "aws:s3" or not str(record.get("eventName", "")).startswith(
            "ObjectCreated"
        ):
            continue
        try:
            uploads.append(upload_from_record(record))
        except BadEvent as exc:
            bad.append(exc)
    return uploads, bad


def uploads_from_event(event: Any) -> list[Upload]:
    """Every object-created record of an S3 event; :class:`BadEvent` for the first bad one."""
    uploads, bad = read_event(event)
    if bad:
        raise bad[0]
    return uploads


def shape(value: Any, depth: int = 4) -> str:
    """The structure of a JSON value, keys and types only: never its values."""
    if isinstance(value, Mapping):
        if depth <= 0:
            return "{...}"
        inner = ", ".join(
            f"{str(key)[:40]!r}: {shape(item, depth - 1)}" for key, item in list(value.items())[:20]
        )
        return "{" + inner + (", ..." if len(value) > 20 else "") + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return f"[{len(value)} x {shape(value[0], depth - 1)}]" if depth > 0 else "[...]"
    return type(value).__name__
