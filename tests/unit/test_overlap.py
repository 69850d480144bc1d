"""Compressed input decompressed on a thread while it is profiled (``Profiler(overlap=...)``).

The profiler hands compressed input to one decompressing thread, which keeps
inflating while the caller profiles the pieces it took
(:class:`chalicelib.core.csvprofile._Ahead`). Hypothesis generates the
differential suite's wrapped inputs (gzip members, zstd frames, damaged or not)
and cuts them into random chunks; with the input and output the thread may
hold made a few bytes, the caller waits, and the thread stops and restarts,
many times. The profile must be the reference's, with the overlap on and off. With the overlap
on, the column sample's text is held and parsed in slices while the caller would
wait; those sizes are made a few bytes too.
"""

from __future__ import annotations

import gzip
import os
import sys
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
def steps(ahead: int, held: int, sample_slice: int = 1 << 13) -> Iterator[None]:
    """The input handed over ahead of the thread, and the output it may hold, made
    ``ahead`` and ``held`` bytes; the sample's text parsed ``sample_slice`` bytes at
    a time while the caller would wait, and at most ``4 * sample_slice`` held."""
    names = ("_AHEAD_INPUT", "_AHEAD_OUTPUT", "_SAMPLE_SLICE", "_SAMPLE_HELD")
    before = [getattr(csvprofile, name) for name in names]
    for name, size in zip(names, (ahead, held, sample_slice, 4 * sample_slice), strict=True):
        setattr(csvprofile, name, size)
    try:
        yield
    finally:
        for name, size in zip(names, before, strict=True):
            setattr(csvprofile, name, size)


def profiled(chunks: Iterable[bytes], overlap: bool, settings: ProfileSettings) -> Profile:
    return finished(Profiler(settings, overlap=overlap), chunks)


def finished(profiler: Profiler, chunks: Iterable[bytes]) -> Profile:
    for chunk in chunks:
        profiler.feed(chunk)
    return profiler.finish()


@DIFFERENTIAL
@given(
    data=wrapped(),
    draw=st.data(),
    ahead=st.sampled_from([1, 7, 100, 1 << 18]),
    held=st.sampled_from([1, 50, 4096, 1 << 20]),
    sample_slice=st.sampled_from([1, 5, 64, 1 << 13]),
    rows=st.integers(0, 5),
)
def test_overlapped_decompression_gives_the_references_profile(
    data: bytes, draw: st.DataObject, ahead: int, held: int, sample_slice: int, rows: int
) -> None:
    settings = ProfileSettings(profile_rows=rows)
    reference = reference_profile(data, settings)
    with steps(ahead, held, sample_slice):
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


def test_a_profiler_left_half_way_leaves_its_thread_ended() -> None:
    """A caller may stop feeding at any time (the deadline): its thread stops by
    itself, holding no more than its output bound, and the next profiler is served."""
    data = gzip.compress(b"a,b\n" + b"".join(b"%d,%d\n" % (i, i * 7) for i in range(200_000)))
    with steps(1024, 4096):
        left = Profiler(overlap=True)
        for at in range(0, len(data) // 2, 1000):
            left.feed(data[at : at + 1000])
        whole = profile_chunks([data[: len(data) // 3], data[len(data) // 3 :]])
        ahead = left._ahead
        assert ahead is not None
        assert ahead._thread is not None
        ahead._thread.join(timeout=30)
        assert not ahead._thread.is_alive()
        assert not ahead._running
        # It stopped once it held its bound (a piece may pass it), or ran out of input.
        assert ahead._output_size < 4096 + csvprofile._OUTPUT_STEP
        assert ahead._output_size >= 4096 or not ahead._input
    assert whole.row_count == 200_000


def test_an_error_on_the_thread_is_raised_to_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the thread cannot handle (the container's own errors are a profile's
    CORRUPT_COMPRESSED) reaches the caller; its thread ends, and the next profiler
    is served."""
    data = gzip.compress(b"a,b\n" + b"".join(b"%d,%d\n" % (i, i * 7) for i in range(50_000)))
    profiler = Profiler(overlap=True)
    profiler.feed(data[:100])  # gzip by its magic bytes: the thread starts with this chunk

    def broken(self: object, chunk: bytes) -> Iterator[bytes]:
        raise MemoryError("no room")
        yield b""

    monkeypatch.setattr(csvprofile._Container, "feed", broken)
    with pytest.raises(MemoryError, match="no room"):
        finished(profiler, [data[100:]])  # raised on feed or on finish: the thread's time
    ahead = profiler._ahead
    assert ahead is not None  # it was the thread's error
    assert ahead._thread is not None
    ahead._thread.join(timeout=30)
    assert not ahead._thread.is_alive()
    monkeypatch.undo()
    assert profile_chunks([data[:100], data[100:]]).row_count == 50_000


@pytest.mark.parametrize("compression", sorted(COMPRESS))
def test_the_thread_starts_with_the_first_chunk_and_the_switch_interval_is_put_back(
    compression: str,
) -> None:
    """The first chunk is inflated on the thread (the caller does not inflate it and
    parse its sample first), and the quicker GIL hand-over of the caller's idle work
    ends with the profile."""
    text = b"a,b\n" + b"".join(b"%d,x%d\n" % (i, i) for i in range(100_000))
    data = COMPRESS[compression](text)
    before = sys.getswitchinterval()
    profiler = Profiler(overlap=True)
    profiler.feed(data[: 1 << 16])
    assert profiler._ahead is not None
    for at in range(1 << 16, len(data), 1 << 16):
        profiler.feed(data[at : at + (1 << 16)])
    profile = profiler.finish()
    assert sys.getswitchinterval() == before
    assert profile.row_count == 100_000
    same(profile, reference_profile(data))


@pytest.mark.parametrize("compression", sorted(COMPRESS))
def test_the_caller_parses_the_sample_while_it_waits_with_quick_switches(
    compression: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread slower than the caller: the caller parses the sample's text in slices
    while it waits (in put and, after each wait, in drain), the switch interval at
    most 0.2 ms meanwhile, and the profile is the reference's."""
    import time

    text = b"a,b,c\n" + b"".join(b"%d,x%d,%d.5\n" % (i, i, i) for i in range(60_000))
    data = COMPRESS[compression](text)
    feed = csvprofile._Container.feed

    def slow(self: csvprofile._Container, chunk: bytes) -> Iterator[bytes]:
        for piece in feed(self, chunk):
            time.sleep(0.002)
            yield piece

    monkeypatch.setattr(csvprofile._Container, "feed", slow)
    slices: list[float] = []
    sample_slice = Profiler._sample_slice

    def counted(self: Profiler) -> bool:
        worked = sample_slice(self)
        if worked:
            slices.append(sys.getswitchinterval())
        return worked

    monkeypatch.setattr(Profiler, "_sample_slice", counted)
    before = sys.getswitchinterval()
    with steps(1 << 10, 1 << 14, sample_slice=1 << 10):
        profile = profiled(
            (data[at : at + 4096] for at in range(0, len(data), 4096)),
            True,
            ProfileSettings(profile_rows=50_000),
        )
    assert len(slices) > 10
    assert max(slices) <= csvprofile._IDLE_SWITCH_INTERVAL
    assert sys.getswitchinterval() == before
    same(profile, reference_profile(data, ProfileSettings(profile_rows=50_000)))


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
