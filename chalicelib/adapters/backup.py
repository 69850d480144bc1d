"""Server-side copy of each upload into the backup bucket."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.adapters.aws import is_missing, translated
from chalicelib.core.errors import StorageError
from chalicelib.core.events import Upload
from chalicelib.core.objects import copy_pin

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: A single CopyObject handles up to 5 GB; from this size on (or when the size
#: is unknown) s3transfer's managed copy runs a parallel multipart copy
#: (UploadPartCopy).
MULTIPART_THRESHOLD = 1 << 30
PART_SIZE = 256 << 20
UPLOAD_ID_METADATA = "upload-id"


class Backup:
    """Copies uploads to ``backup/...`` keys; once per upload, even when retried."""

    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        part_size: int = PART_SIZE,
    ) -> None:
        self._s3 = s3
        self.bucket = bucket
        self._threshold = multipart_threshold
        self._part_size = part_size

    def copy(self, upload: Upload, key: str, etag: str | None, size: int | None = None) -> bool:
        """Copy ``upload`` (``size`` bytes, if known) to ``key``.

        False when this upload's copy is already there.
        """
        if self._already_copied(upload, key):
            return False
        # The object read, and no newer upload of the key: its version, else its ETag.
        source, pin = copy_pin((replace(upload, etag=etag) if etag else upload).pin())
        extra: dict[str, Any] = {
            "Metadata": {UPLOAD_ID_METADATA: upload.upload_id},
            "MetadataDirective": "REPLACE",
            "ContentType": "text/csv",
            **pin,
        }
        with translated(
            StorageError,
            f"copying {upload.uri} to s3://{self.bucket}/{key}",
            missing=f"{upload.uri} disappeared before its backup",
        ):
            if size is not None and size < self._threshold:
                # One request; the managed copy would HEAD the source first.
                self._s3.copy_object(CopySource=source, Bucket=self.bucket, Key=key, **extra)  # type: ignore[arg-type]
            else:
                self._managed_copy(source, key, extra)
        return True

    def _managed_copy(self, source: dict[str, Any], key: str, extra: dict[str, Any]) -> None:
        """s3transfer's copy: multipart (parts in parallel) from the threshold on."""
        from boto3.s3.transfer import TransferConfig, create_transfer_manager

        config = TransferConfig(
            multipart_threshold=self._threshold, multipart_chunksize=self._part_size
        )
        with create_transfer_manager(self._s3, config) as manager:
            manager.copy(copy_source=source, bucket=self.bucket, key=key, extra_args=extra).result()

    def _already_copied(self, upload: Upload, key: str) -> bool:
        with translated(StorageError, f"checking s3://{self.bucket}/{key}"):
            try:
                head = self._s3.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if is_missing(exc):
                    return False
                raise
        return head.get("Metadata", {}).get(UPLOAD_ID_METADATA) == upload.upload_id
