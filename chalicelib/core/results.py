"""What an upload's outcome looks like to readers: result JSON and email (pure)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from chalicelib.core.contracts import ContractReport
from chalicelib.core.events import Upload
from chalicelib.core.profile import Profile

Status = Literal["processing", "succeeded", "rejected", "failed"]
SUBJECT_LIMIT = 99  # SNS: "less than 100 characters", ASCII only
APP = "csv-pipeline"


def iso_utc(moment: datetime) -> str:
    """``2025-09-02T14:30:00.123Z``: milliseconds, as S3 writes event times."""
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z").replace(".000Z", "Z")


def jsonable(value: Any) -> Any:
    """A value as JSON carries it: dates and times in ISO 8601, the rest as is."""
    return value.isoformat() if hasattr(value, "isoformat") else value


@dataclass(frozen=True)
class Outcome:
    """How one upload ended, with where its result and backup went."""

    upload: Upload
    status: Status
    result_bucket: str
    result_key: str
    backup_bucket: str
    backup_key: str | None
    profile: Profile | None = None
    error_code: str | None = None
    error_message: str | None = None
    size: int | None = None
    etag: str | None = None
    metadata_id: int | None = None
    #: What the failure reporter could not do (the row, the backup, the result),
    #: each a sentence for the email and the result JSON.
    not_done: tuple[str, ...] = ()

    @property
    def error(self) -> dict[str, str] | None:
        if self.error_code is None:
            return None
        return {"code": self.error_code, "message": self.error_message or ""}


#: The profile's keys at the result's top level ("What a profile reports").
PROFILE_KEYS = (
    "row_count",
    "column_count",
    "delimiter",
    "delimiter_source",
    "encoding",
    "compression",
    "bytes_read",
    "header",
    "ragged_rows",
    "ragged_examples",
    "sampled_rows",
    "columns",
    "warnings",
    "contract",
)


def build_result(outcome: Outcome) -> dict[str, Any]:
    """The result JSON written to the output bucket (``docs/outputs.md``, "The result JSON").

    Its top level carries every field of the profile; a file that could not be
    read has them null (``warnings`` empty).
    """
    upload, profile = outcome.upload, outcome.profile
    reported: dict[str, Any] = profile.to_dict() if profile else {}
    document: dict[str, Any] = {"status": outcome.status}
    for name in PROFILE_KEYS:
        document[name] = reported.get(name, [] if name == "warnings" else None)
    document.update(
        {
            "error": outcome.error,
            "input": {
                "bucket": upload.bucket,
                "key": upload.key,
                "size": outcome.size if outcome.size is not None else upload.size,
                "etag": (outcome.etag or upload.etag or "").strip('"') or None,
                "version_id": upload.version_id,
                "upload_id": upload.upload_id,
                "event_time": iso_utc(upload.event_time),
            },
            "backup": (
                {"bucket": outcome.backup_bucket, "key": outcome.backup_key}
                if outcome.backup_key
                else None
            ),
            "metadata_id": outcome.metadata_id,
            "result": {"bucket": outcome.result_bucket, "key": outcome.result_key},
            "not_done": list(outcome.not_done),
        }
    )
    return document


#: Result objects carry their upload's place in the order of uploads of the key.
SEQUENCER_METADATA = "upload-sequencer"
TIME_METADATA = "upload-time"


def result_metadata(upload: Upload) -> dict[str, str]:
    """S3 metadata of a result object: which upload of the key it describes."""
    meta = {TIME_METADATA: iso_utc(upload.event_time)}
    if upload.sequencer:
        meta[SEQUENCER_METADATA] = upload.sequencer
    return meta


def is_older(mine: Mapping[str, str], theirs: Mapping[str, str]) -> bool:
    """True when the upload of ``mine`` came before the one of ``theirs`` (same key).

    S3's sequencers order the events of one key: compared as hex after padding
    the shorter with zeros on the left. Without both, the event times decide.
    An equal place is not older: the same upload may write its result again.
    """
    a, b = mine.get(SEQUENCER_METADATA), theirs.get(SEQUENCER_METADATA)
    if a and b:
        width = max(len(a), len(b))
        return a.upper().rjust(width, "0") < b.upper().rjust(width, "0")
    return mine.get(TIME_METADATA, "") < theirs.get(TIME_METADATA, "")


@dataclass(frozen=True)
class Notification:
    """One SNS message: what the email says and what subscribers filter on."""

    subject: str
    body: str
    attributes: dict[str, str]


def ascii_text(text: str) -> str:
    """SNS subjects must be ASCII: fold accents, replace what cannot fold."""
    folded = unicodedata.normalize("NFKD", text)
    out = []
    for char in folded:
        if unicodedata.combining(char):
            continue
        out.append(char if 32 <= ord(char) < 127 else "?")
    return "".join(out)


_NAMED_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: Controls (C0, DEL, C1), format characters (bidi overrides, zero-width ones),
#: line and paragraph separators, surrogates: never shown as themselves.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_ESCAPE_DIGITS = {"x": 2, "u": 4, "U": 8}


def shown(text: str) -> str:
    """``text`` as an email shows text from outside (keys, bucket names, error messages).

    Every character that could end a line (``\\n``, ``\\r``, ``\\x0b``, ``\\x0c``,
    ``\\x1c``-``\\x1e``, ``\\x85``, ``\\u2028``, ``\\u2029``), every other control and
    every format character (a right-to-left override among them) is written as its
    escape, visibly; a backslash is doubled so that an escape cannot be faked.
    So an uploader's text can never start a line of its own or reorder one.
    """
    out = []
    for char in text:
        if char in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[char])
        elif unicodedata.category(char) in _HIDDEN_CATEGORIES:
            code = ord(char)
            width = "x" if code < 0x100 else "u" if code < 0x10000 else "U"
            out.append(f"\\{width}{code:0{_ESCAPE_DIGITS[width]}x}")
        else:
            out.append(char)
    return "".join(out)


def subject_for(outcome: Outcome) -> str:
    name = outcome.upload.key.rsplit("/", 1)[-1]
    if outcome.status == "succeeded" and outcome.profile:
        detail = f"{outcome.profile.row_count:,} rows"
    else:
        detail = outcome.error_code or outcome.status
    subject = ascii_text(f"[{APP}] {outcome.status.upper()}: {name} ({detail})")
    if len(subject) > SUBJECT_LIMIT:
        subject = subject[: SUBJECT_LIMIT - 3] + "..."
    return subject


def body_for(outcome: Outcome) -> str:
    """The email body; every text from outside goes through :func:`shown`."""
    upload, profile = outcome.upload, outcome.profile
    lines = [
        _headline(outcome),
        "",
        f"File:        {shown(upload.uri)}",
        f"Status:      {outcome.status.upper()}",
    ]
    if profile and profile.row_count is not None and profile.column_count is not None:
        lines.append(
            f"Rows:        {profile.row_count:,} (after a header of "
            f"{profile.column_count} column{'s' if profile.column_count != 1 else ''})"
        )
    if profile and profile.delimiter is not None:
        lines.append(f"Format:      {format_line(profile)}")
    if outcome.error_code:
        lines.append(
            f"Error:       {shown(outcome.error_code)}: {shown(outcome.error_message or '')}"
        )
    if profile:
        lines += [
            f"Warning:     {shown(w.code)}: {shown(w.message)}"
            for w in profile.warnings
            if w.code != outcome.error_code
        ]
    if profile and profile.contract:
        lines += contract_lines(profile.contract)
    size = outcome.size if outcome.size is not None else upload.size
    if size is not None:
        lines.append(f"Size:        {size:,} bytes")
    lines.append(f"Uploaded:    {iso_utc(upload.event_time)}")
    lines.append(f"Result:      {shown(f's3://{outcome.result_bucket}/{outcome.result_key}')}")
    if outcome.backup_key:
        lines.append(f"Backup:      {shown(f's3://{outcome.backup_bucket}/{outcome.backup_key}')}")
    else:
        lines.append("Backup:      none (the object could not be read)")
    if outcome.metadata_id is not None:
        lines.append(f"Record:      file_metadata id {outcome.metadata_id}")
    else:
        lines.append("Record:      not written (the database was unavailable)")
    lines += [f"Not done:    {shown(item)}" for item in outcome.not_done]
    lines += ["", _advice(outcome)]
    return "\n".join(lines) + "\n"


def contract_lines(report: ContractReport) -> list[str]:
    """Which contract governed the file and, per column and rule, how many values break
    it with the first row and line: names and counts, never values."""
    if not report.broken:
        return [f"Contract:    {shown(report.contract)}: every row holds"]
    head = f"Contract:    {shown(report.contract)}: " + (
        "the header does not match; no row was read"
        if report.header_problems
        else f"{report.total:,} value{'s' if report.total != 1 else ''} break it"
    )
    return [head] + [f"             {shown(line)}" for line in report.lines()]


def format_line(profile: Profile) -> str:
    """``delimiter ';' (from a sep= line), utf-16-le, gzip``: how the file was read."""
    source = " (from a sep= line)" if profile.delimiter_source == "sep_line" else ""
    parts = [f"delimiter {shown(repr(profile.delimiter))}{source}", str(profile.encoding)]
    if profile.compression:
        parts.append(f"{profile.compression}-compressed")
    return ", ".join(parts)


def _headline(outcome: Outcome) -> str:
    return {
        "succeeded": "A CSV file was processed successfully.",
        "rejected": "A CSV file was rejected: the file itself is not usable.",
        "failed": "A CSV file could not be processed because of a system failure.",
        "processing": "A CSV file is being processed.",
    }[outcome.status]


def _advice(outcome: Outcome) -> str:
    if outcome.status == "succeeded":
        return "No action is needed."
    if outcome.status == "rejected":
        return "Fix the file and upload it again; a new upload is processed as new."
    return (
        "The file is safe in the input bucket. See docs/runbook.md to re-drive "
        "failed uploads once the cause is fixed."
    )


def build_notification(outcome: Outcome) -> Notification:
    return Notification(
        subject=subject_for(outcome),
        body=body_for(outcome),
        attributes={"status": outcome.status, "bucket": outcome.upload.bucket},
    )


def build_event_alert(
    code: str, message: str, bucket: str | None, request_id: str | None
) -> Notification:
    """The email for an event the pipeline could not read: no upload to name."""
    where = f"request id {request_id}" if request_id else "the function's logs"
    body = "\n".join(
        [
            "An event reached the pipeline that it cannot read, so no file was processed.",
            "",
            f"Error:       {shown(code)}: {shown(message)}",
            f"Bucket:      {shown(bucket or 'unknown')}",
            f"Logs:        the event's structure is logged ({where})",
            "",
            "If an upload is missing from the status page, re-drive it with "
            "`python -m ops redrive --backfill` (docs/runbook.md).",
        ]
    )
    return Notification(
        subject=f"[{APP}] FAILED: an event could not be read ({code})",
        body=body + "\n",
        attributes={"status": "failed", "bucket": bucket or "unknown"},
    )
