"""The CLI's ``--jobs``: worker processes give exactly the one-process profile.

``chalicelib.parallel.profile_path`` reads a file's start in order, then has
worker processes profile the rest as ranges (``RangeProfiler``) that it
stitches. Hypothesis generates files (the differential suite's strategies) and
tiny read and range sizes force many ranges per worker; the CLI's JSON with
``--jobs 2`` and ``3`` must equal its JSON with ``--jobs 1``, and the ranges
must really have gone to workers whenever the leading profiler could hand
them over; gzip and zstd files must start no worker, whatever ``--jobs`` says.
The hypothesis tests run on the C scanner and, for about one example in three,
on the Python pattern path too (forked workers inherit the choice).
"""

from __future__ import annotations

import gzip
import itertools
import json
import multiprocessing
import os
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import parallel
from chalicelib.core.csvprofile import Profiler, use_scanner
from chalicelib.core.csvreference import reference_profile
from chalicelib.core.profile import ProfileSettings
from chalicelib.csvprofile import main
from tests.unit.test_csvprofile import CORPUS, _expected, needs_corpus
from tests.unit.test_csvprofile_differential import (
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

ROOT = Path(__file__).resolve().parents[2]
FILES = settings(
    DIFFERENTIAL,
    max_examples=40,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def _same_json(capsys: pytest.CaptureFixture[str], path: Path, *options: str) -> None:
    """The CLI with ``--jobs 2`` and ``3`` (and ``options``) prints what ``--jobs 1`` does."""
    one = _cli(capsys, "--jobs", "1", *options, str(path))
    for jobs in ("2", "3"):
        assert _cli(capsys, "--jobs", jobs, *options, str(path)) == one


class Calls:
    """Counts the calls of ``chalicelib.parallel``'s function ``name`` (the real one runs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.count = 0
        real = getattr(parallel, name)

        def counted(*args: object, **kwargs: object) -> object:
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(parallel, name, counted)


@pytest.mark.parametrize(
    "text",
    [
        b"sep=\xe9\na\xe9b\n1\xe92\n" * 3,  # a sep line the reference reads
        b"x" * 1_100_000 + b",y\n1,2\n",  # a first line too long to wait for
        b"a,b\n" + b"1,2\n" * 100_000,
        b"a,b\n1,2\n\0\n",
    ],
)
@pytest.mark.parametrize("kind", ["gzip", "zstd", "gzip truncated", "zstd truncated"])
@pytest.mark.parametrize("chunk", ["3", "1000", "65536"])
def test_compressed_files_in_one_process(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    text: bytes,
    kind: str,
    chunk: str,
) -> None:
    packed = gzip.compress(text) if kind.startswith("gzip") else zstandard.compress(text)
    if kind.endswith("truncated"):
        packed = packed[: len(packed) * 2 // 3]
    path = tmp_path / "file"
    path.write_bytes(packed)
    starts = Calls(monkeypatch, "_start")
    _same_json(capsys, path, "--chunk-size", chunk)
    assert starts.count == 0
    line = json.loads(_cli(capsys, "--jobs", "2", str(path))[1])
    assert line.pop("file") == str(path)
    assert line == json.loads(json.dumps(reference_profile(packed).to_dict(), ensure_ascii=False))


def _handed_over(data: bytes, chunk: int, range_size: int, profile: ProfileSettings) -> bool:
    """Whether workers get spans: the leading profiler, fed ``chunk`` bytes at a time, is
    rangeable with more than one span of ``range_size`` left."""
    profiler = Profiler(profile)
    for at in range(0, len(data), chunk):
        profiler.feed(data[at : at + chunk])
        if profiler.rangeable:
            return len(data) - (at + chunk) > range_size
    return False


@FILES
@given(
    data=st.one_of(structured_csv(), raw_csv(), sparse_csv(), typed_csv(), shaped_csv()),
    chunk=st.integers(1, 64),
    range_size=st.integers(1, 200),
    rows=st.sampled_from([0, 1, 2, 10_000]),
    ragged=st.sampled_from(["reject", "accept"]),
    python=PYTHON_TOO,
)
def test_cli_jobs_give_the_one_process_json(
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    data: bytes,
    chunk: int,
    range_size: int,
    rows: int,
    ragged: str,
    python: bool,
) -> None:
    path = tmp_path_factory.mktemp("jobs") / "file.csv"
    path.write_bytes(data)
    options = ["--profile-rows", str(rows), "--ragged-rows", ragged]
    tiny = [*options, "--chunk-size", str(chunk), "--range-size", str(range_size)]
    profile = ProfileSettings(ragged, rows)  # type: ignore[arg-type]
    expected = json.loads(
        json.dumps(reference_profile(data, profile).to_dict(), ensure_ascii=False)
    )
    for scanner in pattern_paths(python):
        with use_scanner(scanner), monkeypatch.context() as patched:
            starts = Calls(patched, "_start")
            _same_json(capsys, path, *tiny)
            assert (starts.count > 0) == _handed_over(data, chunk, range_size, profile)
            code, out = _cli(capsys, "--jobs", "1", *options, str(path))
            assert _cli(capsys, "--jobs", "2", *tiny, str(path)) == (code, out)
            line = json.loads(out)
            assert line.pop("file") == str(path)
            assert line == expected


@FILES
@given(
    block=st.one_of(structured_csv(), sparse_csv(), typed_csv(), shaped_csv()),
    repeat=st.integers(1, 2000),
    range_size=st.sampled_from([997, 4096, 50_000]),
    rows=st.sampled_from([0, 3, 10_000]),
    python=PYTHON_TOO,
)
def test_long_files_over_workers(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    block: bytes,
    repeat: int,
    range_size: int,
    rows: int,
    python: bool,
) -> None:
    """The default reads (64 KiB) with ranges from a few KB: the fast paths meet range edges."""
    data = b"a,b\n" + block * min(repeat, 1 + 200_000 // max(1, len(block)))
    path = tmp_path_factory.mktemp("long") / "file.csv"
    path.write_bytes(data)
    profile = ProfileSettings(profile_rows=rows)
    reference = reference_profile(data, profile)
    for scanner in pattern_paths(python):
        with use_scanner(scanner), monkeypatch.context() as patched:
            one = parallel.profile_path(path, profile, jobs=1)
            same(one, reference)
            starts = Calls(patched, "_start")
            for jobs in (2, 3):
                same(parallel.profile_path(path, profile, jobs=jobs, range_size=range_size), one)
            assert (starts.count > 0) == _handed_over(data, 1 << 16, range_size, profile)
            for jobs in (2, 3):
                same(parallel.profile_path(path, profile, jobs=jobs), one)


@FILES
@given(data=wrapped(), chunk=st.integers(1, 64), range_size=st.integers(1, 100), python=PYTHON_TOO)
def test_wrapped_input_is_read_in_order(
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    data: bytes,
    chunk: int,
    range_size: int,
    python: bool,
) -> None:
    """Sep lines and BOMs may go to workers; UTF-16, gzip and zstd are read by the parent
    alone."""
    path = tmp_path_factory.mktemp("wrapped") / "file.csv"
    path.write_bytes(data)
    tiny = ["--profile-rows", "0", "--chunk-size", str(chunk), "--range-size", str(range_size)]
    compressed = data[:2] == b"\x1f\x8b" or data[:4] == b"\x28\xb5\x2f\xfd"
    for scanner in pattern_paths(python):
        with use_scanner(scanner), monkeypatch.context() as patched:
            starts = Calls(patched, "_start")
            _same_json(capsys, path, *tiny)
            if data[:2] in (b"\xff\xfe", b"\xfe\xff") or compressed:
                assert starts.count == 0


@needs_corpus
@pytest.mark.parametrize("scanner", pattern_paths(True))
@pytest.mark.parametrize("name", sorted(_expected()))
def test_corpus_files(
    name: str,
    scanner: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert CORPUS is not None
    path = CORPUS / name
    with use_scanner(scanner):
        for chunk, range_size in (("1", "1"), ("7", "3"), ("64", "50")):
            _same_json(
                capsys,
                path,
                "--profile-rows",
                "0",
                "--chunk-size",
                chunk,
                "--range-size",
                range_size,
            )
            _same_json(capsys, path, "--chunk-size", chunk, "--range-size", range_size)
        _same_json(capsys, path)


def test_a_contract_or_compressed_file_stays_in_one_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = b"id,name\n" + b"".join(b"%d,x%d\n" % (i, i) for i in range(5000))
    packed = tmp_path / "file.csv.gz"
    packed.write_bytes(gzip.compress(plain))
    starts = Calls(monkeypatch, "_start")
    _same_json(capsys, packed, "--profile-rows", "0", "--chunk-size", "100", "--range-size", "99")
    assert starts.count == 0
    contract, path = (
        ROOT / "contracts" / "sales.json",
        ROOT / "samples" / "sales-2025-q4-broken.csv",
    )
    assert _cli(capsys, "--contract", str(contract), str(path))[0] == 1  # checked, rejected
    _same_json(
        capsys, path, "--contract", str(contract), "--chunk-size", "100", "--range-size", "99"
    )
    assert starts.count == 0
    path = tmp_path / "file.csv"
    path.write_bytes(plain)
    _same_json(capsys, path, "--profile-rows", "0", "--chunk-size", "100", "--range-size", "999")
    assert starts.count == 3  # one worker with --jobs 2, two with 3


def test_workers_share_the_spans_in_order() -> None:
    spans = parallel._spans(10, 100, 7)
    assert spans[0].start == 10
    assert spans[-1].stop == 100
    assert all(a.stop == b.start for a, b in itertools.pairwise(spans))
    for count in (1, 2, 3, 5, 40):
        groups = parallel._groups(spans, count)
        assert [span for group in groups for span in group] == spans
        assert len(groups) == min(count, len(spans))
        assert max(map(len, groups)) - min(map(len, groups)) <= 1


def test_default_jobs() -> None:
    assert parallel.default_jobs(0) == 1
    assert parallel.default_jobs(parallel.PARALLEL_MIN_BYTES - 1) == 1
    assert parallel.default_jobs(parallel.PARALLEL_MIN_BYTES) == parallel.usable_cpus() >= 1


def test_unreadable_files_and_bad_jobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--jobs", "2", str(tmp_path / "missing.csv"), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "missing.csv" in err
    assert str(tmp_path) in err
    with pytest.raises(SystemExit):
        main(["--jobs", "0", "x.csv"])


def test_the_spawn_start_method_gives_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where there is no ``fork`` (macOS, Windows), workers are spawned: the same parts."""
    path = tmp_path / "file.csv"
    path.write_bytes(b"id,note\n" + b"".join(b'%d,"a\nb"\n%d,x,y\n' % (i, i) for i in range(3000)))
    profile = ProfileSettings("accept", 0)
    one = parallel.profile_path(path, profile, jobs=1)
    monkeypatch.setattr(parallel, "_context", lambda: multiprocessing.get_context("spawn"))
    starts = Calls(monkeypatch, "_start")
    same(parallel.profile_path(path, profile, jobs=3, range_size=9999, chunk_size=4096), one)
    assert starts.count == 2


def _refused(connection: Connection, path: str, *args: object) -> None:
    with connection:
        connection.send(("oserror", (13, "Permission denied", path)))


def _dead(connection: Connection, *args: object) -> None:
    os._exit(3)


def test_a_worker_that_fails_fails_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "file.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 50_000)
    monkeypatch.setattr(parallel, "_worker", _refused)
    assert main(["--jobs", "2", "--profile-rows", "0", str(path)]) == 2
    assert capsys.readouterr().err == f"{path}: Permission denied\n"
    monkeypatch.setattr(parallel, "_worker", _dead)
    with pytest.raises(RuntimeError, match=r"a profiling process ended \(3\)"):
        parallel.profile_path(path, ProfileSettings(profile_rows=0), jobs=3)


@pytest.mark.parametrize("compress", [gzip.compress, zstandard.compress])
def test_compressed_files_start_no_worker_by_default_or_when_asked(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    compress: Callable[[bytes], bytes],
) -> None:
    """The default for a file this size would be two processes, were it plain."""
    plain = b"a,b\n" + b"1,2\n" * 1000
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 10)
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 2)
    starts = Calls(monkeypatch, "_start")
    tiny = ["--profile-rows", "0", "--chunk-size", "100"]
    path = tmp_path / "big.csv"
    path.write_bytes(plain)
    assert _cli(capsys, *tiny, str(path))[0] == 0
    assert starts.count == 1
    path.write_bytes(compress(plain))
    for jobs in ([], ["--jobs", "2"], ["--jobs", "3"]):
        assert _cli(capsys, *tiny, *jobs, str(path))[0] == 0
    assert starts.count == 1
