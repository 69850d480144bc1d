"""Streaming CSV profiler: counts records in chunks with flat memory.

It implements the CSV rules of ``docs/csv-rules.md``, as the reference
(:mod:`chalicelib.core.csvreference`) does, on bytes, without decoding or
building rows: only the state of the record machine crosses a chunk
boundary, so memory stays flat whatever the size of the file or of a field.

Run it on local files::

    python -m chalicelib.csvprofile data.csv other.csv   (or: python -m ops profile)

How it stays fast: after the first record (read byte by byte, since its
fields are reported), every step is a C-level ``bytes`` method (find, count,
split, join, replace, translate) over a chunk, never a Python loop per byte;
``docs/csv-rules.md``'s rules 4 and 5 become:

- CRLF, then a lone CR, become LF in each chunk: inside quotes a line end is
  just text, and a CRLF cut by a chunk edge leaves an LF that starts a blank
  line, which is skipped anyway.
- A run without quotes ends ``count(b"\\n")`` records, once blank lines are
  squeezed (only looked for when the chunk has one).
- From a quote that opens a field, quotes alternate opening and closing fields
  (a doubled quote being a close and a re-open) until a *stray* one: a quote
  after text of an unquoted field, i.e. one whose piece outside quotes does not
  end with the delimiter or LF. Records are then the LFs outside quotes. Where
  quotes are few, ``find`` steps from one to the next; where there are more,
  the region is split on ``"`` and the last bytes of the even pieces checked at
  once; quote-dense regions are first *folded* (``","`` and ``"\\n"`` lose their
  quotes, so that a run of quoted records is one piece), which is right exactly
  when no byte of the fold ends up outside quotes. NUL marks the folds and
  joins, as it never reaches this point (rule 1 rejects it first). At a stray
  quote the valid prefix is kept and the exact loop takes over.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import BinaryIO

from chalicelib.core.profile import (
    BINARY,
    DELIMITERS,
    EMPTY,
    HEADER_MAX_CHARS,
    HEADER_MAX_FIELDS,
    UNTERMINATED_QUOTE,
    Profile,
    header_preview,
    rejected,
)

#: Bytes read at a time: the passes over a chunk then run in cache, and buffers
#: this small are recycled by malloc instead of being mapped and faulted in anew.
CHUNK_SIZE = 1 << 16

# States of the reference reader (CPython's Modules/_csv.c), reduced to what
# counting records needs. After the header a closing quote leads to
# _START_FIELD: the two states differ only in the text they would keep.
_START_RECORD, _START_FIELD, _IN_FIELD, _IN_QUOTED, _QUOTE_IN_QUOTED = range(5)
_QUOTE = ord('"')
_LF, _CR = ord("\n"), ord("\r")
_CR_TO_LF = bytes.maketrans(b"\r", b"\n")
_BLANK_LINE = re.compile(b"\n\n")
#: The text of a quoted field up to its closing quote, doubled quotes included.
_QUOTED_TEXT = re.compile(b'[^"]*+(?:""[^"]*+)*+')

#: Bytes of a header field kept: 100 characters of at most 4 bytes each.
_KEEP_BYTES = 4 * HEADER_MAX_CHARS

#: The most bytes one fast step looks at, and the fewest after it stumbled.
_WINDOW_MAX = 1 << 22
_WINDOW_MIN = 1 << 12
#: Per 4 KiB sample: up to this many quotes, step from one to the next...
_SPARSE = 24
#: ...beyond this many, fold the region first.
_DENSE = 64
#: Up to this many pieces outside quotes, they are looked at one by one.
_FEW = 4096
#: Quoted fields stepped through before the density is sampled again.
_STEPS = 4096
#: Opening quotes handled one by one after a region held a stray quote.
_SLOW_MIN, _SLOW_MAX = 16, 1 << 12


class _Header:
    """The first record's fields: all counted, only the preview's part kept."""

    __slots__ = ("_field", "count", "fields")

    def __init__(self) -> None:
        self.count = 0
        self.fields: list[bytes] = []
        self._field = bytearray()

    def keep(self, buf: bytes, start: int, stop: int, quoted: bool = False) -> None:
        """Keep ``buf[start:stop]`` (quoted text: its ``""`` read as ``"``) if room."""
        room = _KEEP_BYTES - len(self._field)
        if room > 0 and len(self.fields) < HEADER_MAX_FIELDS:
            if quoted:  # 2 * room bytes hold at least room characters
                self._field += buf[start : min(stop, start + 2 * room)].replace(b'""', b'"')[:room]
            else:
                self._field += buf[start : min(stop, start + room)]

    def end_field(self) -> None:
        self.count += 1
        if len(self.fields) < HEADER_MAX_FIELDS:
            self.fields.append(bytes(self._field))
        self._field.clear()

    def names(self, encoding: str) -> tuple[str, ...]:
        return header_preview([raw.decode(encoding, errors="replace") for raw in self.fields])


class _RecordMachine:
    """Counts records for one delimiter, fed any split of the byte stream."""

    __slots__ = (
        "_blanks",
        "_classes",
        "_dbyte",
        "_fold_pause",
        "_header_end",
        "_slow",
        "_slow_next",
        "_stray",
        "_window",
        "delimiter",
        "header",
        "header_fields",
        "records",
        "state",
    )

    def __init__(self, delimiter: bytes) -> None:
        self.delimiter = delimiter
        self._dbyte = delimiter[0]
        self.state = _START_RECORD
        self.records = 0
        self.header = _Header()
        #: Fields in the first record, once it has ended.
        self.header_fields: int | None = None
        ends = b"\r\n" + delimiter
        self._header_end = re.compile(b"[" + re.escape(ends) + b"]")
        self._stray = re.compile(b"[^" + re.escape(ends) + b'"]')
        # NUL (a quoted piece) stays, field and record ends become 1, the rest 2.
        self._classes = bytes(0 if b == 0 else 1 if b in ends else 2 for b in range(256))
        self._window = _WINDOW_MAX
        self._slow = 0
        self._slow_next = _SLOW_MIN
        self._fold_pause = 0
        self._blanks = False

    def feed(self, buf: bytes) -> None:
        pos = 0
        if self.header_fields is None:
            pos = self._feed_header(buf)
        if pos < len(buf):
            self._feed_body(buf[pos:] if pos else buf)

    def finish(self) -> bool:
        """End of input; True when a quoted field was left open (rule 8)."""
        state = self.state
        if state == _IN_QUOTED:
            return True
        if state != _START_RECORD:
            if self.header_fields is None:
                self._end_header()
            else:
                self.records += 1
        return False

    # --- the first record: byte-exact, keeping the header's text -----------------

    def _feed_header(self, buf: bytes) -> int:
        """Run until the first record ends; return where it did (or ``len(buf)``)."""
        pos, end = 0, len(buf)
        while pos < end and self.header_fields is None:
            state = self.state
            if state == _IN_QUOTED:
                stop = _quoted_end(buf, pos)
                self.header.keep(buf, pos, stop, quoted=True)
                if stop < end:  # a closing quote, or half of a "" cut by the chunk's end
                    self.state = _QUOTE_IN_QUOTED
                pos = stop + 1
            elif state == _IN_FIELD:
                found = self._header_end.search(buf, pos)
                stop = end if found is None else found.start()
                self.header.keep(buf, pos, stop)
                if found is not None:
                    self._header_byte(buf[stop])
                pos = stop + 1
            else:
                self._header_byte(buf[pos])
                pos += 1
        return min(pos, end)

    def _header_byte(self, byte: int) -> None:
        state = self.state
        if byte in (_LF, _CR):
            if state != _START_RECORD:  # else a blank line (rule 5)
                self._end_header()
        elif byte == self._dbyte:
            self.header.end_field()
            self.state = _START_FIELD
        elif byte == _QUOTE and state in (_START_RECORD, _START_FIELD):
            self.state = _IN_QUOTED
        elif byte == _QUOTE and state == _QUOTE_IN_QUOTED:  # "" inside quotes
            self.header.keep(b'"', 0, 1)
            self.state = _IN_QUOTED
        else:  # strict=False: a quote in an unquoted field, text after a closing quote
            self.header.keep(bytes((byte,)), 0, 1)
            self.state = _IN_FIELD

    def _end_header(self) -> None:
        self.header.end_field()
        self.header_fields = self.header.count
        self.records = 1
        self.state = _START_RECORD

    # --- the records after it: counted with C-level bytes methods -----------------

    def _feed_body(self, buf: bytes) -> None:
        if b"\r" in buf:  # CRLF and CR end records as LF does (rule 4)
            buf = buf.replace(b"\r\n", b"\n")
            if b"\r" in buf:
                buf = buf.translate(_CR_TO_LF)
        self._blanks = _BLANK_LINE.search(buf) is not None
        pos, end = 0, len(buf)
        find = buf.find
        while pos < end:
            if self.state == _IN_QUOTED:
                pos = _quoted_end(buf, pos)
                if pos == end:
                    return
                self.state = _START_FIELD  # a closing quote: as a field's start
                pos += 1
                continue
            quote = find(b'"', pos)
            if quote < 0:
                self._plain(buf[pos:] if pos else buf)
                return
            if quote > pos:
                self._plain(buf[pos:quote])
            if self.state == _IN_FIELD:  # a quote inside an unquoted field is text
                pos = quote + 1
            elif self._slow:
                self._slow -= 1
                self.state = _IN_QUOTED
                pos = quote + 1
            else:
                pos = self._quoted(buf, quote)

    def _plain(self, seg: bytes) -> None:
        """Count the records that a non-empty run without quotes or CR ends (rule 5)."""
        if self._blanks and _BLANK_LINE.search(seg):
            while b"\n\n" in seg:
                seg = seg.replace(b"\n\n", b"\n")
        ends = seg.count(b"\n")
        if ends and seg[0] == _LF and self.state == _START_RECORD:
            ends -= 1  # the line began blank
        self.records += ends
        self.state = self._after(seg[-1])

    def _after(self, last: int) -> int:
        """The state after ``last``, a byte outside quotes."""
        if last == _LF:
            return _START_RECORD
        return _START_FIELD if last == self._dbyte else _IN_FIELD

    def _quoted(self, buf: bytes, start: int) -> int:
        """Profile from the opening quote at ``start`` as far as it can; return where."""
        stop = min(len(buf), start + self._window)
        sample = buf.count(b'"', start, start + 4096)
        if sample <= _SPARSE and not self._blanks:
            return self._walk(buf, start, stop)
        region = buf[start:stop]
        if sample > _DENSE:
            if self._fold_pause:
                self._fold_pause -= 1
            elif self._folded(region):
                return stop
        return start + self._split(region)

    def _walk(self, buf: bytes, start: int, stop: int) -> int:
        """Few quotes, no blank line: step from quote to quote, count LFs between."""
        find, count = buf.find, buf.count
        ends = (self._dbyte, _LF)
        inside, opening, state = 0, start, _START_FIELD
        for _ in range(_STEPS):
            close = find(b'"', opening + 1, stop)
            if close < 0:
                inside += count(b"\n", opening + 1, stop)
                end, state = stop, _IN_QUOTED
                break
            inside += count(b"\n", opening + 1, close)
            end = find(b'"', close + 1, stop)
            if end < 0:
                end = stop
                if close + 1 < stop:  # else it ends on a closing quote
                    state = self._after(buf[stop - 1])
                break
            if end > close + 1 and buf[end - 1] not in ends:
                state = _IN_FIELD  # the quote at ``end`` is text
                break
            opening = end
        else:
            end = opening  # enough for one step: go on from this opening quote
            state = _START_RECORD if buf[opening - 1] == _LF else _START_FIELD
        self.records += count(b"\n", start, end) - inside
        self.state = state
        return end

    def _split(self, region: bytes) -> int:
        """Profile ``region``, from an opening quote, split on quotes; return how far."""
        pieces = region.split(b'"')
        evens = _outside(pieces)
        joined = b"\0".join(evens) if len(evens) > _FEW else None
        bad = self._first_stray(evens, joined)
        if bad < 0:
            self._count_run(region, len(region), pieces, evens, joined)
            self._window = min(2 * self._window, _WINDOW_MAX)
            self._slow_next = _SLOW_MIN
            return len(region)
        # Keep what precedes the stray quote; an exact loop takes over from it.
        pieces, evens = pieces[: 2 * bad + 1], evens[: bad + 1]
        if joined is not None:
            joined = b"\0".join(evens)
        size = sum(map(len, pieces)) + 2 * bad
        self._count_run(region, size, pieces, evens, joined)
        self._window = max(_WINDOW_MIN, self._window // 4)
        self._slow, self._slow_next = self._slow_next, min(2 * self._slow_next, _SLOW_MAX)
        return size

    def _folded(self, region: bytes) -> bool:
        """Profile a quote-dense region with its field and record joints folded."""
        hidden = region.count(b'"\n"')  # records ended between two quoted fields
        if hidden:  # same-length replacements run in place
            region = region.replace(b'"\n"', b"\0\n\0")
        region = region.replace(b'"' + self.delimiter + b'"', b"\0\0\0")
        pieces = region.split(b'"')
        evens = _outside(pieces)
        joined = b"\0".join(evens)
        # Right iff no NUL of the fold lies outside quotes, and no quote is stray.
        if joined.count(b"\0") != len(evens) - 1 or self._first_stray(evens, joined) >= 0:
            self._fold_pause = 16
            return False
        self._count_run(region, len(region), pieces, evens, joined)
        self.records += hidden
        return True

    def _first_stray(self, evens: list[bytes], joined: bytes | None) -> int:
        """Index of the first piece outside quotes that makes the quote after it text."""
        if len(evens) < 3:
            return -1
        if joined is None:  # few pieces: look at their last bytes
            tails = b"".join([piece[-1:] or b'"' for piece in evens[1:-1]])
            found = self._stray.search(tails)
            return -1 if found is None else found.start() + 1
        at = joined.translate(self._classes).find(b"\2\0")
        return -1 if at < 0 else joined.count(b"\0", 0, at + 1)

    def _count_run(
        self,
        region: bytes,
        size: int,
        pieces: list[bytes],
        evens: list[bytes],
        joined: bytes | None,
    ) -> None:
        """Count ``region[:size]``, split in ``pieces``, whose quotes open or close fields."""
        if joined is not None or self._blanks:
            self._plain(joined if joined is not None else b"\0".join(evens))
        else:  # no blank line: each LF outside quotes ends a record
            inside = sum(map(bytes.count, pieces[1::2], repeat(b"\n")))
            self.records += region.count(b"\n", 0, size) - inside
            if evens[-1]:
                self.state = self._after(evens[-1][-1])
        if not len(pieces) & 1:
            self.state = _IN_QUOTED  # it ends inside a quoted field
        elif not pieces[-1]:
            self.state = _START_FIELD  # it ends on a closing quote


def _quoted_end(buf: bytes, pos: int) -> int:
    """Where quoted text from ``pos`` ends: at a quote that is not doubled, or ``len(buf)``."""
    found = _QUOTED_TEXT.match(buf, pos)
    assert found is not None  # the pattern matches the empty string
    return found.end()


def _outside(pieces: list[bytes]) -> list[bytes]:
    """The pieces outside quotes, ending with an empty one if the last is inside."""
    evens = pieces[0::2]
    if not len(pieces) & 1:
        evens.append(b"")
    return evens


class Profiler:
    """Feed it the object's bytes in any chunks, then call :meth:`finish`."""

    def __init__(self) -> None:
        self.bytes_read = 0
        self._start = b""  # bytes held until the BOM question is settled
        self._started = False
        self._binary = False
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

    @property
    def split_delimiter(self) -> str | None:
        """The delimiter once the header has ended (or ``","`` once binary): from
        here on the rest of the file can be profiled in ranges (:class:`RangeProfiler`)
        and :func:`stitch`-ed to this profiler's state. ``None`` before that."""
        if self._binary:
            return ","
        machine = self._machine
        if machine is None or machine.header_fields is None:
            return None
        return machine.delimiter.decode()

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
            header=machine.header.names(self._encoding),
            delimiter=delimiter,
            encoding=self._encoding,
            bytes_read=self.bytes_read,
        )

    def stitch(self, rest: Sequence[RangePart]) -> Profile:
        """The profile of the whole file from this profiler (its first range) and the
        other ranges' parts, in order: exactly what one :class:`Profiler` fed it all
        returns. This profiler must have reached :attr:`split_delimiter` unless
        ``rest`` is empty.
        """
        if not rest:
            return self.finish()
        bytes_read = self.bytes_read + sum(part.bytes_read for part in rest)
        if self._binary or any(part.binary for part in rest):
            return rejected(BINARY, bytes_read)
        machine = self._machine
        if machine is None or machine.header_fields is None:
            raise ValueError("the first range must hold the whole header (see split_delimiter)")
        delimiter = machine.delimiter.decode()
        state, records = machine.state, machine.records
        for part in rest:
            if part.delimiter != delimiter:
                raise ValueError(f"a range was profiled with {part.delimiter!r}, not {delimiter!r}")
            ended, state = part.outcomes[state]
            records += ended
        encoding = self._stitched_encoding(rest)
        if state == _IN_QUOTED:
            return rejected(UNTERMINATED_QUOTE, bytes_read, delimiter, encoding)
        if state != _START_RECORD:
            records += 1  # the last record ends with the file
        return Profile(
            status="succeeded",
            row_count=records - 1,
            column_count=machine.header_fields,
            header=machine.header.names(encoding),
            delimiter=delimiter,
            encoding=encoding,
            bytes_read=bytes_read,
        )

    def _stitched_encoding(self, rest: Sequence[RangePart]) -> str:
        """The encoding rule over the ranges: each valid, and valid where a character
        spans two."""
        if self._encoding != "utf-8":
            return "cp1252"
        pending = self._utf8.getstate()[0]
        for part in rest:
            if not part.rest_valid:
                return "cp1252"
            decoder = codecs.getincrementaldecoder("utf-8")()
            try:  # the character open before the range must end in its head
                decoder.decode(pending + part.head, final=part.has_rest)
            except UnicodeDecodeError:
                return "cp1252"
            pending = part.tail if part.has_rest else decoder.getstate()[0]
        return "cp1252" if pending else "utf-8"


# --- ranges profiled apart (in parallel), then stitched exactly -------------------------
#
# What crosses a range boundary is the record machine's state and the UTF-8
# decoder's few pending bytes. Outside quotes the state after a byte is a
# function of that byte (LF or CR: a record starts; the delimiter: a field
# starts; anything else: inside a field); the one thing it does not tell is
# whether the byte lies inside quotes. So a range after the first is run once
# per state it may be entered in: two candidates, or three when the byte before
# it is a quote (it may open, close, or be text). Candidates that reach the
# same state at a chunk's end behave identically from there on and are merged,
# which in practice happens at the range's first quoted field: the extra cost
# is about one chunk per range. The first range is an ordinary
# :class:`Profiler` (BOM, delimiter, header), read until it has seen the
# header end (:attr:`Profiler.split_delimiter`).


@dataclass(frozen=True)
class RangePart:
    """What :class:`RangeProfiler` found in one range, for each state it may start in."""

    delimiter: str
    bytes_read: int
    binary: bool
    #: entering state -> (records ended in the range, state at its end)
    outcomes: Mapping[int, tuple[int, int]]
    #: UTF-8: up to 3 leading continuation bytes (a character begun before the
    #: range), whether the bytes after them are valid, whether there are any,
    #: and the bytes of a character left open at the range's end.
    head: bytes
    rest_valid: bool
    has_rest: bool
    tail: bytes


def _entering_states(before: bytes, delimiter: bytes) -> tuple[int, ...]:
    """The states the reader can be in after ``before``, the byte preceding a range."""
    if before == b'"':  # it opened a quoted field, closed one, or was text
        return (_IN_QUOTED, _START_FIELD, _IN_FIELD)
    if before in (b"\n", b"\r"):
        return (_IN_QUOTED, _START_RECORD)
    return (_IN_QUOTED, _START_FIELD if before == delimiter else _IN_FIELD)


class RangeProfiler:
    """Profiles a range after the first without knowing the reader's state at its start.

    ``delimiter`` is the one the first range chose (:attr:`Profiler.split_delimiter`);
    ``before`` is the byte just before the range (fetch ranges with one byte of
    overlap). Feed the range's bytes in any chunks, then :meth:`finish`.
    """

    def __init__(self, delimiter: str, before: bytes) -> None:
        if len(before) != 1:
            raise ValueError("before must be the one byte that precedes the range")
        self.delimiter = delimiter
        dbyte = delimiter.encode()
        self._runs: list[_RecordMachine] = []
        #: entering state -> (the machine that ran it, records to add to its count)
        self._entry: dict[int, tuple[_RecordMachine, int]] = {}
        for state in _entering_states(before, dbyte):
            machine = _RecordMachine(dbyte)
            machine.header_fields = 0  # past the header: only count records
            machine.records = 0
            machine.state = state
            self._runs.append(machine)
            self._entry[state] = (machine, 0)
        self.bytes_read = 0
        self._binary = False
        self._head = b""
        self._head_done = False
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._valid = True
        self._has_rest = False

    def feed(self, chunk: bytes) -> None:
        self.bytes_read += len(chunk)
        if self._binary or not chunk:
            return
        if b"\0" in chunk:
            self._binary = True
            return
        self._check_encoding(chunk)
        quotes = b'"' in chunk
        for machine in self._runs:
            if quotes or machine.state != _IN_QUOTED:  # else it is all quoted text
                machine.feed(chunk)
        if len(self._runs) > 1:
            self._merge()

    def _check_encoding(self, chunk: bytes) -> None:
        """UTF-8 of the range: leading continuation bytes set apart, the rest checked."""
        text = chunk
        if not self._head_done:
            taken = 0
            while (
                taken < len(chunk) and len(self._head) + taken < 3 and 0x80 <= chunk[taken] < 0xC0
            ):
                taken += 1
            self._head += chunk[:taken]
            self._head_done = taken < len(chunk)
            text = chunk[taken:]
        if text:
            self._has_rest = True
            if self._valid and (not text.isascii() or self._utf8.getstate()[0]):
                try:
                    self._utf8.decode(text)
                except UnicodeDecodeError:
                    self._valid = False

    def _merge(self) -> None:
        """Keep one machine per state: from equal states, equal futures."""
        kept: dict[int, _RecordMachine] = {}
        for machine in list(self._runs):
            first = kept.setdefault(machine.state, machine)
            if first is machine:
                continue
            self._runs.remove(machine)
            for entry, (ran, offset) in self._entry.items():
                if ran is machine:
                    self._entry[entry] = (first, offset + machine.records - first.records)

    def finish(self) -> RangePart:
        return RangePart(
            delimiter=self.delimiter,
            bytes_read=self.bytes_read,
            binary=self._binary,
            outcomes={
                entry: (machine.records + offset, machine.state)
                for entry, (machine, offset) in self._entry.items()
            },
            head=self._head,
            rest_valid=self._valid,
            has_rest=self._has_rest,
            tail=self._utf8.getstate()[0],
        )


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
