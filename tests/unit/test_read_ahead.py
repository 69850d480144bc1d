"""The read-ahead of S3 chunks: order kept, errors raised, an early stop frees the reader."""

from __future__ import annotations

import threading
from collections.abc import Generator

import pytest

from chalicelib.adapters.storage import read_ahead
from chalicelib.core.errors import StorageError


def numbered(count: int, closed: threading.Event, fail_at: int | None = None) -> Generator[bytes]:
    try:
        for i in range(count):
            if i == fail_at:
                raise StorageError("the connection dropped mid-stream")
            yield b"%d," % i
    finally:
        closed.set()


def test_chunks_arrive_in_order_and_the_source_is_closed() -> None:
    closed = threading.Event()
    assert b"".join(read_ahead(numbered(500, closed), depth=2)) == b"".join(
        b"%d," % i for i in range(500)
    )
    assert closed.wait(2)


def test_a_reader_error_is_raised_to_the_consumer_after_the_good_chunks() -> None:
    closed = threading.Event()
    chunks = read_ahead(numbered(10, closed, fail_at=4), depth=2)
    assert [next(chunks) for _ in range(4)] == [b"0,", b"1,", b"2,", b"3,"]
    with pytest.raises(StorageError, match="dropped mid-stream"):
        next(chunks)
    assert closed.wait(2)


def test_closing_early_stops_the_reader_and_closes_the_source() -> None:
    closed = threading.Event()
    chunks = read_ahead(numbered(10_000, closed), depth=2)
    assert next(chunks) == b"0,"
    chunks.close()
    assert closed.wait(2)


def test_the_next_chunk_is_read_while_this_one_is_counted() -> None:
    second_read = threading.Event()

    def source() -> Generator[bytes]:
        yield b"first"
        yield b"second"
        second_read.set()
        yield b"third"

    chunks = read_ahead(source(), depth=2)
    assert next(chunks) == b"first"
    # The consumer has not asked for more, yet the reader has already fetched on.
    assert second_read.wait(2)
    assert list(chunks) == [b"second", b"third"]
