"""Parallel ranged GETs against moto over HTTP: the same profile as one stream.

A small threshold and range size make a few-hundred-KiB object a multi-range
read; the ranges are profiled on their own threads and stitched.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from chalicelib.adapters.storage import InputObjects
from chalicelib.core.csvprofile import profile_bytes
from chalicelib.core.errors import ObjectMissing, ReadInterrupted
from chalicelib.core.events import Upload, uploads_from_event
from chalicelib.core.profile import ProfileSettings
from chalicelib.core.ranges import RangePlan
from tests.conftest import Stack

RANGE = 64 << 10


def ranged_reader(stack: Stack, **overrides: Any) -> InputObjects:
    options: dict[str, Any] = {
        "chunk_size": 16 << 10,
        "parallel_threshold": 2 * RANGE,
        "range_size": RANGE,
        "ranges_in_flight": 4,
    }
    options.update(overrides)
    return InputObjects(stack.s3, **options)


def upload_of(stack: Stack, key: str, body: bytes) -> Upload:
    [upload] = uploads_from_event(stack.put(key, body))
    return upload


def straddling_body() -> bytes:
    """Rows with a quoted newline (and a CRLF) exactly across every range boundary."""
    header = b'id,"note",value\n'
    rows = [header]
    size = len(header)
    i = 0
    while size < 6 * RANGE:
        boundary = (size // RANGE + 1) * RANGE
        if 0 < boundary - size < 40:  # put the quoted line end astride the boundary
            pad = boundary - size - len(b'%d,"x' % i)
            row = b'%d,"x%s\r\ny ""q""",%d\n' % (i, b"a" * max(pad, 0), i)
        else:
            row = b"%d,plain text %d,%d\n" % (i, i * 7, i)
        rows.append(row)
        size += len(row)
        i += 1
    return b"".join(rows)


def test_a_multi_range_object_counts_as_one_stream(stack: Stack) -> None:
    body = straddling_body()
    upload = upload_of(stack, "big/ranged.csv", body)
    streamed_info, streamed = InputObjects(stack.s3).profile_object(upload)
    ranges: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        ranges.append(params.get("Range", ""))

    stack.s3.meta.events.register("provide-client-params.s3.GetObject", record)
    try:
        info, profile = ranged_reader(stack).profile_object(upload)
    finally:
        stack.s3.meta.events.unregister("provide-client-params.s3.GetObject", record)
    # The leading spans (until the header has ended and the column sample of 10,000
    # rows is full) go in order to one profiler; the others, with one byte of
    # overlap, to range profilers.
    leading = 1 + sum(f"bytes={k * RANGE}-" in " ".join(ranges) for k in range(1, 7))
    assert 1 < leading < 7
    assert sorted(ranges) == sorted(
        [f"bytes={k * RANGE}-{(k + 1) * RANGE - 1}" for k in range(leading)]
        + [
            f"bytes={k * RANGE - 1}-{min((k + 1) * RANGE, len(body)) - 1}"
            for k in range(leading, 7)
        ]
    )
    assert profile == streamed == profile_bytes(body)
    assert profile.row_count
    assert profile.row_count > 1000
    assert info == streamed_info
    assert info.size == len(body)


@pytest.mark.parametrize("range_size", [RANGE - 1, RANGE, RANGE + 7, 3 * RANGE])
@pytest.mark.parametrize("in_flight", [1, 2, 4])
def test_any_range_size_gives_the_same_profile(
    stack: Stack, range_size: int, in_flight: int
) -> None:
    body = (
        "é;ü\n".encode()
        + b"".join(b'%d;"a\n""b""";\xe6\x97\xa5\r\n' % i for i in range(20_000))
        + b'1;"open'
    )
    upload = upload_of(stack, "big/semi.csv", body)
    reader = ranged_reader(stack, range_size=range_size, ranges_in_flight=in_flight)
    _, profile = reader.profile_object(upload)
    assert profile == profile_bytes(body)
    assert profile.error is not None
    assert profile.error.code == "UNTERMINATED_QUOTE"


def test_a_header_longer_than_the_first_range_is_read_on(stack: Stack) -> None:
    body = b'"' + b"h" * (RANGE + 100) + b'\n",b\n' + b"1,2\n" * 50_000
    upload = upload_of(stack, "big/long-header.csv", body)
    _, profile = ranged_reader(stack).profile_object(upload)
    assert profile == profile_bytes(body)
    assert profile.row_count == 50_000


def test_an_object_replaced_mid_read_fails_cleanly(stack: Stack) -> None:
    body = straddling_body()
    upload = upload_of(stack, "big/replaced.csv", body)
    replaced = threading.Event()

    def replace_once(step: str) -> None:  # the deadline hook: runs per chunk
        if not replaced.is_set():
            replaced.set()
            stack.s3.put_object(Bucket=upload.bucket, Key=upload.key, Body=body + b"9,9,9\n")

    with pytest.raises(ReadInterrupted) as caught:
        ranged_reader(stack).profile_object(upload, replace_once)
    assert isinstance(caught.value.error, ObjectMissing)
    assert caught.value.error.code == "OBJECT_REPLACED"
    assert caught.value.info.size == len(body)
    # Nothing left running: no range thread outlives the call.
    assert not [t for t in threading.enumerate() if t.name.startswith("s3-range")]


def test_an_object_gone_before_the_read_is_missing(stack: Stack) -> None:
    body = straddling_body()
    upload = upload_of(stack, "big/gone.csv", body)
    stack.s3.delete_object(Bucket=upload.bucket, Key=upload.key)
    with pytest.raises(ObjectMissing):
        ranged_reader(stack).profile_object(upload)


def test_the_pipeline_reads_a_large_upload_in_parallel_ranges(stack: Stack) -> None:
    """The whole handler, with a container whose threshold makes this object 'large'."""
    from chalicelib.runtime import Runtime

    body = straddling_body()
    event = stack.put("ranged/large.csv", body)
    runtime = Runtime.from_env()
    runtime.pipeline.objects = ranged_reader(stack)
    calls: list[str] = []
    stack.s3.meta.events.register(  # the client the ranged reader was handed
        "provide-client-params.s3.GetObject",
        lambda params, **_: calls.append(params.get("Range", "")),
    )
    try:
        runtime.handlers.handle_s3_event(event)
    finally:
        runtime.close()

    assert len([c for c in calls if c]) > 1  # ranged GETs, not one stream
    [row] = stack.rows()
    expected = profile_bytes(body)
    assert (row["status"], row["row_count"]) == ("succeeded", expected.row_count)
    assert stack.result("results/ranged/large.json")["row_count"] == expected.row_count
    assert len(stack.notifications()) == 1


def test_ragged_rows_across_ranges_with_the_reader_settings(stack: Stack) -> None:
    """Ranges profiled apart (the column sample full after 5 rows) report the ragged
    rows and examples of one stream, with the reader's RAGGED_ROWS and PROFILE_ROWS."""
    settings = ProfileSettings(ragged_rows="accept", profile_rows=5)
    rows = []
    for i in range(30_000):
        if i % 997 == 0:
            rows.append(b'%d,"ragged\r\nrow",x,y\r\n' % i)  # 4 fields, 2 lines
        else:
            rows.append(b"%d,%d,%d\n" % (i, i * 3, i % 7))
    body = b"a,b,c\n" + b"".join(rows)
    upload = upload_of(stack, "big/ragged.csv", body)
    _, profile = ranged_reader(stack, profile_settings=settings).profile_object(upload)
    assert profile == profile_bytes(body, settings)
    assert profile.ragged_rows == 31
    assert profile.ragged_examples is not None
    assert len(profile.ragged_examples) == 10
    assert profile.warnings[0].code == "RAGGED_ROWS"
    # The same plan in memory hands every range but the first to a RangeProfiler.
    plan = RangePlan.every(len(body), RANGE, settings)
    for span in plan.leading():
        plan.first.feed(body[span.start : span.stop])
    assert len(plan.rest()) == len(plan.spans) - 1 > 3
