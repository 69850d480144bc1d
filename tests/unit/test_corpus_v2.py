"""The shared corpus against ``expected-v2.json``: every file, ``real-world/`` included.

The CLI (the fast profiler) and the reference must both report every field
``expected-v2.json`` states (rules 1-15, "What a profile reports"); the CLI
line also carries every key of a profile. Each runs on both pattern paths (the C
scanner and the Python fallback), and the CLI once more in a process started with
``CSV_PIPELINE_SCANNER=python``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.core.csvprofile import profile_chunks, use_scanner
from chalicelib.core.csvreference import reference_profile
from chalicelib.csvprofile import main
from tests.unit.test_csvprofile import CORPUS, PROFILE_KEYS, needs_corpus
from tests.unit.test_csvprofile_differential import pattern_paths

ROOT = Path(__file__).resolve().parents[2]
#: The C scanner when built, and the Python pattern path.
SCANNERS = pattern_paths(True)


def _expected_v2() -> dict[str, dict[str, object]]:
    if CORPUS is None or not (CORPUS / "expected-v2.json").is_file():
        return {}
    loaded: dict[str, dict[str, object]] = json.loads((CORPUS / "expected-v2.json").read_text())
    return loaded


def _short(line: dict[str, object]) -> dict[str, object]:
    """A profile line in expected-v2.json's form: error and warnings by their codes."""
    error = line["error"]
    warnings = line["warnings"]
    assert isinstance(warnings, list)
    return {
        **line,
        "error": error["code"] if isinstance(error, dict) else None,
        "warnings": [warning["code"] for warning in warnings],
    }


@needs_corpus
def test_expected_v2_lists_every_file() -> None:
    assert CORPUS is not None
    on_disk = {
        str(path.relative_to(CORPUS))
        for path in CORPUS.rglob("*")
        if path.is_file() and not path.name.endswith((".json", ".md"))
    }
    assert on_disk == set(_expected_v2())


@needs_corpus
@pytest.mark.parametrize("scanner", SCANNERS)
@pytest.mark.parametrize("name", sorted(_expected_v2()))
def test_cli_reports_expected_v2(
    name: str, scanner: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert CORPUS is not None
    want = _expected_v2()[name]
    with use_scanner(scanner):
        code = main([str(CORPUS / name)])
    (out,) = capsys.readouterr().out.splitlines()
    line = json.loads(out)
    assert set(line) == PROFILE_KEYS | {"file"}
    got = _short(line)
    assert {key: got[key] for key in want} == want
    assert code == (0 if want["status"] == "succeeded" else 1)
    reference = _short(reference_profile((CORPUS / name).read_bytes()).to_dict())
    assert {key: reference[key] for key in want} == want


@needs_corpus
@pytest.mark.parametrize("scanner", SCANNERS)
@pytest.mark.parametrize("name", sorted(_expected_v2()))
def test_fast_profiler_equals_reference_in_any_chunks(name: str, scanner: str) -> None:
    assert CORPUS is not None
    data = (CORPUS / name).read_bytes()
    reference = reference_profile(data)
    with use_scanner(scanner):
        for size in (1, 2, 3, 5, 64):
            chunks = [data[i : i + size] for i in range(0, len(data), size)]
            assert profile_chunks(chunks) == reference, f"chunks of {size} bytes"


@needs_corpus
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_the_cli_with_the_python_pattern_path_by_the_environment(jobs: str) -> None:
    """``CSV_PIPELINE_SCANNER=python``: every corpus file through the CLI in a new
    process (workers, with ``--jobs 2``, of 2-byte ranges) on the Python path."""
    assert CORPUS is not None
    expected = _expected_v2()
    names = sorted(expected)
    probe = (
        "import sys; from chalicelib.core import csvprofile; "
        "assert csvprofile.scanner() == 'python'; "
        "from chalicelib.csvprofile import main; sys.exit(main(sys.argv[1:]))"
    )
    files = [str(CORPUS / name) for name in names]
    done = subprocess.run(
        [sys.executable, "-c", probe, "--jobs", jobs, "--range-size", "2", *files],
        cwd=ROOT,
        env={**os.environ, "CSV_PIPELINE_SCANNER": "python"},
        capture_output=True,
        text=True,
    )
    assert done.returncode in (0, 1), done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["file"] for line in lines] == files
    for name, line in zip(names, lines, strict=True):
        got = _short(line)
        assert {key: got[key] for key in expected[name]} == expected[name], name
    rejected = any(want["status"] != "succeeded" for want in expected.values())
    assert done.returncode == (1 if rejected else 0)


@needs_corpus
def test_ragged_rows_accept_and_profile_rows(capsys: pytest.CaptureFixture[str]) -> None:
    assert CORPUS is not None
    path = CORPUS / "real-world" / "ragged.csv"
    assert main(["--ragged-rows", "accept", "--profile-rows", "1", str(path)]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["status"] == "succeeded"
    assert line["error"] is None
    assert [w["code"] for w in line["warnings"]] == ["RAGGED_ROWS"]
    assert line["warnings"][0]["message"] == (
        "2 rows do not have the header's 3 fields; the first is row 2 (line 3) with 2"
    )
    assert line["sampled_rows"] == 1
    assert line["ragged_rows"] == 2


def test_cli_rejects_a_bad_profile_rows(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--profile-rows", "-1", str(tmp_path)])
