"""Streaming CSV profiler: rules 1-15 of ``docs/csv-rules.md`` in chunks, with flat memory.

It agrees with the reference (:mod:`chalicelib.core.csvreference`) on every
input (hypothesis differential tests), without holding the file:

- **Container** (rule 1): gzip members and zstd frames are decompressed
  incrementally, a bounded amount of output per step. gzip is inflated by
  python-isal's ``isal_zlib`` (ISA-L, 1.5-2x the speed of zlib) when it can be
  imported, else by ``zlib``: the same bytes and the same errors
  (:func:`use_gunzip` picks one, for the tests and the bench).
- **Text** (rules 2-5): the first bytes decide ``NOT_CSV``, the BOM and a
  ``sep=`` line; UTF-16 is decoded incrementally and re-encoded as UTF-8, so
  that the record machine always reads an ASCII-compatible byte stream; UTF-8
  validity is tracked as bytes pass (cp1252 otherwise).
- **Records and shape** (rules 7-13): :class:`_Machine` counts records, lines
  and fields per record. After the header, a chunk goes first to the *pattern
  path* (:meth:`_Machine.feed_raw`), on the text as decoded: a split on ``"``
  takes the quoted fields out (once no quote that would open one follows text: a
  *stray* quote); one ``translate`` keeps the delimiters and line ends of the rest;
  and rows of the header's width outside quotes are exactly a slice of
  ``(delimiter * (n - 1) + line end) * k`` (LF or CRLF), one C-level comparison
  that also rules out blank lines and ragged rows. When ``native/build.py`` has
  built :mod:`chalicelib.core._scan`, that decision runs in C instead: one pass
  over the chunk (without the GIL from 64 KiB on), the same outcome
  (:func:`scanner` says which runs; docs/architecture.md, "The optional
  scanner"). A chunk it cannot decide (a ragged row, a blank line, a lone CR, a
  stray quote, a header of one field) goes, unchanged, to the paths below, where
  CRLF, then a lone CR, become LF (inside quotes too, so that a line end is one
  byte): the text outside quotes of a run is reduced with ``translate`` to its
  delimiters and LFs and compared with the same pattern; only a run that fails
  it is split to count its ragged rows; while fewer than 10 examples are known,
  such a chunk is run again by the exact (slower) scan that also knows each
  record's line.
- **Column sample** (rules 14-15): the first ``PROFILE_ROWS`` rows, on the text
  read as latin-1 (bytes as they are; names are decoded once the encoding is
  known at the end), a window of whole lines at a time: quote-free lines are
  split by ``str`` methods, records with quotes read by the ``csv`` module, and
  a record longer than the window by :class:`_Record`, which streams its values
  (lengths, and only the text that can type them); after that it costs nothing.
- **Ranges**: once plain input (no container, not UTF-16) has its header and
  a full column sample (:attr:`Profiler.rangeable`), the rest of the object
  may be profiled in ranges apart, one :class:`RangeProfiler` per range, and
  :meth:`Profiler.stitch`-ed into exactly the sequential profile (ragged rows,
  examples with absolute rows and lines, rejections, encoding).

Inputs the streaming path does not handle, which are rare, are profiled by the
reference in memory: a ``sep=`` line whose character is not ASCII, and a first
line (the text up to the first LF) longer than 1 MiB, e.g. a file whose lines
end with a lone CR.

Run it on local files::

    python -m chalicelib.csvprofile data.csv other.csv   (or: python -m ops profile)
"""

from __future__ import annotations

import codecs
import csv
import io
import operator
import os
import re
import sys
import threading
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO, Literal, NamedTuple, Protocol, cast

from chalicelib.core.heap import keep_freed_heap
from chalicelib.core.profile import (
    BINARY,
    CORRUPT_COMPRESSED,
    DEFAULT_SETTINGS,
    DELIMITERS,
    EMPTY,
    GZIP_MAGIC,
    MAX_COLUMNS,
    MAX_RAGGED_EXAMPLES,
    NOT_CSV,
    SIGNATURE_BYTES,
    UNTERMINATED_QUOTE,
    ZSTD_MAGIC,
    Block,
    ColumnSample,
    Profile,
    ProfileSettings,
    RaggedExample,
    decode_raw,
    header_mismatch,
    is_skippable,
    not_csv_message,
    outcome,
    rejected,
)

try:  # the pattern path in C, when native/build.py has built it
    from chalicelib.core import _scan
except ImportError:  # no compiler, or a module built for another platform
    _scan = None  # type: ignore[assignment]

if TYPE_CHECKING:  # imported when first needed: start-up is in every run's time
    import zstandard

    from chalicelib.core.validate import ContractValidator

csv.field_size_limit(sys.maxsize)

#: Lines the exact path reads one at a time for the header (blank lines before it, or
#: line ends in its quoted names) before it takes the rest of the text whole.
_HEADER_LINES = 8
#: Bytes read at a time: the passes over a chunk then run in cache.
CHUNK_SIZE = 1 << 16
#: Decompressed bytes produced per step: at most for gzip; about, for zstd (at most
#: :data:`_ZSTD_STEP_MAX` plus a block, :class:`_ZstdBlocks`).
_OUTPUT_STEP = 1 << 18
#: A first line longer than this goes to the reference (see the module docstring).
_FIRST_LINE_MAX = 1 << 20

Compression = Literal["gzip", "zstd"]

# States of the reader (CPython's Modules/_csv.c), reduced to what counting
# needs: after a closing quote the reader behaves as at a field's start.
_START_RECORD, _START_FIELD, _IN_FIELD, _IN_QUOTED = range(4)
#: The column sample's long records (:class:`_Record`) also know the state after a
#: quote inside a quoted field (closing, or the first of a doubled pair).
_QUOTE_IN_QUOTED = 4
_CR = ord("\r")
_LINE_ENDS = b"\r\n"
_QUOTE = ord('"')
_LF = ord("\n")
_CR = ord("\r")
_CR_TO_LF = bytes.maketrans(b"\r", b"\n")
#: A CR before a byte other than LF: a lone CR (one pass, cheaper than counting CRLFs).
_LONE_CR = re.compile(b"\r[^\n]")
#: The text of a quoted field up to its closing quote, doubled quotes included.
_QUOTED_TEXT = re.compile(b'[^"]*+(?:""[^"]*+)*+')
#: The most bytes one split step looks at.
_WINDOW = 1 << 20
#: Text the column sample parses at a time (rule 15), more for a longer record.
_SAMPLE_WINDOW = 1 << 18
#: The most bytes a long record of the column sample (:class:`_Record`) reads at a step.
_RECORD_WINDOW = 1 << 20
#: Opening quotes handled one by one after a region held a stray quote.
_SLOW = 64
#: A chunk with more than one quote per this many bytes has its text outside quotes
#: marked and searched for a stray quote by :meth:`_Machine._quoted`, rather than the
#: last byte of each piece taken (all-quoted data; sparse quotes are about one per
#: 500 bytes).
_DENSE = 128
#: The last byte of a piece (a byte string that is not empty).
_LAST = operator.itemgetter(-1)


class _Corrupt(Exception):
    pass


class _GzipDecompressor(Protocol):
    """What the container uses of a ``zlib.decompressobj`` (``isal_zlib``'s is alike)."""

    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    @property
    def unconsumed_tail(self) -> bytes: ...
    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


class _Gunzip(NamedTuple):
    """One library that inflates gzip members: a decompressor per member, its errors."""

    name: str
    member: Callable[[], _GzipDecompressor]
    errors: tuple[type[Exception], ...]


#: The gzip libraries, in order of preference (see docs/benchmarks.md).
GUNZIP_LIBRARIES = ("isal", "zlib")
_gunzip: _Gunzip | None = None  # chosen on the first gzip member, or by use_gunzip


def _load_gunzip(name: str) -> _Gunzip | None:
    """The library ``name``, or None when it cannot be imported."""
    if name == "zlib":
        return _Gunzip("zlib", lambda: zlib.decompressobj(wbits=31), (zlib.error,))
    if name == "isal":
        try:
            from isal import isal_zlib
        except ImportError:
            return None
        errors = (cast(type[Exception], isal_zlib.error), zlib.error)
        return _Gunzip("isal", lambda: isal_zlib.decompressobj(wbits=31), errors)
    raise ValueError(f"unknown gzip library {name!r}")


def _chosen_gunzip() -> _Gunzip:
    """The library that inflates gzip: the first of :data:`GUNZIP_LIBRARIES` that
    imports (imported on the first gzip member, not with this module)."""
    global _gunzip
    if _gunzip is None:
        loaded = (_load_gunzip(name) for name in GUNZIP_LIBRARIES)
        _gunzip = next(library for library in loaded if library is not None)
    return _gunzip


def gunzip_library() -> str:
    """The name of the library that inflates gzip (``isal`` or ``zlib``)."""
    return _chosen_gunzip().name


@contextmanager
def use_gunzip(name: str) -> Iterator[None]:
    """Inflate gzip with library ``name`` inside the block (tests, bench); ImportError
    when it is not installed."""
    global _gunzip
    library = _load_gunzip(name)
    if library is None:
        raise ImportError(f"the gzip library {name!r} is not installed")
    before, _gunzip = _gunzip, library
    try:
        yield
    finally:
        _gunzip = before


#: The C scanner (:mod:`chalicelib.core._scan`) or None: the Python pattern path, also
#: when ``CSV_PIPELINE_SCANNER=python`` at import (tests, bench: worker processes too).
_scanner: Callable[[bytes, int, int, int, int, int], tuple[int, int, int, int, int] | None] | None
_python_only = os.environ.get("CSV_PIPELINE_SCANNER") == "python"
_scanner = None if _scan is None or _python_only else _scan.scan
#: The C sampler (rule 15's records and types, :meth:`_Sample._parse`), switched with it.
_Sampler = Callable[[bytes, int, int, int, int], tuple[int, int, list[Block]] | None]
_sampler: _Sampler | None = None if _scanner is None else _scan.sample


def scanner() -> str:
    """Which pattern path counts chunks: ``c`` (the built module) or ``python``."""
    return "python" if _scanner is None else "c"


@contextmanager
def use_scanner(name: str) -> Iterator[None]:
    """Count with the pattern path ``name`` (``c`` or ``python``) inside the block
    (tests, bench); ImportError when the C module is not built."""
    global _scanner, _sampler
    if name == "c":
        if _scan is None:
            raise ImportError("chalicelib.core._scan is not built (python native/build.py)")
        chosen, sampler = _scan.scan, _scan.sample
    elif name == "python":
        chosen, sampler = None, None
    else:
        raise ValueError(f"unknown scanner {name!r}")
    before = _scanner, _sampler
    _scanner, _sampler = chosen, sampler
    try:
        yield
    finally:
        _scanner, _sampler = before


#: The FLG bits RFC 1952 reserves: a member with any of them set is not gzip.
_GZIP_RESERVED_FLAGS = 0xE0
#: Compressed input the caller may hand over ahead of the thread before it waits.
_AHEAD_INPUT = 1 << 18
#: Decompressed bytes the thread may hold for the caller before it stops.
_AHEAD_OUTPUT = 1 << 21
#: With the thread on, the column sample's text is parsed while the caller would wait
#: for the thread, this much at a time (about a millisecond: the thread meanwhile has
#: input and room for its output, so it never waits for the caller)...
_SAMPLE_SLICE = 1 << 13
#: ... and at most this much of it is held for that; beyond, it is parsed at once.
_SAMPLE_HELD = 1 << 21
#: While the caller does that work, the GIL changes hands at least this often (seconds;
#: CPython's default is 5 ms): the thread needs it between two library calls.
_IDLE_SWITCH_INTERVAL = 0.0002


class _QuickSwitches:
    """The interpreter's switch interval at most :data:`_IDLE_SWITCH_INTERVAL` while
    any profiler does idle work, as it was once none does (a count, for threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._before = 0.0

    def __enter__(self) -> None:
        with self._lock:
            if not self._users:
                self._before = sys.getswitchinterval()
                sys.setswitchinterval(min(self._before, _IDLE_SWITCH_INTERVAL))
            self._users += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._users -= 1
            if not self._users:
                sys.setswitchinterval(self._before)


_QUICK_SWITCHES = _QuickSwitches()


class _Ahead:
    """A container's input decompressed on the thread while the caller profiles.

    The caller hands over compressed chunks (:meth:`put`) and takes the pieces that
    are ready; the thread keeps decompressing while the caller profiles, so neither
    waits for the other to wake up (a hand-over took 0.1-3 ms here). The thread
    stops by itself once it has used all its input or holds :data:`_AHEAD_OUTPUT`
    bytes: a caller that stops feeding (the deadline) leaves at most that much work
    behind, and nothing waits on it. The caller waits only when more than
    :data:`_AHEAD_INPUT` bytes of its input are not yet taken; instead of waiting, it
    does the ``idle`` work it was given, a slice at a time, without the lock.
    """

    def __init__(self, container: _Container) -> None:
        keep_freed_heap()  # the thread's pieces would churn glibc's heap (core/heap.py)
        self._container = container
        self._ready = threading.Condition(threading.Lock())
        self._input: list[bytes] = []  # handed over, not yet taken by the thread
        self._input_size = 0
        self._output: list[bytes] = []  # decompressed, not yet taken by the caller
        self._output_size = 0
        self._pieces: Iterator[bytes] | None = None  # the container's, being read
        self._running = False
        self._waiting = False  # the caller waits for the thread
        self._thread: threading.Thread | None = None  # the last one started
        self._error: BaseException | None = None

    def put(self, chunk: bytes, idle: Callable[[], bool] | None = None) -> list[bytes]:
        """Hand over ``chunk``; the pieces decompressed so far, in order. Instead of
        waiting, ``idle`` is called while it returns True (it did some work)."""
        with self._ready:
            self._input.append(chunk)
            self._input_size += len(chunk)
            self._start()
            while self._running and self._input_size > _AHEAD_INPUT and not self._output:
                if idle is None:
                    self._wait()
                elif not self._idle(idle):
                    idle = None  # none left: wait (once the state is looked at again)
            return self._take()

    def drain(self, idle: Callable[[], bool] | None = None) -> Iterator[list[bytes]]:
        """The rest of the pieces, once all the input is handed over."""
        while True:
            with self._ready:
                self._start()
                if not self._running and not self._output:
                    self._raise()
                    return  # nothing left to do
                work = idle  # each wait: pieces taken since may have brought some
                while self._running and not self._output:
                    if work is None:
                        self._wait()
                    elif not self._idle(work):
                        work = None
                pieces = self._take()
            if pieces:
                yield pieces

    def _start(self) -> None:
        if self._running or self._output_size >= _AHEAD_OUTPUT:
            return
        if self._pieces is not None or self._input:
            self._running = True
            # Its own daemon thread (a pool's import costs 10 ms of every CLI run's
            # start-up); it ends by itself, at most a few times per file.
            self._thread = threading.Thread(target=self._run, name="inflate", daemon=True)
            self._thread.start()

    def _take(self) -> list[bytes]:
        self._raise()
        pieces, self._output, self._output_size = self._output, [], 0
        self._start()
        return pieces

    def _idle(self, work: Callable[[], bool]) -> bool:
        """Whether ``work`` did some, called without the lock (the thread goes on).

        The caller looks at the state again after it, whatever it returns: the thread
        may have stopped meanwhile, and its wake-up gone to nobody."""
        self._ready.release()
        try:
            with _QUICK_SWITCHES:
                return work()
        finally:
            self._ready.acquire()

    def _wait(self) -> None:
        self._waiting = True
        try:
            self._ready.wait()
        finally:
            self._waiting = False

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        """On the thread: decompress until the input is used or the output is full.

        One lock section per piece, and the caller woken only when it waits: every
        wake-up of a thread on the other CPU costs both of them time.
        """
        ready = self._ready
        pieces: Iterator[bytes] | None = None
        piece: bytes | None = None
        try:
            while True:
                with ready:
                    if piece is not None:
                        self._output.append(piece)
                        self._output_size += len(piece)
                        if self._waiting:
                            ready.notify()
                    elif pieces is not None:
                        self._pieces = None  # that input is used
                    if self._output_size >= _AHEAD_OUTPUT or (
                        self._pieces is None and not self._input
                    ):
                        # Decided under the lock: input handed over after this
                        # finds the thread stopped, and starts another one.
                        self._stopped()
                        return
                    if self._pieces is None:
                        chunks, self._input, self._input_size = self._input, [], 0
                        self._pieces = self._feed(chunks)
                    pieces = self._pieces
                piece = next(pieces, None)  # the library runs without the GIL
        except BaseException as exc:  # the caller's to raise (MemoryError, say)
            with ready:
                self._error, self._pieces, self._input = exc, None, []
                self._stopped()

    def _feed(self, chunks: list[bytes]) -> Iterator[bytes]:
        """The chunks' pieces, chunk by chunk as they were handed over: joined, they
        made one more copy on the thread, and gzip's ``unconsumed_tail`` copied what
        was left of the join at every step (0.03-0.06 s on 256 MB, measured)."""
        for chunk in chunks:
            yield from self._container.feed(chunk)

    def _stopped(self) -> None:
        self._running = False
        self._ready.notify()


#: Lambda gives a function one vCPU's time per this much memory (AWS's figure).
LAMBDA_MB_PER_VCPU = 1769


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity), at least 1."""
    counter = getattr(os, "process_cpu_count", None)  # Python 3.13
    if counter is not None:
        return int(counter() or 1)
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return os.cpu_count() or 1


def overlap_default() -> bool:
    """Whether compressed input is decompressed on a thread while it is profiled: when
    this process has two CPUs' time or more (the libraries inflate without the GIL, and
    so does the C scanner). A Lambda sandbox shows two CPUs whatever its memory, but
    its time is one vCPU per :data:`LAMBDA_MB_PER_VCPU` (the runtime sets
    ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``); on one CPU the thread costs about 3%."""
    cpus = usable_cpus()
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    if memory.isdigit():
        cpus = min(cpus, int(memory) // LAMBDA_MB_PER_VCPU)
    return cpus > 1


class _Utf8:
    """UTF-8 validity of a stream, by the C scanner's check (:func:`_scan.utf8`,
    without the GIL): the incremental decoder's verdicts and pending bytes, without
    decoding. :func:`_utf8_check` gives the decoder itself without the scanner."""

    def __init__(self) -> None:
        self._pending = b""

    def decode(self, data: bytes, final: bool = False) -> str:
        if self._pending:
            data = self._pending + data
        assert _scan is not None
        tail = _scan.utf8(data)
        if tail < 0 or (final and tail):
            raise UnicodeDecodeError("utf-8", data, 0, len(data), "invalid UTF-8")
        self._pending = data[len(data) - tail :] if tail else b""
        return ""

    def getstate(self) -> tuple[bytes, int]:
        return self._pending, 0


#: The most one zstd block gives (RFC 8878, Block_Maximum_Size).
ZSTD_BLOCK_MAX = 1 << 17
#: The most one zstd step may give, its blocks counted at the most each can give.
_ZSTD_STEP_MAX = 1 << 22


class _ZstdBlocks:
    """Where each step of one zstd frame's input ends, so that a step gives at most
    :data:`_ZSTD_STEP_MAX` plus one block (:data:`ZSTD_BLOCK_MAX`) of output, and
    about :data:`_OUTPUT_STEP` on most files.

    zstandard's ``decompress`` takes no output limit: it gives all that its input
    holds, and 3 bytes of a block header can stand for a whole block. So the frame's
    headers are followed here (RFC 8878: the frame header, then blocks of a 3-byte
    header and a body, then an optional checksum) and each block counted at what it
    can give: its size for a raw or RLE block, a whole block for a compressed one. A
    step ends after the header of the block that would pass the bound (its body is
    the next step's), or once it holds the input that gave about
    :data:`_OUTPUT_STEP` so far in this frame (the ratio over the whole frame, not
    the last step's). Bytes that are not what the format says are passed on as
    they are: the library rejects them (``CORRUPT_COMPRESSED``).
    """

    _FRAME, _BLOCK, _END = 0, 1, 2

    def __init__(self) -> None:
        self._phase = self._FRAME
        self._head = b""  # a header's bytes so far (it may be cut between chunks)
        self._skip = 0  # bytes of the element under way (header rest, body, checksum)
        self._checksum = 0  # bytes of checksum after the last block
        self._last = False  # the block under way is the frame's last
        self._carried = 0  # output counted for the block whose body the next step has
        self._taken = 0  # input of this frame handed to the library so far
        self._given = 0  # and the output it gave

    def gave(self, taken: int, given: int) -> None:
        """A step of ``taken`` bytes gave ``given`` bytes."""
        self._taken += taken
        self._given += given

    def step(self, view: memoryview, at: int) -> int:
        """The end of the next step of ``view`` from ``at`` (more than ``at``)."""
        step = 1 << 12  # until the frame has given some: its first output comes soon
        if self._given:
            step = max(step, min(CHUNK_SIZE, _OUTPUT_STEP * self._taken // self._given))
        end = min(len(view), at + step)
        counted, self._carried = self._carried, 0
        pos = at
        while pos < end:
            if self._skip:
                taken = min(self._skip, end - pos)
                pos += taken
                self._skip -= taken
                if not self._skip and self._phase == self._BLOCK and self._last:
                    self._last, self._skip = False, self._checksum
                    self._phase = self._END
                continue
            if self._phase == self._END:
                return end  # the library stops at the frame's end
            need = 5 if self._phase == self._FRAME else 3
            if self._head or pos + need > end:  # a header cut between steps
                taken = min(need - len(self._head), end - pos)
                self._head += bytes(view[pos : pos + taken])
                pos += taken
                if len(self._head) < need:
                    return end  # the header goes on in the next step
                head, self._head = self._head, b""
            else:
                head, pos = bytes(view[pos : pos + need]), pos + need
            if self._phase == self._FRAME:
                self._frame(head[4])
                continue
            gives = self._block(int.from_bytes(head, "little"))
            if counted and counted + gives > _ZSTD_STEP_MAX:
                self._carried = gives
                return pos
            counted += gives
        return end

    def _frame(self, descriptor: int) -> None:
        """The frame header's descriptor byte: the rest of the header to skip."""
        single = descriptor >> 5 & 1
        content_size = (single, 2, 4, 8)[descriptor >> 6]
        dictionary = (0, 1, 2, 4)[descriptor & 3]
        self._skip = (1 - single) + dictionary + content_size  # window, dict, size
        self._checksum = 4 if descriptor >> 2 & 1 else 0
        self._phase = self._BLOCK

    def _block(self, header: int) -> int:
        """A block header: its body to skip; what the block can give."""
        kind, size = header >> 1 & 3, header >> 3
        self._last = bool(header & 1)
        self._skip = 1 if kind == 1 else size  # an RLE block's body is its one byte
        if not self._skip and self._last:
            self._last, self._skip, self._phase = False, self._checksum, self._END
        return ZSTD_BLOCK_MAX if kind == 2 else size


def _utf8_check() -> _Utf8 | codecs.IncrementalDecoder:
    """What tracks UTF-8 validity: :class:`_Utf8` with the C scanner, else the decoder."""
    if _scanner is None:
        return codecs.getincrementaldecoder("utf-8")()
    return _Utf8()


def _compression_of(start: bytes) -> Compression | None:
    """Rule 1: what the input's first bytes say it is compressed with."""
    if start.startswith(GZIP_MAGIC):
        return "gzip"
    if start.startswith(ZSTD_MAGIC):
        return "zstd"
    return None


class _Container:
    """Rule 1, incrementally: ``feed`` returns the decompressed bytes, in bounded pieces."""

    def __init__(self) -> None:
        self.compression: Compression | None = None
        self.corrupt = False
        self._decided = False
        self._start = b""
        self._gzip: _GzipDecompressor | None = None
        self._gzip_errors: tuple[type[Exception], ...] = ()
        self._zstd: zstandard.ZstdDecompressionObj | None = None
        self._between = b""  # bytes after a member/frame, not yet understood
        self._skip = 0  # bytes of a skippable zstd frame still to drop
        self._blocks = _ZstdBlocks()  # where each zstd step's input ends

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.corrupt or not data:
            return
        if not self._decided:
            self._start += data
            if (
                len(self._start) < len(ZSTD_MAGIC)
                and (GZIP_MAGIC.startswith(self._start[:2]) or ZSTD_MAGIC.startswith(self._start))
                and not self._start.startswith(GZIP_MAGIC)
            ):
                return
            data = self._decide()
        yield from self._output(data)

    def compressed(self, data: bytes) -> bool:
        """Whether the input, what was fed and then ``data``, is compressed as far as its
        first bytes tell (before :meth:`feed` decides it): the profiler starts its
        thread with the first chunk."""
        if self._decided:
            return self.compression is not None
        return _compression_of(self._start + data[: len(ZSTD_MAGIC)]) is not None

    def _decide(self) -> bytes:
        data, self._start, self._decided = self._start, b"", True
        self.compression = _compression_of(data)
        return data

    def _output(self, data: bytes) -> Iterator[bytes]:
        if self.compression is None:
            if data:
                yield data
            return
        try:
            yield from self._inflate(data)
        except _Corrupt:
            self.corrupt = True

    def finish(self) -> Iterator[bytes]:
        if not self._decided:
            yield from self._output(self._decide())
        if self.compression is None or self.corrupt:
            return
        if self._gzip is not None or self._zstd is not None or self._skip:
            self.corrupt = True  # truncated
        elif self._between and (self.compression == "zstd" or self._between.strip(b"\0")):
            self.corrupt = True

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        while data:
            if self._gzip is not None:
                data = yield from self._gunzip(data)
            elif self._zstd is not None:
                data = yield from self._unzstd(data)
            elif self._skip:
                taken = min(self._skip, len(data))
                self._skip -= taken
                data = data[taken:]
            else:
                data = self._next_member(data)

    def _next_member(self, data: bytes) -> bytes:
        """Between members/frames: start the next one, or say why not."""
        data = self._between + data
        self._between = b""
        if self.compression == "gzip":
            data = data.lstrip(b"\0")
            if not data:
                return b""
            if len(data) < 4 and GZIP_MAGIC.startswith(data[:2]):
                self._between = data  # the header's flags byte is not here yet
                return b""
            if not data.startswith(GZIP_MAGIC) or data[3] & _GZIP_RESERVED_FLAGS:
                raise _Corrupt  # zlib refuses reserved flags (RFC 1952); isal does not
            library = _chosen_gunzip()
            self._gzip, self._gzip_errors = library.member(), library.errors
            return data
        if len(data) < 8:  # every frame is longer: wait for more, or the end
            self._between = data
            return b""
        if is_skippable(data):
            self._skip = 8 + int.from_bytes(data[4:8], "little")
            return data
        if not data.startswith(ZSTD_MAGIC):
            raise _Corrupt
        import zstandard  # only for zstd input

        self._zstd = zstandard.ZstdDecompressor().decompressobj()
        self._blocks = _ZstdBlocks()
        return data

    def _gunzip(self, data: bytes) -> Generator[bytes, None, bytes]:
        decompressor = self._gzip
        assert decompressor is not None
        while True:
            try:
                out = decompressor.decompress(data, _OUTPUT_STEP)
            except self._gzip_errors as exc:
                raise _Corrupt from exc
            if out:
                yield out
            if decompressor.eof:
                self._gzip = None
                return decompressor.unused_data
            data = decompressor.unconsumed_tail
            if not data:
                return b""

    def _unzstd(self, data: bytes) -> Generator[bytes, None, bytes]:
        import zstandard

        decompressor = self._zstd
        assert decompressor is not None
        view, at = memoryview(data), 0  # slices of a view: the input is not copied
        while at < len(view):
            end = self._blocks.step(view, at)
            piece = view[at:end]
            at = end
            try:
                out = decompressor.decompress(piece)
            except zstandard.ZstdError as exc:
                raise _Corrupt from exc
            self._blocks.gave(len(piece), len(out))
            if out:
                yield out
            if decompressor.eof:
                self._zstd = None
                return decompressor.unused_data + data[at:]
        return b""


class _Machine:
    """Records, lines and fields per record for one single-byte delimiter.

    Fed normalized text (LF the only line end); :meth:`feed_exact` reads it
    event by event, :meth:`feed_fast` with C-level methods after the header.
    """

    def __init__(self, delimiter: bytes) -> None:
        self.delimiter = delimiter
        self._dbyte = delimiter[0]
        self.state = _START_RECORD
        self.fields = 0  # delimiters so far in the current record
        self.inner = 0  # LFs inside quotes so far in the current record
        self.records = 0  # records ended, the header included
        self.lines = 0  # LFs seen
        self.width: int | None = None  # fields in the header
        self.ragged = 0
        self.examples: list[RaggedExample] = []
        #: Range mode: the first record began before the range; it is only measured.
        self.head: tuple[int, int, int] | None = None  # (delimiters, inner LFs, its LF's line)
        self.in_range = False
        self.missed = False  # a ragged row whose example the fast path could not give
        self._event = re.compile(b"[" + re.escape(delimiter) + b'\n"]')
        keep = {_LF, self._dbyte}
        self._noise = bytes(b for b in range(256) if b not in keep)
        # NUL (a quoted piece) stays, field and record ends become 1, the rest 2.
        self._classes = bytes(0 if b == 0 else 1 if b in keep else 2 for b in range(256))
        self._pattern = b""
        self._slow = 0
        # The pattern path (feed_raw) reads text before CR becomes LF.
        ends = keep | {_CR}
        self._ends = bytes(sorted(ends))
        self._raw_noise = bytes(b for b in range(256) if b not in ends | {_QUOTE})
        self._raw_classes = bytes(0 if b == 0 else 1 if b in ends else 2 for b in range(256))
        self._rows_lf = b""
        self._rows_crlf = b""

    # --- shared ------------------------------------------------------------------

    def snapshot(self) -> tuple[object, ...]:
        return (
            self.state,
            self.fields,
            self.inner,
            self.records,
            self.lines,
            self.width,
            self.ragged,
            len(self.examples),
            self.head,
        )

    def restore(self, saved: tuple[object, ...]) -> None:
        (
            self.state,
            self.fields,
            self.inner,
            self.records,
            self.lines,
            self.width,
            self.ragged,
            examples,
            self.head,
        ) = saved  # type: ignore[assignment]
        del self.examples[examples:]  # type: ignore[arg-type]
        self.missed = False

    def _end_record(self, fields: int, line: int) -> None:
        """A record of ``fields`` fields ended; its last line is ``line`` (exact path)."""
        start = line - self.inner
        if self.in_range and self.head is None:
            self.head = (fields - 1, self.inner, line)
        elif self.width is None:
            self.width = fields
        elif fields != self.width:
            self.ragged += 1
            if len(self.examples) < MAX_RAGGED_EXAMPLES:
                self.examples.append(RaggedExample(self.records, start, fields))
        self.records += 1
        self.fields = self.inner = 0
        self.state = _START_RECORD

    def finish(self) -> bool:
        """End of input; True when a quoted field was left open (rule 11)."""
        if self.state == _IN_QUOTED:
            return True
        if self.state != _START_RECORD:
            self._end_record(self.fields + 1, self.lines + 1)
        return False

    @property
    def header_done(self) -> bool:
        return self.width is not None

    def skip_rows(self, width: int | None, rows: int, lines: int) -> bool:
        """Text proven (by a contract's row regex, :mod:`chalicelib.core.validate`) to be
        ``rows`` whole records of ``width`` fields with ``lines`` line ends, no blank line,
        from a record's start: counted without reading it. False, with nothing changed,
        unless this machine is at a record's start, after a header of that width."""
        if self.width is None or width != self.width or self.in_range:
            return False
        if self.state != _START_RECORD or self.fields or self.inner:
            return False
        self.records += rows
        self.lines += lines
        return True

    # --- the exact path: event by event ------------------------------------------

    def feed_exact(  # noqa: C901
        self, buf: bytes, stop_after_header: bool = False, stop_after_head: bool = False
    ) -> int:
        """Read ``buf`` exactly; return where it stopped (``len(buf)`` unless asked:
        after the header, or in range mode after the first record ended)."""
        pos, end = 0, len(buf)
        search = self._event.search
        dbyte = self._dbyte
        while pos < end:
            if stop_after_header and self.width is not None:
                return pos
            if stop_after_head and self.head is not None:
                return pos
            if self.state == _IN_QUOTED:
                stop = _QUOTED_TEXT.match(buf, pos).end()  # type: ignore[union-attr]
                newlines = buf.count(b"\n", pos, stop)
                self.inner += newlines
                self.lines += newlines
                if stop == end:
                    return end
                self.state = _START_FIELD  # a closing quote
                pos = stop + 1
                continue
            found = search(buf, pos)
            at = end if found is None else found.start()
            if at > pos:  # text
                self.state = _IN_FIELD
            if found is None:
                return end
            byte = buf[at]
            if byte == _LF:
                if self.state != _START_RECORD:
                    self._end_record(self.fields + 1, self.lines + 1)
                self.lines += 1
            elif byte == dbyte:
                self.fields += 1
                self.state = _START_FIELD
            elif self.state != _IN_FIELD:  # a quote opens a field (or is doubled)
                self.state = _IN_QUOTED
            pos = at + 1
        return end

    def feed_body(self, data: bytes) -> None:
        """Normalized text after the header: fast, exactly again while examples are wanted."""
        if len(self.examples) >= MAX_RAGGED_EXAMPLES:
            self.feed_fast(data)
            return
        saved = self.snapshot()
        self.feed_fast(data)
        if self.missed:
            self.restore(saved)
            self.feed_exact(data)

    # --- the pattern path: text as decoded, a translate and a comparison ------------

    def feed_raw(self, buf: bytes) -> bool:
        """Text after the header before CRLF and CR become LF: True when counted here;
        False, with nothing changed, when only the other paths can tell.

        ``translate`` keeps the delimiters and line ends (of the text outside quotes,
        when the chunk has quotes: it is split on them first, :meth:`_quoted`).
        Outside quotes, rows of the header's width are exactly a slice of
        ``(delimiter * (width - 1) + line end) * k``, compared in C: that also rules
        out blank lines (the header has 2 fields at least), a mix of line ends and
        ragged rows. The split holds once every quote that would open a field is
        known to follow a delimiter, a line end or a quote (rule 7: else it is
        text). A CR that is not followed by LF (a lone CR) is left to the other paths.
        """
        width = self.width
        if width is None or width < 2 or not buf or (self.in_range and self.head is None):
            return False
        if self.fields >= width:
            return False  # the open record is ragged already
        if _scanner is not None:
            counted = _scanner(buf, self._dbyte, width, self.state, self.fields, self.inner)
            if counted is None:
                return False
            self.state, self.fields, self.inner, records, lines = counted
            self.records += records
            self.lines += lines
            return True
        cut_cr = buf[-1] == _CR  # its LF, if any, begins the next chunk
        if b"\r" in buf and _LONE_CR.search(buf):
            return False  # a CR that is not followed by LF (the last byte's LF may follow)
        if b'"' in buf:
            return self._quoted(buf, cut_cr)
        if self.state != _IN_QUOTED:
            shape = buf.translate(None, self._raw_noise)
            return self._advance(shape, 0, 0, self._after_raw(buf[-1]))
        ends = buf.count(b"\n") + cut_cr  # all inside a quoted field
        self.inner += ends
        self.lines += ends
        return True

    def _quoted(self, buf: bytes, cut_cr: bool) -> bool:
        """:meth:`feed_raw` for text with quotes, split on them: the pieces alternate
        outside and inside quotes (a doubled quote is an empty piece outside). Every
        piece outside that a quote follows must be empty or end with a delimiter or a
        line end (else that quote is text, rule 7): with few quotes, their last bytes
        are taken out of the pieces (one ``map`` in C); with many (all-quoted data),
        the text outside quotes is marked and searched."""
        k = 1 if self.state == _IN_QUOTED else 0
        if not k and buf[0] == _QUOTE and self.state == _IN_FIELD:
            return False  # the first quote is text
        pieces = buf.split(b'"')
        quotes = len(pieces) - 1
        ends_inside = (quotes + k) % 2 == 1
        outs, ins = pieces[k::2], pieces[1 - k :: 2]
        followed = outs if ends_inside else outs[:-1]  # the pieces a quote follows
        joined = b"".join(outs)
        outside = joined.translate(None, self._raw_noise)
        if quotes * _DENSE <= len(buf):
            if bytes(map(_LAST, filter(None, followed))).translate(None, self._ends):
                return False  # a quote after text outside quotes: text
            inside = b"".join(ins).count(b"\n")
        else:
            if len(outside) != len(joined):  # some text outside quotes: look closer
                marked = b"\0".join(followed) + b"\0"
                if marked.translate(self._raw_classes).find(b"\2\0") >= 0:
                    return False
            # Joining thousands of pieces costs more than counting the whole chunk.
            inside = buf.count(b"\n") - outside.count(b"\n")
        if ends_inside:
            inside += cut_cr
            state = _IN_QUOTED
        else:
            state = _START_FIELD if buf[-1] == _QUOTE else self._after_raw(buf[-1])
        # Line ends inside quotes after the last record end belong to the open record.
        last = len(outs) - 1
        if not ends_inside and cut_cr:
            after = 0  # the record ends at the chunk's last byte
        else:
            while last >= 0 and b"\n" not in outs[last]:
                last -= 1
            after = 0  # unused when no record ends (inside is added to the open record)
            if last >= 0:
                after = sum(piece.count(b"\n") for piece in ins[last + k :])
                after += ends_inside and cut_cr
        return self._advance(outside, inside, after, state)

    def _advance(self, outside: bytes, inside: int, after: int, state: int) -> bool:
        """Apply a chunk whose delimiters and line ends outside quotes are ``outside``,
        with ``inside`` line ends inside quotes (``after`` of them after the last
        record end), if ``outside`` continues the open record in rows of the header's
        width."""
        width = self.width
        assert width is not None
        fields = self.fields
        reach = fields + len(outside)
        if b"\r" in outside:
            size, rows = width + 1, self._rows_crlf
            if len(rows) < reach:
                row = self.delimiter * (width - 1) + b"\r\n"
                rows = self._rows_crlf = row * (2 * reach // size + 2)
        else:
            size, rows = width, self._rows_lf
            if len(rows) < reach:
                row = self.delimiter * (width - 1) + b"\n"
                rows = self._rows_lf = row * (2 * reach // size + 2)
        if not rows.startswith(outside, fields):
            return False
        ended, rest = divmod(reach, size)
        if rest == width:  # a CRLF cut after its CR: the record has ended
            ended, rest = ended + 1, 0
        if ended:
            self.records += ended
            self.inner = after
        else:
            self.inner += inside
        self.fields = rest
        self.lines += ended + inside
        self.state = state
        return True

    def _after_raw(self, last: int) -> int:
        if last in (_LF, _CR):
            return _START_RECORD
        return _START_FIELD if last == self._dbyte else _IN_FIELD

    # --- the fast path: C-level passes over the body -------------------------------

    def feed_fast(self, buf: bytes) -> None:
        lines = buf.count(b"\n")
        pos, end = 0, len(buf)
        find = buf.find
        while pos < end:
            if self.state == _IN_QUOTED:
                stop = _QUOTED_TEXT.match(buf, pos).end()  # type: ignore[union-attr]
                self.inner += buf.count(b"\n", pos, stop)
                if stop == end:
                    break
                self.state = _START_FIELD
                pos = stop + 1
                continue
            quote = find(b'"', pos)
            if quote < 0:
                self._plain(buf[pos:] if pos else buf)
                break
            if quote > pos:
                self._plain(buf[pos:quote])
            if self.state == _IN_FIELD:  # a quote inside an unquoted field is text
                pos = quote + 1
            elif self._slow:
                self._slow -= 1
                self.state = _IN_QUOTED
                pos = quote + 1
            else:
                pos = quote + self._split(buf[quote : quote + _WINDOW])
        self.lines += lines

    def _after(self, last: int) -> int:
        if last == _LF:
            return _START_RECORD
        return _START_FIELD if last == self._dbyte else _IN_FIELD

    def _plain(self, seg: bytes) -> None:
        """Text outside quotes (a NUL stands for a quoted field's text): records and fields."""
        if self.state == _START_RECORD and seg[:1] == b"\n":
            seg = seg.lstrip(b"\n")  # blank lines
        if not seg:
            return
        if b"\n\n" in seg:
            while b"\n\n" in seg:
                seg = seg.replace(b"\n\n", b"\n")
        shape = seg.translate(None, self._noise)
        first = shape.find(b"\n")
        if first < 0:
            self.fields += len(shape)
            self.state = self._after(seg[-1])
            return
        if self.in_range and self.head is None:
            self.head = (self.fields + first, self.inner, -1)
            self.missed = True  # its line is only known to the exact path
        else:
            self._check(self.fields + first)
        self.records += 1
        last = shape.rfind(b"\n")
        if last > first:
            self._rows(shape[first + 1 : last + 1])
        self.fields = len(shape) - last - 1
        self.inner = 0
        self.state = self._after(seg[-1])

    def _check(self, delimiters: int) -> None:
        if delimiters + 1 != self.width:
            self.ragged += 1
            self.missed = True

    def _rows(self, middle: bytes) -> None:
        """Whole records' shapes, each ending with LF."""
        width = self.width
        assert width is not None
        if len(self._pattern) < len(middle):
            row = self.delimiter * (width - 1) + b"\n"
            self._pattern = row * (2 * len(middle) // width + 1)
        if self._pattern.startswith(middle):
            self.records += len(middle) // width
            return
        rows = middle.split(b"\n")
        rows.pop()
        self.records += len(rows)
        bad = sum(1 for row in rows if len(row) != width - 1)
        if bad:
            self.ragged += bad
            self.missed = True

    def _split(self, region: bytes) -> int:
        """From an opening quote: the region split on quotes, up to a stray one; how far."""
        pieces = region.split(b'"')
        evens = pieces[0::2]
        if not len(pieces) & 1:
            evens.append(b"")
        joined = b"\0".join(evens)
        bad = self._first_stray(joined)
        if bad >= 0:  # keep what precedes the stray quote; one by one from there
            pieces, evens = pieces[: 2 * bad + 1], evens[: bad + 1]
            joined = b"\0".join(evens)
            self._slow = _SLOW
        size = sum(map(len, pieces)) + len(pieces) - 1
        odds = pieces[1::2]
        self._plain(joined)
        # LFs inside quotes after the last record end belong to the current record.
        last = len(evens) - 1
        while last >= 0 and b"\n" not in evens[last]:
            last -= 1
        self.inner += sum(piece.count(b"\n") for piece in odds[max(last, 0) :])
        if not len(pieces) & 1:
            self.state = _IN_QUOTED
        elif not pieces[-1]:
            self.state = _START_FIELD  # it ends on a closing quote
        return size

    def _first_stray(self, joined: bytes) -> int:
        """Index of the first piece outside quotes (joined by NUL) that makes the quote
        after it text: one whose last byte is neither the delimiter nor LF."""
        at = joined.translate(self._classes).find(b"\2\0")
        return -1 if at < 0 else joined.count(b"\0", 0, at + 1)


#: A stripped value longer than this can only be an integer or a number (rule 15: a
#: datetime, the longest of the other types, has at most 35 characters).
_KEPT = 64
_BLANKS = b" \t"
_DIGITS = b"0123456789"
#: The bytes of a numeral besides its digits, and how many of them one has at most.
_NUMERAL_MARKS = b"+-.eE"
_MARKS_MAX = 4
#: UTF-8 continuation bytes: a value's code points are its other bytes.
_CONTINUATION = bytes(range(0x80, 0xC0))
#: What a long value whose text is a string stands for in the column sample.
_A_STRING = "x"


class _Streamed:
    """One field of a long record (:class:`_Record`), measured as it passes.

    It keeps the value's length (bytes, and code points as UTF-8 counts them: the
    bytes that are not continuation bytes) and its stripped text while that text
    could still be typed anything but a string: while it has at most ``_KEPT``
    bytes, or, past that, while it could still be a numeral (digits and at most
    four of ``+-.eE``). A numeral of hundreds of MB is the one value held whole:
    its text may be the column's min or max.
    """

    __slots__ = ("blanks", "core", "marks", "points", "size", "string")

    def __init__(self) -> None:
        self.size = 0
        self.points = 0
        self.core = bytearray()  # from the first byte that is not blank to the last so far
        self.blanks = b""  # blanks after the core (at most _KEPT + 1 of them)
        self.marks = -1  # bytes of the core that are not digits, once it is past _KEPT
        self.string = False  # the stripped text is a string: the core is dropped

    def add(self, piece: bytes, pairs: int = 0) -> None:
        """More of the value: ``piece`` as read, holding ``pairs`` doubled quotes."""
        size = len(piece)
        self.size += size - pairs
        self.points += size if piece.isascii() else len(piece.translate(None, _CONTINUATION))
        self.points -= pairs
        if self.string:
            return
        if pairs:
            piece = piece.replace(b'""', b'"')
        stripped = piece.strip(_BLANKS)
        if not stripped:
            if self.core and len(self.blanks) <= _KEPT:
                self.blanks += piece[: _KEPT + 1]
            return
        core = self.core
        if core:
            inner = self.blanks + piece[: len(piece) - len(piece.lstrip(_BLANKS))]
            if inner:
                if len(core) + len(inner) + len(stripped) > _KEPT:  # a blank in a long text
                    self._drop()
                    return
                core += inner
        core += stripped
        if len(core) > _KEPT:
            added = core if self.marks < 0 else stripped
            marks = added.translate(None, _DIGITS)
            self.marks = max(self.marks, 0) + len(marks)
            if self.marks > _MARKS_MAX or marks.translate(None, _NUMERAL_MARKS):
                self._drop()
                return
        self.blanks = piece[len(piece.rstrip(_BLANKS)) :][: _KEPT + 1]

    def _drop(self) -> None:
        self.string = True
        self.core = bytearray()
        self.blanks = b""

    def stand_in(self) -> str:
        """A value that types, is empty and orders as this one's stripped text does."""
        return _A_STRING if self.string else self.core.decode("latin-1")


class _Record:
    """Rule 15 for a record longer than a parse window, read as the ``csv`` module reads
    it (``excel`` dialect, ``strict=False``) but without keeping its text: each of the
    first ``min(width, MAX_COLUMNS)`` fields is :class:`_Streamed`.

    The states are the C reader's (``Modules/_csv.c``): after a closing quote a quote
    is a literal one, the delimiter or a line end ends the field, and any other byte
    joins the field, which goes on unquoted.
    """

    def __init__(self, delimiter: bytes, width: int) -> None:
        self._dbyte = delimiter[0]
        self._width = width
        self._kept = min(width, MAX_COLUMNS)
        self._unquoted = re.compile(b"[" + re.escape(delimiter) + b"\r\n]")
        self.state = _START_RECORD
        self.fields = 0  # fields ended
        self.values: list[_Streamed] = []
        self._value: _Streamed | None = None

    def feed(self, buf: bytes, pos: int, final: bool) -> int:
        """Read ``buf[pos:]``: where the record ended (after its line end), or -1 while
        it goes on. With ``final`` the end of ``buf`` ends it."""
        end = len(buf)
        while pos < end:
            if self.state == _IN_QUOTED:
                pos = self._quoted(buf, pos, end)
                continue
            if self.state == _IN_FIELD:
                stop = min(end, pos + _RECORD_WINDOW)
                found = self._unquoted.search(buf, pos, stop)
                at = stop if found is None else found.start()
                if at > pos and self._value is not None:
                    self._value.add(buf[pos:at])
                pos = at
                if found is None:
                    continue
            else:
                taken = self._opening(buf[pos])
                if taken >= 0:
                    pos += taken
                    continue
            # The delimiter or a line end, at pos, ends the field.
            byte = buf[pos]
            self._end_field()
            pos += 1
            if byte == self._dbyte:
                self.state = _START_FIELD
                continue
            self.state = _START_RECORD
            if byte == _CR and pos < end and buf[pos] == _LF:
                pos += 1
            return pos
        return end if final and self._end_of_input() else -1

    def _end_of_input(self) -> bool:
        """The text ended (as a last line without a line end does): whether that ended
        a record."""
        if self.state == _START_RECORD:
            return False
        if self.state == _START_FIELD:
            self._start()  # an empty last field
        self._end_field()
        self.state = _START_RECORD
        return True

    def _quoted(self, buf: bytes, pos: int, end: int) -> int:
        """Quoted text from ``pos``, a window at most: where reading goes on."""
        stop = min(end, pos + _RECORD_WINDOW)
        close, pairs = stop, 0
        first = buf.find(b'"', pos, stop)
        if first >= 0:
            # Doubled quotes become two NULs (never in the text: rule 4), so the first
            # quote left closes the field (or is doubled across the window's end: the
            # next byte tells).
            at = buf[pos:stop].replace(b'""', b"\0\0").find(b'"', first - pos)
            close = stop if at < 0 else pos + at
            pairs = buf.count(b'"', first, close) >> 1
        if close > pos and self._value is not None:
            self._value.add(buf[pos:close], pairs)
        if close < stop:
            self.state = _QUOTE_IN_QUOTED
            close += 1
        return close

    def _opening(self, byte: int) -> int:
        """``byte`` at a record's or field's start, or after a quote inside quotes: the
        bytes it takes (0: it is text, read on in the field), or -1 if it ends the field."""
        state = self.state
        if state == _QUOTE_IN_QUOTED and byte == _QUOTE:  # a doubled quote
            if self._value is not None:
                self._value.add(b'"')
            self.state = _IN_QUOTED
            return 1
        if state == _START_RECORD and byte in _LINE_ENDS:  # a blank line
            return 1
        if state != _QUOTE_IN_QUOTED:
            self._start()
            if byte == _QUOTE:  # an opening quote
                self.state = _IN_QUOTED
                return 1
        if byte == self._dbyte or byte in _LINE_ENDS:
            return -1
        self.state = _IN_FIELD
        return 0

    def _start(self) -> None:
        self._value = _Streamed() if self.fields < self._kept else None

    def _end_field(self) -> None:
        if self._value is not None:
            self.values.append(self._value)
            self._value = None
        self.fields += 1
        if self.fields > self._width:
            self.values.clear()  # ragged: it is not in the sample

    @property
    def row(self) -> tuple[list[str], list[int], list[int]] | None:
        """The ended record as the sample takes it (stand-ins, bytes, code points),
        or None when it is ragged."""
        if self.fields != self._width:
            return None
        values = self.values
        return (
            [value.stand_in() for value in values],
            [value.size for value in values],
            [value.points for value in values],
        )


class _Sample:
    """Rules 14-15: the header's names and the column sample, read by the csv module.

    Fed the text (after BOM and sep line) as it comes. Records are parsed a window
    (``_SAMPLE_WINDOW``) at a time, as whole lines read as latin-1 (bytes as they
    are; names are decoded once the encoding is known, at the end). A record after
    the header that is longer than a window is read by :class:`_Record` instead,
    which keeps its values' lengths and only the text that can matter: so what the
    sample holds is bounded by the window, but for the header (its names are kept
    whole) and a numeral of hundreds of MB (:class:`_Streamed`).
    """

    def __init__(self, delimiter: str, limit: int) -> None:
        self.delimiter = delimiter
        self.limit = limit
        self.names: list[str] | None = None
        self.sample: ColumnSample | None = None
        self.done = False
        self._pending = b""
        self._retry = 0  # parse again once the pending text is this long
        self._long: _Record | None = None
        self._shape: bytes | None = None  # the bytes that are not the delimiter or LF

    def feed(self, text: bytes, final: bool = False) -> None:  # noqa: C901
        """Parses whole lines, at most a window at a time: a large chunk is not decoded
        (nor copied) past the rows the sample needs."""
        if self.done:
            return
        buf = self._pending + text if self._pending else text
        start = 0  # buf[:start] is read
        window = _SAMPLE_WINDOW
        while not self.done:
            if self._long is not None:
                end = self._long.feed(buf, start, final)
                if end < 0:
                    start = len(buf)
                    break
                self._ended(self._long)
                self._long = None
                start = end
                continue
            if start >= len(buf):
                break
            if self.sample is not None:
                window = _SAMPLE_WINDOW
            elif window < self._retry:  # the header, long: parsed again once it doubled
                window = self._retry
            stop = start + window
            whole = len(buf) <= stop
            if whole and final:
                cut = len(buf)
            else:
                stop = min(stop, len(buf))
                cut = max(buf.rfind(b"\n", start, stop), buf.rfind(b"\r", start, stop)) + 1
                if whole and (cut <= start or cut - start < self._retry):
                    break  # wait for more text
            if cut > start:
                header = self.sample is None
                used = self._parse(buf[start:cut])
                start += used
                if header and self.sample is not None:
                    self._retry = 0
                    continue  # the rows after the header, in the same text
                if whole:
                    # Parse the open record again once its text has doubled.
                    self._retry = 2 * (len(buf) - start)
                    break
                self._retry = 0
                if used or self.done:
                    continue
            # No record ends in the window: the one at start is longer than it.
            if self.sample is None:
                window *= 2  # the header: its names are kept whole
                continue
            self._long = _Record(self.delimiter.encode("latin-1"), self.sample.width)
        self._pending = b"" if self.done else buf[start:]

    def _ended(self, record: _Record) -> None:
        """A long record ended: into the sample unless it is ragged."""
        row = record.row
        sample = self.sample
        assert sample is not None
        if row is not None:
            sample.add_measured(*row)
            self.done = sample.full

    def _parse(self, raw: bytes) -> int:
        """The records that end in ``raw`` (whole lines): the length they take.

        With the C module built, its sampler reads them and types the rows with the
        header's fields column by column, without the GIL (:meth:`_sampled`); else,
        or when it leaves ``raw`` to Python, :meth:`_read` does.
        """
        sample = self.sample
        if sample is None:
            return self._header(raw)
        if _sampler is not None:
            read = self._sampled(raw, sample)
            if read >= 0:
                return read
        return self._read(raw, sample)

    def _read(self, raw: bytes, sample: ColumnSample) -> int:
        """:meth:`_parse` in Python (no C sampler, or one that left ``raw`` to it).

        Lines without a quote whose records all have the header's fields are split
        by ``str`` methods; a record with a quote (and lines with a ragged record)
        are read by the csv module. The values of the rows with the header's fields
        are gathered in order, then go to the sample column by column.
        """
        width = sample.width
        text = raw.decode("latin-1")
        values: list[str] = []
        pos, end = 0, len(raw)
        reader: Iterator[list[str]] | None = None
        lines = io.StringIO()
        limit = end
        while pos < end:
            quote = raw.find(b'"', pos)
            stop = end if quote < 0 else max(pos, raw.rfind(b"\n", pos, quote) + 1)
            if quote >= 0:
                stop = max(stop, raw.rfind(b"\r", pos, quote) + 1)
            if stop > pos:
                self._lines(raw[pos:stop], text, pos, values, width)
            if quote < 0:
                pos = end
                break
            # The record with the quote; a record still open at the end reads on into
            # the line after the text, "x" (after a line end, the file's last line has
            # none: it ends as before).
            if reader is None:
                ended = raw.endswith((b"\n", b"\r"))
                limit = end if ended else end + 1
                lines = io.StringIO(text + ("x\n" if ended else "\nx\n"), newline="")
                reader = csv.reader(lines, delimiter=self.delimiter, strict=False)
            lines.seek(stop)
            row = next(reader)
            after = lines.tell()
            if after > limit:
                pos = stop
                break
            if len(row) == width:
                values.extend(row)
            pos = min(after, end)
        rows = min(len(values) // width, sample.limit - sample.rows)
        last = rows * width
        sample.add_columns([values[i:last:width] for i in range(min(width, MAX_COLUMNS))], rows)
        self.done = sample.full
        return pos

    def _sampled(self, raw: bytes, sample: ColumnSample) -> int:
        """:meth:`_parse` by the C sampler, without the GIL: -1 when it leaves ``raw`` to
        the Python path (a closing quote followed by text, an exponent beyond int64)."""
        assert _sampler is not None
        width = sample.width
        room = sample.limit - sample.rows
        read = _sampler(raw, ord(self.delimiter), width, min(width, MAX_COLUMNS), room)
        if read is None:
            return -1
        pos, rows, blocks = read
        sample.add_blocks(rows, blocks)
        self.done = sample.full
        return pos

    def _header(self, raw: bytes) -> int:
        """The header, the first record (after blank lines), if it ends in ``raw``: the
        length it takes (0 if it does not end in it)."""
        lines = io.StringIO(raw.decode("latin-1"), newline="").readlines()
        count = len(lines)
        lines.append("x\n")  # a record that reads it did not end in the text
        reader = csv.reader(lines, delimiter=self.delimiter, strict=False)
        taken = 0
        for row in reader:
            if reader.line_num > count:
                break
            taken = reader.line_num
            if row:
                self.names = row
                self.sample = ColumnSample(len(row), self.limit, raw=True)
                self.done = self.sample.full
                break
        return sum(map(len, lines[:taken]))

    def _lines(self, raw: bytes, text: str, pos: int, values: list[str], width: int) -> None:
        """Whole lines without a quote: the values of their rows with ``width`` fields."""
        if not self._plain(raw, text, pos, values, width):
            lines = io.StringIO(text[pos : pos + len(raw)], newline="")
            for row in csv.reader(lines, delimiter=self.delimiter, strict=False):
                if len(row) == width:
                    values.extend(row)

    def _plain(self, raw: bytes, text: str, pos: int, values: list[str], width: int) -> bool:
        """Whole lines without a quote (``raw``, at ``pos`` of ``text``): their values
        into ``values`` if every record in them has the header's fields, else False.
        Unquoted, a field is the text between delimiters, and CRLF, a lone CR and LF
        all end a record (rule 7)."""
        data = raw
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").translate(_CR_TO_LF)
        blank = data[:1] == b"\n" or b"\n\n" in data
        if blank:
            data = data.lstrip(b"\n")
            while b"\n\n" in data:
                data = data.replace(b"\n\n", b"\n")
        if not data:
            return True
        if data[-1:] != b"\n":
            data += b"\n"  # the last line of the file
        delimiter = self.delimiter
        if self._shape is None:
            self._shape = bytes(b for b in range(256) if b not in (_LF, ord(delimiter)))
        rows = data.count(b"\n")
        if (
            data.translate(None, self._shape)
            != (delimiter.encode("latin-1") * (width - 1) + b"\n") * rows
        ):
            return False  # a ragged row
        piece = text[pos : pos + len(raw)] if data is raw else data.decode("latin-1")
        values += piece.replace("\n", delimiter).split(delimiter)[: rows * width]
        return True


class Profiler:
    """Feed it the object's bytes in any chunks, then call :meth:`finish`."""

    def __init__(
        self, settings: ProfileSettings = DEFAULT_SETTINGS, overlap: bool | None = None
    ) -> None:
        self.settings = settings
        self.bytes_read = 0
        self._container = _Container()
        #: Compressed input: decompressed on a thread ahead of the profile (:class:`_Ahead`).
        self._overlap = overlap_default() if overlap is None else overlap
        self._ahead: _Ahead | None = None
        self._original: list[bytes] | None = []  # kept until the start is understood
        self._delegate = False
        self._start = b""  # decompressed bytes until the start is understood
        self._started = False
        self._not_csv: str | None = None
        self._binary = False
        self._encoding = "utf-8"
        self._utf16: codecs.IncrementalDecoder | None = None
        self._utf8 = _utf8_check()
        self._text_start = b""  # text until the sep line question is settled
        self._sep_done = False
        self._delimiter: bytes | None = None
        self._source: Literal["sep_line", "detected"] = "detected"
        self._first_line = b""
        self._machine: _Machine | None = None
        self._sample: _Sample | None = None
        #: With the thread on: text for the sample, parsed while the caller would wait.
        self._held: list[bytes] = []
        self._held_at = 0  # of the first, what the sample has had
        self._held_size = 0  # what the sample has not had
        self._cr = False  # the last text byte was CR (a CRLF may be cut)
        #: Issue 14: every row checked against ``settings.contract`` (docs/contracts.md).
        self._validator: ContractValidator | None = None

    # --- feeding -------------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        self.bytes_read += len(chunk)
        if self._original is not None:
            self._original.append(chunk)
        if self._delegate:
            return
        if self._ahead is None and self._overlap and self._container.compressed(chunk):
            self._ahead = _Ahead(self._container)
        if self._ahead is not None:
            for piece in self._ahead.put(chunk, self._sample_slice):
                self._decompressed(piece)
        else:
            for piece in self._container.feed(chunk):
                self._decompressed(piece)
        if self._not_csv is not None or self._binary:
            self._original = None

    def _decompressed(self, piece: bytes) -> None:
        if self._not_csv is not None or self._binary or self._delegate:
            return
        if not self._started:
            self._start += piece
            if len(self._start) < SIGNATURE_BYTES + 8:
                return
            piece, self._start = self._start, b""
            self._begin(piece)
            return
        self._decoded(piece)

    def _begin(self, piece: bytes) -> None:
        """The first bytes: rule 2, then the BOM (rule 3)."""
        self._started = True
        self._not_csv = not_csv_message(piece)
        if self._not_csv is not None:
            return
        if piece.startswith(codecs.BOM_UTF16_LE) or piece.startswith(codecs.BOM_UTF16_BE):
            self._encoding = "utf-16-le" if piece[:2] == codecs.BOM_UTF16_LE else "utf-16-be"
            self._utf16 = codecs.getincrementaldecoder(self._encoding)(errors="replace")
            piece = piece[2:]
        elif piece.startswith(codecs.BOM_UTF8):
            piece = piece[3:]
        self._decoded(piece)

    def _decoded(self, piece: bytes, final: bool = False) -> None:
        """Decompressed bytes after the BOM: to text bytes (UTF-16 becomes UTF-8)."""
        if self._utf16 is not None:
            text = self._utf16.decode(piece, final=final)
            if "\0" in text:
                self._binary = True
                return
            data = text.encode("utf-8")
        else:
            if b"\0" in piece:
                self._binary = True
                return
            data = piece
            if self._encoding == "utf-8" and not (data.isascii() and not self._utf8.getstate()[0]):
                try:
                    self._utf8.decode(data, final=final)
                except UnicodeDecodeError:
                    self._encoding = "cp1252"
        self._text(data, final)

    def _text(self, data: bytes, final: bool) -> None:
        """Rules 5-6, then the records."""
        if not self._sep_done:
            self._text_start += data
            if len(self._text_start) < 6 and not final:
                return
            data, self._text_start = self._text_start, b""
            self._sep_done = True
            if data[:4].lower() == b"sep=" and len(data) >= 5:
                mark = data[4]
                if mark >= 0x80:
                    self._delegate = True
                    return
                if mark not in b'"\r\n' and (len(data) == 5 or data[5] in b"\r\n"):
                    self._delimiter = bytes((mark,))
                    self._source = "sep_line"
                    data = data[5:]
        if self._machine is None and self._delimiter is None:
            newline = data.find(b"\n")
            if newline < 0 and not final:
                self._first_line += data
                if len(self._first_line) > _FIRST_LINE_MAX:
                    self._delegate = True
                return
            data, self._first_line = self._first_line + data, b""
            first = data if newline < 0 else data[: data.find(b"\n")]
            counts = [first.count(d.encode()) for d in DELIMITERS]
            best = max(range(len(DELIMITERS)), key=lambda i: (counts[i], -i))
            self._delimiter = DELIMITERS[best].encode() if counts[best] else b","
        if self._machine is None:
            self._start_records()
        self._records(data, final)

    def _start_records(self) -> None:
        assert self._delimiter is not None
        self._machine = _Machine(self._delimiter)
        self._sample = _Sample(self._delimiter.decode("latin-1"), self.settings.profile_rows)
        self._original = None
        if self.settings.contract is not None:
            from chalicelib.core.validate import ContractValidator

            self._validator = ContractValidator(
                self.settings.contract, self._delimiter, utf16=self._utf16 is not None
            )

    def _records(self, data: bytes, final: bool) -> None:
        machine, sample = self._machine, self._sample
        assert machine is not None
        assert sample is not None
        validator = self._validator
        if validator is not None:
            # The contract's validator reads the same text (line ends as they are).
            validator.feed(data, self._encoding, final)
            if validator.stopped:
                return  # the header does not match: no record is read (docs/contracts.md)
        if not sample.done:
            self._to_sample(machine, sample, data, final)
        if validator is None:
            if data:
                self._count(machine, data)
            return
        # The record machine reads what the validator read, in the same order; text
        # the row regex proved to be whole rows of the header's width is only counted.
        for part in validator.read:
            if isinstance(part, bytes):
                self._count(machine, part)
            elif machine.skip_rows(validator.width, part[1], part[2]):
                self._cr = False
            else:
                self._count(machine, part[0])

    def _to_sample(self, machine: _Machine, sample: _Sample, data: bytes, final: bool) -> None:
        """Text for the column sample (before the record machine counts it)."""
        if self._ahead is None:
            sample.feed(data, final)
        elif final or machine.records - machine.ragged <= self.settings.profile_rows + 1:
            self._hold(data, final)
        # else the text so far holds the header and more rows of its width than the
        # sample takes (rule 15; one more, as a margin): the sample never reads this
        # piece, nor holds it.

    def _hold(self, data: bytes, final: bool) -> None:
        """The sample's text, while the thread is on: held for :meth:`_sample_slice`,
        parsed at once beyond :data:`_SAMPLE_HELD` (and all of it at the end)."""
        if data:
            self._held.append(data)
            self._held_size += len(data)
        if final:
            self._feed_held(self._held_size)
            assert self._sample is not None
            if not self._sample.done:
                self._sample.feed(b"", final=True)
        elif self._held_size > _SAMPLE_HELD:
            self._feed_held(self._held_size - _SAMPLE_HELD)

    def _sample_slice(self) -> bool:
        """Idle work for :class:`_Ahead`: a slice of the held text into the sample;
        whether there was any."""
        if not self._held_size:
            return False
        self._feed_held(_SAMPLE_SLICE)
        return True

    def _feed_held(self, size: int) -> None:
        """``size`` bytes of the held text into the sample, in order (fewer if the
        sample is full first: then all of it is let go)."""
        sample, held = self._sample, self._held
        assert sample is not None
        while size > 0 and held and not sample.done:
            piece, at = held[0], self._held_at
            text = piece[at : at + size] if at or size < len(piece) else piece
            self._held_at += len(text)
            if self._held_at == len(piece):
                held.pop(0)
                self._held_at = 0
            self._held_size -= len(text)
            size -= len(text)
            sample.feed(text)
        if sample.done:
            held.clear()
            self._held_at = self._held_size = 0

    def _count(self, machine: _Machine, data: bytes) -> None:
        """The record machine's part of :meth:`_records` (rules 7-13)."""
        if self._cr and data[:1] == b"\n":
            data = data[1:]  # the LF of a CRLF cut by a chunk edge
        self._cr = False
        if not data:
            return
        self._cr = data[-1:] == b"\r"
        if machine.feed_raw(data):
            return
        if not machine.header_done:
            data = self._header_lines(machine, data)
            if machine.header_done and machine.feed_raw(data):
                return
        self._exact(machine, data)

    def _header_lines(self, machine: _Machine, data: bytes) -> bytes:
        """The header by the exact path a line at a time (most headers are one line),
        so that the rows after it in ``data`` can take the pattern path: the first
        piece of a compressed file is 256 KiB or more. What is left of ``data``."""
        for _ in range(_HEADER_LINES):
            end = data.find(b"\n") + 1
            if machine.header_done or not 0 < end < len(data):
                break
            self._exact(machine, data[:end])
            data = data[end:]
        return data

    def _exact(self, machine: _Machine, data: bytes) -> None:
        """Text the pattern path could not take, by the other paths (CRLF and a lone
        CR made LF first)."""
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").translate(_CR_TO_LF)
        pos = 0
        if not machine.header_done:
            pos = machine.feed_exact(data, stop_after_header=True)
            if pos >= len(data):
                return
            data = data[pos:]
        machine.feed_body(data)

    # --- the end -------------------------------------------------------------------

    @property
    def rangeable(self) -> bool:
        """Whether the rest of the file may be read as ranges (:class:`RangeProfiler`).

        True once the header has ended and the column sample is full (rules 14-15
        need nothing after that), for plain input: compressed input, UTF-16 and the
        inputs the reference profiles are only understood in order, so a ranged
        reader feeds this one profiler the whole object
        (:mod:`chalicelib.core.ranges` does). It stays True once it is (a NUL
        found later is the stitch's BINARY).
        """
        machine, sample = self._machine, self._sample
        return (
            machine is not None
            and self.settings.contract is None  # a contract reads the file in order
            and machine.header_done
            and sample is not None
            and sample.done
            and not self._delegate
            and self._not_csv is None
            and self._utf16 is None
            and self._container.compression is None
        )

    @property
    def split_delimiter(self) -> str | None:
        """The delimiter once the rest of the file may be profiled in ranges
        (:class:`RangeProfiler`) and :meth:`stitch`-ed; ``None`` before that and
        whenever :attr:`rangeable` is False."""
        if not self.rangeable:
            return None
        assert self._machine is not None
        return self._machine.delimiter.decode("latin-1")

    @property
    def split_width(self) -> int | None:
        """The header's field count, with :attr:`split_delimiter` (the ranges check it)."""
        if not self.rangeable:
            return None
        assert self._machine is not None
        return self._machine.width

    def finish(self) -> Profile:  # noqa: C901
        if self._ahead is not None:
            for pieces in self._ahead.drain(self._sample_slice):
                for piece in pieces:
                    self._decompressed(piece)
        for piece in self._container.finish():
            self._decompressed(piece)
        size, compression = self.bytes_read, self._container.compression
        # Once the input went to the reference, the container was no longer fed: the
        # reference judges the whole stream, its container included.
        if self._container.corrupt and not self._delegate:
            return rejected(CORRUPT_COMPRESSED, size, compression=compression)
        if not self._delegate and not self._started:
            self._started = True
            piece, self._start = self._start, b""
            self._begin(piece)
            if self._not_csv is None and not self._binary and not self._delegate:
                self._decoded(b"", final=True)
        elif not self._delegate and self._not_csv is None and not self._binary:
            self._decoded(b"", final=True)
        if self._delegate:
            assert self._original is not None
            from chalicelib.core.csvreference import reference_profile

            return reference_profile(b"".join(self._original), self.settings)
        if self._not_csv is not None:
            return rejected(NOT_CSV, size, message=self._not_csv, compression=compression)
        if self._binary:
            return rejected(BINARY, size, compression=compression)
        machine, sample = self._machine, self._sample
        assert machine is not None
        assert sample is not None
        assert self._delimiter is not None
        delimiter = self._delimiter.decode("latin-1")
        validator = self._validator
        if validator is not None and validator.mismatch(self._encoding):
            names = validator.header_names(self._encoding)
            assert names is not None
            return header_mismatch(
                bytes_read=size,
                delimiter=delimiter,
                delimiter_source=self._source,
                encoding=self._encoding,
                compression=compression,
                names=names,
                contract=validator.finish(self._encoding),
            )
        if machine.finish():
            return rejected(
                UNTERMINATED_QUOTE,
                size,
                delimiter,
                self._encoding,
                delimiter_source=self._source,
                compression=compression,
            )
        if machine.width is None:
            return rejected(
                EMPTY,
                size,
                delimiter,
                self._encoding,
                delimiter_source=self._source,
                compression=compression,
            )
        self._feed_held(self._held_size)
        if not sample.done:
            sample.feed(b"", final=True)
        assert sample.names is not None
        assert sample.sample is not None
        return outcome(
            bytes_read=size,
            delimiter=delimiter,
            delimiter_source=self._source,
            encoding=self._encoding,
            compression=compression,
            names=decode_raw(sample.names, self._encoding),
            records=machine.records,
            ragged=machine.ragged,
            examples=machine.examples,
            sample=sample.sample,
            settings=self.settings,
            contract=None if validator is None else validator.finish(self._encoding),
        )

    def stitch(self, rest: Sequence[RangePart]) -> Profile:  # noqa: C901
        """The profile of the whole file from this profiler (its leading ranges) and
        the other ranges' parts, in order: exactly what one :class:`Profiler` fed it
        all returns. This profiler must be :attr:`rangeable` unless ``rest`` is empty.
        """
        if not rest:
            return self.finish()
        bytes_read = self.bytes_read + sum(part.bytes_read for part in rest)
        if self._binary or any(part.binary for part in rest):
            return rejected(BINARY, bytes_read)
        machine, sample = self._machine, self._sample
        if not self.rangeable or machine is None or sample is None:
            raise ValueError("this profiler cannot be stitched to ranges yet (see rangeable)")
        width = machine.width
        assert width is not None
        delimiter = machine.delimiter.decode("latin-1")
        state, records, lines = machine.state, machine.records, machine.lines
        fields, inner = machine.fields, machine.inner  # the open record: delimiters, LFs
        ragged, examples = machine.ragged, list(machine.examples)
        for part in rest:
            if part.delimiter != delimiter or part.width != width:
                raise ValueError(
                    f"a range was profiled with {part.delimiter!r} and {part.width} fields, "
                    f"not {delimiter!r} and {width}"
                )
            out = part.outcomes[state]
            if out.records:
                # The record open at the boundary ends in this range: the boundary
                # field is one field, so its delimiters add up.
                total = fields + out.head_fields + 1
                if total != width:
                    ragged += 1
                    if len(examples) < MAX_RAGGED_EXAMPLES:
                        start = lines + out.head_line - inner - out.head_inner
                        examples.append(RaggedExample(records, start, total))
                for example in out.examples[: max(0, MAX_RAGGED_EXAMPLES - len(examples))]:
                    examples.append(
                        RaggedExample(
                            records + example.row, lines + 1 + example.line, example.fields
                        )
                    )
                ragged += out.ragged
                fields, inner = out.open_fields, out.open_inner
            else:  # the whole range lies inside one record
                fields += out.open_fields
                inner += out.open_inner
            records += out.records
            lines += out.lines
            state = out.state
        encoding = self._stitched_encoding(rest)
        if state == _IN_QUOTED:
            return rejected(
                UNTERMINATED_QUOTE,
                bytes_read,
                delimiter,
                encoding,
                delimiter_source=self._source,
                compression=None,
            )
        if state != _START_RECORD:  # the last record ends with the file
            total = fields + 1
            if total != width:
                ragged += 1
                if len(examples) < MAX_RAGGED_EXAMPLES:
                    examples.append(RaggedExample(records, lines + 1 - inner, total))
            records += 1
        assert sample.names is not None
        assert sample.sample is not None
        return outcome(
            bytes_read=bytes_read,
            delimiter=delimiter,
            delimiter_source=self._source,
            encoding=encoding,
            compression=None,
            names=decode_raw(sample.names, encoding),
            records=records,
            ragged=ragged,
            examples=examples,
            sample=sample.sample,
            settings=self.settings,
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
# What crosses a range boundary is the record machine's state, the open
# record's delimiters and quoted LFs, the counts (records, lines, ragged rows,
# examples) and the UTF-8 decoder's few pending bytes. Outside quotes the
# state after a byte is a function of that byte (LF or CR: a record starts; the
# delimiter: a field starts; anything else: inside a field); the one thing it
# does not tell is whether the byte lies inside quotes. So a range after the
# leading ones is run once per state it may be entered in: two candidates, or
# three when the byte before it is a quote (it may open, close, or be text).
# Each run counts from zero: its first record ended (the one that may have
# begun before the range) is only measured, the stitch joins it to the open
# record before and checks it; examples carry rows and lines relative to the
# range. Candidates that reach the same state, with the same open record, at a
# chunk's end behave identically from there on and are merged (keeping their
# offsets), which in practice happens at the range's first quoted field: the
# extra cost is about one chunk per range. The leading ranges go to an ordinary
# :class:`Profiler` (container, BOM, delimiter, header, column sample) until it
# is :attr:`Profiler.rangeable`.


class RangeOutcome(NamedTuple):
    """One candidate run of a range, from one entering state."""

    #: Records ended in the range, the first one (begun before it, maybe) included.
    records: int
    #: The first record ended: delimiters and LFs inside quotes in its part in the
    #: range, and the 1-based line, within the range, of the LF that ends it.
    head_fields: int
    head_inner: int
    head_line: int
    #: The record open at the range's end (the whole range, when none ended).
    open_fields: int
    open_inner: int
    #: Ragged records after the first; the first 10 of them, ``row`` the index
    #: among the records ended in the range, ``line`` the line ends before its
    #: start within the range.
    ragged: int
    examples: tuple[RaggedExample, ...]
    #: Line ends in the range (a CRLF cut by its start counted before it).
    lines: int
    state: int


class RangePart(NamedTuple):
    """What :class:`RangeProfiler` found in one range, for each state it may start in."""

    delimiter: str
    width: int
    bytes_read: int
    binary: bool
    outcomes: Mapping[int, RangeOutcome]
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


class _Entry:
    """An entering state's run: a machine, and what to add to it (after merges)."""

    __slots__ = ("examples", "head", "machine", "ragged", "records", "since")

    def __init__(self, machine: _Machine) -> None:
        self.machine = machine
        self.records = 0
        self.ragged = 0
        #: Examples found before a merge (rows relative to this entry), then the
        #: machine's from index ``since`` on, shifted by ``records``.
        self.examples: tuple[RaggedExample, ...] = ()
        self.since = 0
        self.head: tuple[int, int, int] | None = None


class RangeProfiler:
    """Profiles a range after the leading ones without knowing the reader's state at its start.

    ``delimiter`` and ``width`` are the leading profiler's
    (:attr:`Profiler.split_delimiter`, :attr:`Profiler.split_width`); ``before`` is
    the byte just before the range (fetch ranges with one byte of overlap). Feed
    the range's bytes in any chunks, then :meth:`finish`.
    """

    def __init__(self, delimiter: str, before: bytes, width: int) -> None:
        if len(before) != 1:
            raise ValueError("before must be the one byte that precedes the range")
        self.delimiter = delimiter
        self.width = width
        dbyte = delimiter.encode("latin-1")
        self._runs: list[_Machine] = []
        self._entries: dict[int, _Entry] = {}
        for state in _entering_states(before, dbyte):
            machine = _Machine(dbyte)
            machine.width = width
            machine.in_range = True
            machine.state = state
            self._runs.append(machine)
            self._entries[state] = _Entry(machine)
        self.bytes_read = 0
        self._binary = False
        self._cr = before == b"\r"  # a CRLF cut by the range's start: its LF is not a line
        self._head = b""
        self._head_done = False
        self._utf8 = _utf8_check()
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
        if self._cr and chunk[:1] == b"\n":
            chunk = chunk[1:]  # the LF of a CRLF cut by a chunk's edge
        self._cr = chunk[-1:] == b"\r"
        if not chunk:
            return
        self._feed_runs(chunk)
        if len(self._runs) > 1:
            self._merge()

    def _feed_runs(self, chunk: bytes) -> None:
        """One chunk to every candidate machine."""
        normal = b""  # the chunk normalized, once a machine needs it
        quotes = b'"' in chunk
        inside: list[_Machine] = []  # machines for which the whole chunk is quoted text
        ends: int | None = None  # the chunk's line ends, once a machine has counted them
        for machine in self._runs:
            if not quotes and machine.state == _IN_QUOTED:
                inside.append(machine)
                continue
            lines = machine.lines
            if machine.head is not None and machine.feed_raw(chunk):
                if not quotes:  # rows of the width, no lone CR: each line end ended one
                    ends = machine.lines - lines
                continue
            normal = normal or self._normalized(chunk)
            self._feed_normal(machine, normal)
        if inside:
            self._all_quoted(inside, chunk, ends)

    @staticmethod
    def _all_quoted(machines: list[_Machine], chunk: bytes, ends: int | None) -> None:
        """A chunk without quotes, for machines inside a quoted field: all of it is
        quoted text, so only its line ends count (CRLF, lone CR, LF). ``ends`` is their
        number when another machine's pattern path took the chunk; else counting them
        costs less than normalizing the chunk (CRLF input)."""
        if ends is None:
            ends = chunk.count(b"\n")
            if b"\r" in chunk:
                ends += chunk.count(b"\r") - chunk.count(b"\r\n")
        for machine in machines:
            machine.inner += ends
            machine.lines += ends

    @staticmethod
    def _feed_normal(machine: _Machine, normal: bytes) -> None:
        """A chunk, normalized, that :meth:`_Machine.feed_raw` did not count (not all
        quoted text)."""
        if machine.head is None:
            # The first record's line is only known exactly: read it so, then on.
            pos = machine.feed_exact(normal, stop_after_head=True)
            if pos < len(normal):
                machine.feed_body(normal[pos:])
        else:
            machine.feed_body(normal)

    @staticmethod
    def _normalized(chunk: bytes) -> bytes:
        """CRLF, then a lone CR, become LF."""
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").translate(_CR_TO_LF)
        return chunk

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
        """Keep one machine per state and open record: from equal states, equal futures."""
        groups: dict[tuple[object, ...], list[_Machine]] = {}
        for machine in self._runs:
            key = (machine.state, machine.fields, machine.inner, machine.head is None)
            groups.setdefault(key, []).append(machine)
        if len(groups) == len(self._runs):
            return
        runs = []
        for machines in groups.values():
            # The one with the fewest examples keeps collecting as many as any needs.
            kept = min(machines, key=lambda m: len(m.examples))
            runs.append(kept)
            for gone in machines:
                if gone is not kept:
                    self._fold(gone, kept)
        self._runs = runs

    def _fold(self, gone: _Machine, kept: _Machine) -> None:
        for entry in self._entries.values():
            if entry.machine is not gone:
                continue
            shifted = tuple(
                RaggedExample(example.row + entry.records, example.line, example.fields)
                for example in gone.examples[entry.since :]
            )
            entry.examples = (entry.examples + shifted)[:MAX_RAGGED_EXAMPLES]
            entry.since = len(kept.examples)
            entry.records += gone.records - kept.records
            entry.ragged += gone.ragged - kept.ragged
            if entry.head is None:
                entry.head = gone.head
            entry.machine = kept

    def finish(self) -> RangePart:
        outcomes = {}
        for state, entry in self._entries.items():
            machine = entry.machine
            head = entry.head or machine.head or (0, 0, 0)
            examples = entry.examples + tuple(
                RaggedExample(example.row + entry.records, example.line, example.fields)
                for example in machine.examples[entry.since :]
            )
            outcomes[state] = RangeOutcome(
                records=machine.records + entry.records,
                head_fields=head[0],
                head_inner=head[1],
                head_line=head[2],
                open_fields=machine.fields,
                open_inner=machine.inner,
                ragged=machine.ragged + entry.ragged,
                examples=tuple(
                    RaggedExample(e.row, e.line - 1, e.fields)
                    for e in examples[:MAX_RAGGED_EXAMPLES]
                ),
                lines=machine.lines,
                state=machine.state,
            )
        return RangePart(
            delimiter=self.delimiter,
            width=self.width,
            bytes_read=self.bytes_read,
            binary=self._binary,
            outcomes=outcomes,
            head=self._head,
            rest_valid=self._valid,
            has_rest=self._has_rest,
            tail=self._utf8.getstate()[0],
        )


def profile_chunks(
    chunks: Iterable[bytes], settings: ProfileSettings = DEFAULT_SETTINGS
) -> Profile:
    """Profile a stream given as an iterable of byte chunks."""
    profiler = Profiler(settings)
    for chunk in chunks:
        profiler.feed(chunk)
    return profiler.finish()


def profile_bytes(data: bytes, settings: ProfileSettings = DEFAULT_SETTINGS) -> Profile:
    """Profile an in-memory CSV (tests and small files)."""
    return profile_chunks([data], settings)


def profile_file(
    stream: BinaryIO,
    chunk_size: int = CHUNK_SIZE,
    settings: ProfileSettings = DEFAULT_SETTINGS,
) -> Profile:
    """Profile a binary file object, reading ``chunk_size`` bytes at a time."""
    return profile_chunks(iter(lambda: stream.read(chunk_size), b""), settings)
