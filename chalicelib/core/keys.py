"""Object key naming for results and backups (pure; ``docs/outputs.md``, "Object keys")."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

#: S3's limit on a key, in UTF-8 bytes.
MAX_KEY_BYTES = 1024
_DIGEST_CHARS = 16


#: The suffixes the pipeline processes (any letter case), longest first.
CSV_SUFFIXES = (".csv.gz", ".csv.zst", ".csv")


def csv_suffix(key: str) -> str | None:
    """The processed suffix ``key`` ends with, as written (``.CSV``), else None."""
    lower = key.lower()
    for suffix in CSV_SUFFIXES:
        if lower.endswith(suffix):
            return key[-len(suffix) :]
    return None


def result_key(input_key: str) -> str:
    """``reports/q3.csv`` -> ``results/reports/q3.json`` (``.csv.gz``, ``.CSV`` ... too).

    Plain concatenation: whatever the key holds (a leading ``/``, ``a//b``,
    ``..``), the result stays under ``results/``.
    """
    suffix = csv_suffix(input_key)
    stem = input_key[: -len(suffix)] if suffix else input_key
    return fit_key("results/" + stem + ".json", input_key, ".json")


def backup_key(input_key: str, event_time: datetime) -> str:
    """``data.csv`` at 2025-09-02 14:30:00 -> ``backup/2025-09-02_14-30-00_data.csv``.

    ``backup/`` + the key up to and including its last ``/`` + the time + ``_``
    + the rest, by plain concatenation: ``/etc/x.csv`` ->
    ``backup//etc/2025-09-02_14-30-00_x.csv``, and ``a//b.csv`` keeps its two
    slashes, so every backup stays under ``backup/`` and distinct keys stay
    distinct. The time is the event's, in UTC, so a retried event writes the
    same key.
    """
    cut = input_key.rfind("/") + 1
    folder, name = input_key[:cut], input_key[cut:]
    stamp = event_time.astimezone(UTC).strftime("%Y-%m-%d_%H-%M-%S")
    suffix = csv_suffix(name) or ""
    return fit_key("backup/" + folder + stamp + "_" + name, input_key, suffix)


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
