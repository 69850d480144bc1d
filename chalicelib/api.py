"""The status API behind ``app.py``'s routes: read-only views of ``file_metadata``.

- ``GET /files?status=&limit=&cursor=``: uploads, newest first, optionally of
  one status; keyset paging by id (the cursor is opaque: base64 of the last id).
- ``GET /files/{id}``: one upload with its result and backup locations and error.
- ``GET /datasets?limit=&cursor=``: each dataset (the folder of a key) by name,
  with its contract, current columns, last upload and last schema change.
- ``GET /``: the status page for browsers (``Accept: text/html``), else the
  ``/status`` JSON.

A bad parameter is a 400 with ``{"error": {"code", "message"}}``; an unknown id
a 404; the database down a 503. Deployed stages put the routes behind IAM
(SigV4) authorisation; the ``local`` stage sets ``API_AUTH=none``.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec

from chalice.app import IAMAuthorizer, Response

from chalicelib import statuspage
from chalicelib.core.contracts import EMPTY_CONTRACTS, Contract, ContractSet
from chalicelib.core.drift import dataset_label
from chalicelib.core.errors import ConfigError, PipelineError
from chalicelib.core.results import jsonable
from chalicelib.core.settings import API_AUTH_MODES, Settings
from chalicelib.observability import get_logger

if TYPE_CHECKING:
    from chalicelib.adapters.database import Database

STATUSES = ("processing", "succeeded", "rejected", "failed")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
PAGE_ROWS = 25
PAGE_DATASETS = 25
LATEST_LIMIT = 10
_MAX_ID = 2**31 - 1  # file_metadata.id is a SERIAL (int4)
_CURSOR_PREFIX = "id:"
_DATASET_CURSOR_PREFIX = "ds:"
#: A dataset cursor is base64 of a key's folder (S3 keys are at most 1,024 bytes).
_MAX_DATASET_CURSOR = 2048
#: No number this API takes has more digits (ids are int4, limits at most 100):
#: longer ones are refused before ``int()``, which raises ``ValueError`` past
#: 4,300 digits (Python's integer-string conversion limit), a 500.
_MAX_DIGITS = 20
_ECHO_CHARS = 40


def api_authorizer(mode: str) -> IAMAuthorizer | None:
    """``iam`` (the default, deployed stages) or ``none`` (the local stage)."""
    if mode not in API_AUTH_MODES:
        raise ConfigError(f"API_AUTH must be 'iam' or 'none', not {mode!r}")
    return IAMAuthorizer() if mode == "iam" else None


class BadRequest(Exception):
    """A request parameter is wrong; the message says what is accepted."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def whole_number(text: str) -> int | None:
    """``text`` as an integer when it is ASCII digits, at most ``_MAX_DIGITS`` of them."""
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_DIGITS:
        return None
    return int(text)


def echo(raw: str) -> str:
    """A rejected value as a message quotes it: ``repr``, cut to a few dozen characters."""
    return (
        repr(raw)
        if len(raw) <= _ECHO_CHARS
        else f"{raw[:_ECHO_CHARS]!r}... ({len(raw):,} characters)"
    )


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    limit = whole_number(raw)
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(
            "BAD_LIMIT", f"limit must be a whole number from 1 to {MAX_LIMIT}, not {echo(raw)}"
        )
    return limit


def parse_status(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if raw not in STATUSES:
        raise BadRequest(
            "BAD_STATUS", f"status must be one of {', '.join(STATUSES)}, not {echo(raw)}"
        )
    return raw


def encode_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{row_id}".encode()).decode().rstrip("=")


def decode_cursor(raw: str | None) -> int:
    """The id to page below; no cursor starts at the newest upload."""
    if raw is None or raw == "":
        return _MAX_ID + 1
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    number = whole_number(text.removeprefix(_CURSOR_PREFIX))
    if not text.startswith(_CURSOR_PREFIX) or number is None or number > _MAX_ID:
        raise BadRequest(
            "BAD_CURSOR",
            "cursor is not one this API returned: pass next_cursor from a previous "
            "response, or leave it out to start at the newest upload",
        )
    return number


def parse_id(raw: str) -> int:
    text = raw.strip()
    negative = text.startswith("-")
    number = whole_number(text[1:] if negative else text)
    if number is None:
        raise BadRequest(
            "BAD_ID",
            f"the upload id must be an integer of at most {_MAX_DIGITS} digits, not {echo(raw)}",
        )
    return -number if negative else number


def file_summary(row: Mapping[str, Any], output_bucket: str, backup_bucket: str) -> dict[str, Any]:
    """One ``file_metadata`` row as the API shows it."""
    result_key, backup_key = row.get("result_key"), row.get("backup_key")
    return {
        "id": row["id"],
        "bucket": row["bucket"],
        "key": row["filename"],
        "status": row["status"],
        "row_count": row.get("row_count"),
        "column_count": row.get("column_count"),
        "encoding": row.get("encoding"),
        "compression": row.get("compression"),
        "ragged_rows": row.get("ragged_rows"),
        "warnings": row.get("warnings") or [],
        "error": (
            {"code": row["error_code"], "message": row.get("error_message") or ""}
            if row.get("error_code")
            else None
        ),
        "result": {"bucket": output_bucket, "key": result_key} if result_key else None,
        "backup": {"bucket": backup_bucket, "key": backup_key} if backup_key else None,
        "uploaded_at": jsonable(row.get("timestamp")),
        "updated_at": jsonable(row.get("updated_at")),
        "schema_changed": bool(row.get("schema_changed")),
        "contract": (
            {"name": row["contract"], "violations": row.get("contract_violations")}
            if row.get("contract")
            else None
        ),
    }


def file_detail(row: Mapping[str, Any], output_bucket: str, backup_bucket: str) -> dict[str, Any]:
    detail = file_summary(row, output_bucket, backup_bucket)
    for name in ("upload_id", "size_bytes", "etag", "delimiter", "delimiter_source", "attempts"):
        detail[name] = row.get(name)
    # the header, the ragged examples and the column profile of the sampled rows
    detail["profile"] = row.get("profile")
    if detail["contract"] is not None:  # header problems, counts per column and rule
        detail["contract"] = {**(row.get("contract_report") or {}), **detail["contract"]}
    detail["event_time"] = jsonable(row.get("event_time"))
    detail["dataset"] = row.get("dataset")
    detail["schema_change"] = row.get("schema_change")
    detail["notified_at"] = jsonable(row.get("notified_at"))
    return detail


def encode_dataset_cursor(dataset: str) -> str:
    raw = f"{_DATASET_CURSOR_PREFIX}{dataset}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_dataset_cursor(raw: str | None) -> str | None:
    """The dataset name to page after; ``None`` (no cursor) starts at the first."""
    if raw is None or raw == "":
        return None
    text = ""
    if len(raw) <= _MAX_DATASET_CURSOR:
        try:
            text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            text = ""
    if not text.startswith(_DATASET_CURSOR_PREFIX) or "\x00" in text:
        raise BadRequest(
            "BAD_CURSOR",
            "cursor is not one this API returned: pass next_cursor from a previous "
            "response, or leave it out to start at the first dataset",
        )
    return text.removeprefix(_DATASET_CURSOR_PREFIX)


def contract_view(contract: Contract | None) -> dict[str, Any] | None:
    """A dataset's contract as ``GET /datasets`` names it."""
    if contract is None:
        return None
    return {
        "name": contract.name,
        "prefixes": list(contract.prefixes),
        "schema_change": contract.schema_change,
    }


def dataset_view(row: Mapping[str, Any], contract: Contract | None = None) -> dict[str, Any]:
    """One dataset as ``GET /datasets`` shows it (``docs/outputs.md``, "GET /datasets").

    ``contract`` is the deployed contract that governs the dataset's newest upload.
    """
    header, types = row.get("header"), row.get("column_types")
    columns = (
        [{"name": n, "type": t} for n, t in zip(header, types, strict=False)]
        if header is not None and types is not None
        else None
    )
    change = row.get("schema_change")
    return {
        "dataset": row["dataset"],
        "name": dataset_label(row["dataset"]),
        "contract": contract_view(contract),
        "columns": columns,
        "column_count": row.get("column_count"),
        "columns_from": (
            {"id": row["metadata_id"], "key": row.get("filename")}
            if row.get("metadata_id") is not None
            else None
        ),
        "last_upload": {
            "id": row["last_id"],
            "key": row["last_key"],
            "status": row["last_status"],
            "error_code": row.get("last_error_code"),
            "uploaded_at": jsonable(row.get("last_uploaded_at")),
        },
        "last_schema_change": (
            {
                "id": row.get("change_metadata_id"),
                "at": jsonable(row.get("changed_at")),
                "schema_change": change,
            }
            if change
            else None
        ),
    }


#: On every answer: no MIME sniffing, no framing, no referrer to other sites.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
#: JSON is data, never a document: nothing may load or frame it.
JSON_POLICY = "default-src 'none'; frame-ancestors 'none'"

_P = ParamSpec("_P")


def with_security_headers(response: Response) -> Response:
    """``response`` with :data:`SECURITY_HEADERS` and, unless it has one, :data:`JSON_POLICY`."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Content-Security-Policy", JSON_POLICY)
    return response


def _hardened(
    method: Callable[Concatenate[StatusApi, _P], Response],
) -> Callable[Concatenate[StatusApi, _P], Response]:
    """Every answer of a route goes out with the security headers."""

    def wrapper(self: StatusApi, /, *args: _P.args, **kwargs: _P.kwargs) -> Response:
        return with_security_headers(method(self, *args, **kwargs))

    wrapper.__doc__ = method.__doc__
    return wrapper


def error_response(status_code: int, code: str, message: str) -> Response:
    return Response(body={"error": {"code": code, "message": message}}, status_code=status_code)


_QUERY_PARAMS = ("status", "limit", "cursor")
_DATASET_PARAMS = ("limit", "cursor")


def _only(params: Mapping[str, str], allowed: Sequence[str]) -> None:
    """:class:`BadRequest` for a query parameter the route does not take."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise BadRequest(
            "BAD_PARAMETER",
            f"unknown query parameter(s) {', '.join(unknown)}: use {', '.join(allowed)}",
        )


class StatusApi:
    """The routes' logic, on the container's settings and database."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        lambda_context: object = None,
        contracts: ContractSet = EMPTY_CONTRACTS,
    ) -> None:
        self.settings = settings
        self.database = database
        self.contracts = contracts
        self.request_id = getattr(lambda_context, "aws_request_id", None)

    def _unavailable(self, exc: PipelineError) -> Response:
        """A 503, and a log line with the request id for the runbook's queries."""
        get_logger().warning(
            "status API: the database is unavailable: %s: %s",
            exc.code,
            exc.message,
            extra={"function_request_id": self.request_id},
        )
        return error_response(503, exc.code, exc.message)

    def _dataset(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return dataset_view(row, self.contracts.for_key(row["last_key"]))

    def _summary(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return file_summary(row, self.settings.output_bucket, self.settings.backup_bucket)

    @_hardened
    def files(self, params: Mapping[str, str] | None) -> Response:
        params = dict(params or {})
        try:
            _only(params, _QUERY_PARAMS)
            status = parse_status(params.get("status"))
            limit = parse_limit(params.get("limit"))
            before = decode_cursor(params.get("cursor"))
        except BadRequest as exc:
            return error_response(400, exc.code, exc.message)
        try:
            with self.database.session() as store:
                rows = store.files_page(status, before, limit + 1)
        except PipelineError as exc:
            return self._unavailable(exc)
        page = rows[:limit]
        more = len(rows) > limit
        body = {
            "files": [self._summary(row) for row in page],
            "next_cursor": encode_cursor(page[-1]["id"]) if more else None,
            "limit": limit,
            "status": status,
        }
        return Response(body=body, status_code=200)

    @_hardened
    def datasets(self, params: Mapping[str, str] | None) -> Response:
        """``GET /datasets``: datasets by name, keyset-paged by the last name."""
        params = dict(params or {})
        try:
            _only(params, _DATASET_PARAMS)
            limit = parse_limit(params.get("limit"))
            after = decode_dataset_cursor(params.get("cursor"))
        except BadRequest as exc:
            return error_response(400, exc.code, exc.message)
        try:
            with self.database.session() as store:
                rows = store.datasets_page(after, limit + 1)
        except PipelineError as exc:
            return self._unavailable(exc)
        page = rows[:limit]
        body = {
            "datasets": [self._dataset(row) for row in page],
            "next_cursor": encode_dataset_cursor(page[-1]["dataset"])
            if len(rows) > limit
            else None,
            "limit": limit,
        }
        return Response(body=body, status_code=200)

    @_hardened
    def file(self, raw_id: str, headers: Mapping[str, str] | None = None) -> Response:
        try:
            row_id = parse_id(raw_id)
        except BadRequest as exc:
            return error_response(400, exc.code, exc.message)
        row = None
        if 1 <= row_id <= _MAX_ID:
            try:
                with self.database.session() as store:
                    row = store.file_by_id(row_id)
            except PipelineError as exc:
                return self._unavailable(exc)
        if row is None:
            return error_response(404, "NOT_FOUND", f"no upload has id {row_id}")
        detail = file_detail(row, self.settings.output_bucket, self.settings.backup_bucket)
        if wants_html((headers or {}).get("accept", "")):
            return Response(
                body=statuspage.render_file(detail),
                status_code=200,
                headers={
                    "Content-Type": "text/html; charset=utf-8",
                    "Cache-Control": "no-store",
                    "Vary": "Accept",
                    "Content-Security-Policy": statuspage.CONTENT_SECURITY_POLICY,
                },
            )
        return Response(body=detail, status_code=200, headers={"Vary": "Accept"})

    @_hardened
    def status(self) -> Response:
        """Health, counts by status and the latest uploads, for ``GET /status``."""
        started = time.monotonic()
        s = self.settings
        body: dict[str, Any] = {
            "service": "csv-pipeline",
            "buckets": {
                "input": s.input_bucket,
                "output": s.output_bucket,
                "backup": s.backup_bucket,
            },
        }
        try:
            body["counts"], body["latest"] = self._overview(LATEST_LIMIT)
        except PipelineError as exc:
            self._unavailable(exc)
            body["database"] = {"ok": False, "error": f"{exc.code}: {exc.message}"}
            return Response(body=body, status_code=503)
        elapsed = round((time.monotonic() - started) * 1000, 1)
        body["database"] = {"ok": True, "latency_ms": elapsed}
        return Response(body=body, status_code=200)

    def _overview(self, limit: int) -> tuple[dict[str, int], list[dict[str, Any]]]:
        """Counts by status and the newest ``limit`` uploads; PipelineError if unavailable."""
        with self.database.session() as store:
            counts = store.counts_by_status()
            rows = store.files_page(None, _MAX_ID + 1, limit)
        return counts, [self._summary(row) for row in rows]

    @_hardened
    def home(self, headers: Mapping[str, str]) -> Response:
        """The page for a browser, the ``/status`` JSON for anything else."""
        if not wants_html(headers.get("accept", "")):
            response = self.status()
            response.headers["Vary"] = "Accept"
            return response
        code, error = 200, None
        counts: dict[str, int] = {}
        files: list[dict[str, Any]] = []
        datasets: list[dict[str, Any]] = []
        hours: list[dict[str, Any]] = []
        try:
            counts, files = self._overview(PAGE_ROWS)
            with self.database.session() as store:
                datasets = [self._dataset(r) for r in store.datasets_page(None, PAGE_DATASETS)]
                hours = store.uploads_by_hour()
        except PipelineError as exc:
            self._unavailable(exc)
            code, error = 503, f"{exc.code}: {exc.message}"
        page = statuspage.render(
            counts=counts,
            files=files,
            buckets=(self.settings.input_bucket, self.settings.output_bucket),
            error=error,
            datasets=datasets,
            hours=hours,
        )
        return Response(
            body=page,
            status_code=code,
            headers={
                "Content-Type": "text/html; charset=utf-8",
                "Cache-Control": "no-store",
                "Vary": "Accept",
                "Content-Security-Policy": statuspage.CONTENT_SECURITY_POLICY,
            },
        )


def wants_html(accept: str) -> bool:
    """True when the client lists ``text/html`` (browsers do) with a non-zero q."""
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media.lower() != "text/html":
            continue
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False
