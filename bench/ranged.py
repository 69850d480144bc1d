"""Sequential read-ahead against parallel ranged GETs, over a bandwidth-capped server.

One S3 connection delivers a limited rate (tens of MB/s to ~100 MB/s), well
under what a Lambda's network and the profiler can take; ranged GETs on
several connections add up. This bench imitates that with a local S3-like
HTTP server (GetObject with ``Range``, in its own process) that paces every
connection to ``--cap`` MB/s, and reads the same object both ways in the same
run through :meth:`chalicelib.adapters.storage.InputObjects.profile_object` (boto3).
It also measures, with no network, the CPU the ranges' candidate runs add.

    python -m bench.ranged [--mb 256] [--cap 40] [--repeat 3] [--corpus sparse-quote]
"""

from __future__ import annotations

import argparse
import email.utils
import mmap
import multiprocessing
import re
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.corpora import corpora, ensure
from chalicelib.adapters.storage import RANGE_SIZE, RANGES_IN_FLIGHT, S3_CHUNK_SIZE, InputObjects
from chalicelib.core.csvprofile import Profiler
from chalicelib.core.events import Upload
from chalicelib.core.ranges import profile_ranges

ROOT = Path(__file__).resolve().parents[1] / ".bench"
ETAG = '"0123456789abcdef0123456789abcdef"'
BLOCK = 64 << 10


def _serve(path: str, cap: float, port: Any) -> None:
    """Serve ``path`` as s3://bench/object.csv, each connection paced to ``cap`` bytes/s."""
    with open(path, "rb") as stream:
        data = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    size = len(data)
    modified = email.utils.formatdate(usegmt=True)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            first, last, status = 0, size - 1, 200
            found = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            if found:
                first = int(found[1])
                last = min(int(found[2]), size - 1) if found[2] else size - 1
                status = 206
            self.send_response(status)
            self.send_header("Content-Length", str(last - first + 1))
            self.send_header("ETag", ETAG)
            self.send_header("Last-Modified", modified)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
            self.end_headers()
            start = time.monotonic()
            sent = 0
            view = memoryview(data)
            for at in range(first, last + 1, BLOCK):
                piece = view[at : min(at + BLOCK, last + 1)]
                self.wfile.write(piece)
                sent += len(piece)
                ahead = sent / cap - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port.value = server.server_address[1]
    server.serve_forever()


def _client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=16),
    )


def _cpu_cost(path: Path) -> tuple[float, float]:
    """Seconds to profile the file in one stream, and as 16 MiB ranges stitched."""
    data = path.read_bytes()

    def sequential() -> None:
        profiler = Profiler()
        for at in range(0, len(data), S3_CHUNK_SIZE):
            profiler.feed(data[at : at + S3_CHUNK_SIZE])
        profiler.finish()

    def ranged() -> None:
        profile_ranges(data, range(RANGE_SIZE, len(data), RANGE_SIZE), S3_CHUNK_SIZE)

    best = []
    for run in (sequential, ranged):
        times = []
        for _ in range(3):
            began = time.process_time()
            run()
            times.append(time.process_time() - began)
        best.append(min(times))
    return best[0], best[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=256, help="corpus size in MB (bench corpora)")
    parser.add_argument("--cap", type=float, default=40.0, help="MB/s per connection")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--corpus", default="sparse-quote")
    args = parser.parse_args(argv)

    [corpus] = [c for c in corpora(args.mb) if c.name == args.corpus]
    path = ensure(corpus, ROOT)
    size = path.stat().st_size
    port = multiprocessing.Value("i", 0)
    server = multiprocessing.Process(
        target=_serve, args=(str(path), args.cap * (1 << 20), port), daemon=True
    )
    server.start()
    while not port.value:
        time.sleep(0.01)
    s3 = _client(f"http://127.0.0.1:{port.value}")
    upload = Upload("bench", "object.csv", datetime.now(UTC), size=size, etag=ETAG.strip('"'))
    readers = {
        "sequential read-ahead (1 GET)": InputObjects(s3, parallel_threshold=size),
        f"parallel ranges ({RANGE_SIZE >> 20} MiB, {RANGES_IN_FLIGHT} in flight)": InputObjects(
            s3, parallel_threshold=0
        ),
    }
    results: dict[str, float] = {}
    profiles = []
    try:
        for _ in range(args.repeat):
            for name, reader in readers.items():  # interleaved, best kept
                began = time.perf_counter()
                _, profile = reader.profile_object(upload)
                elapsed = time.perf_counter() - began
                results[name] = min(results.get(name, elapsed), elapsed)
                profiles.append(profile)
    finally:
        server.terminate()
    assert all(profile == profiles[0] for profile in profiles), "the profiles differ"
    mb = size / (1 << 20)
    print(f"{corpus.name}, {mb:.0f} MB, {args.cap:g} MB/s per connection, best of {args.repeat}")
    print("| read | s | MB/s |")
    print("| --- | --- | --- |")
    for name, seconds in results.items():
        print(f"| {name} | {seconds:.2f} | {mb / seconds:.0f} |")
    sequential, parallel = results.values()
    print(f"parallel / sequential: {sequential / parallel:.2f}x; rows {profiles[0].row_count:,}")
    one, ranged = _cpu_cost(path)
    print(
        f"CPU, no network: one stream {one:.3f} s ({mb / one:.0f} MB/s), "
        f"{RANGE_SIZE >> 20} MiB ranges stitched {ranged:.3f} s ({mb / ranged:.0f} MB/s): "
        f"{100 * (ranged / one - 1):+.1f}%"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
