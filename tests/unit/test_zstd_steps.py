"""zstd output per step is bounded (``csvprofile._ZstdBlocks``).

zstandard's ``decompress`` gives all that its input holds, so the container
follows each frame's block headers and ends a step where the next block could
pass :data:`csvprofile._ZSTD_STEP_MAX` (each counted at the most it can give).
Whatever the frames hold (raw, RLE and
compressed blocks, checksums, content sizes, flushed small blocks, several
frames, a skippable frame), cut anywhere, the output must be zstandard's own
and no piece more than the bound plus one block.
"""

from __future__ import annotations

import io
import tracemalloc

import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core import csvprofile
from chalicelib.core.csvprofile import _Container, profile_chunks

BOUND = csvprofile._ZSTD_STEP_MAX + csvprofile.ZSTD_BLOCK_MAX

#: Pieces of text a frame is written from: rows, runs of one byte (RLE blocks),
#: bytes that do not compress (raw blocks), long repeats (matches far back).
PARTS = st.one_of(
    st.binary(min_size=1, max_size=3000),
    st.builds(lambda b, n: bytes([b]) * n, st.integers(0, 255), st.integers(1, 400_000)),
    st.builds(lambda n: b"1,a,2.5\n" * n, st.integers(1, 100_000)),
    st.builds(lambda n: bytes(range(256)) * n, st.integers(1, 600)),
)


@st.composite
def frames(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """zstd frames of the drawn parts, written as the options say; and their text."""
    stream, text = io.BytesIO(), b""
    for _ in range(draw(st.integers(1, 3))):
        params = zstandard.ZstdCompressor(
            level=draw(st.sampled_from([-5, 1, 3, 19])),
            write_checksum=draw(st.booleans()),
            write_content_size=draw(st.booleans()),
        )
        parts = draw(st.lists(PARTS, min_size=1, max_size=4))
        if draw(st.booleans()):
            stream.write(params.compress(b"".join(parts)))  # one shot: a content size
        else:
            writer = params.stream_writer(stream, closefd=False)
            for part in parts:
                writer.write(part)
                if draw(st.booleans()):
                    writer.flush(zstandard.FLUSH_BLOCK)  # small blocks
            writer.flush(zstandard.FLUSH_FRAME)
        text += b"".join(parts)
        if draw(st.booleans()):
            stream.write(b"\x50\x2a\x4d\x18" + (3).to_bytes(4, "little"))  # skippable
            stream.write(b"abc")
    return stream.getvalue(), text


#: The bound made small enough for the drawn frames to reach it.
SMALL_STEP = 1 << 18


@settings(max_examples=60, deadline=None)
@given(framed=frames(), cuts=st.lists(st.integers(1, 1 << 17), min_size=1, max_size=6))
def test_every_piece_is_bounded_and_the_output_is_zstandards(
    framed: tuple[bytes, bytes], cuts: list[int]
) -> None:
    data, text = framed
    for step_max in (csvprofile._ZSTD_STEP_MAX, SMALL_STEP):
        before, csvprofile._ZSTD_STEP_MAX = csvprofile._ZSTD_STEP_MAX, step_max
        try:
            container, out, at, turn = _Container(), [], 0, 0
            while at < len(data):
                size = cuts[turn % len(cuts)]
                out.extend(container.feed(data[at : at + size]))
                at, turn = at + size, turn + 1
            out.extend(container.finish())
        finally:
            csvprofile._ZSTD_STEP_MAX = before
        assert not container.corrupt
        assert b"".join(out) == text
        assert all(len(piece) <= step_max + csvprofile.ZSTD_BLOCK_MAX for piece in out)


def test_the_frame_header_is_as_long_as_zstandard_says_for_every_descriptor() -> None:
    for descriptor in range(256):
        if descriptor & 0x08:
            continue  # the reserved bit: zstandard refuses the frame
        blocks = csvprofile._ZstdBlocks()
        blocks._frame(descriptor)
        header = b"\x28\xb5\x2f\xfd" + bytes([descriptor]) + b"\0" * 14
        assert 5 + blocks._skip == zstandard.frame_header_size(header), descriptor


@settings(max_examples=60, deadline=None)
@given(
    parts=st.lists(PARTS, min_size=1, max_size=4),
    level=st.sampled_from([-5, 1, 3, 19]),
    checksum=st.booleans(),
    flushes=st.booleans(),
    cuts=st.lists(st.integers(1, 5000), min_size=1, max_size=6),
)
def test_the_walk_ends_exactly_where_the_frame_does(
    parts: list[bytes], level: int, checksum: bool, flushes: bool, cuts: list[int]
) -> None:
    """Every header and body is where RFC 8878 puts it: the walk is at the frame's end
    after its last byte, and not one byte before."""
    compressor = zstandard.ZstdCompressor(level=level, write_checksum=checksum)
    stream = io.BytesIO()
    writer = compressor.stream_writer(stream, closefd=False)
    for part in parts:
        writer.write(part)
        if flushes:
            writer.flush(zstandard.FLUSH_BLOCK)
    writer.flush(zstandard.FLUSH_FRAME)
    frame = stream.getvalue()
    for length in (len(frame) - 1, len(frame)):
        blocks, at, turn = csvprofile._ZstdBlocks(), 0, 0
        while at < length:
            view = memoryview(frame)[at : min(length, at + cuts[turn % len(cuts)])]
            done = 0
            while done < len(view):
                done = blocks.step(view, done)
            at, turn = at + len(view), turn + 1
        ended = blocks._phase == blocks._END and not blocks._skip
        assert ended is (length == len(frame))


def test_a_bomb_after_ordinary_rows_is_read_in_bounded_steps() -> None:
    """Ordinary rows, then 1 GiB of one row that compresses about 10,000-fold: before,
    one ``decompress`` call gave 178 MB once the step had grown on the ordinary rows."""
    rows = b"".join(b"%d,name%d,%d.5\n" % (i, i * 7919 % 100_003, i) for i in range(100_000))
    stream = io.BytesIO()
    writer = zstandard.ZstdCompressor(level=3).stream_writer(stream, closefd=False)
    writer.write(b"id,name,amount\n" + rows)
    block = b"1,a,2.5\n" * (1 << 17)
    for _ in range(1024):
        writer.write(block)
    writer.flush(zstandard.FLUSH_FRAME)
    data = stream.getvalue()
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    tracemalloc.start()
    try:
        result = profile_chunks(chunks)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.row_count == 100_000 + (1024 << 17)
    assert peak < 24 << 20
