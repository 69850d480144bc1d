"""S3 adapters: the upload's bytes (streamed, or as parallel ranged GETs) and result writes.

Reads only move bytes: a small object streams into one profiler; a large one
is read as ranged GETs, several at once, each range's bytes handed to the
core's plan (:class:`~chalicelib.core.ranges.RangePlan`), which profiles and
stitches them. Every GET is pinned to the event's object
(:meth:`~chalicelib.core.events.Upload.pin`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from queue import Full, Queue
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.adapters.aws import is_missing, translated
from chalicelib.core.contracts import Contract
from chalicelib.core.csvprofile import RangePart
from chalicelib.core.errors import DeadlineExceeded, ObjectMissing, ReadInterrupted, StorageError
from chalicelib.core.events import Upload
from chalicelib.core.objects import ObjectInfo
from chalicelib.core.profile import DEFAULT_SETTINGS, Profile, ProfileSettings
from chalicelib.core.ranges import RangePlan, Span
from chalicelib.core.results import is_older, result_metadata

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: S3 bodies are read 256 KiB at a time: large enough that the hand-over to
#: the counting thread costs nothing measurable, small enough for the cache.
S3_CHUNK_SIZE = 256 << 10
#: Chunks read ahead of the counting.
READ_AHEAD = 4
#: Objects larger than this are read as parallel ranged GETs (one S3
#: connection delivers far less than a Lambda's network and the profiler).
PARALLEL_THRESHOLD = 64 << 20
#: The size of each ranged GET, and how many run at once.
RANGE_SIZE = 16 << 20
RANGES_IN_FLIGHT = 4

Check = Callable[[str], None]
log = logging.getLogger("csv_pipeline")


class InputObjects:
    """Reads uploads out of the input bucket, never whole into memory."""

    def __init__(
        self,
        s3: S3Client,
        chunk_size: int = S3_CHUNK_SIZE,
        *,
        parallel_threshold: int = PARALLEL_THRESHOLD,
        range_size: int = RANGE_SIZE,
        ranges_in_flight: int = RANGES_IN_FLIGHT,
        profile_settings: ProfileSettings = DEFAULT_SETTINGS,
    ) -> None:
        self._s3 = s3
        self.profile_settings = profile_settings
        self._chunk_size = chunk_size
        self._parallel_threshold = parallel_threshold
        self._range_size = max(range_size, 1)
        self._ranges_in_flight = max(ranges_in_flight, 1)

    def get(self, upload: Upload, pin: dict[str, Any], span: str | None = None) -> Any:
        """One GetObject of the pinned object (``span``: an HTTP ``Range``)."""
        args = {**pin, "Range": span} if span else pin
        with translated(StorageError, f"reading {upload.uri}", **_read_errors(upload)):
            return self._s3.get_object(**args)

    def chunks(self, upload: Upload, response: Any) -> Generator[bytes, None, None]:
        """A GetObject body in chunks, read ahead on a thread; errors translated."""
        return read_ahead(_chunks(response["Body"], self._chunk_size, upload), READ_AHEAD)

    def open(self, upload: Upload) -> tuple[ObjectInfo, Generator[bytes, None, None]]:
        """The exact object of the event: what S3 says of it, and its bytes in chunks."""
        response = self.get(upload, upload.pin())
        return ObjectInfo.from_response(response), self.chunks(upload, response)

    def profile_object(
        self, upload: Upload, check: Check | None = None, contract: Contract | None = None
    ) -> tuple[ObjectInfo, Profile]:
        """Read and profile the exact object of the event; ``check(step)`` runs per chunk.

        Objects up to ``parallel_threshold`` (by the event's size) stream over
        one GET into a one-span plan; larger ones are read as ranged GETs, up to
        ``ranges_in_flight`` at once, each profiled on its own thread and the
        parts stitched: the same profile, exactly. Errors before the object was
        found are raised as they are; a missing or replaced object, or
        ``check``'s DeadlineExceeded, once it was found come as
        :class:`ReadInterrupted`.

        ``contract`` (the key's, ``docs/contracts.md``): every row is checked
        against it, in one sequential stream (a header that does not match
        stops the read).
        """
        check = check or _no_check
        settings = self.profile_settings
        if contract is not None:
            settings = settings._replace(contract=contract)  # every other field kept
        elif upload.size is not None and upload.size > self._parallel_threshold:
            return _RangedRead(self, upload, check).run(self._range_size, self._ranges_in_flight)
        info, chunks = self.open(upload)
        plan = RangePlan(info.size, (), settings)
        try:
            for chunk in chunks:
                check(f"reading the file ({plan.first.bytes_read:,} of {info.size:,} bytes)")
                plan.first.feed(chunk)
        except (ObjectMissing, DeadlineExceeded) as exc:
            raise ReadInterrupted(info, exc) from exc
        finally:
            chunks.close()
        return info, plan.finish([])


def _no_check(step: str) -> None:
    """No deadline."""


def _read_errors(upload: Upload) -> dict[str, str]:
    return {
        "missing": f"{upload.uri} no longer exists (deleted before it could be read)",
        "replaced": (
            f"{upload.uri} was replaced by a newer upload before it could be read; "
            "the newer upload is processed on its own"
        ),
    }


class _Stopped(Exception):
    """Another range failed: this one gives up."""


class _RangedRead:
    """One object as ranged GETs pinned to one version, its bytes handed to a plan.

    The leading span is read first (its response says the object's size and
    version); once the plan's leading profiler has seen the header end, the
    other spans are fetched, each with one byte of overlap, up to
    ``in_flight`` at once.
    """

    def __init__(self, objects: InputObjects, upload: Upload, check: Check) -> None:
        self._objects = objects
        self._upload = upload
        self._check = check
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._done = 0
        self._size = upload.size or 0

    def _fetch(self, pin: dict[str, Any], first: int, stop: int) -> Iterator[bytes]:
        """Bytes ``[first, stop)``, after the deadline check; stop when another range failed."""
        response = self._objects.get(self._upload, pin, f"bytes={first}-{stop - 1}")
        return self._guarded(response)

    def _guarded(self, response: Any) -> Generator[bytes, None, None]:
        chunks = self._objects.chunks(self._upload, response)
        try:
            for chunk in chunks:
                if self._stop.is_set():
                    raise _Stopped
                with self._lock:
                    done = self._done
                    self._done += len(chunk)
                self._check(f"reading the file ({done:,} of {self._size:,} bytes)")
                yield chunk
        finally:
            chunks.close()

    def run(self, range_size: int, in_flight: int) -> tuple[ObjectInfo, Profile]:
        upload = self._upload
        response = self._objects.get(upload, upload.pin(), f"bytes=0-{range_size - 1}")
        info = ObjectInfo.from_response(response)
        self._size = info.size
        pin = info.pin(upload.bucket, upload.key)  # the other ranges read the same object
        plan = RangePlan.every(info.size, range_size, self._objects.profile_settings)
        ready = threading.Event()
        pool = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="s3-range")
        try:
            leading = pool.submit(self._leading, plan, pin, response, ready)
            while not ready.wait(0.05) and not leading.done():
                pass
            if not plan.header_done:  # the leading reader read on and failed, or found no header
                leading.result()
            futures: list[Future[Any]] = [leading]
            futures += [pool.submit(self._range, plan, pin, span) for span in plan.rest()]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in futures:
                if future in done and future.exception() is not None:
                    future.result()
            return info, plan.finish([future.result() for future in futures[1:]])
        except (ObjectMissing, DeadlineExceeded) as exc:
            raise ReadInterrupted(info, exc) from exc
        finally:
            self._stop.set()
            pool.shutdown(wait=True, cancel_futures=True)

    def _leading(
        self, plan: RangePlan, pin: dict[str, Any], response: Any, ready: threading.Event
    ) -> None:
        """Feed the leading spans to the plan's first profiler; ``ready`` once the header ends."""
        try:
            for span in plan.leading():
                chunks = (
                    self._guarded(response)
                    if span.start == 0
                    else self._fetch(pin, span.start, span.stop)
                )
                for chunk in chunks:
                    plan.first.feed(chunk)
                    if plan.header_done:
                        ready.set()
        finally:
            ready.set()

    def _range(self, plan: RangePlan, pin: dict[str, Any], span: Span) -> RangePart:
        ranger = None
        for chunk in self._fetch(pin, span.start - 1, span.stop):
            if ranger is None:
                ranger = plan.range_profiler(chunk[:1])
                chunk = chunk[1:]
            ranger.feed(chunk)
        if ranger is None or ranger.bytes_read != span.size:
            raise StorageError(f"reading {self._upload.uri} failed: a range came back short")
        return ranger.finish()


def read_ahead(chunks: Generator[bytes, None, None], depth: int) -> Generator[bytes, None, None]:
    """Yield ``chunks`` while a thread already reads the next ``depth`` of them.

    The download of the next chunk overlaps the counting of this one, so a
    large object takes about max(download, count) instead of their sum; memory
    stays bounded at ``depth + 1`` chunks. Errors of the reader are raised
    here; closing this generator stops the reader, which closes ``chunks``.
    """
    queue: Queue[bytes | BaseException | None] = Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: bytes | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def reader() -> None:
        try:
            for chunk in chunks:
                if not put(chunk):
                    return
            put(None)
        except BaseException as exc:  # handed to the consumer, who raises it
            put(exc)
        finally:
            chunks.close()

    thread = threading.Thread(target=reader, name="s3-read-ahead", daemon=True)
    thread.start()
    try:
        while (item := queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _chunks(body: Any, size: int, upload: Upload) -> Generator[bytes, None, None]:
    try:
        with translated(StorageError, f"reading {upload.uri} mid-stream", **_read_errors(upload)):
            yield from body.iter_chunks(size)
    finally:
        body.close()


class ResultWriter:
    """Writes result JSON documents into the output bucket: the latest upload's wins.

    A late retry of an older upload of the same key must not replace the newer
    upload's result, so each result carries its upload's place in the key's
    order (:func:`~chalicelib.core.results.result_metadata`), and a write
    checks the one in place and replaces exactly it (``IfMatch``; ``IfNoneMatch``
    when there is none), looking again if another write got in between.
    """

    ATTEMPTS = 3

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def write(self, key: str, document: dict[str, Any], upload: Upload | None = None) -> bool:
        """Write ``document`` unless a newer upload's result is there; False if so."""
        body = json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True).encode()
        mine = result_metadata(upload) if upload else {}
        where = f"s3://{self.bucket}/{key}"
        for _ in range(self.ATTEMPTS):
            with translated(StorageError, f"checking {where}"):
                try:
                    head = self._s3.head_object(Bucket=self.bucket, Key=key)
                except ClientError as exc:
                    if not is_missing(exc):
                        raise
                    head = None
            if head is not None and upload and is_older(mine, head.get("Metadata", {})):
                log.info("%s holds a newer upload's result: not replaced", where)
                return False
            condition = {"IfMatch": head["ETag"]} if head else {"IfNoneMatch": "*"}
            try:
                with translated(StorageError, f"writing {where}", replaced="changed"):
                    self._s3.put_object(
                        Bucket=self.bucket,
                        Key=key,
                        Body=body,
                        ContentType="application/json; charset=utf-8",
                        Metadata=mine,
                        **condition,  # type: ignore[arg-type]
                    )
                return True
            except ObjectMissing as exc:  # another write came first: look again
                if exc.code != "OBJECT_REPLACED":
                    raise
        raise StorageError(f"writing {where} failed: other writes kept replacing it")
