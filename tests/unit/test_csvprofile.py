"""The streaming profiler on the shared corpus, its CLI, and its edge cases.

Every check compares with :func:`chalicelib.core.csvreference.reference_profile`, the
definition of a right answer (``docs/csv-rules.md``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from chalicelib.core.csvprofile import profile_bytes, profile_chunks, profile_file
from chalicelib.core.csvreference import reference_profile
from chalicelib.core.profile import Profile, ProfileSettings
from chalicelib.csvprofile import main

_REPO = Path(__file__).resolve().parents[2]


def _find_corpus() -> Path | None:
    """``shared/corpus`` inside the repo, or beside it (CI clones the repo next to shared/)."""
    candidates = [_REPO / "shared" / "corpus", _REPO.parent / "shared" / "corpus"]
    if os.environ.get("CSV_CORPUS_DIR"):
        candidates.insert(0, Path(os.environ["CSV_CORPUS_DIR"]))
    for candidate in candidates:
        if (candidate / "expected.json").is_file():
            return candidate
    return None


CORPUS = _find_corpus()
needs_corpus = pytest.mark.skipif(
    CORPUS is None,
    reason="shared/corpus/expected.json not found in the repo or beside it (set CSV_CORPUS_DIR)",
)


def _expected() -> dict[str, dict[str, object]]:
    if CORPUS is None:
        return {}
    loaded: dict[str, dict[str, object]] = json.loads((CORPUS / "expected.json").read_text())
    return loaded


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


def _outcome(profile: Profile) -> dict[str, object]:
    """The fields expected.json states for one file."""
    if profile.status == "succeeded":
        return {
            "status": profile.status,
            "row_count": profile.row_count,
            "column_count": profile.column_count,
        }
    assert profile.error is not None
    return {"status": profile.status, "error": profile.error.code}


# --- the shared corpus ------------------------------------------------------------------


@needs_corpus
def test_corpus_lists_every_csv() -> None:
    assert CORPUS is not None
    on_disk = {path.name for path in CORPUS.glob("*.csv")}
    assert on_disk == set(_expected())


@needs_corpus
@pytest.mark.parametrize("name", sorted(_expected()))
def test_corpus_file_matches_expected_and_reference(name: str) -> None:
    assert CORPUS is not None
    data = (CORPUS / name).read_bytes()
    reference = reference_profile(data)
    assert _outcome(reference) == _expected()[name], "the reference disagrees with expected.json"
    with (CORPUS / name).open("rb") as stream:
        assert profile_file(stream) == reference
    for size in (1, 2, 3, 7, 64):
        assert profile_chunks(_chunks(data, size)) == reference, f"chunks of {size} bytes"


# --- the CLI ----------------------------------------------------------------------------

#: Every field of "What a profile reports" (docs/csv-rules.md).
PROFILE_KEYS = {
    "status",
    "row_count",
    "column_count",
    "delimiter",
    "delimiter_source",
    "encoding",
    "compression",
    "bytes_read",
    "header",
    "ragged_rows",
    "ragged_examples",
    "sampled_rows",
    "columns",
    "warnings",
    "contract",
    "error",
}
CLI_KEYS = {"file", *PROFILE_KEYS}


def _cli(capsys: pytest.CaptureFixture[str], *paths: Path) -> tuple[int, list[dict[str, object]]]:
    code = main([str(path) for path in paths])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines()]


def test_cli_all_succeeded_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.csv"
    good.write_bytes(b"a;b;c\n1;2;3\n4;5;6\n")
    code, lines = _cli(capsys, good)
    assert code == 0
    assert lines == [
        {
            "file": str(good),
            "status": "succeeded",
            "row_count": 2,
            "column_count": 3,
            "delimiter": ";",
            "delimiter_source": "detected",
            "encoding": "utf-8",
            "compression": None,
            "bytes_read": 18,
            "header": ["a", "b", "c"],
            "ragged_rows": 0,
            "ragged_examples": [],
            "sampled_rows": 2,
            "columns": [
                {"name": n, "type": "integer", "empty": 0, "min": lo, "max": hi, "max_length": 1}
                for n, lo, hi in (("a", "1", "4"), ("b", "2", "5"), ("c", "3", "6"))
            ],
            "warnings": [],
            "contract": None,
            "error": None,
        }
    ]


def test_cli_any_rejected_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, empty = tmp_path / "good.csv", tmp_path / "empty.csv"
    good.write_bytes(b"a,b\n1,2\n")
    empty.write_bytes(b"\r\n\n")
    code, lines = _cli(capsys, good, empty)
    assert code == 1
    assert [set(line) for line in lines] == [CLI_KEYS, CLI_KEYS]
    assert [line["status"] for line in lines] == ["succeeded", "rejected"]
    assert lines[1]["error"] == {
        "code": "EMPTY",
        "message": "the file has no records: it is empty or holds only blank lines",
    }
    assert lines[1]["row_count"] is None
    assert lines[1]["column_count"] is None


def test_cli_unreadable_exits_2_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing, binary = tmp_path / "missing.csv", tmp_path / "binary.csv"
    binary.write_bytes(b"a,b\n\0\n")
    code = main([str(missing), str(tmp_path), str(binary)])
    captured = capsys.readouterr()
    assert code == 2
    assert str(missing) in captured.err
    assert str(tmp_path) in captured.err
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert len(lines) == 1
    assert lines[0]["file"] == str(binary)
    assert lines[0]["error"]["code"] == "BINARY"


def test_cli_without_files_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err


#: What a run without a contract, on plain input, has no use for: imported when needed
#: (the CLI's start-up is in every whole-process figure of docs/benchmarks.md).
LAZY_MODULES = (
    "chalicelib.core.contracts",
    "chalicelib.core.validate",
    "dateutil",
    "zstandard",
    "concurrent.futures",  # the decompressing thread is a plain thread
    "dataclasses",  # the profile's types are NamedTuples: dataclasses imports inspect
)


def _imported(path: Path, names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` a CLI run on ``path`` imported."""
    script = (
        "import json, sys\n"
        "from chalicelib.csvprofile import main\n"
        f"main([{str(path)!r}])\n"
        f"print(json.dumps([name for name in {names!r} if name in sys.modules]))\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True
    )
    imported: list[str] = json.loads(done.stdout.splitlines()[-1])
    return imported


def test_cli_imports_no_contract_model_nor_zstd_for_a_plain_file(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"a,b\n1,2\n")
    assert _imported(path, LAZY_MODULES) == []


def test_cli_imports_only_zstandard_more_for_a_zstd_file(tmp_path: Path) -> None:
    path = tmp_path / "a.csv.zst"
    path.write_bytes(zstandard.compress(b"a,b\n" + b"1,2\n" * 100_000))
    assert _imported(path, LAZY_MODULES) == ["zstandard"]


@needs_corpus
def test_cli_on_the_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    assert CORPUS is not None
    expected = _expected()
    paths = [CORPUS / name for name in sorted(expected)]
    code, lines = _cli(capsys, *paths)
    assert code == 1  # the corpus holds rejections
    assert [Path(str(line["file"])).name for line in lines] == sorted(expected)
    for line in lines:
        assert set(line) == CLI_KEYS
        want = expected[Path(str(line["file"])).name]
        error = line["error"]
        got = {"status": line["status"]}
        if isinstance(error, dict):
            got["error"] = error["code"]
        else:
            got |= {"row_count": line["row_count"], "column_count": line["column_count"]}
        assert got == want


# --- huge fields (rule 9) ---------------------------------------------------------------

CSV_DEFAULT_LIMIT = 128 * 1024


@pytest.mark.parametrize(
    "field",
    [
        pytest.param(b'"' + b"x" * (5 << 20) + b'"', id="5MB-quoted"),
        pytest.param(b'"' + b'ab""c,\r\n' * (1 << 19) + b'"', id="4MB-quoted-with-quotes-newlines"),
        pytest.param(b"y" * (CSV_DEFAULT_LIMIT + 1), id="over-128KiB-unquoted"),
        pytest.param(b'"' + b"z" * (CSV_DEFAULT_LIMIT + 1) + b'"', id="over-128KiB-quoted"),
    ],
)
@pytest.mark.parametrize("where", ["header", "row"])
def test_huge_field_matches_reference(field: bytes, where: str) -> None:
    if where == "header":
        data = b"id," + field + b",last\n1,2,3\n4,5,6\n"
    else:
        data = b"id,big,last\n1," + field + b",3\n4,5,6\n"
    reference = reference_profile(data)
    assert reference.status == "succeeded"
    assert (reference.row_count, reference.column_count) == (2, 3)
    assert profile_bytes(data) == reference
    for size in (4096, 65536, 1 << 20):
        assert profile_chunks(_chunks(data, size)) == reference, f"chunks of {size} bytes"


def test_huge_field_left_open_is_unterminated() -> None:
    data = b'a,b\n1,"' + b"x" * (1 << 20)
    assert profile_chunks(_chunks(data, 4096)) == reference_profile(data)
    assert profile_bytes(data).error is not None
    assert profile_bytes(data).error.code == "UNTERMINATED_QUOTE"


def _field_stream(size: int, chunk: int) -> Iterator[bytes]:
    yield b'name,payload\nfirst,"'
    for _ in range(size // chunk):
        yield b"q" * (chunk - 4) + b'""\n\r'
    yield b'"\nsecond,x\n'


def test_memory_stays_flat_with_a_50MB_field() -> None:
    """Flat past the column sample (inside it, a long record is streamed too: rule 12
    in docs/csv-rules.md; the bench measures that)."""
    tracemalloc.start()
    try:
        result = profile_chunks(_field_stream(50 << 20, 1 << 20), ProfileSettings(profile_rows=0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.status, result.row_count, result.column_count) == ("succeeded", 2, 2)
    assert peak < 16 << 20, f"peak {peak / 2**20:.1f} MiB while profiling a 50 MiB field"


def _multi_mb_sample(encoding: str) -> bytes:
    """Rows inside the column sample with multi-MB values: a quoted text with doubled
    quotes and line ends, a date padded by MBs of blanks, a 2 MB numeral, a long
    unquoted text of non-ASCII characters, and a ragged long row."""
    text = 'αβγ, said "x"\r\n' if encoding == "utf-8" else 'é, said "x"\r\n'
    quoted = '"' + (text * ((5 << 20) // len(text.encode(encoding)))).replace('"', '""') + '"'
    rows = [
        "id,note,day,amount,word",
        '1,short,2024-01-01,5,"a"',
        f"2,{quoted},{' ' * (3 << 20)}2024-02-29\t\t,{'9' * (2 << 20)},{'é' * (1 << 20)}",
        f"3,{quoted},x,1,2,3,4",  # ragged: not in the sample
        "4,ok,2023-12-31,-7.5e3,z",
        '5,"' + "w" * (1 << 20) + '",2024-03-01,0,last',
    ]
    return "\r\n".join(rows).encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_multi_mb_fields_inside_the_sample_match_reference(encoding: str) -> None:
    """The column sample reads records longer than its window without keeping their
    text (docs/csv-rules.md, rule 12): the answers are still the reference's."""
    data = _multi_mb_sample(encoding)
    settings = ProfileSettings(ragged_rows="accept")
    reference = reference_profile(data, settings)
    assert reference.sampled_rows == 4
    assert reference.columns is not None
    assert [column.type for column in reference.columns] == [
        "integer",
        "string",
        "date",
        "number",
        "string",
    ]
    for size in (1 << 16, 1 << 20, 4093):
        assert profile_chunks(_chunks(data, size), settings) == reference, f"chunks of {size}"
    assert profile_bytes(data, settings) == reference


# --- chunk boundaries -------------------------------------------------------------------

BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("cut", [1, 2, 3, 4])
@pytest.mark.parametrize(
    "body",
    [b"a;b\n1;2\n", b'"a","b"\r\n"1","2"', b"\xe9t\xe9,b\n1,2\n", b"", b"\n\n"],
    ids=["semicolons", "quoted", "cp1252", "empty", "blank"],
)
def test_bom_split_across_chunks(cut: int, body: bytes) -> None:
    data = BOM + body
    reference = reference_profile(data)
    assert profile_chunks([data[:cut], data[cut:]]) == reference
    assert profile_chunks(_chunks(data, 1)) == reference
    assert profile_chunks([b"", *(bytes([b]) for b in data), b""]) == reference


def test_bom_is_stripped_only_at_the_start() -> None:
    data = BOM + b"name,x\n" + BOM + b"v,1\n"
    result = profile_chunks(_chunks(data, 2))
    assert result == reference_profile(data)
    assert result.header == ("name", "x")


@pytest.mark.parametrize("partial", [b"\xef", b"\xef\xbb"])
@pytest.mark.parametrize("rest", [b"a,b\n1,2\n", b""], ids=["then-text", "alone"])
def test_partial_bom_is_cp1252(partial: bytes, rest: bytes) -> None:
    data = partial + rest
    result = profile_chunks(_chunks(data, 1))
    assert result == reference_profile(data)
    assert result == profile_bytes(data)
    assert result.encoding == "cp1252"


@pytest.mark.parametrize(
    "chunks",
    [
        [b"a,b\n", b"1,2\n" * 1000, b"3,\0\n"],
        [b"a,b\n1,2\n", b"\0"],
        [b'a,b\n1,"open', b"still open\0"],
        [BOM[:2], BOM[2:] + b"a\n", b"\0"],
        [b"\0", b"a,b\n"],
    ],
    ids=["later-chunk", "alone", "inside-quotes", "after-split-bom", "first-byte"],
)
def test_nul_in_any_chunk_is_binary(chunks: list[bytes]) -> None:
    result = profile_chunks(chunks)
    assert result == reference_profile(b"".join(chunks))
    assert result.error is not None
    assert result.error.code == "BINARY"
    assert result.bytes_read == sum(map(len, chunks))


def test_invalid_utf8_in_a_later_chunk_is_cp1252() -> None:
    chunks = [b"a,b\n", b"\xc3\xa9,1\n" * 100, b"\xc3", b"\xa9,2\n", b"caf\xe9,3\n"]
    result = profile_chunks(chunks)
    assert result == reference_profile(b"".join(chunks))
    assert result.encoding == "cp1252"


def test_utf8_character_split_across_chunks_stays_utf8() -> None:
    data = "名前,値\n日本,1\n".encode()
    result = profile_chunks(_chunks(data, 1))
    assert result == reference_profile(data)
    assert result.encoding == "utf-8"
    assert result.header == ("名前", "値")


def test_header_after_many_blank_lines() -> None:
    data = b"\r\n" * 50_000 + b"a|b|c\n1|2|3\n"
    assert profile_chunks(_chunks(data, 4096)) == reference_profile(data)


def test_header_preview_is_capped() -> None:
    names = [f'"{"n" * 150}{i}"' for i in range(80)]
    data = (",".join(names) + "\n" + ",".join("1" * 80) + "\n").encode()
    result = profile_bytes(data)
    assert result == reference_profile(data)
    assert result.column_count == 80
    assert len(result.header) == 50
    assert {len(name) for name in result.header} == {100}


@pytest.mark.parametrize(
    "row",
    [b"x" * 390 + b',"q"\n', b"x" * 390 + b',"a\nb"\r\n', b"y" * 60 + b',"q"\n', b'"q","r"\n'],
    ids=["far-apart", "far-apart-multiline", "one-a-row", "all-quoted"],
)
def test_many_quoted_fields(row: bytes) -> None:
    """Thousands of quoted fields in one chunk, then a stray quote and more of them."""
    data = b"a,b\n" + row * 5000 + b'12" pizza,"x"\n' + row * 5000
    reference = reference_profile(data)
    assert reference.row_count == 10001
    assert profile_bytes(data) == reference
    assert profile_chunks(_chunks(data, 1 << 20)) == reference
    assert profile_chunks(_chunks(data, 4099)) == reference
