"""The pure core: key naming, event parsing, result and message building, settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.core import keys
from chalicelib.core.errors import ConfigError, SecretError, failure_reason
from chalicelib.core.events import Upload, is_test_event, uploads_from_event
from chalicelib.core.profile import Profile
from chalicelib.core.results import Outcome, build_notification, build_result
from chalicelib.core.settings import DeploySettings, Settings, parse_secret

WHEN = datetime(2025, 9, 2, 14, 30, 0, tzinfo=UTC)
SETTINGS = Settings("in-bucket", "out-bucket", "backup-bucket", "arn:aws:sns:x:1:t", "secret")


def test_backup_key_follows_the_seed() -> None:
    assert keys.backup_key("data.csv", WHEN) == "backup/2025-09-02_14-30-00_data.csv"
    assert keys.backup_key("a/b/q3.csv", WHEN) == "backup/a/b/2025-09-02_14-30-00_q3.csv"


def test_backup_key_uses_utc() -> None:
    from datetime import timedelta, timezone

    local = WHEN.astimezone(timezone(timedelta(hours=2)))
    assert keys.backup_key("data.csv", local) == "backup/2025-09-02_14-30-00_data.csv"


def test_result_key_drops_the_csv_suffix() -> None:
    assert keys.result_key("reports/q3.csv") == "results/reports/q3.json"
    assert keys.result_key("UPPER.CSV") == "results/UPPER.json"


@given(st.text(min_size=1, max_size=1100).filter(lambda s: "\x00" not in s))
def test_derived_keys_always_fit_s3s_limit_and_stay_distinct(key: str) -> None:
    for derived in (keys.result_key(key), keys.backup_key(key, WHEN)):
        assert len(derived.encode()) <= keys.MAX_KEY_BYTES
    assert keys.result_key(key) != keys.result_key(key + "x")


def test_long_keys_keep_their_start_and_suffix() -> None:
    key = "deep/" + "é" * 600 + ".csv"
    derived = keys.backup_key(key, WHEN)
    assert derived.startswith("backup/deep/2025-09-02_14-30-00_é")
    assert derived.endswith(".csv")
    assert "~" in derived


def _event(key: str, **object_fields: object) -> dict[str, object]:
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "eventTime": "2025-09-02T14:30:00.123Z",
                "s3": {
                    "bucket": {"name": "in-bucket"},
                    "object": {"key": key, "size": 5, "eTag": "abc", **object_fields},
                },
            }
        ]
    }


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("a%2Bb.csv", "a+b.csv"),
        ("a+b.csv", "a b.csv"),
        ("100%25.csv", "100%.csv"),
        ("%C3%BC/%E6%97%A5%E6%9C%AC.csv", "ü/日本.csv"),
        ("%C3%BC%2F%E6%97%A5%E6%9C%AC.csv", "ü/日本.csv"),
        ("x%2525.csv", "x%25.csv"),  # decoded once, not twice
    ],
)
def test_event_keys_are_decoded_once(encoded: str, decoded: str) -> None:
    [upload] = uploads_from_event(_event(encoded))
    assert upload.key == decoded


def test_identity_prefers_the_version_then_the_sequencer() -> None:
    [versioned] = uploads_from_event(_event("a.csv", versionId="v1", sequencer="S1"))
    [sequenced] = uploads_from_event(_event("a.csv", sequencer="S1"))
    [bare] = uploads_from_event(_event("a.csv"))
    assert versioned.upload_id == "v:v1"
    assert sequenced.upload_id == "s:S1"
    assert bare.upload_id.startswith("t:2025-09-02T14:30:00.123000+00:00")


def test_the_s3_test_event_has_no_uploads() -> None:
    event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "in-bucket"}
    assert is_test_event(event)
    assert uploads_from_event(event) == []


def _outcome(status: str = "succeeded", key: str = "reports/q3.csv", **kw: object) -> Outcome:
    profile = Profile("succeeded", 1234, 5, ",", "utf-8", 99, ("a", "b"))
    upload = Upload("in-bucket", key, WHEN, size=99, etag='"abc"')
    fields: dict[str, object] = {
        "upload": upload,
        "status": status,
        "result_bucket": "out-bucket",
        "result_key": keys.result_key(key),
        "backup_bucket": "backup-bucket",
        "backup_key": keys.backup_key(key, WHEN),
        "profile": profile if status == "succeeded" else None,
        "metadata_id": 7,
    }
    fields.update(kw)
    return Outcome(**fields)  # type: ignore[arg-type]


def test_the_result_document_has_the_contract_keys() -> None:
    document = build_result(_outcome())
    assert {
        "status",
        "row_count",
        "column_count",
        "error",
        "input",
        "backup",
        "metadata_id",
    } <= set(document)
    assert document["input"] == {
        "bucket": "in-bucket",
        "key": "reports/q3.csv",
        "size": 99,
        "etag": "abc",
        "version_id": None,
        "upload_id": 't:2025-09-02T14:30:00+00:00:"abc"',
        "event_time": "2025-09-02T14:30:00Z",
    }
    assert document["backup"] == {
        "bucket": "backup-bucket",
        "key": "backup/reports/2025-09-02_14-30-00_q3.csv",
    }
    json.dumps(document)  # serialisable as is


def test_the_message_names_the_file_status_and_rows() -> None:
    note = build_notification(_outcome())
    assert note.subject == "[csv-pipeline] SUCCEEDED: q3.csv (1,234 rows)"
    assert "s3://in-bucket/reports/q3.csv" in note.body
    assert "1,234 (after a header of 5 columns)" in note.body
    assert note.attributes == {"status": "succeeded", "bucket": "in-bucket"}


def test_a_failure_message_carries_the_error() -> None:
    note = build_notification(
        _outcome("failed", error_code="DATABASE_ERROR", error_message="cannot connect")
    )
    assert note.subject == "[csv-pipeline] FAILED: q3.csv (DATABASE_ERROR)"
    assert "Error:       DATABASE_ERROR: cannot connect" in note.body


@given(st.text(min_size=1, max_size=400))
def test_subjects_are_short_ascii_whatever_the_key(name: str) -> None:
    subject = build_notification(_outcome(key=f"dir/{name}.csv")).subject
    assert len(subject) < 100
    assert subject.isascii()
    assert subject.isprintable()


def test_settings_fail_fast_on_missing_names() -> None:
    with pytest.raises(ConfigError, match="DB_SECRET_ID"):
        Settings.from_env({"INPUT_BUCKET": "a", "OUTPUT_BUCKET": "b", "BACKUP_BUCKET": "c"})


@pytest.mark.parametrize("other", ["OUTPUT_BUCKET", "BACKUP_BUCKET"])
def test_settings_refuse_a_recursive_trigger(other: str) -> None:
    env = {
        "INPUT_BUCKET": "in",
        "OUTPUT_BUCKET": "out",
        "BACKUP_BUCKET": "bak",
        "SNS_TOPIC_ARN": "t",
        "DB_SECRET_ID": "s",
    }
    env[other] = "in"
    with pytest.raises(ConfigError, match="must differ"):
        Settings.from_env(env)


@pytest.mark.parametrize("stage", [None, "", "dev", "prod", "Local"])
def test_open_routes_are_refused_off_the_local_stage(stage: str | None) -> None:
    env = {"API_AUTH": "none"} | ({} if stage is None else {"PIPELINE_STAGE": stage})
    with pytest.raises(ConfigError, match="only for the 'local' stage"):
        DeploySettings.from_env(env)


def test_open_routes_are_the_local_stages_and_iam_everyone_elses() -> None:
    assert DeploySettings.from_env({"API_AUTH": "none", "PIPELINE_STAGE": "local"}).api_auth == (
        "none"
    )
    for env in ({}, {"PIPELINE_STAGE": "prod"}, {"API_AUTH": "iam", "PIPELINE_STAGE": "local"}):
        assert DeploySettings.from_env(env).api_auth == "iam"


def test_the_secret_falls_back_to_settings_for_host_port_and_name() -> None:
    settings = Settings("i", "o", "b", "t", "s", db_host="db.internal", db_port=6543, db_name="x")
    secret = parse_secret('{"username": "u", "password": "hunter2"}', settings)
    assert (secret.host, secret.port, secret.dbname) == ("db.internal", 6543, "x")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)


@pytest.mark.parametrize("text", ["not json", "[]", '{"username": "u"}'])
def test_a_malformed_secret_is_a_clear_error(text: str) -> None:
    with pytest.raises(SecretError):
        parse_secret(text, SETTINGS)


@pytest.mark.parametrize(
    ("error_type", "message", "code"),
    [
        ("DatabaseError", "cannot connect", "DATABASE_ERROR"),
        ("DatabaseAuthError", "refused", "DATABASE_AUTH"),
        ("StorageError", "slow down", "S3_ERROR"),
        ("Sandbox.Timedout", "Task timed out after 120.00 seconds", "TIMEOUT"),
        ("KeyError", "'x'", "UNHANDLED"),
    ],
)
def test_failure_reasons_map_to_codes(error_type: str, message: str, code: str) -> None:
    record = {"responsePayload": {"errorType": error_type, "errorMessage": message}}
    assert failure_reason(record)[0] == code


@pytest.mark.parametrize(
    ("key", "result", "backup"),
    [
        ("/etc/x.csv", "results//etc/x.json", "backup//etc/2025-09-02_14-30-00_x.csv"),
        ("a//b.csv", "results/a//b.json", "backup/a//2025-09-02_14-30-00_b.csv"),
        ("../up.csv", "results/../up.json", "backup/../2025-09-02_14-30-00_up.csv"),
        ("DATA.CSV", "results/DATA.json", "backup/2025-09-02_14-30-00_DATA.CSV"),
        ("in/x.csv.gz", "results/in/x.json", "backup/in/2025-09-02_14-30-00_x.csv.gz"),
        ("in/x.CSV.ZST", "results/in/x.json", "backup/in/2025-09-02_14-30-00_x.CSV.ZST"),
    ],
)
def test_derived_keys_are_plain_concatenation(key: str, result: str, backup: str) -> None:
    assert keys.result_key(key) == result
    assert keys.backup_key(key, WHEN) == backup


@given(st.text(min_size=1, max_size=300))
def test_derived_keys_stay_under_their_prefix_and_apart(key: str) -> None:
    backup = keys.backup_key(key, WHEN)
    assert keys.result_key(key).startswith("results/")
    assert backup.startswith("backup/")
    # two keys that differ only in a doubled slash get different backups
    assert keys.backup_key(key + "//z.csv", WHEN) != keys.backup_key(key + "/z.csv", WHEN)
