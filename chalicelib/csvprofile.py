"""Streaming CSV profiler: counts records in chunks with flat memory.

It implements DESIGN.md's reference semantics (:mod:`chalicelib.csvreference`)
on bytes, without decoding or building rows: only the state of the record
machine crosses a chunk boundary, so memory stays flat whatever the size of
the file or of a field.

Run it on local files::

    python -m chalicelib.csvprofile data.csv other.csv
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import sys
from collections.abc import Iterable, Sequence
from typing import BinaryIO

from chalicelib.profile import (
    BINARY,
    DELIMITERS,
    EMPTY,
    UNTERMINATED_QUOTE,
    Profile,
    header_preview,
    rejected,
)

CHUNK_SIZE = 1 << 20
#: How much of the file's start is kept to show the header to people.
HEAD_BYTES = 64 * 1024

# States of the reference reader (CPython's Modules/_csv.c), reduced to the
# ones that matter for counting records and the header's fields.
_START_RECORD, _START_FIELD, _IN_FIELD, _IN_QUOTED, _QUOTE_IN_QUOTED = range(5)
_QUOTE = ord('"')
_LF, _CR = ord("\n"), ord("\r")
_CR_TO_LF = bytes.maketrans(b"\r", b"\n")


class _RecordMachine:
    """Counts records for one delimiter, fed any split of the byte stream."""

    __slots__ = ("_dbyte", "_header_delims", "delimiter", "header_fields", "records", "state")

    def __init__(self, delimiter: bytes) -> None:
        self.delimiter = delimiter
        self._dbyte = delimiter[0]
        self.state = _START_RECORD
        self.records = 0
        self._header_delims = 0
        #: Fields in the first record, once it has ended.
        self.header_fields: int | None = None

    def feed(self, buf: bytes) -> None:
        pos, end = 0, len(buf)
        find = buf.find
        while pos < end:
            state = self.state
            if state == _IN_QUOTED:
                quote = find(b'"', pos)
                if quote < 0:
                    return
                self.state = _QUOTE_IN_QUOTED
                pos = quote + 1
            elif state == _QUOTE_IN_QUOTED:
                self._after_closing_quote(buf[pos])
                pos += 1
            else:
                quote = find(b'"', pos)
                stop = end if quote < 0 else quote
                if stop > pos:
                    self._unquoted(buf[pos:stop])
                if quote < 0:
                    return
                if self.state != _IN_FIELD:  # a quote opens a field only at its start
                    self.state = _IN_QUOTED
                pos = quote + 1

    def finish(self) -> bool:
        """End of input; True when a quoted field was left open (rule 8)."""
        state = self.state
        if state != _START_RECORD:
            self._end_record()
        return state == _IN_QUOTED

    def _after_closing_quote(self, byte: int) -> None:
        if byte == _QUOTE:  # "" inside a quoted field
            self.state = _IN_QUOTED
        elif byte == self._dbyte:
            if self.header_fields is None:
                self._header_delims += 1
            self.state = _START_FIELD
        elif byte in (_LF, _CR):
            self._end_record()
        else:  # strict=False: text after the closing quote joins the field
            self.state = _IN_FIELD

    def _end_record(self) -> None:
        self.records += 1
        if self.header_fields is None:
            self.header_fields = self._header_delims + 1
        self.state = _START_RECORD

    def _state_after(self, seg: bytes) -> int:
        return _START_FIELD if seg[-1] == self._dbyte else _IN_FIELD

    def _unquoted(self, seg: bytes) -> None:
        """A run of bytes with no quote, entered in an unquoted state."""
        if self.header_fields is None:
            seg = self._header_part(seg)
            if not seg:
                return
        if b"\r" in seg:
            seg = seg.replace(b"\r\n", b"\n")
            if b"\r" in seg:
                seg = seg.translate(_CR_TO_LF)
        first = seg.find(b"\n")
        if first < 0:
            self.state = self._state_after(seg)
            return
        if first > 0 or self.state != _START_RECORD:
            self.records += 1
        last = seg.rfind(b"\n")
        if last > first:
            middle = seg[first : last + 1]
            while b"\n\n" in middle:  # blank lines are not records (rule 5)
                middle = middle.replace(b"\n\n", b"\n")
            self.records += middle.count(b"\n") - 1
        if last + 1 < len(seg):
            self.state = self._state_after(seg)
        else:
            self.state = _START_RECORD

    def _header_part(self, seg: bytes) -> bytes:
        """Count the first record's delimiters; return what follows it."""
        start = 0
        if self.state == _START_RECORD:
            while start < len(seg) and seg[start] in (_LF, _CR):
                start += 1
            if start == len(seg):
                return b""
        ends = [i for i in (seg.find(b"\n", start), seg.find(b"\r", start)) if i >= 0]
        if not ends:
            self._header_delims += seg.count(self.delimiter, start)
            self.state = self._state_after(seg)
            return b""
        stop = min(ends)
        self._header_delims += seg.count(self.delimiter, start, stop)
        self._end_record()
        return seg[stop:]


class Profiler:
    """Feed it the object's bytes in any chunks, then call :meth:`finish`."""

    def __init__(self) -> None:
        self.bytes_read = 0
        self._start = b""  # bytes held until the BOM question is settled
        self._started = False
        self._binary = False
        self._head = bytearray()
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._encoding = "utf-8"
        self._candidates = {d.encode(): _RecordMachine(d.encode()) for d in DELIMITERS}
        self._counts = dict.fromkeys(self._candidates, 0)
        self._machine: _RecordMachine | None = None

    def feed(self, chunk: bytes) -> None:
        self.bytes_read += len(chunk)
        if self._binary or not chunk:
            return
        if not self._started:
            self._start += chunk
            if len(self._start) < len(codecs.BOM_UTF8) and codecs.BOM_UTF8.startswith(self._start):
                return
            chunk, self._start, self._started = self._start, b"", True
            if chunk.startswith(codecs.BOM_UTF8):
                chunk = chunk[len(codecs.BOM_UTF8) :]
        self._consume(chunk)

    def _consume(self, chunk: bytes) -> None:
        if b"\0" in chunk:
            self._binary = True
            return
        self._check_encoding(chunk)
        if len(self._head) < HEAD_BYTES:
            self._head += chunk[: HEAD_BYTES - len(self._head)]
        if self._machine is None:
            newline = chunk.find(b"\n")
            first_line = chunk if newline < 0 else chunk[:newline]
            for delimiter, machine in self._candidates.items():
                self._counts[delimiter] += first_line.count(delimiter)
                machine.feed(first_line)
            if newline < 0:
                return
            self._machine = self._choose()
            chunk = chunk[newline:]
        self._machine.feed(chunk)

    def _choose(self) -> _RecordMachine:
        best = max(self._counts, key=lambda d: (self._counts[d], -DELIMITERS.index(d.decode())))
        if self._counts[best] == 0:
            best = b","
        return self._candidates[best]

    def _check_encoding(self, chunk: bytes) -> None:
        if self._encoding != "utf-8":
            return
        if chunk.isascii() and not self._utf8.getstate()[0]:
            return
        try:
            self._utf8.decode(chunk)
        except UnicodeDecodeError:
            self._encoding = "cp1252"

    def finish(self) -> Profile:
        if not self._started and self._start:
            self._started = True
            self._consume(self._start)
        if self._binary:
            return rejected(BINARY, self.bytes_read)
        try:
            self._utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            self._encoding = "cp1252"
        machine = self._machine or self._choose()
        delimiter = machine.delimiter.decode()
        if machine.finish():
            return rejected(UNTERMINATED_QUOTE, self.bytes_read, delimiter, self._encoding)
        if machine.header_fields is None:
            return rejected(EMPTY, self.bytes_read, delimiter, self._encoding)
        return Profile(
            status="succeeded",
            row_count=machine.records - 1,
            column_count=machine.header_fields,
            header=self._header(delimiter),
            delimiter=delimiter,
            encoding=self._encoding,
            bytes_read=self.bytes_read,
        )

    def _header(self, delimiter: str) -> tuple[str, ...]:
        text = bytes(self._head).decode(self._encoding, errors="replace")
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
        for row in rows:
            if row:
                return header_preview(row)
        return ()


def profile_chunks(chunks: Iterable[bytes]) -> Profile:
    """Profile a stream given as an iterable of byte chunks."""
    profiler = Profiler()
    for chunk in chunks:
        profiler.feed(chunk)
    return profiler.finish()


def profile_bytes(data: bytes) -> Profile:
    """Profile an in-memory CSV (tests and small files)."""
    return profile_chunks([data])


def profile_file(stream: BinaryIO, chunk_size: int = CHUNK_SIZE) -> Profile:
    """Profile a binary file object, reading ``chunk_size`` bytes at a time."""
    return profile_chunks(iter(lambda: stream.read(chunk_size), b""))


def main(argv: Sequence[str] | None = None) -> int:
    """Print one JSON line per file; exit 1 if any was rejected, 2 if unreadable."""
    paths = list(sys.argv[1:] if argv is None else argv)
    if not paths:
        print("usage: python -m chalicelib.csvprofile FILE...", file=sys.stderr)
        return 2
    worst = 0
    for path in paths:
        try:
            with open(path, "rb") as stream:
                result = profile_file(stream)
        except OSError as exc:
            print(f"{path}: {exc.strerror or exc}", file=sys.stderr)
            worst = 2
            continue
        line = {"file": path, **result.to_dict()}
        for noisy in ("header", "bytes_read"):
            line.pop(noisy)
        print(json.dumps(line, ensure_ascii=False))
        if result.status != "succeeded":
            worst = max(worst, 1)
    return worst


if __name__ == "__main__":
    sys.exit(main())
