"""The C sampler (``_scan.sample``, native/scan.c) against the Python path it replaces.

:class:`chalicelib.core.csvprofile._Sample` reads the column sample's records and
types them either by the C sampler (when the module is built) or by the csv module
and :class:`chalicelib.core.profile._Column`. Hypothesis draws hostile text (quotes
doubled, opened and left open, closed and followed by text; ragged and blank rows;
CR, LF and CRLF mixed; values at every type's edge; bytes that are not UTF-8) fed
in random chunks, and checks both paths end with the same sample. The rule itself
is checked against the reference in test_column_profile.py and the differential
suites, which run under both paths.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chalicelib.core import csvprofile
from chalicelib.core.csvprofile import _Sample, use_scanner
from chalicelib.core.profile import ColumnProfile

pytestmark = pytest.mark.skipif(csvprofile._scan is None, reason="the C module is not built")

VALUES = [
    "1", "-0", "+0", "0", "007", "42", "+5", "5", "-5", "1.0", "1.00", "1e0", "1E+2", "-3e-2",
    "1.2", "1.25", "-1.2", "-1.25", "120", "1.2e2", "12e1", ".5", "5.", "1e",
    "1e99999999999999999999", "1e-99999999999999999999", "0.000",
    "9" * 30, "-" + "9" * 30, "true", "FALSE", "tRuE", "yes", "2024-02-29", "2023-02-29",
    "1900-02-29", "2000-02-29", "0000-01-01", "2024-04-31", "2024-12-31", "2024-1-01",
    "2024-02-29T23:59", "2024-02-29 00:00:59.123456789", "2024-01-01T00:00:00.1234567890",
    "2024-01-01T24:00", "2024-01-01T12:30Z", "2024-01-01T12:30+23:59", "2024-01-01T12:30+24:00",
    "", " ", "\t", " 12 ", "\t-1.5 ", "abc", "é", "\xe9", "日本", "\u00a0",
    # as latin-1, bytes that are not UTF-8: a lone continuation, overlong forms, a
    # surrogate, a sequence cut short, beyond U+10FFFF
    "\x80\x80", "\xb0C", "\xc0\x80", "\xe0\x80\x80", "\xed\xa0\x80", "\xf0\x80\x80",
    "\xe2\x82", "\xe2\x82x", "\xf4\x90\x80\x80", "\xf5\x80", "\xc3",
]  # fmt: skip
PADS = ["", " ", "\t"]
ENDS = ["\n", "\r\n", "\r"]


@st.composite
def fields(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(PADS)) + draw(st.sampled_from(VALUES)) + draw(st.sampled_from(PADS))
    form = draw(st.integers(0, 9))
    if form == 6:
        return '"' + text + '"'
    if form == 7:
        return '"' + text + '""' + text + draw(st.sampled_from(["", ",", "\n", "\r\n"])) + '"'
    if form == 8:
        return draw(st.sampled_from(['"a"b', 'a"b', '"', '"12"3', '""']))
    return text


@st.composite
def bodies(draw: st.DrawFn) -> tuple[int, bytes]:
    width = draw(st.integers(1, 4))
    lines = []
    for _ in range(draw(st.integers(0, 30))):
        kind = draw(st.integers(0, 12))
        count = width if kind < 10 else draw(st.integers(0, width + 2))
        row = ",".join(draw(fields()) for _ in range(count))
        lines.append(row + draw(st.sampled_from(ENDS)))
        if kind == 12:
            lines.append(draw(st.sampled_from(ENDS)))  # a blank line
    body = "".join(lines)
    if body and draw(st.booleans()):
        body = body.rstrip("\r\n")  # the file's last line without a line end
    encoding = draw(st.sampled_from(["utf-8", "latin-1"]))
    return width, body.encode(encoding, errors="replace")


def sampled(width: int, body: bytes, cuts: list[int], limit: int, path: str) -> object:
    header = ",".join(f"c{i}" for i in range(width)).encode() + b"\n"
    text = header + body
    points = sorted({min(c, len(text)) for c in cuts})
    with use_scanner(path):
        sample = _Sample(",", limit)
        start = 0
        for point in [*points, len(text)]:
            sample.feed(text[start:point], final=point == len(text))
            start = point
    assert sample.sample is not None
    names = sample.names or []
    columns: dict[str, tuple[ColumnProfile, ...]] = {
        encoding: sample.sample.columns(names, encoding) for encoding in ("utf-8", "cp1252")
    }
    return sample.sample.rows, sample.done, columns


SAMPLER = settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SAMPLER
@given(bodies(), st.lists(st.integers(0, 400), max_size=4), st.integers(0, 40))
@example((1, b'1\n"2\n3"\n4'), [5], 10)  # a quoted line end cut by a chunk
@example((2, b"1,+5\n2,5\n3,5.0\n"), [], 10)  # ties: the first text is kept
@example((1, b"1.25\n1.2\n-1.2\n-1.25\n"), [], 10)  # digits that are a prefix
@example((1, b'"ab"c\n1\n'), [], 10)  # text after a closing quote: the Python path
@example((1, b"1e99999999999999999999\n2\n"), [], 10)  # an exponent beyond int64
@example((1, b"\xa0\n\xe2\x82\n\xf0\x80\x80\n"), [], 10)  # not UTF-8: "replace"'s count
@example((2, b"1,2\r\n\r\n3\r4,5\r6,7"), [], 2)  # blank, ragged, CR, no last line end
def test_c_and_python_sample_alike(body: tuple[int, bytes], cuts: list[int], limit: int) -> None:
    width, text = body
    assert sampled(width, text, cuts, limit, "c") == sampled(width, text, cuts, limit, "python")


def test_the_c_sampler_leaves_what_it_cannot_read_to_python() -> None:
    sample = csvprofile._scan.sample
    assert sample(b'"ab"c,1\n', ord(","), 2, 2, 10) is None
    assert sample(b"1e123456789012345678\n", ord(","), 1, 1, 10) is None
    read, rows, blocks = sample(b'1,"x\ny"\n2,"open', ord(","), 2, 2, 10)
    assert (read, rows) == (len(b'1,"x\ny"\n'), 1)  # the open record is left for more text
    assert blocks[0][3] & 1  # an integer
    assert sample(b"1,2\n3,4\n", ord(","), 2, 1, 1)[:2] == (4, 1)  # room for one row
