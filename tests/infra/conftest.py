"""Fixtures for the infra tests: the template, the policy template, the scripts."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from tests.infra.support import POLICY_TEMPLATE, load_script, load_template


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="session")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = template["Resources"]
    return res


@pytest.fixture(scope="session")
def policy_template() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(POLICY_TEMPLATE.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="session")
def record_outputs() -> ModuleType:
    return load_script("record_outputs")


@pytest.fixture(scope="session")
def deploy() -> ModuleType:
    load_script("record_outputs")
    return load_script("deploy")
