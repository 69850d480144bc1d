"""Server-side copy of each upload into the backup bucket."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import ObjectMissing, StorageError, aws_error_code, aws_status
from chalicelib.events import Upload

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: A single CopyObject handles up to 5 GB; above this the managed copy switches
#: to a parallel multipart copy (UploadPartCopy).
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

    def copy(self, upload: Upload, key: str, etag: str | None) -> bool:
        """Copy ``upload`` to ``key``; False when this upload's copy is already there."""
        if self._already_copied(upload, key):
            return False
        from boto3.s3.transfer import TransferConfig

        source: dict[str, Any] = {"Bucket": upload.bucket, "Key": upload.key}
        if upload.version_id and upload.version_id != "null":
            source["VersionId"] = upload.version_id
        extra: dict[str, Any] = {
            "Metadata": {UPLOAD_ID_METADATA: upload.upload_id},
            "MetadataDirective": "REPLACE",
            "ContentType": "text/csv",
        }
        if etag and "VersionId" not in source:
            extra["CopySourceIfMatch"] = f'"{etag.strip(chr(34))}"'  # the quoted form
        config = TransferConfig(
            multipart_threshold=self._threshold, multipart_chunksize=self._part_size
        )
        try:
            self._s3.copy(source, self.bucket, key, ExtraArgs=extra, Config=config)  # type: ignore[arg-type]
        except ClientError as exc:
            code = aws_error_code(exc)
            if code in ("NoSuchKey", "404", "NoSuchVersion") or aws_status(exc) == 404:
                raise ObjectMissing(f"{upload.uri} disappeared before its backup") from exc
            raise StorageError(
                f"copying {upload.uri} to s3://{self.bucket}/{key} failed ({code})"
            ) from exc
        except BotoCoreError as exc:
            raise StorageError(f"copying {upload.uri} to the backup failed: {exc}") from exc
        return True

    def _already_copied(self, upload: Upload, key: str) -> bool:
        try:
            head = self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if aws_status(exc) == 404 or aws_error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise StorageError(
                f"checking s3://{self.bucket}/{key} failed ({aws_error_code(exc)})"
            ) from exc
        except BotoCoreError as exc:
            raise StorageError(f"checking the backup failed: {exc}") from exc
        return head.get("Metadata", {}).get(UPLOAD_ID_METADATA) == upload.upload_id
