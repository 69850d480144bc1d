"""What the profiler is measured against, each run as its own process.

``python -m bench.baselines APPROACH FILE``:

- ``stream``, ``naive``: the csv module; print the number of records (blank
  lines skipped, header included), like the profiler's ``row_count + 1``;
- ``polars``, ``duckdb``: the anchors of the issue, ``pl.scan_csv(path)
  .select(pl.len())`` and ``SELECT count(*) FROM read_csv(path)``; print the
  rows plus the header, likewise;
- ``gunzip-zlib``, ``gunzip-isal``, ``gunzip-zlib-ng``, ``unzstd``: decompress
  the file alone, as the profiler reads it (64 KiB reads, every gzip member,
  at most 256 KiB of output per step, glibc's heap kept as the profiler keeps
  it: ``chalicelib.core.heap``) and print the decompressed size;
- ``profile-zlib``: the profiler's CLI with gzip inflated by ``zlib``.
"""

from __future__ import annotations

import csv
import io
import sys
import zlib
from collections.abc import Callable
from typing import Any

from chalicelib.core.heap import keep_freed_heap

csv.field_size_limit(sys.maxsize)  # as the reference does: fields of any size


def stream(path: str) -> int:
    """The reference approach: a text stream (newline='') read by csv.reader."""
    with open(path, newline="", encoding="utf-8") as text:
        return sum(1 for row in csv.reader(text) if row)


def naive(path: str) -> int:
    """Read the whole file, then csv.reader over it: simple, and memory grows with it."""
    with open(path, newline="", encoding="utf-8") as text:
        whole = text.read()
    return sum(1 for row in csv.reader(io.StringIO(whole, newline="")) if row)


def polars(path: str) -> int:
    import polars as pl

    return int(pl.scan_csv(path).select(pl.len()).collect().item()) + 1


def duckdb(path: str) -> int:
    import duckdb as db

    with db.connect() as connection:
        row = connection.execute("SELECT count(*) FROM read_csv(?)", [path]).fetchone()
    assert row is not None
    return int(row[0]) + 1


READ = 1 << 16  # the profiler CLI's reads
STEP = 1 << 18  # its most output per step


def _gunzip(library: Any) -> Callable[[str], int]:
    def gunzip(path: str) -> int:
        keep_freed_heap()  # as the profiler does: else isal's pieces are mmap-ed each time
        size = 0
        decompressor = library.decompressobj(wbits=31)
        with open(path, "rb") as stream:
            for data in iter(lambda: stream.read(READ), b""):
                while data:
                    size += len(decompressor.decompress(data, STEP))
                    data = decompressor.unconsumed_tail
                    if decompressor.eof:  # the next member, past zero bytes
                        data = decompressor.unused_data.lstrip(b"\0")
                        decompressor = library.decompressobj(wbits=31)
        return size

    return gunzip


def gunzip_isal(path: str) -> int:
    from isal import isal_zlib

    return _gunzip(isal_zlib)(path)


def gunzip_zlib_ng(path: str) -> int:
    from zlib_ng import zlib_ng

    return _gunzip(zlib_ng)(path)


def unzstd(path: str) -> int:
    import zstandard

    keep_freed_heap()
    size = 0
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    with open(path, "rb") as stream:
        for data in iter(lambda: stream.read(READ), b""):
            size += len(decompressor.decompress(data))
    return size


def profile_zlib(path: str) -> int:
    from chalicelib import csvprofile
    from chalicelib.core.csvprofile import use_gunzip

    with use_gunzip("zlib"):
        return csvprofile.main([path])


APPROACHES: dict[str, Callable[[str], int]] = {
    "stream": stream,
    "naive": naive,
    "polars": polars,
    "duckdb": duckdb,
    "gunzip-zlib": _gunzip(zlib),
    "gunzip-isal": gunzip_isal,
    "gunzip-zlib-ng": gunzip_zlib_ng,
    "unzstd": unzstd,
}


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "profile-zlib":
        return profile_zlib(argv[1])  # prints the profile, exits as the CLI does
    if len(argv) != 2 or argv[0] not in APPROACHES:
        print(f"usage: python -m bench.baselines {{{'|'.join(APPROACHES)}}} FILE", file=sys.stderr)
        return 2
    print(APPROACHES[argv[0]](argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
