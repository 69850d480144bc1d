"""The reference CSV semantics (``docs/csv-rules.md``), written with Python's ``csv`` module.

This is the oracle: slow, obviously right, and the baseline of the benchmarks.
The production profiler (:mod:`chalicelib.core.csvprofile`) must agree with it on
every input; a hypothesis differential test holds it to that.
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
from collections.abc import Iterator

from chalicelib.core.profile import (
    BINARY,
    EMPTY,
    UNTERMINATED_QUOTE,
    Profile,
    choose_delimiter,
    header_preview,
    rejected,
)

csv.field_size_limit(sys.maxsize)  # rule 9: fields of any size


def decode(data: bytes) -> tuple[str, str]:
    """Rule 2: UTF-8 (BOM ignored), else cp1252 with undefined bytes replaced."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "cp1252"


class _Lines:
    """A line iterator that remembers when it ran dry.

    With ``strict=False`` the csv reader turns a quoted field still open at
    end of input into a last record instead of an error; a record produced
    after the lines are exhausted is exactly that case (rule 8).
    """

    def __init__(self, text: str) -> None:
        self._it = iter(io.StringIO(text, newline=""))
        self.exhausted = False

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        try:
            return next(self._it)
        except StopIteration:
            self.exhausted = True
            raise


def reference_profile(data: bytes) -> Profile:
    """Profile ``data`` with the csv module: the definition of a right answer."""
    size = len(data)
    if b"\0" in data:
        return rejected(BINARY, size)
    text, encoding = decode(data)
    delimiter = choose_delimiter(text.split("\n", 1)[0])
    lines = _Lines(text)
    reader = csv.reader(lines, dialect="excel", delimiter=delimiter, strict=False)
    header: list[str] | None = None
    records = 0
    for row in reader:
        if lines.exhausted:
            return rejected(UNTERMINATED_QUOTE, size, delimiter, encoding)
        if not row:  # rule 5: a blank record
            continue
        if header is None:
            header = row
        records += 1
    if header is None:
        return rejected(EMPTY, size, delimiter, encoding)
    return Profile(
        status="succeeded",
        row_count=records - 1,
        column_count=len(header),
        header=header_preview(header),
        delimiter=delimiter,
        encoding=encoding,
        bytes_read=size,
    )
