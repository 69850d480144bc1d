"""Ranges profiled apart and stitched give exactly the sequential profile.

:class:`~chalicelib.core.csvprofile.RangeProfiler` runs a range without knowing the
reader's state at its start; :func:`~chalicelib.core.csvprofile.Profiler.stitch` chains the
ranges. Hypothesis generates files (the differential suite's strategies:
quotes, doubled and stray quotes, CRLF/CR, blank lines, BOM, cp1252, NUL,
unterminated quotes, ragged rows, every delimiter) and checks every split into
two ranges, random splits into several, and the shared corpus split everywhere,
on every reported field (ragged rows and examples, columns, warnings included).
Small ``PROFILE_ROWS`` let the ranges start early; compressed and UTF-16 input
is read by one profiler, in order, and agrees as well. The hypothesis tests run on
the C scanner and, for about one example in three, on the Python pattern path too.
"""

from __future__ import annotations

import gzip
from itertools import combinations

import pytest
import zstandard
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chalicelib.core.csvprofile import (
    CHUNK_SIZE,
    Profiler,
    RangeProfiler,
    profile_bytes,
    use_scanner,
)
from chalicelib.core.csvreference import reference_profile
from chalicelib.core.profile import DEFAULT_SETTINGS, Profile, ProfileSettings, RaggedExample
from chalicelib.core.ranges import RangePlan, profile_ranges
from tests.unit.test_csvprofile import CORPUS, _expected, needs_corpus
from tests.unit.test_csvprofile_differential import (
    BOM,
    DIFFERENTIAL,
    PYTHON_TOO,
    pattern_paths,
    raw_csv,
    same,
    shaped_csv,
    sparse_csv,
    structured_csv,
    typed_csv,
    wrapped,
)

#: Settings under which ranges start after a few rows, or right after the header.
profile_settings = st.builds(
    ProfileSettings,
    ragged_rows=st.sampled_from(["reject", "accept"]),
    profile_rows=st.sampled_from([0, 0, 1, 2, 3, 10_000]),
)


def apart(data: bytes, cuts: list[int], settings: ProfileSettings = DEFAULT_SETTINGS) -> int:
    """How many of the plan's spans are profiled apart (not by the leading profiler)."""
    plan = RangePlan(len(data), cuts, settings)
    for span in plan.leading():
        plan.first.feed(data[span.start : span.stop])
    return len(plan.rest())


def check(
    data: bytes,
    cuts: list[int],
    reference: Profile,
    settings: ProfileSettings = DEFAULT_SETTINGS,
    chunk: int = CHUNK_SIZE,
) -> None:
    """Ranges cut at ``cuts`` give ``reference``; they were profiled apart whenever the
    leading profiler could hand them over."""
    same(profile_ranges(data, cuts, chunk, settings), reference)
    inside = sorted({cut for cut in cuts if 0 < cut < len(data)})
    if inside:
        first = Profiler(settings)
        first.feed(data[: inside[0]])
        if first.rangeable:
            assert apart(data, cuts, settings) == len(inside)


@settings(DIFFERENTIAL, max_examples=400)
@given(
    data=st.one_of(structured_csv(), raw_csv(), typed_csv()),
    profile=profile_settings,
    python=PYTHON_TOO,
)
@example(data=b'a,b\n1,"x\ny"\n2,3\n', profile=ProfileSettings(profile_rows=0), python=True)
@example(data=b'a,b\r\n"1""\r\n",2\r\n', profile=ProfileSettings(profile_rows=0), python=True)
@example(  # a character cut
    data="h,é\n日,x\n".encode(), profile=ProfileSettings(profile_rows=0), python=True
)
@example(data=BOM + b'a;b\n"";""""\n\n\r1;2', profile=ProfileSettings(profile_rows=0), python=True)
@example(data=b'a,b\n1,2\n3\n"4\n5",6,7\n8,9', profile=ProfileSettings("accept", 1), python=True)
@example(data=b"a,b\r\n1\r\n2\r\n3,4\r", profile=ProfileSettings(profile_rows=0), python=True)
def test_every_split_point_into_two_ranges(
    data: bytes, profile: ProfileSettings, python: bool
) -> None:
    reference = reference_profile(data, profile)
    for path in pattern_paths(python):
        with use_scanner(path):
            whole = profile_bytes(data, profile)
            same(whole, reference)
            for cut in range(len(data) + 1):
                check(data, [cut], whole, profile)


@settings(DIFFERENTIAL, max_examples=400)
@given(
    data=st.one_of(structured_csv(), raw_csv(), sparse_csv(), typed_csv(), shaped_csv()),
    cuts=st.lists(st.integers(0, 4000), max_size=10),
    chunk=st.integers(1, 64),
    profile=profile_settings,
    python=PYTHON_TOO,
)
def test_random_splits_into_several_ranges(
    data: bytes, cuts: list[int], chunk: int, profile: ProfileSettings, python: bool
) -> None:
    reference = reference_profile(data, profile)
    for path in pattern_paths(python):
        with use_scanner(path):
            check(data, cuts, reference, profile)
            check(data, cuts, reference, profile, chunk)


@settings(DIFFERENTIAL, max_examples=100)
@given(
    block=st.one_of(structured_csv(), raw_csv(), sparse_csv(), typed_csv(), shaped_csv()),
    repeat=st.integers(1, 300),
    ranges=st.integers(2, 8),
    chunk=st.sampled_from([997, 4096, 1 << 16]),
    profile=profile_settings,
    python=PYTHON_TOO,
)
def test_long_inputs_in_ranges(
    block: bytes, repeat: int, ranges: int, chunk: int, profile: ProfileSettings, python: bool
) -> None:
    """Long enough that the fast paths (walk, split, fold) meet range edges."""
    data = b"a,b\n" + block * min(repeat, 1 + 200_000 // max(1, len(block)))
    cuts = [len(data) * i // ranges for i in range(1, ranges)]
    reference = reference_profile(data, profile)
    for path in pattern_paths(python):
        with use_scanner(path):
            check(data, cuts, reference, profile, chunk)


@given(
    data=st.binary(max_size=40).map(lambda b: b"h,i\n" + b),
    cuts=st.lists(st.integers(0, 44), max_size=4),
    profile=profile_settings,
    python=PYTHON_TOO,
)
@settings(DIFFERENTIAL, max_examples=400)
def test_any_bytes_in_ranges(
    data: bytes, cuts: list[int], profile: ProfileSettings, python: bool
) -> None:
    """UTF-8 sequences (valid, overlong, truncated) cut anywhere, NUL, anything."""
    reference = reference_profile(data, profile)
    for path in pattern_paths(python):
        with use_scanner(path):
            check(data, cuts, reference, profile, 3)


@settings(DIFFERENTIAL, max_examples=200)
@given(
    data=wrapped(),
    cuts=st.lists(st.integers(0, 400), max_size=6),
    profile=profile_settings,
    python=PYTHON_TOO,
)
def test_wrapped_input_in_ranges(
    data: bytes, cuts: list[int], profile: ProfileSettings, python: bool
) -> None:
    """Sep lines, BOMs, UTF-16, gzip, zstd, damaged containers: the same profile; the
    ones only understood in order are read by the leading profiler alone."""
    reference = reference_profile(data, profile)
    for path in pattern_paths(python):
        with use_scanner(path):
            check(data, cuts, reference, profile, 7)
    if data[:2] in (b"\xff\xfe", b"\xfe\xff", b"\x1f\x8b") or data[:4] == b"\x28\xb5\x2f\xfd":
        assert apart(data, cuts, profile) == 0


@needs_corpus
@pytest.mark.parametrize("scanner", pattern_paths(True))
@pytest.mark.parametrize("name", sorted(_expected()))
@pytest.mark.parametrize("rows", [0, 10_000])
def test_corpus_file_split_everywhere(name: str, rows: int, scanner: str) -> None:
    assert CORPUS is not None
    data = (CORPUS / name).read_bytes()
    profile = ProfileSettings(profile_rows=rows)
    whole = reference_profile(data, profile)
    with use_scanner(scanner):
        for cuts in combinations(range(len(data) + 1), 2):
            check(data, list(cuts), whole, profile)
        for cut in range(len(data) + 1):
            check(data, [cut], whole, profile, 1)


def test_a_character_over_three_ranges_stays_utf8() -> None:
    head = b"h" * 30 + b"\n"  # the leading range: past the signature bytes and the header
    data = head + "😀\n".encode()  # the emoji's 4 bytes over three ranges
    rows0 = ProfileSettings(profile_rows=0)
    at = len(head)
    for cuts in ([1, 3], [1, 2], [2, 4], [0, 1, 2, 3, 4]):
        cuts = [at + cut for cut in cuts]
        assert profile_ranges(data, cuts, settings=rows0).encoding == "utf-8"
        assert apart(data, cuts, rows0) == len(cuts)
    bad = head + b"\xf0\x9f\x98x\n"  # the same character, cut short
    assert profile_ranges(bad, [at + 1, at + 3], settings=rows0).encoding == "cp1252"
    assert apart(bad, [at + 1, at + 3], rows0) == 2


def test_ragged_rows_over_ranges_have_absolute_rows_and_lines() -> None:
    """The record across a boundary is joined (its boundary field counted once), rows and
    lines count on from the ranges before, and the first 10 examples are the file's."""
    rows = [b"1,2"] * 3 + [b'"a\nb",2,3'] + [b"4"] * 12 + [b"5,6"]
    data = b"x,y\n" + b"\n".join(rows) + b"\n\n7,8,9"
    profile = ProfileSettings("accept", 1)
    reference = reference_profile(data, profile)
    assert reference.ragged_rows == 14
    assert reference.ragged_examples is not None
    assert reference.ragged_examples[0] == RaggedExample(4, 5, 3)
    assert reference.ragged_examples[1] == RaggedExample(5, 7, 1)
    for cuts in (range(9, len(data), 3), range(10, len(data), 5), [len(data) - 3]):
        assert apart(data, list(cuts), profile) > 0
        same(profile_ranges(data, cuts, 2, profile), reference)


def test_rangeable_once_the_header_and_the_column_sample_are_done() -> None:
    profiler = Profiler(ProfileSettings(profile_rows=2))
    profiler.feed(b"a,b\n1,2\n")
    assert (profiler.rangeable, profiler.split_delimiter, profiler.split_width) == (
        False,
        None,
        None,
    )
    profiler.feed(b"3,4,5\n")  # ragged: not in the sample
    assert not profiler.rangeable
    profiler.feed(b"6,7\n")
    assert (profiler.rangeable, profiler.split_delimiter, profiler.split_width) == (True, ",", 2)
    header_only = Profiler(ProfileSettings(profile_rows=0))
    header_only.feed(b"alpha;beta;gamma;delta\n")  # past the signature bytes
    assert header_only.split_delimiter == ";"


@pytest.mark.parametrize(
    "data",
    [
        gzip.compress(b"a,b\n1,2\n" * 50),
        zstandard.ZstdCompressor().compress(b"a,b\n1,2\n" * 50),
        b"\xff\xfe" + "a\tb\r\n1\t2\r\n".encode("utf-16-le") * 20,
        b"\xfe\xff" + "a,b\n1,2\n".encode("utf-16-be") * 20,
    ],
    ids=["gzip", "zstd", "utf-16-le", "utf-16-be"],
)
def test_compressed_and_utf16_input_is_read_in_order(data: bytes) -> None:
    """Only understood in order: the leading profiler takes every span, and agrees."""
    profile = ProfileSettings(profile_rows=0)
    plan = RangePlan(len(data), range(1, len(data)), profile)
    spans = list(plan.leading())
    assert spans == plan.spans
    assert plan.rest() == []
    for span in spans:
        plan.first.feed(data[span.start : span.stop])
    assert plan.first.rangeable is False
    assert plan.first.split_delimiter is None
    same(plan.finish([]), reference_profile(data, profile))
    same(profile_ranges(data, range(1, len(data), 5), 3, profile), reference_profile(data, profile))


def test_stitch_needs_a_rangeable_leading_profiler() -> None:
    first = Profiler()
    first.feed(b'"a\nb",c\n1,2\n')  # the column sample wants 10,000 rows
    assert first.split_delimiter is None
    part = RangeProfiler(",", b"\n", 2)
    part.feed(b"1,2\n")
    with pytest.raises(ValueError, match="rangeable"):
        first.stitch([part.finish()])


def test_candidates_merge_at_the_first_quoted_field() -> None:
    """The extra runs cost about one chunk: after a quoted field one machine is left."""
    row = b'1,2,"note, with a comma",4\n' + b"5,6,7,8\n" * 20
    ranger = RangeProfiler(",", b"\n", 4)
    ranger.feed(row * 100)
    assert len(ranger._runs) == 1
    # Quote-free data keeps the in-quotes candidate, which only counts line ends.
    plain = RangeProfiler(",", b"\n", 4)
    plain.feed(b"5,6,7,8\n" * 100)
    assert len(plain._runs) == 2
