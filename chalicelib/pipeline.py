"""The orchestration of one upload: claim, profile, record, result, backup, notify.

Every collaborator is handed in, so the same code runs in Lambda, in the
local stack and in the tests.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any

from chalicelib.adapters.backup import Backup
from chalicelib.adapters.database import Claim, Database, MetadataStore
from chalicelib.adapters.notify import Notifier
from chalicelib.adapters.storage import InputObjects, ResultWriter
from chalicelib.core import keys
from chalicelib.core.contracts import EMPTY_CONTRACTS, ContractSet
from chalicelib.core.deadline import Deadline
from chalicelib.core.errors import (
    BadEvent,
    DatabaseError,
    DeadlineExceeded,
    ObjectMissing,
    PipelineError,
    ReadInterrupted,
    UploadInProgress,
)
from chalicelib.core.events import Upload
from chalicelib.core.objects import ObjectInfo
from chalicelib.core.profile import Profile
from chalicelib.core.results import (
    Outcome,
    Status,
    build_event_alert,
    build_notification,
    build_result,
)
from chalicelib.core.settings import Settings

log = logging.getLogger("csv_pipeline")

#: Seconds waited past a claim's lease before reporting over it, and the most
#: the reporter waits for a claim (a killed attempt's outlives it by 30 s).
LEASE_SLACK_SECONDS = 1.0
MAX_CLAIM_WAIT_SECONDS = 45.0


_POOL: ThreadPoolExecutor | None = None


def _io_pool() -> ThreadPoolExecutor:
    """Threads for S3 calls that can overlap (boto3 clients are thread-safe)."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pipeline-io")
    return _POOL


def _wait_all(futures: list[Future[Any]]) -> None:
    """Wait for every future, then raise the first error among them."""
    wait(futures)
    for future in futures:
        future.result()


class Pipeline:
    """Processes uploads; raises a retryable :class:`PipelineError` to be retried."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        objects: InputObjects,
        results: ResultWriter,
        backup: Backup,
        notifier: Notifier,
        contracts: ContractSet = EMPTY_CONTRACTS,
    ) -> None:
        self.settings = settings
        #: The deployed data contracts; the key's one (if any) checks every row.
        self.contracts = contracts
        self.database = database
        self.objects = objects
        self.results = results
        self.backup = backup
        self.notifier = notifier

    def process(
        self, upload: Upload, deadline: Deadline | None = None, *, redrive: bool = False
    ) -> Outcome | None:
        """Handle one delivery; a repeated delivery of a handled upload does nothing
        and returns ``None``.

        ``redrive`` first reopens the upload if it ended ``failed``.
        """
        deadline = deadline or Deadline()
        with self.database.session() as store:
            if redrive and store.reopen(upload):
                log.info("re-driving %s (%s)", upload.uri, upload.upload_id)
            claim = store.claim(upload, deadline.lease_seconds())
            if claim is None:
                self._not_claimed(upload, store)
                return None
            try:
                outcome = self._run(upload, claim, store, deadline)
            except PipelineError as exc:
                if exc.retryable:
                    self._release(store, claim, exc)
                raise
        return outcome

    @staticmethod
    def _not_claimed(upload: Upload, store: MetadataStore) -> None:
        """Already handled (a repeat: do nothing), or still in hand elsewhere (retry)."""
        row = store.find(upload)
        if row is not None and not row["notified"]:
            raise UploadInProgress(
                f"{upload.uri} is being processed by another invocation (row {row['id']}); "
                "this delivery will be retried"
            )
        log.info("duplicate delivery of %s (%s): already handled", upload.uri, upload.upload_id)

    def _run(
        self, upload: Upload, claim: Claim, store: MetadataStore, deadline: Deadline
    ) -> Outcome:
        outcome = self._profile(upload, deadline)
        outcome = replace(outcome, metadata_id=claim.id)
        # The result and the backup do not depend on each other or on the row:
        # write them while this thread records the row; notify once all are done.
        writes: list[Future[Any]] = [
            _io_pool().submit(self.results.write, outcome.result_key, build_result(outcome), upload)
        ]
        if outcome.backup_key:
            writes.append(_io_pool().submit(self._copy, upload, outcome))
        try:
            store.finish(claim, outcome)
        finally:
            _wait_all(writes)
        self.notifier.publish(build_notification(outcome))
        store.mark_notified(claim.id)
        log.info(
            "%s %s rows=%s error=%s",
            outcome.status,
            upload.uri,
            outcome.profile.row_count if outcome.profile else None,
            outcome.error_code,
        )
        return outcome

    def _profile(self, upload: Upload, deadline: Deadline) -> Outcome:
        try:
            deadline.check("starting to read the file")
            contract = self.contracts.for_key(upload.key)
            info, profile = self.objects.profile_object(upload, deadline.check, contract)
        except (ObjectMissing, DeadlineExceeded) as exc:
            return self._outcome(upload, "failed", None, code=exc.code, message=exc.message)
        except ReadInterrupted as exc:  # the object was found, then reading stopped
            cause = exc.error
            return self._outcome(upload, "failed", exc.info, code=cause.code, message=cause.message)
        if profile.status == "succeeded":
            return self._outcome(upload, "succeeded", info, profile=profile)
        error = profile.error
        return self._outcome(
            upload,
            "rejected",
            info,
            profile=profile,
            code=error.code if error else "REJECTED",
            message=error.message if error else "rejected",
        )

    def _outcome(
        self,
        upload: Upload,
        status: Status,
        info: ObjectInfo | None,
        *,
        profile: Profile | None = None,
        code: str | None = None,
        message: str | None = None,
        backup: bool | None = None,
    ) -> Outcome:
        """The outcome of ``upload``; it has a backup key when the object was read
        (or, with ``backup=True``, when a copy will be attempted anyway)."""
        with_backup = info is not None if backup is None else backup
        return Outcome(
            upload=upload,
            status=status,
            result_bucket=self.settings.output_bucket,
            result_key=keys.result_key(upload.key),
            backup_bucket=self.settings.backup_bucket,
            backup_key=keys.backup_key(upload.key, upload.event_time) if with_backup else None,
            profile=profile,
            error_code=code,
            error_message=message,
            size=info.size if info else upload.size,
            etag=info.etag if info else upload.etag,
        )

    def _copy(self, upload: Upload, outcome: Outcome) -> None:
        assert outcome.backup_key is not None
        self.backup.copy(upload, outcome.backup_key, outcome.etag, outcome.size)

    @staticmethod
    def _release(store: MetadataStore, claim: Claim, exc: PipelineError) -> None:
        try:
            store.release(claim, exc.code, exc.message)
        except DatabaseError:
            log.warning("could not release the claim on row %s", claim.id)

    def report_failure(
        self,
        upload: Upload,
        code: str,
        message: str,
        deadline: Deadline | None = None,
        *,
        final: bool = False,
    ) -> Outcome | None:
        """Retries are exhausted: record ``failed`` and tell people, once.

        ``None`` when the upload was reported already. A live claim is the
        killed last attempt's (its lease outlives it by 30 s) or another
        delivery's at work: wait for it to expire when the invocation has the
        time, else raise :class:`UploadInProgress` so that the record comes
        back later; on the ``final`` delivery of the record the claim is
        overridden. Whatever else fails (the database, the secret, the backup,
        the result), the email still goes out and says what could not be done.
        """
        deadline = deadline or Deadline()
        outcome = self._outcome(upload, "failed", None, code=code, message=message, backup=True)
        not_done: list[str] = []
        try:  # first, so that the row says where the backup is (a repeat copies nothing)
            self._copy(upload, outcome)
        except ObjectMissing:
            outcome = replace(outcome, backup_key=None)
        except PipelineError as exc:
            log.error("could not back up %s: %s: %s", upload.uri, exc.code, exc.message)
            outcome = replace(outcome, backup_key=None)
            not_done.append(f"the backup copy could not be made ({exc.code})")
        try:
            row_id = self._record_failure(outcome, deadline, final)
        except UploadInProgress:
            raise
        except PipelineError as exc:
            log.error(
                "could not record the failure of %s: %s: %s", upload.uri, exc.code, exc.message
            )
            self.database.close()
            not_done.append(f"the database row could not be written ({exc.code})")
        else:
            if row_id is None:
                log.info("%s was reported already: not reporting again", upload.uri)
                return None
            outcome = replace(outcome, metadata_id=row_id)
        outcome = replace(outcome, not_done=tuple(not_done))
        try:
            self.results.write(outcome.result_key, build_result(outcome), upload)
        except PipelineError as exc:
            log.error("could not write the result of %s: %s: %s", upload.uri, exc.code, exc.message)
            outcome = replace(
                outcome,
                not_done=(*outcome.not_done, f"the result JSON could not be written ({exc.code})"),
            )
        self.notifier.publish(build_notification(outcome))
        if outcome.metadata_id is not None:
            self._mark_notified(outcome.metadata_id)
        log.error("failed %s: %s %s", upload.uri, code, message)
        return outcome

    def _record_failure(self, outcome: Outcome, deadline: Deadline, final: bool) -> int | None:
        """The failed row's id; ``None`` if reported already; UploadInProgress if held."""
        upload = outcome.upload
        with self.database.session() as store:
            row_id = store.record_failure(outcome)
            if row_id is not None:
                return row_id
            row = store.find(upload)
            if row is None or row["notified"]:
                return None
            wait = float(row["lease_left"]) + LEASE_SLACK_SECONDS
            if wait <= MAX_CLAIM_WAIT_SECONDS and deadline.affords(wait):
                log.info(
                    "%s: waiting %.0f s for the claim of row %s to expire",
                    upload.uri,
                    wait,
                    row["id"],
                )
                time.sleep(wait)
                row_id = store.record_failure(outcome)
                if row_id is not None:
                    return row_id
            if final:
                log.warning(
                    "%s: last delivery of its failure record: ending row %s", upload.uri, row["id"]
                )
                return store.record_failure(outcome, force=True)
        raise UploadInProgress(
            f"{upload.uri} is still claimed (row {row['id']}): its failure record will come back "
            "and be reported once the claim has expired"
        )

    def _mark_notified(self, row_id: int) -> None:
        try:
            with self.database.session() as store:
                store.mark_notified(row_id)
        except PipelineError as exc:  # the email is out: a retry would send it again
            log.error("could not mark row %s notified: %s: %s", row_id, exc.code, exc.message)

    def report_bad_event(self, exc: BadEvent, bucket: str | None, request_id: str | None) -> None:
        """An event with no readable upload in it: tell operators, once (not retried)."""
        log.error(
            "an event could not be read: %s: %s; its shape: %s", exc.code, exc.message, exc.shape
        )
        self.notifier.publish(build_event_alert(exc.code, exc.message, bucket, request_id))
