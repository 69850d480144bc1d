"""S3 adapters: reading an upload as a stream and writing its result JSON."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Generator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from queue import Full, Queue
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.csvprofile import Profiler, RangePart, RangeProfiler, stitch
from chalicelib.errors import (
    DeadlineExceeded,
    ObjectMissing,
    ReadInterrupted,
    StorageError,
    aws_error_code,
    aws_status,
)
from chalicelib.events import Upload
from chalicelib.profile import Profile

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING = {"NoSuchKey", "NoSuchVersion", "404", "NotFound"}
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


@dataclass(frozen=True)
class ObjectInfo:
    """What S3 says about the object actually read."""

    size: int
    etag: str
    version_id: str | None
    content_type: str | None


class InputObjects:
    """Streams uploads out of the input bucket, never whole into memory."""

    def __init__(
        self,
        s3: S3Client,
        chunk_size: int = S3_CHUNK_SIZE,
        *,
        parallel_threshold: int = PARALLEL_THRESHOLD,
        range_size: int = RANGE_SIZE,
        ranges_in_flight: int = RANGES_IN_FLIGHT,
    ) -> None:
        self._s3 = s3
        self._chunk_size = chunk_size
        self._parallel_threshold = parallel_threshold
        self._range_size = max(range_size, 1)
        self._ranges_in_flight = max(ranges_in_flight, 1)

    def open(self, upload: Upload) -> tuple[ObjectInfo, Generator[bytes, None, None]]:
        """The exact object of the event: what S3 says of it, and its bytes in chunks."""
        args: dict[str, Any] = {"Bucket": upload.bucket, "Key": upload.key}
        if upload.version_id and upload.version_id != "null":
            args["VersionId"] = upload.version_id
        elif upload.etag:
            args["IfMatch"] = upload.etag  # fail rather than read a newer upload
        try:
            response = self._s3.get_object(**args)
        except ClientError as exc:
            raise _translate(exc, upload) from exc
        except BotoCoreError as exc:
            raise StorageError(f"reading {upload.uri} failed: {exc}") from exc
        info = ObjectInfo(
            size=int(response["ContentLength"]),
            etag=response["ETag"].strip('"'),
            version_id=response.get("VersionId"),
            content_type=response.get("ContentType"),
        )
        chunks = _chunks(response["Body"], self._chunk_size, upload)
        return info, read_ahead(chunks, READ_AHEAD)

    def profile(self, upload: Upload) -> tuple[ObjectInfo, Profile]:
        """Read the object and profile it chunk by chunk."""
        info, chunks = self.open(upload)
        profiler = Profiler()
        for chunk in chunks:
            profiler.feed(chunk)
        return info, profiler.finish()

    def profile_object(
        self, upload: Upload, check: Callable[[str], None] | None = None
    ) -> tuple[ObjectInfo, Profile]:
        """Read and profile the exact object of the event; ``check(step)`` runs per chunk.

        Objects up to ``parallel_threshold`` (by the event's size) stream over
        one GET read ahead on a thread; larger ones are read as ranged GETs, up
        to ``ranges_in_flight`` at once, each profiled on its own thread and
        the parts stitched (:func:`chalicelib.csvprofile.stitch`): the same
        profile, exactly. Errors before the object was found are raised as they
        are; a missing or replaced object, or ``check``'s DeadlineExceeded, once
        it was found come as :class:`ReadInterrupted`.
        """
        check = check or _no_check
        if upload.size is not None and upload.size > self._parallel_threshold:
            return _RangedRead(self._s3, upload, self._chunk_size, check).run(
                self._range_size, self._ranges_in_flight
            )
        info, chunks = self.open(upload)
        profiler = Profiler()
        try:
            for chunk in chunks:
                check(f"reading the file ({profiler.bytes_read:,} of {info.size:,} bytes)")
                profiler.feed(chunk)
        except (ObjectMissing, DeadlineExceeded) as exc:
            raise ReadInterrupted(info, exc) from exc
        finally:
            chunks.close()
        return info, profiler.finish()


def _no_check(step: str) -> None:
    """No deadline."""


def _pinned(upload: Upload) -> dict[str, Any]:
    """GET arguments that read the event's object and no other."""
    args: dict[str, Any] = {"Bucket": upload.bucket, "Key": upload.key}
    if upload.version_id and upload.version_id != "null":
        args["VersionId"] = upload.version_id
    elif upload.etag:
        args["IfMatch"] = upload.etag  # fail rather than read a newer upload
    return args


class _Stopped(Exception):
    """Another range failed: this one gives up."""


class _RangedRead:
    """One object read as ranged GETs pinned to one version, profiled and stitched.

    Range 0 is profiled by an ordinary :class:`Profiler`; the others start once
    it has seen the header end (the delimiter is then known), each fetched with
    one byte of overlap so that its :class:`RangeProfiler` knows the byte before
    it. Should range 0 end inside the header, the rest is read in one stream.
    """

    def __init__(
        self, s3: S3Client, upload: Upload, chunk_size: int, check: Callable[[str], None]
    ) -> None:
        self._s3 = s3
        self._upload = upload
        self._chunk_size = chunk_size
        self._check = check
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._done = 0
        self._size = upload.size or 0

    def _get(self, args: dict[str, Any], first: int, last: int | None) -> Any:
        args = {**args, "Range": f"bytes={first}-{'' if last is None else last}"}
        try:
            return self._s3.get_object(**args)
        except ClientError as exc:
            raise _translate(exc, self._upload) from exc
        except BotoCoreError as exc:
            raise StorageError(f"reading {self._upload.uri} failed: {exc}") from exc

    def _chunks(self, response: Any) -> Generator[bytes, None, None]:
        """The body's chunks, after the deadline check; stop when another range failed."""
        chunks = _chunks(response["Body"], self._chunk_size, self._upload)
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
        response = self._get(_pinned(self._upload), 0, range_size - 1)
        total = int(
            response.get("ContentRange", "").rpartition("/")[2] or response["ContentLength"]
        )
        self._size = total
        info = ObjectInfo(
            size=total,
            etag=response["ETag"].strip('"'),
            version_id=response.get("VersionId"),
            content_type=response.get("ContentType"),
        )
        # The other ranges read the same object: its version, else its ETag.
        pin: dict[str, Any] = {"Bucket": self._upload.bucket, "Key": self._upload.key}
        if info.version_id and info.version_id != "null":
            pin["VersionId"] = info.version_id
        else:
            pin["IfMatch"] = response["ETag"]
        first = Profiler()
        ready = threading.Event()
        pool = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="s3-range")
        futures: list[Future[Any]] = []
        try:
            futures.append(pool.submit(self._first, response, first, ready))
            while not ready.wait(0.05) and not futures[0].done():
                pass
            delimiter = first.split_delimiter
            if delimiter is None:  # range 0 ended inside the header: stream the rest
                futures[0].result()
                if total > range_size:
                    self._feed(first, self._get(pin, range_size, None))
                return info, first.finish()
            bounds = list(range(range_size, total, range_size))
            futures += [
                pool.submit(self._range, pin, start, min(start + range_size, total), delimiter)
                for start in bounds
            ]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in futures:
                if future in done and future.exception() is not None:
                    future.result()
            parts: list[RangePart] = [future.result() for future in futures[1:]]
            return info, stitch(first, *parts)
        except (ObjectMissing, DeadlineExceeded) as exc:
            raise ReadInterrupted(info, exc) from exc
        finally:
            self._stop.set()
            pool.shutdown(wait=True, cancel_futures=True)

    def _first(self, response: Any, first: Profiler, ready: threading.Event) -> None:
        try:
            for chunk in self._chunks(response):
                first.feed(chunk)
                if not ready.is_set() and first.split_delimiter is not None:
                    ready.set()
        finally:
            ready.set()

    def _feed(self, profiler: Profiler, response: Any) -> None:
        for chunk in read_ahead(self._chunks(response), READ_AHEAD):
            profiler.feed(chunk)

    def _range(self, pin: dict[str, Any], start: int, stop: int, delimiter: str) -> RangePart:
        response = self._get(pin, start - 1, stop - 1)
        ranger: RangeProfiler | None = None
        for chunk in self._chunks(response):
            if ranger is None:
                ranger = RangeProfiler(delimiter, chunk[:1])
                chunk = chunk[1:]
            ranger.feed(chunk)
        if ranger is None or ranger.bytes_read != stop - start:
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
        yield from body.iter_chunks(size)
    except ClientError as exc:
        raise _translate(exc, upload) from exc
    except BotoCoreError as exc:
        raise StorageError(f"reading {upload.uri} failed mid-stream: {exc}") from exc
    finally:
        body.close()


def _translate(exc: ClientError, upload: Upload) -> Exception:
    code = aws_error_code(exc)
    if code in _MISSING or aws_status(exc) == 404:
        return ObjectMissing(
            f"{upload.uri} no longer exists (deleted before it could be read)",
        )
    if code == "PreconditionFailed" or aws_status(exc) == 412:
        return ObjectMissing(
            f"{upload.uri} was replaced by a newer upload before it could be read; "
            "the newer upload is processed on its own",
            code="OBJECT_REPLACED",
        )
    if code in ("AccessDenied", "403"):
        return StorageError(f"access denied reading {upload.uri}", code="S3_ACCESS_DENIED")
    return StorageError(f"reading {upload.uri} failed ({code})")


class ResultWriter:
    """Writes result JSON documents into the output bucket."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def write(self, key: str, document: dict[str, Any]) -> None:
        body = json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True).encode()
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/json; charset=utf-8",
            )
        except ClientError as exc:
            raise StorageError(
                f"writing s3://{self.bucket}/{key} failed ({aws_error_code(exc)})"
            ) from exc
        except BotoCoreError as exc:
            raise StorageError(f"writing s3://{self.bucket}/{key} failed: {exc}") from exc
