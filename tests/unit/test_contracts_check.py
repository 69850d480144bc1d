"""``python -m ops contracts check``: every deployed contract is valid (run by ``make test``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.core.contracts import load_contracts
from ops.contracts import DEFAULT_DIR, main

ROOT = Path(__file__).resolve().parents[2]


def test_the_repository_contracts_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "sales.json: ok: contract 'sales'" in out


def test_contracts_link_points_at_the_packaged_directory() -> None:
    # Chalice packages chalicelib/ only; contracts/ is the operator's name for it.
    assert (ROOT / "contracts").resolve() == DEFAULT_DIR
    assert len(load_contracts(DEFAULT_DIR)) >= 1


def test_chalice_packages_every_contract() -> None:
    """What Chalice puts in the function's zip (its own walk of the project)."""
    from chalice.deploy.packager import LambdaDeploymentPackager
    from chalice.utils import UI, OSUtils

    packager = LambdaDeploymentPackager(OSUtils(), None, UI())
    packaged = {name for _, name in packager._iter_app_filenames(str(ROOT))}
    contracts = {f"chalicelib/contracts/{p.name}" for p in DEFAULT_DIR.glob("*.json")}
    assert contracts
    assert contracts <= packaged


def write(directory: Path, name: str, doc: object) -> None:
    (directory / name).write_text(json.dumps(doc) if not isinstance(doc, str) else doc)


def test_every_problem_is_listed_with_its_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fields = {"fields": [{"name": "a"}]}
    write(tmp_path, "a.json", {"name": "a", "prefixes": ["x/"], "schema": fields})
    write(tmp_path, "b.json", {"name": "b", "prefixes": ["x/"], "schema": fields})
    write(tmp_path, "c.json", {"name": "a", "prefixes": ["y/"], "schema": fields})
    write(
        tmp_path,
        "d.json",
        {"name": "d", "prefixes": ["z/"], "schema": {"fields": [
            {"name": "a", "constraints": {"pattern": "[a-"}}]}},
    )  # fmt: skip
    write(tmp_path, "e.json", "{not json")
    assert main(["check", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    err = captured.err
    assert (
        f"{tmp_path / 'b.json'}: $.prefixes: 'x/' is also governed by {tmp_path / 'a.json'}" in err
    )
    assert f"{tmp_path / 'c.json'}: $.name: 'a' is also the name of" in err
    assert f"{tmp_path / 'd.json'}: $.schema.fields[0].constraints.pattern: not a valid" in err
    assert f"{tmp_path / 'e.json'}: $: not JSON" in err
    assert "a.json: ok" in captured.out


def test_an_empty_or_absent_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path)]) == 0
    assert "no contract files" in capsys.readouterr().out
    assert main(["check", str(tmp_path / "absent")]) == 1
