"""Fixtures of the integration tier."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.localstack import Running, start_local


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Running]:
    """`make local` with its samples, stopped after the test whatever happens."""
    running = start_local(tmp_path, "stack")
    try:
        yield running
    finally:
        running.stop(signal.SIGKILL)
