"""Differential tests: the streaming profiler against the csv-module reference.

``docs/csv-rules.md``: a faster implementation is welcome as long as it agrees with
:func:`chalicelib.core.csvreference.reference_profile` on every input. Hypothesis
generates CSVs (structured records and raw bytes over a small alphabet) and
feeds them to the profiler in random chunk splits, down to one byte at a time.
The main tests run on both pattern paths: the C scanner (``native/scan.c``, the
default when built) on every example, the Python fallback on about one in three
(:data:`PYTHON_TOO`); ``tests/unit/test_scan.py`` tests the scanner itself.
"""

from __future__ import annotations

import gzip
import sys
from collections.abc import Iterator
from unittest import mock

import pytest
import zstandard
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chalicelib.core import csvprofile
from chalicelib.core.csvprofile import (
    GUNZIP_LIBRARIES,
    gunzip_library,
    profile_bytes,
    profile_chunks,
    use_gunzip,
    use_scanner,
)
from chalicelib.core.csvreference import reference_profile
from chalicelib.core.profile import Profile, ProfileSettings

BOM = b"\xef\xbb\xbf"

# Text that shapes records (delimiters, quotes, line ends) plus letters,
# spaces, non-ASCII characters and cp1252 / invalid UTF-8 bytes.
FIELD_PIECES = [
    b"a",
    b"bc",
    b"12",
    b" ",
    b",",
    b";",
    b"\t",
    b"|",
    b'"',
    b'""',
    b"\n",
    b"\r",
    b"\r\n",
    "é".encode(),
    "日".encode(),
    b"\xe9",  # cp1252 é, invalid as UTF-8
    b"\x80",
    b"\xc3",  # a truncated UTF-8 sequence
    BOM,
]
RAW_ALPHABET = [b'"', b",", b";", b"\t", b"|", b"\n", b"\r", b"a", b" ", b"\xe9", BOM]
TERMINATORS = [b"\n", b"\r\n", b"\r"]
DELIMITERS = [b",", b";", b"\t", b"|"]

#: Every gzip library the profiler may use: the compressed cases run through each.
GUNZIP = pytest.mark.parametrize("gunzip", GUNZIP_LIBRARIES)


def test_the_profiler_inflates_gzip_with_isal_when_installed() -> None:
    try:
        import isal.isal_zlib  # noqa: F401
    except ImportError:
        assert gunzip_library() == "zlib"
    else:
        assert gunzip_library() == "isal"


def test_without_isal_the_profiler_falls_back_to_zlib(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.core import csvprofile

    monkeypatch.setitem(sys.modules, "isal", None)  # import isal raises ImportError
    monkeypatch.setitem(sys.modules, "isal.isal_zlib", None)
    monkeypatch.setattr(csvprofile, "_gunzip", None)
    data = gzip.compress(b"a,b\n1,2\n") + gzip.compress(b"3,4\n")
    assert profile_bytes(data).row_count == 2
    assert gunzip_library() == "zlib"
    with pytest.raises(ImportError), use_gunzip("isal"):
        pass


DIFFERENTIAL = settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def same(result: Profile, reference: Profile) -> None:
    """Equal on everything a caller sees: every field of "What a profile reports"."""
    assert result.status == reference.status
    assert result.error == reference.error
    assert result.row_count == reference.row_count
    assert result.column_count == reference.column_count
    assert result.delimiter == reference.delimiter
    assert result.encoding == reference.encoding
    assert result.header == reference.header
    assert result.bytes_read == reference.bytes_read
    assert result.ragged_rows == reference.ragged_rows
    assert result.ragged_examples == reference.ragged_examples
    assert result.sampled_rows == reference.sampled_rows
    assert result.columns == reference.columns
    assert result.warnings == reference.warnings
    assert result == reference


#: Drawn by each main example: whether it also runs on the Python pattern path after
#: the C scanner (:func:`pattern_paths`). One in three keeps the suite's time.
PYTHON_TOO = st.sampled_from([True, False, False])


def pattern_paths(python: bool) -> list[str]:
    """The scanners an example runs under (:func:`use_scanner`): the active one (C
    when built), then the Python pattern path too when ``python``."""
    active = csvprofile.scanner()
    return [active, "python"] if python and active == "c" else [active]


def split_at(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    """``data`` cut at the given offsets (clamped, sorted; empty chunks kept)."""
    start = 0
    for cut in sorted(min(cut, len(data)) for cut in cuts):
        yield data[start:cut]
        start = cut
    yield data[start:]


@st.composite
def fields(draw: st.DrawFn) -> bytes:
    text = b"".join(draw(st.lists(st.sampled_from(FIELD_PIECES), max_size=6)))
    style = draw(st.sampled_from(["plain", "plain", "quoted", "quoted", "stray"]))
    if style == "plain":
        return text
    quoted = b'"' + text.replace(b'"', b'""') + b'"'
    if style == "quoted":
        return quoted
    # A stray quote: text after the closing quote, or a quote inside a word.
    tail = draw(st.sampled_from([b"x", b' "', b'"', b'12" pizza', b"\n", b'"a"']))
    return draw(st.sampled_from([quoted + tail, text + b'"' + tail, b'12" ' + text]))


@st.composite
def structured_csv(draw: st.DrawFn) -> bytes:
    """Records of fields, each quoted or not, joined by a delimiter and line ends."""
    delimiter = draw(st.sampled_from(DELIMITERS))
    records = draw(st.lists(st.lists(fields(), min_size=1, max_size=5), max_size=8))
    out = []
    for record in records:
        if draw(st.integers(0, 9)) == 0:
            out.append(draw(st.sampled_from(TERMINATORS)))  # a blank line
        sep = delimiter if draw(st.integers(0, 9)) else draw(st.sampled_from(DELIMITERS))
        out.append(sep.join(record))
        out.append(draw(st.sampled_from(TERMINATORS)))
    data = b"".join(out)
    if draw(st.booleans()):
        data = data.rstrip(b"\r\n")  # no line end after the last record
    if draw(st.integers(0, 4)) == 0:
        data = BOM + data
    if draw(st.integers(0, 29)) == 0 and data:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b"\0" + data[at:]
    return data


@st.composite
def raw_csv(draw: st.DrawFn) -> bytes:
    """Any sequence over a small alphabet of record-shaping bytes."""
    return b"".join(draw(st.lists(st.sampled_from(RAW_ALPHABET), max_size=60)))


@st.composite
def huge_field_csv(draw: st.DrawFn) -> bytes:
    """A file with one field well over the csv module's default 128 KiB limit."""
    unit = draw(st.sampled_from([b"x", b'""', b"a\r\nb", b"a,b", b'x"y', b"\xe9"]))
    size = draw(st.integers(130 * 1024, 400 * 1024)) // len(unit)
    quoted = draw(st.booleans())
    body = unit * size
    if quoted:
        body = b'"' + body.replace(b'"', b'""') + b'"'
    before = draw(st.lists(fields(), max_size=3))
    after = draw(st.lists(fields(), max_size=3))
    record = b",".join([*before, body, *after])
    prefix = draw(st.sampled_from([b"", b"h1,h2,h3\n", b'"h1";"h2"\r\n']))
    suffix = draw(st.sampled_from([b"", b"\n", b"\n1,2,3\n", b'\n"open']))
    return prefix + record + suffix


@st.composite
def sparse_csv(draw: st.DrawFn) -> bytes:
    """Long runs of plain rows between a few quoted (or stray-quoted) records."""
    delimiter = draw(st.sampled_from(DELIMITERS))
    plain = draw(st.sampled_from([b"12", b"abc", b"3.5", b"x y"]))
    row = delimiter.join([plain] * draw(st.integers(1, 4)))
    out = [delimiter.join([b"id", b"name", b"note"]), b"\n"]
    for _ in range(draw(st.integers(1, 6))):
        end = draw(st.sampled_from(TERMINATORS))
        out.append((row + end) * draw(st.integers(0, 120)))
        record = draw(st.lists(fields(), min_size=1, max_size=4))
        out.append(delimiter.join([row, *record]) + end)
    return b"".join(out)


@st.composite
def shaped_csv(draw: st.DrawFn) -> bytes:
    """Rows of the header's width in LF or CRLF, as most files are (the pattern path:
    ``_Machine.feed_raw``), repeated so that they span many chunks: quoted fields
    holding delimiters, line ends (LF, CRLF, a lone CR) and doubled quotes, and now
    and then a ragged row, a blank line, a lone CR, a stray quote, text after a
    closing quote or the other line end."""
    delimiter = draw(st.sampled_from(DELIMITERS))
    width = draw(st.integers(1, 5))
    end = draw(st.sampled_from([b"\n", b"\r\n"]))
    d = delimiter
    plain = st.sampled_from([b"1", b"ab", b"", b"x y", "é".encode(), b"3.5"])
    quoted = st.sampled_from(
        [
            *[b'"a' + d + b'b"', b'"x\ny"', b'"x\r\ny"', b'"say ""hi"""', b'""', b'"q"'],
            *[b'"\r"', b'"a\rb\n"', b'"' + d + b'"', b'"\n"', b'"""' + d + b'"'],
            b'"a""' + d + b'"""',
        ]
    )
    field = st.one_of(plain, plain, quoted)

    def row() -> bytes:
        fields = [draw(field) for _ in range(width)]
        if draw(st.integers(0, 6)):
            return d.join(fields) + end
        return _odd_row(draw, fields, draw(field), d, end)

    header = d.join(b"h%d" % i for i in range(width)) + end
    blocks = [row() for _ in range(draw(st.integers(1, 5)))]
    out = [header]
    for _ in range(draw(st.integers(1, 12))):
        out.append(draw(st.sampled_from(blocks)) * draw(st.integers(1, 80)))
    data = b"".join(out)
    if draw(st.booleans()):
        data = data.rstrip(b"\r\n")
    return data


def _odd_row(draw: st.DrawFn, fields: list[bytes], extra: bytes, d: bytes, end: bytes) -> bytes:
    """A row the pattern path must leave to the exact one (or one it must still count)."""
    trouble = draw(st.sampled_from(["more", "fewer", "blank", "cr", "stray", "after", "switch"]))
    line_end = {"blank": end + end, "cr": b"\r", "switch": b"\r\n" if end == b"\n" else b"\n"}
    if trouble == "more":
        fields = [*fields, extra]
    elif trouble == "fewer":
        fields = fields[:-1] or [b""]
    elif trouble == "stray":
        fields = [*fields[:-1], b'12" ' + fields[-1]]
    elif trouble == "after":
        fields = [b'"a"b' + fields[0], *fields[1:]]
    return d.join(fields) + line_end.get(trouble, end)


def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    mode = draw(st.sampled_from(["cuts", "cuts", "fixed", "bytes"]))
    if mode == "bytes":
        return [data[i : i + 1] for i in range(len(data))]
    if mode == "fixed":
        size = draw(st.integers(1, max(1, len(data))))
        return [data[i : i + size] for i in range(0, len(data), size)]
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=8))
    return list(split_at(data, cuts))


def agrees_whole_and_chunked(data: bytes, draw: st.DataObject | None, python: bool) -> None:
    """The profiler on the whole input, and on drawn chunks of it, equals the reference
    (on the Python pattern path too when ``python``)."""
    reference = reference_profile(data)
    for path in pattern_paths(python):
        with use_scanner(path):
            same(profile_bytes(data), reference)
            if draw is not None:
                same(profile_chunks(chunked(draw.draw, data)), reference)


@DIFFERENTIAL
@given(data=structured_csv(), draw=st.data(), python=PYTHON_TOO)
@example(data=b'a,b\n"x""y",12" pizza\n"z"w,"\n"\n', draw=None, python=True)
@example(data=BOM + b'"a";"b"\r\n\r\n1;"2\r\n3"', draw=None, python=True)
def test_structured_csv(data: bytes, draw: st.DataObject | None, python: bool) -> None:
    agrees_whole_and_chunked(data, draw, python)


@DIFFERENTIAL
@given(data=raw_csv(), draw=st.data(), python=PYTHON_TOO)
def test_raw_bytes(data: bytes, draw: st.DataObject, python: bool) -> None:
    agrees_whole_and_chunked(data, draw, python)


@settings(DIFFERENTIAL, max_examples=300)
@given(data=sparse_csv(), draw=st.data(), python=PYTHON_TOO)
def test_sparse_quotes(data: bytes, draw: st.DataObject, python: bool) -> None:
    """Quoted fields far apart, as in most real files: the split-and-join path."""
    agrees_whole_and_chunked(data, draw, python)


@settings(DIFFERENTIAL, max_examples=400)
@given(data=shaped_csv(), draw=st.data(), size=st.integers(1, 512), python=PYTHON_TOO)
@example(data=b'h0,h1\r\n1,"a\rb\n"\r\n2,3\r\n', draw=None, size=7, python=True)
@example(data=b'h0,h1\n1,2\n12" x,3\n"a"b,"c"\n4,5\n', draw=None, size=3, python=True)
def test_rows_of_the_header_width(
    data: bytes, draw: st.DataObject | None, size: int, python: bool
) -> None:
    """The pattern path: whole, in drawn chunks, and in chunks of ``size`` bytes, with
    every setting (so ragged rows are examples, or counted only, or in the sample)."""
    agrees_whole_and_chunked(data, draw, python)
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    every = [ProfileSettings(ragged_rows="accept", profile_rows=n) for n in (0, 3, 10_000)]
    references = [reference_profile(data, settings) for settings in every]
    for path in pattern_paths(python):
        with use_scanner(path):
            for settings, wanted in zip(every, references, strict=True):
                same(profile_chunks(chunks, settings), wanted)
    reference = reference_profile(data)
    dense = csvprofile._DENSE
    # The Python path's two stray-quote checks at any number of quotes: the search
    # all-quoted chunks get, and the last bytes of the pieces that sparse chunks get.
    try:
        with use_scanner("python"):
            for threshold in (len(data) + 1, 0):
                csvprofile._DENSE = threshold
                same(profile_chunks(chunks), reference)
    finally:
        csvprofile._DENSE = dense


@settings(DIFFERENTIAL, max_examples=40)
@given(
    data=huge_field_csv(),
    cuts=st.lists(st.integers(0, 500 * 1024), max_size=12),
    python=PYTHON_TOO,
)
def test_huge_fields(data: bytes, cuts: list[int], python: bool) -> None:
    reference = reference_profile(data)
    for path in pattern_paths(python):
        with use_scanner(path):
            same(profile_bytes(data), reference)
            same(profile_chunks(split_at(data, cuts)), reference)


@settings(DIFFERENTIAL, max_examples=300)
@given(data=st.one_of(structured_csv(), raw_csv()), python=PYTHON_TOO)
def test_every_split_point(data: bytes, python: bool) -> None:
    """Cutting the input into two chunks at any offset never changes the result."""
    reference = reference_profile(data)
    for path in pattern_paths(python):
        with use_scanner(path):
            whole = profile_bytes(data)
            same(whole, reference)
            for cut in range(len(data) + 1):
                same(profile_chunks([data[:cut], data[cut:]]), whole)


@settings(DIFFERENTIAL, max_examples=200)
@given(
    block=st.one_of(structured_csv(), raw_csv(), sparse_csv()),
    repeat=st.integers(1, 400),
    size=st.integers(1, 4096),
    python=PYTHON_TOO,
)
def test_repeated_blocks(block: bytes, repeat: int, size: int, python: bool) -> None:
    """Long inputs, so that every fast path and fallback meets a chunk edge."""
    data = b"a,b\n" + block * min(repeat, 1 + 300_000 // max(1, len(block)))
    size = max(size, len(data) // 2000)  # a few thousand chunks at most
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    reference = reference_profile(data)
    for path in pattern_paths(python):
        with use_scanner(path):
            same(profile_chunks(chunks), reference)


# --- rules 1-5 and 13-15: containers, BOMs, UTF-16, sep lines, ragged rows, settings ----

SEP_LINES = [b"sep=;", b"SEP=|", b"Sep=\t", b"sep=,", b"sep= ", b"sep=x", b'sep="', b"sep=;;"]
VALUES = [
    b"1",
    b"-2",
    b"007",
    b"3.5",
    b"1e3",
    b"true",
    b"FALSE",
    b"2025-02-29",
    b"2024-02-29",
    b"2025-09-02T14:30:00Z",
    b"2025-09-02 14:30",
    b" 12 ",
    b"",
    b"\t",
    b"x",
]


@st.composite
def typed_csv(draw: st.DrawFn) -> bytes:
    """Rows of typed values (rule 15) with ragged rows anywhere (rule 13)."""
    delimiter = draw(st.sampled_from(DELIMITERS))
    width = draw(st.integers(1, 4))
    names = draw(
        st.lists(st.sampled_from([b"id", b" id", b"", b"a", b"b "]), min_size=width, max_size=width)
    )
    out = [delimiter.join(names)]
    for _ in range(draw(st.integers(0, 12))):
        count = width if draw(st.integers(0, 4)) else draw(st.integers(1, 6))
        row = [draw(st.sampled_from(VALUES)) for _ in range(count)]
        if draw(st.integers(0, 5)) == 0:
            row[0] = b'"' + row[0] + b'\n"'
        out.append(delimiter.join(row))
    end = draw(st.sampled_from(TERMINATORS))
    data = end.join(out)
    return data + end if draw(st.booleans()) else data


def _gzip_members(draw: st.DrawFn, data: bytes) -> bytes:
    cut = draw(st.integers(0, len(data)))
    members = [gzip.compress(data[:cut]), gzip.compress(data[cut:])]
    return b"".join(members[: draw(st.integers(1, 2))]) if cut == len(data) else b"".join(members)


@st.composite
def wrapped(draw: st.DrawFn) -> bytes:  # noqa: C901
    """A CSV behind a sep line, a BOM or UTF-16, gzip or zstd, intact or damaged."""
    data = draw(st.one_of(structured_csv(), typed_csv(), raw_csv()))
    if draw(st.integers(0, 3)) == 0:
        data = draw(st.sampled_from(SEP_LINES)) + draw(st.sampled_from([*TERMINATORS, b""])) + data
    text = draw(st.sampled_from(["bytes", "bytes", "utf-16-le", "utf-16-be", "bom"]))
    if text.startswith("utf-16"):
        decoded = data.decode("utf-8", errors="replace")
        bom = b"\xff\xfe" if text == "utf-16-le" else b"\xfe\xff"
        data = bom + decoded.encode(text, errors="surrogatepass")
        if draw(st.integers(0, 5)) == 0:
            data += b"\x00"  # an odd last byte
        if draw(st.integers(0, 9)) == 0:
            data += b"\x00\xd8"[:: 1 if text == "utf-16-le" else -1]  # a lone surrogate
    elif text == "bom":
        data = BOM + data
    container = draw(st.sampled_from(["none", "none", "gzip", "zstd"]))
    if container == "gzip":
        data = _gzip_members(draw, data)
    elif container == "zstd":
        frames = [zstandard.ZstdCompressor().compress(data)]
        if draw(st.booleans()):
            frames.insert(0, b"\x50\x2a\x4d\x18\x02\x00\x00\x00ab")  # skippable
        data = b"".join(frames)
    if container != "none":
        damage = draw(st.sampled_from(["none", "none", "none", "truncate", "zeros", "junk"]))
        if damage == "truncate":
            data = data[: draw(st.integers(0, len(data) - 1))]
        elif damage == "zeros":
            data += b"\0" * draw(st.integers(1, 9))
        elif damage == "junk":
            data += b"x"
    return data


@DIFFERENTIAL
@given(
    data=wrapped(),
    draw=st.data(),
    rows=st.integers(0, 5),
    mode=st.sampled_from(["reject", "accept"]),
    python=PYTHON_TOO,
)
@example(data=b"sep=;\r\na;b\r\n1\r\n", draw=None, rows=1, mode="reject", python=True)
@example(
    data=b"\xff\xfe" + 'a\tb\r\n1\t"2\r\n"\r\n'.encode("utf-16-le"),
    draw=None,
    rows=5,
    mode="accept",
    python=True,
)
def test_wrapped_csv(
    data: bytes, draw: st.DataObject | None, rows: int, mode: str, python: bool
) -> None:
    """Through the gzip library the profiler ships with (isal); the test below, the
    trailing-data and the bounded-step tests run through zlib as well."""
    settings = ProfileSettings(
        ragged_rows="accept" if mode == "accept" else "reject", profile_rows=rows
    )
    reference = reference_profile(data, settings)
    for path in pattern_paths(python):
        with use_scanner(path):
            same(profile_bytes(data, settings), reference)
            if draw is not None:
                same(profile_chunks(chunked(draw.draw, data), settings), reference)


@settings(DIFFERENTIAL, max_examples=300)
@GUNZIP
@given(
    text=st.one_of(structured_csv(), typed_csv()),
    level=st.sampled_from([1, 6, 9]),
    members=st.integers(1, 3),
    damage=st.lists(
        st.tuples(st.sampled_from(["flip", "cut", "insert"]), st.integers(0), st.integers(0, 255)),
        max_size=2,
    ),
    draw=st.data(),
)
def test_damaged_gzip_gives_the_references_answer(
    text: bytes,
    level: int,
    members: int,
    damage: list[tuple[str, int, int]],
    draw: st.DataObject,
    gunzip: str,
) -> None:
    """Any byte of a (multi-member) gzip changed, cut or added anywhere, header and
    trailer included: the same profile as the reference (zlib) with either library."""
    size = max(1, len(text) // members)
    data = b"".join(
        gzip.compress(text[i : i + size], compresslevel=level) for i in range(0, len(text), size)
    ) or gzip.compress(b"")
    for kind, where, value in damage:
        at = where % (len(data) + 1)
        if kind == "flip" and at < len(data):
            data = data[:at] + bytes((data[at] ^ (value or 1),)) + data[at + 1 :]
        elif kind == "cut":
            data = data[:at]
        else:
            data = data[:at] + bytes((value,)) + data[at:]
    reference = reference_profile(data)
    with use_gunzip(gunzip):
        same(profile_bytes(data), reference)
        same(profile_chunks(chunked(draw.draw, data)), reference)


@settings(DIFFERENTIAL, max_examples=300)
@given(data=st.one_of(typed_csv(), structured_csv()), draw=st.data(), python=PYTHON_TOO)
def test_ragged_rows_and_columns(data: bytes, draw: st.DataObject, python: bool) -> None:
    """Ragged rows anywhere: first row, last row without a line end, after quoted newlines."""
    agrees_whole_and_chunked(data, draw, python)


@GUNZIP
def test_gzip_trailing_zeros_and_junk(gunzip: str) -> None:
    body = gzip.compress(b"a,b\n1,2\n")
    with use_gunzip(gunzip):
        assert profile_bytes(body + b"\0\0").row_count == 1
        for bad in (body + b"x", body[:-1], body + b"\0\x1f"):
            result = profile_bytes(bad)
            assert result == reference_profile(bad)
            assert result.error is not None
            assert result.error.code == "CORRUPT_COMPRESSED"
            assert result.compression == "gzip"


@GUNZIP
@pytest.mark.parametrize("flag", [0x20, 0x40, 0x80])
@pytest.mark.parametrize("member", [0, 1])
def test_gzip_reserved_header_flags_are_corrupt(gunzip: str, flag: int, member: int) -> None:
    """RFC 1952 reserves FLG bits 5-7: zlib refuses such a member, isal inflates it.
    Whichever library inflates, the profile is the reference's (found by hypothesis)."""
    members = [bytearray(gzip.compress(b"a,b\n1,2\n")), bytearray(gzip.compress(b"3,4\n"))]
    members[member][3] |= flag
    data = b"".join(members)
    with use_gunzip(gunzip):
        for chunks in ([data], [data[i : i + 3] for i in range(0, len(data), 3)]):
            result = profile_chunks(chunks)
            assert result == reference_profile(data)
            assert result.error is not None
            assert result.error.code == "CORRUPT_COMPRESSED"


@GUNZIP
def test_decompression_is_bounded_per_step(gunzip: str) -> None:
    """A 64 MiB gzip of zeros-like text never holds more than a few MiB at once."""
    import tracemalloc

    data = gzip.compress(b"a,b\n" + b"1,2\n" * (16 << 20), compresslevel=9)
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    tracemalloc.start()
    try:
        with use_gunzip(gunzip):
            result = profile_chunks(chunks)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.row_count == 16 << 20
    assert peak < 24 << 20


# --- rule 15: long values and long records in the column sample -------------------------

#: Values whose stripped text is longer than the sample keeps of a string (64 bytes):
#: long numerals (held whole), near-numerals, long strings (UTF-8 and cp1252 too).
LONG_VALUES = [
    b"1" * 70,
    b"-" + b"9" * 90 + b".5",
    b"0." + b"0" * 80 + b"1e-3",
    b"+" + b"7" * 65 + b"e+12",
    b"1" * 66 + b"e1e2",
    b"12" * 40 + b"x",
    b"e" * 70,
    b"2024-01-01" + b"0" * 60,
    b"x" * 65,
    "é".encode() * 40,
    "日".encode() * 30,
    b"\xe9" * 70,
    b"a b" * 30,
]


@st.composite
def long_value(draw: st.DrawFn) -> bytes:
    """A value, maybe long, maybe padded by many blanks, maybe quoted (with doubled
    quotes, line ends, a stray quote after it)."""
    value = draw(st.sampled_from([*VALUES, *LONG_VALUES]))
    pad = st.sampled_from([b"", b" ", b"\t", b" " * 70, b"\t \t" * 30])
    value = draw(pad) + value + draw(pad)
    style = draw(st.sampled_from(["plain", "quoted", "quoted", "stray", "inner"]))
    if style == "plain":
        return value
    if style == "inner":  # quotes and line ends inside a quoted value
        cut = draw(st.integers(0, len(value)))
        inner = draw(st.sampled_from([b'"', b"\n", b"\r\n", b"\r", b'""']))
        value = value[:cut] + inner + value[cut:]
    quoted = b'"' + value.replace(b'"', b'""') + b'"'
    if style == "stray":
        quoted += draw(st.sampled_from([b"x", b'"', b" 1", b"\t"]))
    return quoted


@st.composite
def long_value_csv(draw: st.DrawFn) -> bytes:
    """Typed rows whose values may be long, with ragged and blank rows."""
    delimiter = draw(st.sampled_from(DELIMITERS))
    width = draw(st.integers(1, 4))
    out = [delimiter.join([b"c%d" % i for i in range(width)])]
    for _ in range(draw(st.integers(0, 10))):
        count = width if draw(st.integers(0, 5)) else draw(st.integers(1, 6))
        out.append(delimiter.join(draw(long_value()) for _ in range(count)))
        if draw(st.integers(0, 9)) == 0:
            out.append(b"")  # a blank line
    end = draw(st.sampled_from(TERMINATORS))
    data = end.join(out)
    return data + end if draw(st.booleans()) else data


@settings(DIFFERENTIAL, max_examples=400)
@given(
    data=long_value_csv(),
    draw=st.data(),
    window=st.sampled_from([1, 2, 5, 16, 64, 300, 1 << 18]),
    step=st.sampled_from([1, 3, 64, 1 << 20]),
    rows=st.sampled_from([0, 1, 3, 10_000]),
    python=PYTHON_TOO,
)
def test_long_values_in_the_sample(
    data: bytes, draw: st.DataObject, window: int, step: int, rows: int, python: bool
) -> None:
    """Long values and long records: the sample's parse window (``_SAMPLE_WINDOW``) is
    made a few bytes, so that most records are longer than it and are read by the
    streaming record reader, in steps (``_RECORD_WINDOW``) of a few bytes too; chunk
    edges fall anywhere in a value."""
    settings = ProfileSettings(ragged_rows="accept", profile_rows=rows)
    reference = reference_profile(data, settings)
    with (
        mock.patch.object(csvprofile, "_SAMPLE_WINDOW", window),
        mock.patch.object(csvprofile, "_RECORD_WINDOW", step),
    ):
        for path in pattern_paths(python):
            with use_scanner(path):
                same(profile_bytes(data, settings), reference)
                same(profile_chunks(chunked(draw.draw, data), settings), reference)


@settings(DIFFERENTIAL, max_examples=150)
@given(
    data=st.one_of(structured_csv(), typed_csv(), raw_csv(), wrapped()),
    draw=st.data(),
    window=st.sampled_from([1, 3, 8]),
    python=PYTHON_TOO,
)
def test_every_record_read_as_a_long_one(
    data: bytes, draw: st.DataObject, window: int, python: bool
) -> None:
    """With a parse window of a few bytes, every record after the header is read by
    the streaming record reader: it reads records exactly as the csv module does."""
    reference = reference_profile(data, ProfileSettings(ragged_rows="accept"))
    with (
        mock.patch.object(csvprofile, "_SAMPLE_WINDOW", window),
        mock.patch.object(csvprofile, "_RECORD_WINDOW", window),
    ):
        settings = ProfileSettings(ragged_rows="accept")
        for path in pattern_paths(python):
            with use_scanner(path):
                same(profile_bytes(data, settings), reference)
                same(profile_chunks(chunked(draw.draw, data), settings), reference)
