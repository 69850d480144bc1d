"""cfn-lint and checkov on infra/, zizmor on the workflows: no findings.

The linters live in ``.venv-infra`` (``make infra-lint`` builds it; checkov's
pins clash with requirements.txt). A test skips only when its tool is missing
on a developer's machine; under CI (``CI`` set) a missing tool fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra.support import ROOT, TEMPLATE

INFRA_BIN = ROOT / ".venv-infra" / "bin"


def tool(name: str) -> str:
    """The linter's path: .venv-infra first, then PATH; skip or fail when absent."""
    candidate = INFRA_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed: CI must run it (make infra-lint installs it)")
    pytest.skip(f"{name} is not installed (make infra-lint installs it into .venv-infra)")


def run(*cmd: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def test_cfn_lint_reports_nothing_even_informational() -> None:
    result = run(tool("cfn-lint"), "--include-checks", "I", "--", str(TEMPLATE))
    assert result.returncode == 0, result.stdout + result.stderr


def checkov_report() -> dict[str, Any]:
    result = run(
        tool("checkov"),
        "--skip-download",  # no network: no guideline links, same checks
        "--framework",
        "cloudformation",
        "-d",
        "infra",
        "-o",
        "json",
    )
    assert result.stdout.strip(), result.stderr
    report: Any = json.loads(result.stdout)
    # one framework gives one report; several give a list
    reports = report if isinstance(report, list) else [report]
    assert len(reports) == 1, [r.get("check_type") for r in reports]
    only: dict[str, Any] = reports[0]
    return only


def test_checkov_finds_no_failure() -> None:
    report = checkov_report()
    summary = report["summary"]
    failed = [
        (c["check_id"], c["resource"], c["check_name"]) for c in report["results"]["failed_checks"]
    ]
    assert failed == []
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 50  # it really read the template


def test_every_checkov_suppression_says_why() -> None:
    report = checkov_report()
    skipped = report["results"]["skipped_checks"]
    assert len(skipped) == report["summary"]["skipped"]
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) > 20, f"{check['check_id']} on {check['resource']} has no reason"


def test_zizmor_finds_nothing_even_as_auditor() -> None:
    workflows = Path(".github") / "workflows"
    result = run(
        tool("zizmor"),
        "--offline",  # the online audits need GitHub's API
        "--no-progress",
        "--persona",
        "auditor",
        "--format",
        "json",
        str(workflows),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []
