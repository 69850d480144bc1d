"""The reference CSV semantics (``docs/csv-rules.md``, rules 1-15), with Python's ``csv`` module.

This is the oracle: slow, obviously right, the whole input in memory, and the
baseline of the benchmarks. The production profiler
(:mod:`chalicelib.core.csvprofile`) must agree with it on every input; hypothesis
differential tests hold it to that.
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

import zstandard

from chalicelib.core.profile import (
    BINARY,
    CORRUPT_COMPRESSED,
    DEFAULT_SETTINGS,
    EMPTY,
    GZIP_MAGIC,
    MAX_RAGGED_EXAMPLES,
    NOT_CSV,
    UNTERMINATED_QUOTE,
    ZSTD_MAGIC,
    ColumnSample,
    Profile,
    ProfileSettings,
    RaggedExample,
    choose_delimiter,
    header_mismatch,
    is_skippable,
    not_csv_message,
    outcome,
    rejected,
    sep_line,
)

if TYPE_CHECKING:  # the contract model only when a contract is used
    from chalicelib.core.contractreference import ReferenceValidator

csv.field_size_limit(sys.maxsize)  # rule 12: fields of any size

Compression = Literal["gzip", "zstd"]


class Corrupt(Exception):
    """Rule 1: a compressed stream that is corrupt, truncated or followed by other data."""


def gunzip(data: bytes) -> bytes:
    """Rule 1: every gzip member; zero bytes after a member are skipped."""
    out = []
    while data:
        decompressor = zlib.decompressobj(wbits=31)
        try:
            out.append(decompressor.decompress(data))
        except zlib.error as exc:
            raise Corrupt(str(exc)) from exc
        if not decompressor.eof:
            raise Corrupt("truncated")
        data = decompressor.unused_data.lstrip(b"\0")
        if data and not data.startswith(GZIP_MAGIC):
            raise Corrupt("data after the last member")
    return b"".join(out)


def unzstd(data: bytes) -> bytes:
    """Rule 1: every zstd frame; skippable frames ignored."""
    out = []
    while data:
        if is_skippable(data):
            if len(data) < 8:
                raise Corrupt("truncated skippable frame")
            size = 8 + int.from_bytes(data[4:8], "little")
            if len(data) < size:
                raise Corrupt("truncated skippable frame")
            data = data[size:]
            continue
        if not data.startswith(ZSTD_MAGIC):
            raise Corrupt("data after the last frame")
        decompressor = zstandard.ZstdDecompressor().decompressobj()
        try:
            out.append(decompressor.decompress(data))
        except zstandard.ZstdError as exc:
            raise Corrupt(str(exc)) from exc
        if not decompressor.eof:
            raise Corrupt("truncated")
        data = decompressor.unused_data
    return b"".join(out)


def decompress(data: bytes) -> tuple[bytes, Compression | None]:
    """Rule 1: compression found from the first bytes, never from the name."""
    if data.startswith(GZIP_MAGIC):
        return gunzip(data), "gzip"
    if data.startswith(ZSTD_MAGIC):
        return unzstd(data), "zstd"
    return data, None


def decode(data: bytes) -> tuple[str, str]:
    """Rule 3: a BOM chooses the encoding; else UTF-8 if valid, else cp1252."""
    if data.startswith(codecs.BOM_UTF16_LE):
        return data[2:].decode("utf-16-le", errors="replace"), "utf-16-le"
    if data.startswith(codecs.BOM_UTF16_BE):
        return data[2:].decode("utf-16-be", errors="replace"), "utf-16-be"
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "cp1252"


class _Lines:
    """A line iterator that counts lines and remembers when it ran dry.

    With ``strict=False`` the csv reader turns a quoted field still open at
    end of input into a last record instead of an error; a record produced
    after the lines are exhausted is exactly that case (rule 11).
    """

    def __init__(self, text: str) -> None:
        self._it = iter(io.StringIO(text, newline=""))
        self.exhausted = False
        self.read = 0  # lines handed out so far

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        try:
            line = next(self._it)
        except StopIteration:
            self.exhausted = True
            raise
        self.read += 1
        return line


def reference_profile(  # noqa: C901
    data: bytes, settings: ProfileSettings = DEFAULT_SETTINGS
) -> Profile:
    """Profile ``data`` with the csv module: the definition of a right answer."""
    size = len(data)
    compression: Compression | None = None
    try:
        data, compression = decompress(data)
    except Corrupt:
        kind: Compression = "gzip" if data.startswith(GZIP_MAGIC) else "zstd"
        return rejected(CORRUPT_COMPRESSED, size, compression=kind)
    message = not_csv_message(data)
    if message is not None:
        return rejected(NOT_CSV, size, message=message, compression=compression)
    text, encoding = decode(data)
    if "\0" in text:
        return rejected(BINARY, size, compression=compression)
    delimiter = sep_line(text)
    source: Literal["sep_line", "detected"] = "sep_line"
    if delimiter is not None:
        text = text[5:]  # the line end stays: a blank record, and a line (rule 13)
    else:
        delimiter, source = choose_delimiter(text.split("\n", 1)[0]), "detected"
    lines = _Lines(text)
    reader = csv.reader(lines, dialect="excel", delimiter=delimiter, strict=False)
    header: list[str] | None = None
    records = ragged = 0
    examples: list[RaggedExample] = []
    sample: ColumnSample | None = None
    validator: ReferenceValidator | None = None
    while True:
        start = lines.read + 1  # the line the next record starts on (blank lines are records here)
        try:
            row = next(reader)
        except StopIteration:
            break
        if lines.exhausted:
            return rejected(
                UNTERMINATED_QUOTE,
                size,
                delimiter,
                encoding,
                delimiter_source=source,
                compression=compression,
            )
        if not row:  # rule 8: a blank record
            continue
        if header is None:
            header = row
            sample = ColumnSample(len(header), settings.profile_rows)
            if settings.contract is not None:
                from chalicelib.core.contractreference import ReferenceValidator, header_verdict

                mismatch = header_verdict(settings.contract, header)
                if mismatch is not None:  # reported before any row is read
                    return header_mismatch(
                        bytes_read=size,
                        delimiter=delimiter,
                        delimiter_source=source,
                        encoding=encoding,
                        compression=compression,
                        names=header,
                        contract=mismatch,
                    )
                validator = ReferenceValidator(settings.contract, header)
        elif len(row) != len(header):
            ragged += 1
            if len(examples) < MAX_RAGGED_EXAMPLES:
                examples.append(RaggedExample(records, start, len(row)))
        else:
            assert sample is not None
            sample.add(row)
            if validator is not None:
                validator.record(records, start, row)
        records += 1
    if header is None or sample is None:
        return rejected(
            EMPTY, size, delimiter, encoding, delimiter_source=source, compression=compression
        )
    return outcome(
        bytes_read=size,
        delimiter=delimiter,
        delimiter_source=source,
        encoding=encoding,
        compression=compression,
        names=header,
        records=records,
        ragged=ragged,
        examples=examples,
        sample=sample,
        settings=settings,
        contract=None if validator is None else validator.report(),
    )
