"""Object key naming for results and backups (pure; ``docs/outputs.md``, "Object keys")."""

from __future__ import annotations

import hashlib
import posixpath
from datetime import UTC, datetime

#: S3's limit on a key, in UTF-8 bytes.
MAX_KEY_BYTES = 1024
_DIGEST_CHARS = 16


def result_key(input_key: str) -> str:
    """``reports/q3.csv`` -> ``results/reports/q3.json``."""
    stem = input_key[: -len(".csv")] if input_key.lower().endswith(".csv") else input_key
    return fit_key(f"results/{stem}.json", input_key, ".json")


def backup_key(input_key: str, event_time: datetime) -> str:
    """``data.csv`` at 2025-09-02 14:30:00 -> ``backup/2025-09-02_14-30-00_data.csv``.

    The time is the event's, in UTC, so a retried event writes the same key.
    """
    folder, name = posixpath.split(input_key)
    stamp = event_time.astimezone(UTC).strftime("%Y-%m-%d_%H-%M-%S")
    key = (
        posixpath.join("backup", folder, f"{stamp}_{name}") if folder else f"backup/{stamp}_{name}"
    )
    suffix = posixpath.splitext(name)[1]
    return fit_key(key, input_key, suffix if len(suffix) <= 16 else "")


def fit_key(key: str, source_key: str, suffix: str) -> str:
    """Keep ``key`` under S3's 1024-byte limit, deterministically.

    A key that would be too long keeps its start, then ``~`` and a digest of
    the whole input key (so distinct inputs stay distinct), then ``suffix``.
    """
    if len(key.encode("utf-8")) <= MAX_KEY_BYTES:
        return key
    digest = hashlib.sha256(source_key.encode("utf-8")).hexdigest()[:_DIGEST_CHARS]
    tail = f"~{digest}{suffix}"
    room = MAX_KEY_BYTES - len(tail.encode("utf-8"))
    head = key.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return head + tail
