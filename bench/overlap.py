"""Issue 12, compressed input: does overlapping decompression with profiling pay?

``python -m bench.overlap .bench/sparse-quote-64MB.csv.gz [--repeat 5] [--zlib]``

In one process, interleaved rounds, best wall time (and that round's CPU:
this process's, plus a worker's where there is one):

- ``alone``: the decompression alone (``bench.baselines``: gunzip with isal,
  or zlib with ``--zlib``, or unzstd), as the target's denominator;
- ``one thread``: the profiler with ``overlap=False`` (decompress, then profile
  each chunk's output, in turn);
- ``profile (shipped)``: the profiler as shipped, with two CPUs or more: its
  container decompresses on a thread, up to 2 MiB ahead of the profile
  (``csvprofile._Ahead``; the libraries and the C scanner run without the GIL);
- ``process``: the decompression in a forked worker process, its pieces sent
  through a pipe to the profiler in this one (the CLI's ``--jobs 2`` did so
  until it was measured slower than ``profile (shipped)``; the CLI now reads
  gzip and zstd in one process whatever ``--jobs`` says).

A prototype on the profiler's private parts (its container and
``_decompressed``), to measure; each variant's profile must equal the shipped
one. Run it under ``flock /tmp/bench.lock``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from bench import baselines
from chalicelib.core.csvprofile import CHUNK_SIZE, Profiler, _Container, profile_file, use_gunzip
from chalicelib.core.profile import Profile

Variant = Callable[[Path], Profile | int]


def shipped(path: Path) -> Profile:
    with open(path, "rb") as stream:
        return profile_file(stream)


def one_thread(path: Path) -> Profile:
    profiler = Profiler(overlap=False)
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK_SIZE), b""):
            profiler.feed(chunk)
    return profiler.finish()


def in_process(path: Path) -> Profile:
    import multiprocessing

    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)

    def produce() -> None:
        container = _Container()
        with sender, open(path, "rb") as stream:
            for chunk in iter(lambda: stream.read(CHUNK_SIZE), b""):
                sender.send_bytes(b"%d" % len(chunk))
                for piece in container.feed(chunk):
                    sender.send_bytes(b"P" + piece)
            sender.send_bytes(b"E" + (container.compression or "").encode())

    process = context.Process(target=produce, daemon=True)
    process.start()
    sender.close()
    profiler = Profiler()
    with receiver:
        while True:
            message = receiver.recv_bytes()
            if message[:1] == b"P":
                profiler._decompressed(message[1:])
            elif message[:1] == b"E":
                break
            else:
                profiler.bytes_read += int(message)
    process.join()
    # The container's end state, as the worker's was (a whole, valid stream here).
    profiler._container = _Container()
    profiler._container.compression = message[1:].decode() or None  # type: ignore[assignment]
    profiler._container._decided = True
    return profiler.finish()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--zlib", action="store_true", help="gzip through zlib, not isal")
    args = parser.parse_args(argv)
    zstd = args.path.suffix == ".zst"
    alone = (
        baselines.unzstd
        if zstd
        else baselines.APPROACHES["gunzip-zlib" if args.zlib else "gunzip-isal"]
    )
    variants: dict[str, Variant] = {
        "alone": lambda p: alone(str(p)),
        "one thread": one_thread,
        "profile (shipped)": shipped,
        "process": in_process,
    }
    best = {name: (float("inf"), 0.0) for name in variants}
    results = {}
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    with use_gunzip("zlib") if args.zlib else nullcontext():
        for _ in range(args.repeat):
            for name, variant in variants.items():
                times, cpu = os.times(), time.process_time()
                start = time.perf_counter()
                results[name] = variant(args.path)
                wall = time.perf_counter() - start
                after = os.times()
                cpu = (
                    time.process_time()
                    - cpu
                    + (after.children_user - times.children_user)
                    + (after.children_system - times.children_system)
                )
                if wall < best[name][0]:
                    best[name] = (wall, cpu)
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    for name in ("one thread", "process"):
        assert results[name] == results["profile (shipped)"], name
    base = best["alone"][0]
    print("| variant | wall s | CPU s | wall / alone |")
    print("| --- | --- | --- | --- |")
    for name, (wall, cpu) in best.items():
        print(f"| {name} | {wall:.3f} | {cpu:.3f} | {wall / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
