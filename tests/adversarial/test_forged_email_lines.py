"""An uploader names a file so that the email seems to say something else.

S3 keys may hold any character, line breaks among them. Copied raw into the
email body, ``x\\nStatus:      SUCCEEDED\\nhttps://evil.example/login`` puts
lines of the uploader's choosing into a message people trust. Every text that
comes from outside (key, bucket, error message) must stay on its own line.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.core import results
from chalicelib.core.events import Upload
from chalicelib.core.results import Outcome, body_for
from tests.conftest import Stack

#: Everything ``str.splitlines`` (and so a mail client, more or less) breaks a line at.
BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
FORGED = "\nStatus:      SUCCEEDED\nhttps://evil.example/login"
HOSTILE_KEY = (
    "invoice"
    + FORGED
    + "".join(f"{char}line {ord(char):x} forged" for char in BREAKS)
    + "\r\nCRLF forged\u202eexe.csv"  # and a right-to-left override
)


def fragments(text: str) -> list[str]:
    """The parts of ``text`` that would start a line of their own if shown raw."""
    return [part for part in re.split(f"[{re.escape(BREAKS)}]+", text)[1:] if part.strip()]


def assert_no_forged_line(body: str, *hostile: str) -> None:
    lines = body.splitlines()
    assert lines == body.split("\n")[:-1], "a line break other than \\n is in the body"
    for text in hostile:
        for part in fragments(text):
            starting = [line for line in lines if line.lstrip().startswith(part.strip())]
            assert not starting, f"a line starts with text of the uploader's: {starting}"


def outcome(key: str, message: str | None = None) -> Outcome:
    upload = Upload(
        bucket="candidate-test-input",
        key=key,
        event_time=datetime(2025, 9, 2, 14, 30, tzinfo=UTC),
        size=10,
    )
    return Outcome(
        upload=upload,
        status="failed",
        result_bucket="out",
        result_key=f"results/{key}.json",
        backup_bucket="backup",
        backup_key=f"backup/{key}",
        error_code="S3_ERROR",
        error_message=message,
    )


def test_a_key_with_line_breaks_cannot_forge_lines_of_the_email_body() -> None:
    message = f"reading s3://candidate-test-input/{HOSTILE_KEY} failed (SlowDown)"
    body = body_for(outcome(HOSTILE_KEY, message))

    assert_no_forged_line(body, HOSTILE_KEY, message)
    assert "invoice\\nStatus:      SUCCEEDED\\nhttps://evil.example/login" in body
    assert "\\u2028line 2028 forged" in body
    assert "\\u202eexe.csv" in body  # shown, not obeyed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("reports/q3.csv", "reports/q3.csv"),
        ("ü/日本 a+b %20.csv", "ü/日本 a+b %20.csv"),
        ("a\nb", "a\\nb"),
        ("a\r\nb", "a\\r\\nb"),
        ("a\tb", "a\\tb"),
        ("a\x00\x0b\x0c\x1c\x1d\x1e\x7fb", "a\\x00\\x0b\\x0c\\x1c\\x1d\\x1e\\x7fb"),
        ("a\x85b", "a\\x85b"),
        ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),
        ("a\u202eb\u200fc", "a\\u202eb\\u200fc"),
        ("tag\U000e0001", "tag\\U000e0001"),
        ("back\\slash", "back\\\\slash"),  # so that a literal "\n" stays distinguishable
    ],
)
def test_shown_text_keeps_printable_characters_and_escapes_the_rest(
    text: str, expected: str
) -> None:
    assert results.shown(text) == expected


@pytest.mark.integration
def test_a_hostile_key_through_the_pipeline_leaves_no_forged_line_in_the_email(
    stack: Stack, client: Any
) -> None:
    event = stack.put(HOSTILE_KEY, b"")  # an empty file: REJECTED, so SUCCEEDED is forged

    client.lambda_.invoke("process_upload", event)

    [row] = stack.rows()
    assert (row["filename"], row["status"]) == (HOSTILE_KEY, "rejected")
    [message] = stack.notifications()
    body = message["Message"]
    assert "Status:      REJECTED" in body.splitlines()
    assert_no_forged_line(body, HOSTILE_KEY)
    assert "\n" not in message["Subject"]
