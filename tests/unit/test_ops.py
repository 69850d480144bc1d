"""``python -m ops``: the operator commands' one front door."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ops.__main__ import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert f"  {name}  " in out


def test_no_command_or_an_unknown_one_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["deploy-everything"]) == 2
    assert "unknown command 'deploy-everything'" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_has_its_own_help(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ops", name, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


def test_profile_runs_the_profiler(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n1,2\n3,4\n")
    assert main(["profile", str(path)]) == 0
    line = json.loads(capsys.readouterr().out)
    assert (line["status"], line["row_count"], line["column_count"]) == ("succeeded", 2, 2)


class _Payload:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def read(self) -> bytes:
        return self._body


class _Lambda:
    """Lambda's Invoke answer, as botocore parses it (a function error is HTTP 200)."""

    def __init__(self, body: bytes, error: str | None = None) -> None:
        self.answer: dict[str, object] = {"StatusCode": 200, "Payload": _Payload(body)}
        if error:
            self.answer["FunctionError"] = error
        self.calls: list[dict[str, object]] = []

    def invoke(self, **kwargs: object) -> dict[str, object]:
        self.calls.append(kwargs)
        return self.answer


def test_migrate_invokes_the_stages_function_and_reports_its_errors(tmp_path: Path) -> None:
    from ops import migrate

    assert migrate.function_name("prod", tmp_path) == "csv-pipeline-prod-migrate"
    ok = _Lambda(b'{"applied": ["0001_file_metadata"], "logins": []}')
    assert migrate.invoke(ok, "f")["applied"] == ["0001_file_metadata"]
    assert ok.calls == [{"FunctionName": "f", "InvocationType": "RequestResponse"}]
    failed = _Lambda(b'{"errorType": "MigrationError", "errorMessage": "boom"}', "Unhandled")
    with pytest.raises(migrate.MigrateFailed, match="MigrationError: boom"):
        migrate.invoke(failed, "f")
