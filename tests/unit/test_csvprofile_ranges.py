"""Ranges profiled apart and stitched give exactly the sequential profile.

:class:`~chalicelib.core.csvprofile.RangeProfiler` runs a range without knowing the
reader's state at its start; :func:`~chalicelib.core.csvprofile.Profiler.stitch` chains the
ranges. Hypothesis generates files (the differential suite's strategies:
quotes, doubled and stray quotes, CRLF/CR, blank lines, BOM, cp1252, NUL,
unterminated quotes, every delimiter) and checks every split into two ranges,
random splits into several, and the shared corpus split everywhere.
"""

from __future__ import annotations

import gzip
from itertools import combinations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chalicelib.core.csvprofile import Profiler, RangeProfiler, profile_bytes
from chalicelib.core.csvreference import reference_profile
from chalicelib.core.ranges import RangePlan, profile_ranges
from tests.unit.test_csvprofile import CORPUS, _expected, needs_corpus
from tests.unit.test_csvprofile_differential import (
    BOM,
    DIFFERENTIAL,
    raw_csv,
    same,
    sparse_csv,
    structured_csv,
)


@settings(DIFFERENTIAL, max_examples=400)
@given(data=st.one_of(structured_csv(), raw_csv()))
@example(data=b'a,b\n1,"x\ny"\n2,3\n')  # a quoted newline on each side of a cut
@example(data=b'a,b\r\n"1""\r\n",2\r\n')
@example(data="h,é\n日,x\n".encode())  # a character split by a cut
@example(data=BOM + b'a;b\n"";""""\n\n\r1;2')
def test_every_split_point_into_two_ranges(data: bytes) -> None:
    whole = profile_bytes(data)
    same(whole, reference_profile(data))
    for cut in range(len(data) + 1):
        same(profile_ranges(data, [cut]), whole)


@settings(DIFFERENTIAL, max_examples=400)
@given(
    data=st.one_of(structured_csv(), raw_csv(), sparse_csv()),
    cuts=st.lists(st.integers(0, 4000), max_size=10),
    chunk=st.integers(1, 64),
)
def test_random_splits_into_several_ranges(data: bytes, cuts: list[int], chunk: int) -> None:
    reference = reference_profile(data)
    same(profile_ranges(data, cuts), reference)
    same(profile_ranges(data, cuts, chunk), reference)


@settings(DIFFERENTIAL, max_examples=100)
@given(
    block=st.one_of(structured_csv(), raw_csv(), sparse_csv()),
    repeat=st.integers(1, 300),
    ranges=st.integers(2, 8),
    chunk=st.sampled_from([997, 4096, 1 << 16]),
)
def test_long_inputs_in_ranges(block: bytes, repeat: int, ranges: int, chunk: int) -> None:
    """Long enough that the fast paths (walk, split, fold) meet range edges."""
    data = b"a,b\n" + block * min(repeat, 1 + 200_000 // max(1, len(block)))
    cuts = [len(data) * i // ranges for i in range(1, ranges)]
    same(profile_ranges(data, cuts, chunk), reference_profile(data))


@given(
    data=st.binary(max_size=40).map(lambda b: b"h,i\n" + b),
    cuts=st.lists(st.integers(0, 44), max_size=4),
)
@settings(DIFFERENTIAL, max_examples=400)
def test_any_bytes_in_ranges(data: bytes, cuts: list[int]) -> None:
    """UTF-8 sequences (valid, overlong, truncated) cut anywhere, NUL, anything."""
    same(profile_ranges(data, cuts, 3), reference_profile(data))


@needs_corpus
@pytest.mark.parametrize("name", sorted(_expected()))
def test_corpus_file_split_everywhere(name: str) -> None:
    assert CORPUS is not None
    data = (CORPUS / name).read_bytes()
    whole = reference_profile(data)
    for cuts in combinations(range(len(data) + 1), 2):
        same(profile_ranges(data, list(cuts)), whole)
    for cut in range(len(data) + 1):
        same(profile_ranges(data, [cut], 1), whole)


def test_a_character_over_three_ranges_stays_utf8() -> None:
    data = "h\n😀\n".encode()  # the emoji's 4 bytes over three ranges
    for cuts in ([3, 5], [3, 4], [4, 6], [2, 3, 4, 5, 6]):
        assert profile_ranges(data, cuts).encoding == "utf-8"
    bad = b"h\n\xf0\x9f\x98x\n"  # the same character, cut short
    assert profile_ranges(bad, [3, 5]).encoding == "cp1252"


@pytest.mark.parametrize(
    "data",
    [b"a,b\n1,2\n3,4\n", gzip.compress(b"a,b\n1,2\n"), b"\xff\xfe" + "a\n1\n".encode("utf-16-le")],
    ids=["plain", "gzip", "utf-16"],
)
def test_the_plan_reads_one_stream_while_not_rangeable(data: bytes) -> None:
    """Rules 13-15 are not stitched from ranges yet: the leading profiler takes every span."""
    plan = RangePlan(len(data), range(1, len(data)))
    spans = list(plan.leading())
    assert spans == plan.spans
    assert plan.rest() == []
    assert plan.first.rangeable is False
    assert plan.first.split_delimiter is None
    with pytest.raises(ValueError, match="rangeable"):
        Profiler().stitch([RangeProfiler(",", b"\n").finish()])
