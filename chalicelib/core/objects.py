"""What S3 says of an object read, and the *pin* that makes every read or copy
touch that exact object and no newer upload of the same key (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ObjectInfo:
    """What S3 says about the object actually read."""

    size: int
    etag: str
    version_id: str | None
    content_type: str | None

    @classmethod
    def from_response(cls, response: Mapping[str, Any]) -> ObjectInfo:
        """From a GetObject response; a ranged one gives the whole size (Content-Range)."""
        total = str(response.get("ContentRange") or "").rpartition("/")[2]
        return cls(
            size=int(total or response["ContentLength"]),
            etag=str(response["ETag"]).strip('"'),
            version_id=response.get("VersionId"),
            content_type=response.get("ContentType"),
        )

    def pin(self, bucket: str, key: str) -> dict[str, Any]:
        """Arguments that read this exact object again (its version, else its ETag)."""
        return object_pin(bucket, key, self.version_id, self.etag)


def object_pin(bucket: str, key: str, version_id: str | None, etag: str | None) -> dict[str, Any]:
    """``Bucket``/``Key`` and ``VersionId`` (versioned) or ``IfMatch`` (the quoted ETag).

    S3 then fails (404 or 412) rather than read a newer upload of the key.
    """
    args: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id and version_id != "null":
        args["VersionId"] = version_id
    elif etag:
        args["IfMatch"] = f'"{etag.strip(chr(34))}"'
    return args


def copy_pin(args: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A pin as CopyObject takes it: the ``CopySource`` and its ``CopySourceIfMatch``."""
    source = {k: v for k, v in args.items() if k in ("Bucket", "Key", "VersionId")}
    extra = {"CopySourceIfMatch": args["IfMatch"]} if "IfMatch" in args else {}
    return source, extra
