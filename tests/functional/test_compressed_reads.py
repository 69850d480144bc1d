"""A decompression bomb against moto over HTTP: the deadline stops it between chunks.

Rule 1's container gives a bounded amount of text per step and ``Profiler.feed``
returns once one chunk's text is profiled, so the storage adapter's deadline
check, which runs before every chunk, stops a gzip that inflates a thousandfold
after the chunk in hand, however much text the rest would give.
"""

from __future__ import annotations

import gzip

import pytest

from chalicelib.adapters.storage import InputObjects
from chalicelib.core.deadline import Deadline
from chalicelib.core.errors import DeadlineExceeded, ReadInterrupted
from chalicelib.core.events import uploads_from_event
from tests.conftest import Stack

CHUNK = 16 << 10


def test_a_gzip_bomb_is_stopped_by_the_deadline_between_chunks(stack: Stack) -> None:
    member = gzip.compress(b"1,2\n" * (4 << 20), compresslevel=9)  # 16 MiB of text each
    body = gzip.compress(b"a,b\n") + member * 200  # 3.2 GiB of text in about 3 MB
    [upload] = uploads_from_event(stack.put("bomb/zeros.csv.gz", body))
    budget = {"checks": 4}  # a clock that runs out at the fourth check

    def remaining_ms() -> int:
        return 60_000 if budget["checks"] > 0 else 0

    deadline = Deadline(remaining_ms, reserve_seconds=1.0)
    steps: list[str] = []

    def check(step: str) -> None:
        steps.append(step)
        budget["checks"] -= 1
        deadline.check(step)

    objects = InputObjects(stack.s3, chunk_size=CHUNK, parallel_threshold=len(body) + 1)
    with pytest.raises(ReadInterrupted) as caught:
        objects.profile_object(upload, check)
    assert isinstance(caught.value.error, DeadlineExceeded)
    assert caught.value.info.size == len(body)
    # It stopped at the check that found the time gone, three chunks in.
    assert len(steps) == 4
    assert steps[-1] == f"reading the file ({3 * CHUNK:,} of {len(body):,} bytes)"
