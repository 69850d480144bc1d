"""Test-only powers over a running ``PostgresServer``: freeze it (SIGSTOP) and thaw it,
end sessions, drop databases.

The postmaster's pid is the first line of ``postmaster.pid`` (``server.pid``); its
children (backends, checkpointer, ...) come from ``/proc/<pid>/task/*/children``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import pg8000.native


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, depth first (Linux /proc)."""
    found: list[int] = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            for child in map(int, children.read_text().split()):
                found += [child, *descendants(child)]
    return found


def _state(pid: int) -> str | None:
    """``R``, ``S``, ``T`` (stopped), ``Z`` (zombie)...; None if there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return None


def process_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    return _state(pid) not in (None, "Z", "X")


def _signal(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _postmaster(server: Any) -> int:
    pid = server.pid
    if pid is None:
        raise RuntimeError(f"{server!r} is not running")
    return int(pid)


def pause(server: Any) -> None:
    """Freeze the postmaster and every backend (SIGSTOP): a hung database."""
    pid = _postmaster(server)
    _signal([pid], signal.SIGSTOP)  # first, so that it forks nothing new
    deadline = time.monotonic() + 2
    while _state(pid) not in ("T", None) and time.monotonic() < deadline:
        time.sleep(0.005)
    _signal(descendants(pid), signal.SIGSTOP)


def resume(server: Any) -> None:
    """Undo :func:`pause` (SIGCONT to the postmaster and all its children)."""
    pid = _postmaster(server)
    _signal([*descendants(pid), pid], signal.SIGCONT)


def terminate_connections(server: Any, dbname: str) -> None:
    """Kill every session on ``dbname`` (but the one doing it), waiting up to 5 s each."""
    server.execute(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
        "WHERE datname = :dbname AND pid <> pg_backend_pid()",
        params={"dbname": dbname},
    )


def drop_database(server: Any, name: str) -> None:
    """Drop the database if it exists, disconnecting its sessions."""
    server.execute(f"DROP DATABASE IF EXISTS {pg8000.native.identifier(name)} WITH (FORCE)")
