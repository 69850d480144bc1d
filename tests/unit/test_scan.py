"""The optional C scanner (``native/scan.c``, :func:`chalicelib.core._scan.scan`).

``scan`` is :meth:`_Machine.feed_raw`'s decision in C: count a chunk of text after
the header (line ends as they are) from a machine state when every record in it
has the header's width, else None. Hypothesis draws a delimiter, a width, a
starting state and a chunk built from structure (rows of the width in LF and
CRLF, quoted fields with line ends and doubled quotes, lone delimiters, quotes,
CRs and LFs); whatever ``scan`` counts, the exact path
(:meth:`_Machine.feed_exact` on the chunk normalized as :meth:`Profiler._count`
does) must count the same, with no ragged row; whatever the Python pattern path
counts, ``scan`` must count too, with the same result. Then each rejection by
example, the arguments it refuses, buffers past the GIL-released size, other
buffer types, that the module is built wherever a compiler is, and that it
needs no glibc newer than Lambda's. ``utf8``, the UTF-8 check, must give the
strict incremental decoder's verdict (pending bytes, or -1) on every prefix.
"""

from __future__ import annotations

import codecs
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chalicelib.core import csvprofile
from chalicelib.core.csvprofile import _Machine, use_scanner

ROOT = Path(__file__).resolve().parents[2]
_scan = csvprofile._scan
needs_scan = pytest.mark.skipif(
    _scan is None, reason="chalicelib.core._scan is not built (python native/build.py)"
)
START_RECORD, START_FIELD, IN_FIELD, IN_QUOTED = range(4)
STATES = {
    START_RECORD: "START_RECORD",
    START_FIELD: "START_FIELD",
    IN_FIELD: "IN_FIELD",
    IN_QUOTED: "IN_QUOTED",
}
DELIMITERS = [b",", b";", b"\t", b"|"]
E_ACUTE = "é".encode()
#: Lambda's python3.11 runtime has glibc 2.26; manylinux2014 promises 2.17.
GLIBC_MAX = (2, 17)
#: At this size and above, scan gives the GIL back while it reads (native/scan.c).
NOGIL_BYTES = 1 << 16


@needs_scan
def test_the_constants_are_the_machines_states() -> None:
    assert _scan is not None
    assert (_scan.START_RECORD, _scan.START_FIELD, _scan.IN_FIELD, _scan.IN_QUOTED) == (
        csvprofile._START_RECORD,
        csvprofile._START_FIELD,
        csvprofile._IN_FIELD,
        csvprofile._IN_QUOTED,
    )


# --- the differential test -----------------------------------------------------------


def machine(delimiter: bytes, width: int, state: int, fields: int, inner: int) -> _Machine:
    """A machine after a header of ``width`` fields (1 record, 1 line), in the given state."""
    m = _Machine(delimiter)
    m.width = width
    m.records = m.lines = 1
    m.state, m.fields, m.inner = state, fields, inner
    return m


def normalized(chunk: bytes) -> bytes:
    """As :meth:`Profiler._count` hands a chunk to the exact path: CRLF, then a lone
    CR, become LF."""
    return chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def counted(m: _Machine) -> tuple[int, int, int, int, int]:
    """What ``scan`` returns, read from a machine started by :func:`machine`."""
    return (m.state, m.fields, m.inner, m.records - 1, m.lines - 1)


@st.composite
def scan_inputs(draw: st.DrawFn) -> tuple[bytes, int, int, int, int, bytes]:
    """(delimiter, width, state, fields, inner, chunk): a starting state of a record
    after the header, and a chunk mostly of structure."""
    delimiter = draw(st.sampled_from(DELIMITERS))
    width = draw(st.integers(2, 6))
    state = draw(st.sampled_from(sorted(STATES)))
    if state == START_RECORD:  # a record's start: nothing of it read yet
        fields = inner = 0
    else:
        fields = draw(st.integers(0, width - 1))
        inner = draw(st.integers(0, 3))
    # Runs of 8 bytes and more too: scan skips text 8 bytes at a time.
    long_text = st.integers(4, 24).map(lambda n: (b"x" * n)[:-1] + b"y")
    text = st.one_of(st.sampled_from([b"", b"a", b"bc", E_ACUTE, b"1 2"]), long_text)
    quoted_piece = st.sampled_from([b"a", E_ACUTE, delimiter, b"\n", b"\r\n", b'""', b" "])
    quoted = st.lists(quoted_piece, max_size=5).map(lambda p: b'"' + b"".join(p) + b'"')
    field = st.one_of(text, text, quoted)
    end = st.sampled_from([b"\n", b"\r\n"])
    row = st.tuples(st.lists(field, min_size=width, max_size=width), end).map(
        lambda r: delimiter.join(r[0]) + r[1]
    )
    piece = st.one_of(
        row,
        row,
        quoted,
        st.sampled_from([delimiter, b'"', b"\r", b"\n", b"\r\n", b"a", E_ACUTE]),
        long_text,
    )
    body = b"".join(draw(st.lists(piece, max_size=12)))
    # A chunk that begins with a line end (its CR was the last chunk's) or ends
    # with a CR (its LF, if any, begins the next chunk and is dropped).
    head = draw(st.sampled_from([b"", b"", b"", b"\n", b"\r\n"]))
    tail = draw(st.sampled_from([b"", b"", b"", b"\r", b'"\r', delimiter + b"\r"]))
    return delimiter, width, state, fields, inner, head + body + tail


def check_scan(
    delimiter: bytes, width: int, state: int, fields: int, inner: int, chunk: bytes
) -> tuple[int, int, int, int, int] | None:
    """``scan`` on the chunk agrees with the exact path whenever it counts it, and
    counts whatever the Python pattern path counts, with the same result."""
    assert _scan is not None
    got = _scan.scan(chunk, delimiter[0], width, state, fields, inner)
    if got is not None:
        exact = machine(delimiter, width, state, fields, inner)
        exact.feed_exact(normalized(chunk))
        assert exact.ragged == 0, f"scan counted a ragged row: {got}"
        assert got == counted(exact), STATES[got[0]]
    python = machine(delimiter, width, state, fields, inner)
    with use_scanner("python"):
        taken = python.feed_raw(chunk) if chunk else False
    if taken:
        assert got == counted(python), "the Python pattern path counted it otherwise"
    return got


@needs_scan
@settings(max_examples=2000, deadline=None)
@given(scan_inputs())
@example((b",", 2, START_RECORD, 0, 0, b"1,2\r"))  # the CR ends the chunk: a record end
@example((b",", 2, IN_QUOTED, 1, 0, b"a\r"))  # inside quotes too
@example((b",", 2, IN_FIELD, 1, 0, b"\n3,4\n"))  # a chunk that begins with the LF
@example((b",", 2, START_FIELD, 1, 2, b"\r\n"))
@example((b",", 3, IN_QUOTED, 0, 1, b'a""b",c,d\n1,2,3\r\n'))  # LF and CRLF mixed
@example((b";", 2, START_FIELD, 0, 0, b'"x";\n'))  # a closing quote, then another field
def test_scan_agrees_with_the_exact_path(case: tuple[bytes, int, int, int, int, bytes]) -> None:
    check_scan(*case)


@st.composite
def long_chunks(draw: st.DrawFn) -> tuple[bytes, int, int, int, int, bytes]:
    """Chunks of many 64-byte blocks: rows of the width with quote-free fields, in LF
    or CRLF (the blocks ``scan`` counts by their masks alone), then one byte put in
    or taken out anywhere (a ragged row, a blank line, a lone CR, a quote, a CR
    split from its LF at a block's edge)."""
    delimiter = draw(st.sampled_from(DELIMITERS))
    width = draw(st.integers(2, 9))
    text = st.sampled_from([b"", b"a", b"12.5", E_ACUTE, b"x" * 13, b"2025-01-02"])
    ends = draw(st.sampled_from([[b"\n"], [b"\r\n"], [b"\n", b"\r\n"]]))
    rows = draw(
        st.lists(
            st.tuples(st.lists(text, min_size=width, max_size=width), st.sampled_from(ends)),
            min_size=4,
            max_size=60,
        )
    )
    chunk = b"".join(delimiter.join(fields) + end for fields, end in rows)
    at = draw(st.integers(0, len(chunk)))
    change = draw(st.sampled_from([b"", b"", delimiter, b"\n", b"\r", b'"', b"-", b"del"]))
    dropped = 1 if change == b"del" else 0
    chunk = chunk[:at] + (b"" if dropped else change) + chunk[at + dropped :]
    state = draw(st.sampled_from([START_RECORD, START_FIELD, IN_FIELD]))
    fields = 0 if state == START_RECORD else draw(st.integers(0, width - 1))
    return delimiter, width, state, fields, 0, chunk


@needs_scan
@settings(max_examples=1500, deadline=None)
@given(long_chunks())
def test_scan_of_long_chunks_agrees_with_the_exact_path(
    case: tuple[bytes, int, int, int, int, bytes],
) -> None:
    check_scan(*case)


@needs_scan
@pytest.mark.parametrize("where", range(56, 72))
def test_scan_at_block_edges(where: int) -> None:
    # A CRLF, a delimiter, a lone CR, an LF or a quote at every place about the first
    # block's end.
    row = b"a,b,c\r\n"
    for odd in (b"\r\n", b",", b"\r", b"\n", b'"'):
        chunk = b"x" * (where - 1) + b",y,z" + odd + row * 20
        check_scan(b",", 3, IN_FIELD, 0, 0, chunk)
        check_scan(b",", 3, START_RECORD, 0, 0, row * (where // 7) + b"1,2" + odd + row * 20)


@needs_scan
def test_scan_counts_more_than_the_python_path_where_the_exact_path_agrees() -> None:
    # A mix of LF and CRLF row ends: the Python path leaves it to the exact path.
    chunk = b"1,2\n3,4\r\n5,6\n"
    python = machine(b",", 2, START_RECORD, 0, 0)
    with use_scanner("python"):
        assert not python.feed_raw(chunk)
    assert check_scan(b",", 2, START_RECORD, 0, 0, chunk) == (START_RECORD, 0, 0, 3, 3)


@needs_scan
@pytest.mark.parametrize(
    ("chunk", "state", "fields", "inner", "want"),
    [
        (b"1,2\n3,4\n", START_RECORD, 0, 0, (START_RECORD, 0, 0, 2, 2)),
        (b"1,2\r\n3", START_RECORD, 0, 0, (IN_FIELD, 0, 0, 1, 1)),
        (b'1,"a\r\nb"', START_RECORD, 0, 0, (START_FIELD, 1, 1, 0, 1)),
        (b'1,"a\r\nb""', START_RECORD, 0, 0, (IN_QUOTED, 1, 1, 0, 1)),  # a doubled quote
        (b'1,"a""b",\n', START_RECORD, 0, 0, None),  # then a third field: ragged
        (b'1,"a""b"\n', START_RECORD, 0, 0, (START_RECORD, 0, 0, 1, 1)),
        (b'1,"a\r', START_RECORD, 0, 0, (IN_QUOTED, 1, 1, 0, 1)),  # its LF comes next
        (b'x"\n', IN_QUOTED, 1, 2, (START_RECORD, 0, 0, 1, 1)),  # the record had 2 inner
        (b"2\n", START_FIELD, 1, 0, (START_RECORD, 0, 0, 1, 1)),
        (b"\n", IN_FIELD, 1, 0, (START_RECORD, 0, 0, 1, 1)),
        (b"", START_FIELD, 1, 3, (START_FIELD, 1, 3, 0, 0)),
    ],
)
def test_scan_counts(
    chunk: bytes,
    state: int,
    fields: int,
    inner: int,
    want: tuple[int, int, int, int, int] | None,
) -> None:
    assert check_scan(b",", 2, state, fields, inner, chunk) == want


# --- what it leaves to the exact path ------------------------------------------------


@needs_scan
@pytest.mark.parametrize(
    ("why", "chunk", "state", "fields"),
    [
        ("too many fields", b"1,2\n3,4,5\n", START_RECORD, 0),
        ("too many fields, open record", b"4,5", IN_FIELD, 1),
        ("too many fields in CRLF", b"1,2\r\n3,4,\r\n", START_RECORD, 0),
        ("too few fields", b"1,2\n3\n", START_RECORD, 0),
        ("too few fields, CRLF", b"3\r\n", START_RECORD, 0),
        ("too few fields, a CR that ends the chunk", b"1,2\n3\r", START_RECORD, 0),
        ("too few fields after a quoted one", b'"a\nb"\n', START_RECORD, 0),
        ("a blank line", b"1,2\n\n3,4\n", START_RECORD, 0),
        ("a blank CRLF line", b"1,2\r\n\r\n", START_RECORD, 0),
        ("a blank line first", b"\n1,2\n", START_RECORD, 0),
        ("a lone CR", b"1,2\r3,4\n", START_RECORD, 0),
        ("a lone CR in a field", b"1,a\rb\n", START_RECORD, 0),
        ("a lone CR inside quotes", b'1,"a\rb"\n', START_RECORD, 0),
        ("a lone CR before the closing quote", b'1,"a\r"\n', START_RECORD, 0),
        ("a lone CR inside an open quoted field", b"a\rb", IN_QUOTED, 1),
        ("a quote after text", b'1,a"b"\n', START_RECORD, 0),
        ("a quote after text, first byte", b'"b"\n', IN_FIELD, 1),
        ("a quote after text in CRLF", b'1,2\r\n3,4"\r\n', START_RECORD, 0),
        # past the first 64-byte block (counted by its masks alone)
        ("too many fields, open record, long", b"1,2\n" * 40 + b"3,4,5", START_RECORD, 0),
        ("a lone CR after an LF, long", b"1,2\n" * 20 + b"\r1,2\n" * 20, START_RECORD, 0),
        ("a lone CR at a block's end", b"1,2\n" * 15 + b"1,\r" + b"1,2\n" * 20, START_RECORD, 0),
    ],
)
def test_scan_leaves_to_the_exact_path(why: str, chunk: bytes, state: int, fields: int) -> None:
    assert check_scan(b",", 2, state, fields, 0, chunk) is None, why


@needs_scan
@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((b"", ord(","), 2, 4, 0, 0), ValueError),  # no such state
        ((b"", ord(","), 2, -1, 0, 0), ValueError),
        ((b"", ord(","), 2, START_RECORD, 1, 0), ValueError),  # a record's start, fields read
        ((b"", ord(","), 2, START_RECORD, 0, 1), ValueError),
        ((b"", ord('"'), 2, 0, 0, 0), ValueError),  # not a delimiter
        ((b"", ord("\r"), 2, 0, 0, 0), ValueError),
        ((b"", ord("\n"), 2, 0, 0, 0), ValueError),
        ((b"", 256, 2, 0, 0, 0), ValueError),
        ((b"", -1, 2, 0, 0, 0), ValueError),
        ((b"", ord(","), 1, 0, 0, 0), ValueError),  # a width below 2
        ((b"", ord(","), 0, 0, 0, 0), ValueError),
        ((b"", ord(","), 2, 1, 2, 0), ValueError),  # fields must be below the width
        ((b"", ord(","), 2, 1, -1, 0), ValueError),
        ((b"", ord(","), 2, 1, 0, -1), ValueError),  # inner line ends
        ((b"", ord(","), 2, 0, 0), TypeError),  # five arguments
        ((b"", ord(","), 2, 0, 0, 0, 0), TypeError),  # seven
        ((), TypeError),
        (("1,2\n", ord(","), 2, 0, 0, 0), TypeError),  # str is not a buffer
        ((b"", b",", 2, 0, 0, 0), TypeError),  # the delimiter is a byte's value
        ((b"", ord(","), 2.0, 0, 0, 0), TypeError),
        ((b"", ord(","), 2, 0, 0, None), TypeError),
        ((b"", ord(","), 2, 0, 0, 1 << 70), OverflowError),
        ((memoryview(b"1,2\n")[::2], ord(","), 2, 0, 0, 0), BufferError),  # not contiguous
    ],
)
def test_scan_refuses_bad_arguments(args: tuple[object, ...], error: type[Exception]) -> None:
    assert _scan is not None
    with pytest.raises(error):
        _scan.scan(*args)  # type: ignore[arg-type]


@needs_scan
def test_scan_takes_no_keywords() -> None:
    assert _scan is not None
    with pytest.raises(TypeError):
        _scan.scan(b"", ord(","), 2, 0, 0, inner=0)  # type: ignore[call-arg]


# --- long buffers (the GIL given back) and other buffer types ------------------------


@needs_scan
@pytest.mark.parametrize("end", [b"\n", b"\r\n"])
def test_long_buffers(end: bytes) -> None:
    rows = b'1,"a\r\nb""c"' + end + b"22,x" + end  # 2 records, 3 line ends
    units = NOGIL_BYTES // len(rows) + 1
    data = rows * units
    assert len(data) >= NOGIL_BYTES
    want = (START_RECORD, 0, 0, 2 * units, 3 * units)
    assert check_scan(b",", 2, START_RECORD, 0, 0, data) == want
    # A ragged row, a blank line or a lone CR at the very end, past 64 KiB.
    for bad in (b"1,2,3" + end, end, b"1,2\r3,4\n"):
        assert check_scan(b",", 2, START_RECORD, 0, 0, data + bad) is None
    # One quoted field past 64 KiB, left open and closed.
    field = b'"' + (b"a\r\n" + b'""' + E_ACUTE) * (NOGIL_BYTES // 7 + 1)
    lines = field.count(b"\n")
    assert check_scan(b",", 2, IN_FIELD, 1, 0, b"x" + field) is None  # a quote after text
    assert check_scan(b",", 2, START_FIELD, 1, 0, field) == (IN_QUOTED, 1, lines, 0, lines)
    closed = field + b'"' + end
    assert check_scan(b",", 2, START_FIELD, 1, 0, closed) == (START_RECORD, 0, 0, 1, lines + 1)


@needs_scan
def test_long_buffers_from_threads_at_once() -> None:
    """The GIL is released while a long buffer is read: threads scanning at once
    each get their own answer."""
    assert _scan is not None
    scan = _scan.scan
    inputs = [(b"1;2\n" * (NOGIL_BYTES // 4) * (k + 1), 2) for k in range(4)]
    inputs.append((b"1;2;3\n" * NOGIL_BYTES, 2))  # ragged throughout
    results: list[object] = [None] * len(inputs)

    def run(i: int) -> None:
        data, width = inputs[i]
        results[i] = [scan(data, ord(";"), width, 0, 0, 0) for _ in range(5)]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for (data, _), got in zip(inputs, results, strict=True):
        n = data.count(b"\n")
        want = None if data.startswith(b"1;2;3") else (START_RECORD, 0, 0, n, n)
        assert got == [want] * 5


@needs_scan
@pytest.mark.parametrize("size", [10, NOGIL_BYTES])
def test_bytearray_and_memoryview(size: int) -> None:
    assert _scan is not None
    data = b"1,2\r\n" * (size // 5 + 1)
    n = data.count(b"\n")
    want = (START_RECORD, 0, 0, n, n)
    assert _scan.scan(data, ord(","), 2, 0, 0, 0) == want
    assert _scan.scan(bytearray(data), ord(","), 2, 0, 0, 0) == want
    assert _scan.scan(memoryview(data), ord(","), 2, 0, 0, 0) == want
    # A slice: only its bytes are read (the row cut after "1" is still open).
    view = memoryview(b"x" + data + b"1,2,3\n")[1:-3]
    assert _scan.scan(view, ord(","), 2, 0, 0, 0) == (IN_FIELD, 1, 0, n, n)


# --- built, and runnable on Lambda ---------------------------------------------------


def test_the_scanner_is_built_and_active_where_a_compiler_is() -> None:
    """Where ``make`` can build the module it must have: else CI would run only the
    Python pattern path."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler (cc or gcc): the Python pattern path is the one tested")
    assert _scan is not None, "chalicelib.core._scan is not built: run make native"
    assert csvprofile.scanner() == "c", "CSV_PIPELINE_SCANNER=python is set"


def test_use_scanner_switches_and_restores() -> None:
    before = csvprofile.scanner()
    with use_scanner("python"):
        assert csvprofile.scanner() == "python"
        if _scan is not None:
            with use_scanner("c"):
                assert csvprofile.scanner() == "c"
        assert csvprofile.scanner() == "python"
    assert csvprofile.scanner() == before
    with pytest.raises(ValueError, match="unknown scanner"), use_scanner("rust"):
        pass
    assert csvprofile.scanner() == before


@needs_scan
@pytest.mark.parametrize(("value", "want"), [("python", "python"), ("c", "c"), ("", "c")])
def test_the_environment_picks_the_python_path(value: str, want: str) -> None:
    """``CSV_PIPELINE_SCANNER=python`` at import: the fallback, in worker processes too."""
    probe = "from chalicelib.core import csvprofile; print(csvprofile.scanner())"
    env = {"CSV_PIPELINE_SCANNER": value, "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == want


def glibc_versions(dynamic_symbols: str) -> set[tuple[int, ...]]:
    """The GLIBC_x.y versions named in ``objdump -T`` output."""
    found = re.findall(r"\bGLIBC_([0-9]+(?:\.[0-9]+)*)\b", dynamic_symbols)
    return {tuple(map(int, version.split("."))) for version in found}


def test_glibc_versions_reads_objdump() -> None:
    text = (
        "0000000000000000  w   DF *UND*\t0000000000000000 (GLIBC_2.2.5) __cxa_finalize\n"
        "0000000000000000      DF *UND*\t0000000000000000 (GLIBC_2.14)  memcpy\n"
        "0000000000000000      DF *UND*\t0000000000000000  GLIBC_2.34   __libc_start_main\n"
        "0000000000000000      DF *UND*\t0000000000000000  Base        PyLong_AsLong\n"
    )
    assert glibc_versions(text) == {(2, 2, 5), (2, 14), (2, 34)}
    assert max(glibc_versions(text)) > GLIBC_MAX > (2, 14)


@needs_scan
def test_the_module_needs_no_glibc_newer_than_lambdas() -> None:
    """The module built here runs on Lambda's python3.11 (glibc 2.26): no symbol
    version above manylinux2014's GLIBC_2.17."""
    assert _scan is not None
    assert _scan.__file__ is not None
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("no objdump (binutils) to read the module's symbol versions")
    out = subprocess.run(
        [objdump, "-T", _scan.__file__], check=True, capture_output=True, text=True
    ).stdout
    assert "DYNAMIC SYMBOL TABLE" in out
    newer = sorted(version for version in glibc_versions(out) if version > GLIBC_MAX)
    assert not newer, f"{_scan.__file__} needs GLIBC_{'.'.join(map(str, newer[-1]))}"


# --- utf8: the UTF-8 check -----------------------------------------------------------

#: Valid characters of every length, and what the strict decoder refuses or holds:
#: overlong forms, surrogates, above U+10FFFF, bytes that never begin one, cut sequences.
UTF8_PIECES = [
    b"a",
    b"x" * 17,  # past the 16-byte ASCII step
    "é".encode(),
    "日".encode(),
    "😀".encode(),
    "\U0010ffff".encode(),
    b"\x80",
    b"\xbf",
    b"\xc0\x80",
    b"\xc1\xbf",
    b"\xe0\x80\x80",
    b"\xe0\xa0",
    b"\xed\xa0\x80",
    b"\xed\x9f\xbf",
    b"\xed",
    b"\xf0\x80\x80\x80",
    b"\xf0\x90",
    b"\xf4\x90\x80\x80",
    b"\xf4\x8f\xbf",
    b"\xf5",
    b"\xff",
    b"\xe9",  # cp1252 é
    b"\xc3",
    b"\xe6\x97",
    b"\xf0\x9f\x98",
]


def decoder_verdict(data: bytes) -> int:
    """What ``utf8`` must return: the incremental strict decoder's pending bytes, -1
    when it refuses ``data``."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(data)
    except UnicodeDecodeError:
        return -1
    pending = decoder.getstate()[0]
    assert isinstance(pending, bytes)
    return len(pending)


@needs_scan
@settings(max_examples=1500, deadline=None)
@given(pieces=st.lists(st.sampled_from(UTF8_PIECES), max_size=12), pad=st.integers(0, 70))
def test_utf8_is_the_strict_decoders_verdict(pieces: list[bytes], pad: int) -> None:
    assert _scan is not None
    data = b"a" * pad + b"".join(pieces)
    assert _scan.utf8(data) == decoder_verdict(data)
    for cut in range(len(data) + 1):
        assert _scan.utf8(data[:cut]) == decoder_verdict(data[:cut])


@needs_scan
@settings(max_examples=1000, deadline=None)
@given(
    pieces=st.lists(
        st.one_of(
            st.sampled_from([b"a" * 7, b"a", E_ACUTE, "ø".encode(), b"\x7f"]),
            st.sampled_from(UTF8_PIECES),
        ),
        min_size=30,
        max_size=120,
    ),
    pad=st.integers(0, 63),
)
def test_utf8_of_many_blocks(pieces: list[bytes], pad: int) -> None:
    # Blocks of ASCII and two-byte characters (checked 64 bytes at a time), the
    # other pieces among them, every third cut.
    assert _scan is not None
    data = b"a" * pad + b"".join(pieces)
    for cut in range(0, len(data) + 1, 3):
        assert _scan.utf8(data[:cut]) == decoder_verdict(data[:cut])


@needs_scan
def test_utf8_two_byte_characters_across_every_block_edge() -> None:
    assert _scan is not None
    for pad in range(130):
        for tail in (E_ACUTE, b"\xc3", b"\xc3(", b"\xc0\x80", b"\xe2\x82\xac", b"\x80"):
            data = b"a" * pad + tail + E_ACUTE * 40
            assert _scan.utf8(data) == decoder_verdict(data), (pad, tail)


@needs_scan
@pytest.mark.parametrize("bad", [b"\xff", b"\xed\xa0\x80", b"\xc3(", "日".encode()[:2] + b"x"])
def test_utf8_of_long_buffers(bad: bytes) -> None:
    assert _scan is not None
    text = ("a,é\r\n" * (NOGIL_BYTES // 5)).encode()
    assert _scan.utf8(text) == 0
    assert _scan.utf8(bytearray(text) + "日".encode()[:2]) == 2
    assert _scan.utf8(memoryview(text + bad)) == -1
    assert _scan.utf8(text[: NOGIL_BYTES // 2] + bad + text) == -1
    with pytest.raises(TypeError):
        _scan.utf8("text")  # type: ignore[arg-type]


# --- the variant without SSE2 (aarch64 Lambda): a table finds the special bytes ---


@pytest.fixture(scope="module")
def table_scan(tmp_path_factory: pytest.TempPathFactory) -> object:
    """``native/scan.c`` built with ``__SSE2__`` undefined, as a compiler for another
    architecture builds it, loaded under its own name beside the real module."""
    import importlib.machinery
    import importlib.util
    import sysconfig

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    target = tmp_path_factory.mktemp("table") / ("_scan" + sysconfig.get_config_var("EXT_SUFFIX"))
    include = sysconfig.get_paths()["include"]
    source = ROOT / "native" / "scan.c"
    flags = ["-O2", "-shared", "-fPIC", "-std=c99", "-U__SSE2__"]
    subprocess.run([cc, *flags, f"-I{include}", str(source), "-o", str(target)], check=True)
    loader = importlib.machinery.ExtensionFileLoader("_scan", str(target))
    spec = importlib.util.spec_from_file_location("_scan", target, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@needs_scan
@settings(max_examples=600, deadline=None)
@given(case=scan_inputs(), pieces=st.lists(st.sampled_from(UTF8_PIECES), max_size=12))
def test_the_table_variant_is_the_sse2_one(
    table_scan: object, case: tuple[bytes, int, int, int, int, bytes], pieces: list[bytes]
) -> None:
    """Both variants read the same bytes alike (so the one Lambda on arm64 would get
    is checked on this machine too), in the 64-byte blocks and in the tail."""
    assert _scan is not None
    delimiter, width, state, fields, inner, chunk = case
    for data in (chunk, chunk * 9):
        args = (data, delimiter[0], width, state, fields, inner)
        assert table_scan.scan(*args) == _scan.scan(*args)  # type: ignore[attr-defined]
    text = b"a" * 61 + b"".join(pieces)
    for cut in range(len(text) + 1):
        assert table_scan.utf8(text[:cut]) == _scan.utf8(text[:cut])  # type: ignore[attr-defined]
