"""Compressed input decompressed on a thread while it is profiled (``Profiler(overlap=...)``).

The profiler hands gathered compressed input to one decompressing thread and
profiles the batch before while the thread inflates the next
(:meth:`chalicelib.core.csvprofile.Profiler._pump`). Hypothesis generates the
differential suite's wrapped inputs (gzip members, zstd frames, damaged or not)
and cuts them into random chunks; with the gathering and the batches made a few
bytes, every hand-over happens many times. The profile must be the reference's,
with the overlap on and off.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.core import csvprofile
from chalicelib.core.csvprofile import Profiler, profile_chunks
from chalicelib.core.csvreference import reference_profile
from chalicelib.core.profile import Profile, ProfileSettings
from tests.unit.test_csvprofile_differential import DIFFERENTIAL, chunked, same, wrapped


@contextmanager
def steps(gathered: int, batch: int) -> Iterator[None]:
    """The thread's input and output steps made ``gathered`` and ``batch`` bytes."""
    before = csvprofile._OVERLAP_INPUT, csvprofile._OVERLAP_BATCH
    csvprofile._OVERLAP_INPUT, csvprofile._OVERLAP_BATCH = gathered, batch
    try:
        yield
    finally:
        csvprofile._OVERLAP_INPUT, csvprofile._OVERLAP_BATCH = before


def profiled(chunks: Iterable[bytes], overlap: bool, settings: ProfileSettings) -> Profile:
    profiler = Profiler(settings, overlap=overlap)
    for chunk in chunks:
        profiler.feed(chunk)
    return profiler.finish()


@DIFFERENTIAL
@given(
    data=wrapped(),
    draw=st.data(),
    gathered=st.sampled_from([1, 7, 100, 1 << 18]),
    batch=st.sampled_from([1, 50, 4096, 1 << 20]),
    rows=st.integers(0, 5),
)
def test_overlapped_decompression_gives_the_references_profile(
    data: bytes, draw: st.DataObject, gathered: int, batch: int, rows: int
) -> None:
    settings = ProfileSettings(profile_rows=rows)
    reference = reference_profile(data, settings)
    with steps(gathered, batch):
        same(profiled(chunked(draw.draw, data), True, settings), reference)
        same(profiled(chunked(draw.draw, data), False, settings), reference)


COMPRESS = {"gzip": gzip.compress, "zstd": zstandard.compress}


@pytest.mark.parametrize("overlap", [True, False])
@pytest.mark.parametrize("compression", sorted(COMPRESS))
@pytest.mark.parametrize("chunk", [3, 1000, 1 << 16])
@pytest.mark.parametrize(
    "text",
    [
        b"sep=\xe9\na\xe9b\n" + b"1\xe92\n" * 30_000,  # a sep line only the reference reads
        b"x" * 1_100_000 + b",y\n1,2\n",  # a first line too long to wait for
    ],
    ids=["non-ASCII sep line", "long first line"],
)
def test_compressed_input_handed_to_the_reference_is_read_whole(
    text: bytes, compression: str, chunk: int, overlap: bool
) -> None:
    """The profiler stops feeding its container once the reference has the input: the
    reference then judges the whole stream (it was reported corrupt before, whenever
    the file was more than one chunk)."""
    data = COMPRESS[compression](text)
    pieces = (data[at : at + chunk] for at in range(0, len(data), chunk))
    with steps(64, 4096):
        profile = profiled(pieces, overlap, ProfileSettings())
    assert profile.status == "succeeded"
    same(profile, reference_profile(data))


def test_a_profiler_left_half_way_leaves_the_thread_free() -> None:
    """A caller may stop feeding at any time (the deadline): nothing of its input is
    left on the thread, so the next profiler is served."""
    data = gzip.compress(b"a,b\n" + b"1,2\n" * 200_000)
    with steps(1024, 4096):
        left = Profiler(overlap=True)
        for at in range(0, len(data) // 2, 1000):
            left.feed(data[at : at + 1000])
        whole = profile_chunks([data[: len(data) // 3], data[len(data) // 3 :]])
    assert whole.row_count == 200_000
    assert csvprofile._inflating()._work_queue.empty()


@pytest.mark.parametrize(
    ("memory", "on"), [("1024", False), ("1769", False), ("3538", True), ("10240", True)]
)
def test_a_lambda_function_overlaps_only_with_two_vcpus_of_time(
    monkeypatch: pytest.MonkeyPatch, memory: str, on: bool
) -> None:
    """Lambda shows two CPUs at any memory size but gives one vCPU per 1,769 MB."""
    cpus = len(os.sched_getaffinity(0))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory)
    assert csvprofile.overlap_default() is (on and cpus > 1)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    assert csvprofile.overlap_default() is (cpus > 1)
