"""S3 adapters: reading an upload as a stream and writing its result JSON."""

from __future__ import annotations

import json
import threading
from collections.abc import Generator
from dataclasses import dataclass
from queue import Full, Queue
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.csvprofile import Profiler
from chalicelib.errors import ObjectMissing, StorageError, aws_error_code, aws_status
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


@dataclass(frozen=True)
class ObjectInfo:
    """What S3 says about the object actually read."""

    size: int
    etag: str
    version_id: str | None
    content_type: str | None


class InputObjects:
    """Streams uploads out of the input bucket, never whole into memory."""

    def __init__(self, s3: S3Client, chunk_size: int = S3_CHUNK_SIZE) -> None:
        self._s3 = s3
        self._chunk_size = chunk_size

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
