"""Schema drift on real PostgreSQL and moto: uploads of one dataset compared with the last.

The handler runs as in Lambda, in a Runtime standing in for a container (not
Chalice's test client, whose Lambda context gives every invocation 3 s: a
cold start on a loaded machine can use that up), as the least-privileged
writer role the migrations made; the routes go through Chalice's test client.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.core.contracts import ContractSet, parse_contract
from chalicelib.core.drift import dataset_of
from chalicelib.core.errors import StorageError
from chalicelib.pipeline import Pipeline
from chalicelib.runtime import Runtime
from tests.conftest import Stack

pytestmark = pytest.mark.integration

FIRST = b"id,name,amount\n1,alice,10\n2,bob,20\n"
RENAMED = b"id,name,total\n3,carol,30\n"
ADDED_RETYPED = b"id,name,amount,note\n4,dan,4.5,hi\n"


@pytest.fixture
def container(stack: Stack) -> Iterator[Runtime]:
    runtime = Runtime.from_env()
    yield runtime
    runtime.close()


def invoke(runtime: Runtime, event: dict[str, Any]) -> dict[str, Any]:
    return runtime.handlers.handle_s3_event(event)


def upload(stack: Stack, runtime: Runtime, key: str, body: bytes) -> dict[str, Any]:
    """Upload, process, and return the result JSON."""
    payload = invoke(runtime, stack.put(key, body))
    assert payload["uploads"][0]["status"] == "succeeded", payload
    return stack.result("results/" + key.removesuffix(".csv") + ".json")


def test_the_first_upload_of_a_dataset_has_no_schema_change(
    stack: Stack, container: Runtime
) -> None:
    result = upload(stack, container, "orders/q2.csv", FIRST)

    assert "schema_change" in result
    assert result["schema_change"] is None
    [row] = stack.rows()
    assert (row["dataset"], row["schema_change"], row["schema_compared"]) == ("orders/", None, True)
    [message] = stack.notifications()
    assert "Schema:" not in message["Message"]


def test_the_second_upload_with_a_renamed_column_gets_schema_change_and_a_paragraph(
    stack: Stack, container: Runtime
) -> None:
    first = upload(stack, container, "orders/q2.csv", FIRST)
    stack.notifications()

    second = upload(stack, container, "orders/q3.csv", RENAMED)

    assert second["schema_change"] == {
        "previous": {"key": "orders/q2.csv", "metadata_id": first["metadata_id"]},
        "added": [],
        "removed": [],
        "reordered": [],
        "renamed": [{"from": "amount", "to": "total"}],
        "retyped": [],
    }
    assert second["status"] == "succeeded"  # a warning, not a rejection
    [message] = stack.notifications()
    body = message["Message"]
    assert (
        "Schema:      the columns differ from the last succeeded upload of this dataset,\n"
        f"             orders/q2.csv (file_metadata id {first['metadata_id']})\n"
        "Renamed:     amount -> total\n"
    ) in body
    assert "carol" not in body  # column names, never values
    [_, row] = stack.rows()
    assert row["schema_change"] == second["schema_change"]


def test_an_added_and_a_retyped_column(stack: Stack, container: Runtime) -> None:
    upload(stack, container, "orders/q2.csv", FIRST)
    stack.notifications()

    result = upload(stack, container, "orders/q4.csv", ADDED_RETYPED)

    change = result["schema_change"]
    assert change["added"] == ["note"]
    assert change["retyped"] == [{"name": "amount", "from": "integer", "to": "number"}]
    assert change["renamed"] == change["removed"] == change["reordered"] == []
    [message] = stack.notifications()
    assert "Added:       note\n" in message["Message"]
    assert "Retyped:     amount (integer -> number)\n" in message["Message"]


def test_other_folders_are_other_datasets(stack: Stack, container: Runtime) -> None:
    upload(stack, container, "orders/q2.csv", FIRST)
    assert upload(stack, container, "hr/q3.csv", RENAMED)["schema_change"] is None
    assert upload(stack, container, "q3.csv", RENAMED)["schema_change"] is None  # the top level
    assert upload(stack, container, "/orders/q3.csv", RENAMED)["schema_change"] is None
    assert upload(stack, container, "orders//q3.csv", RENAMED)["schema_change"] is None
    assert upload(stack, container, "orders/q3.csv", FIRST)["schema_change"] is None


def test_a_rejected_upload_is_not_compared_and_does_not_become_the_baseline(
    stack: Stack, container: Runtime
) -> None:
    first = upload(stack, container, "orders/q2.csv", FIRST)
    payload = invoke(container, stack.put("orders/bad.csv", b"id,name\n1,a,extra\n"))
    assert payload["uploads"][0]["status"] == "rejected"
    assert stack.result("results/orders/bad.json")["schema_change"] is None

    third = upload(stack, container, "orders/q3.csv", RENAMED)

    assert third["schema_change"]["previous"]["metadata_id"] == first["metadata_id"]


def test_a_redelivered_upload_keeps_the_schema_change_it_got(stack: Stack) -> None:
    """The retry of an upload recorded but not finished (its result write failed)
    reuses its comparison, even though another upload of the dataset came in between."""
    runtime = Runtime.from_env()
    try:
        runtime.handlers.handle_s3_event(stack.put("orders/q2.csv", FIRST))
        event = stack.put("orders/q3.csv", RENAMED)
        calls = [0]

        def fail(**_: Any) -> None:
            calls[0] += 1
            raise EndpointConnectionError(endpoint_url="http://injected-fault")

        runtime.clients.s3.meta.events.register("before-send.s3.PutObject", fail)
        with pytest.raises(StorageError):
            runtime.handlers.handle_s3_event(event)
        assert calls[0] > 0
        [_, recorded] = stack.rows()
        first_change = recorded["schema_change"]
        assert first_change["renamed"] == [{"from": "amount", "to": "total"}]
    finally:
        runtime.close()

    other = Runtime.from_env()  # another container, meanwhile, then the retry
    try:
        other.handlers.handle_s3_event(stack.put("orders/q4.csv", ADDED_RETYPED))
        other.handlers.handle_s3_event(event)
        assert other.handlers.handle_s3_event(event)["uploads"][0]["status"] == "duplicate"
    finally:
        other.close()

    result = stack.result("results/orders/q3.json")
    assert result["schema_change"] == first_change
    rows = stack.rows("filename = :k", k="orders/q3.csv")
    assert [(r["schema_change"], r["attempts"]) for r in rows] == [(first_change, 2)]
    mails = [m for m in stack.notifications() if "q3.csv" in m["Subject"]]
    assert len(mails) == 1
    assert "Renamed:     amount -> total" in mails[0]["Message"]


def test_concurrent_uploads_of_a_dataset_compare_one_after_the_other(stack: Stack) -> None:
    """Two containers at once: one compares against the other, never both against the first."""
    seed = Runtime.from_env()
    seed.handlers.handle_s3_event(stack.put("orders/q1.csv", FIRST))
    seed.close()
    events = [stack.put("orders/a.csv", RENAMED), stack.put("orders/b.csv", ADDED_RETYPED)]
    runtimes = [Runtime.from_env(), Runtime.from_env()]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def deliver(runtime: Runtime, event: dict[str, Any]) -> None:
        barrier.wait()
        try:
            runtime.handlers.handle_s3_event(event)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=p) for p in zip(runtimes, events, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for runtime in runtimes:
        runtime.close()

    assert errors == []
    a, b = stack.result("results/orders/a.json"), stack.result("results/orders/b.json")
    [q1] = stack.rows("filename = 'orders/q1.csv'")
    previous = {a["schema_change"]["previous"]["key"], b["schema_change"]["previous"]["key"]}
    assert previous in ({"orders/q1.csv", "orders/a.csv"}, {"orders/q1.csv", "orders/b.csv"})
    assert q1["id"] in {
        a["schema_change"]["previous"]["metadata_id"],
        b["schema_change"]["previous"]["metadata_id"],
    }


def at(event: dict[str, Any], when: str) -> dict[str, Any]:
    event["Records"][0]["eventTime"] = when
    return event


def test_an_older_upload_arriving_late_does_not_become_the_baseline(stack: Stack) -> None:
    runtime = Runtime.from_env()
    try:
        newer = at(stack.put("orders/new.csv", FIRST), "2025-09-02T12:00:00.000Z")
        runtime.handlers.handle_s3_event(newer)
        older = at(stack.put("orders/old.csv", RENAMED), "2025-09-01T12:00:00.000Z")
        runtime.handlers.handle_s3_event(older)
        late = stack.result("results/orders/old.json")["schema_change"]
        assert late["previous"]["key"] == "orders/new.csv"  # compared with the newest
        runtime.handlers.handle_s3_event(stack.put("orders/next.csv", FIRST))
    finally:
        runtime.close()
    # the next one is compared with orders/new.csv (the later event time), not the late one
    assert stack.result("results/orders/next.json")["schema_change"] is None


key_texts = st.text(  # slashes often, newlines and any other character (but NUL) too
    st.one_of(st.sampled_from("/a.\n"), st.characters(codec="utf-8", exclude_characters="\x00")),
    max_size=12,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(key_texts, min_size=1, max_size=8))
def test_the_databases_dataset_is_the_cores(stack: Stack, keys: list[str]) -> None:
    """The generated column (migration 0004) and core/drift.py's dataset_of agree."""
    conn = stack.db.connect()
    try:
        for key in keys:
            [[dataset]] = conn.run(
                "INSERT INTO file_metadata (filename, status, bucket, upload_id) "
                "VALUES (:k, 'failed', 'b', gen_random_uuid()::text) RETURNING dataset",
                k=key,
            )
            assert dataset == dataset_of(key), key
    finally:
        conn.close()


# --- GET /datasets and the status page -------------------------------------------------


def get(client: Any, path: str, **headers: str) -> Any:
    return client.http.get(path, headers={"accept": "application/json", **headers})


def test_datasets_show_columns_last_upload_and_last_schema_change(
    stack: Stack, container: Runtime, client: Any
) -> None:
    first = upload(stack, container, "orders/q2.csv", FIRST)
    second = upload(stack, container, "orders/q3.csv", RENAMED)
    invoke(container, stack.put("orders/bad.csv", b"id,name\n1,a,extra\n"))  # rejected: the last
    upload(stack, container, "top.csv", FIRST)
    invoke(container, stack.put("never/ok.csv", b""))  # a dataset with no success yet

    response = get(client, "/datasets")

    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = response.json_body
    assert body["next_cursor"] is None
    by_name = {d["dataset"]: d for d in body["datasets"]}
    assert sorted(by_name) == sorted(["", "never/", "orders/"])
    sales = by_name["orders/"]
    assert sales["contract"] is None
    assert sales["columns"] == [
        {"name": "id", "type": "integer"},
        {"name": "name", "type": "string"},
        {"name": "total", "type": "integer"},
    ]
    assert sales["column_count"] == 3
    assert sales["columns_from"] == {"id": second["metadata_id"], "key": "orders/q3.csv"}
    assert sales["last_upload"]["key"] == "orders/bad.csv"
    assert (sales["last_upload"]["status"], sales["last_upload"]["error_code"]) == (
        "rejected",
        "RAGGED_ROWS",
    )
    change = sales["last_schema_change"]
    assert change["id"] == second["metadata_id"]
    assert change["schema_change"]["previous"]["metadata_id"] == first["metadata_id"]
    assert change["schema_change"]["renamed"] == [{"from": "amount", "to": "total"}]
    assert by_name[""]["name"] == "(top level)"
    assert by_name[""]["last_schema_change"] is None
    never = by_name["never/"]
    assert (never["columns"], never["columns_from"], never["last_upload"]["status"]) == (
        None,
        None,
        "rejected",
    )

    files = get(client, "/files").json_body["files"]
    assert [f["schema_changed"] for f in files if f["key"] == "orders/q3.csv"] == [True]
    assert [f["schema_changed"] for f in files if f["key"] == "orders/q2.csv"] == [False]
    detail = get(client, f"/files/{second['metadata_id']}").json_body
    assert (detail["dataset"], detail["schema_change"]) == ("orders/", second["schema_change"])


def test_datasets_page_by_name_with_a_cursor(stack: Stack, client: Any) -> None:
    conn = stack.db.connect()
    try:
        for n, key in enumerate(["b/x.csv", "a/x.csv", "x.csv", "ü/x.csv", "a//x.csv", "/x.csv"]):
            conn.run(
                "INSERT INTO file_metadata (filename, status, bucket, upload_id) "
                "VALUES (:k, 'failed', 'b', :u)",
                k=key,
                u=str(n),
            )
    finally:
        conn.close()
    seen: list[str] = []
    cursor = ""
    for _ in range(10):
        body = get(client, f"/datasets?limit=2{cursor}").json_body
        seen += [d["dataset"] for d in body["datasets"]]
        if body["next_cursor"] is None:
            break
        cursor = f"&cursor={body['next_cursor']}"
    assert sorted(seen) == sorted(["b/", "a/", "", "ü/", "a//", "/"])
    assert len(seen) == len(set(seen))
    assert get(client, "/datasets?cursor=bm9wZQ").json_body["error"]["code"] == "BAD_CURSOR"
    assert get(client, "/datasets?limit=0").status_code == 400
    assert get(client, "/datasets?status=failed").json_body["error"]["code"] == "BAD_PARAMETER"


def test_the_status_page_marks_schema_changes_and_draws_the_last_24_hours(
    stack: Stack, container: Runtime, client: Any
) -> None:
    upload(stack, container, "orders/q2.csv", FIRST)
    second = upload(stack, container, "orders/q3.csv", RENAMED)
    invoke(container, stack.put("orders/<bad>.csv", b"id,name\n1,a,extra\n"))

    page = client.http.get("/", headers={"accept": "text/html"})

    assert page.status_code == 200
    html = page.body.decode()
    assert '<div class="warn">schema change</div>' in html
    assert "<h2>Datasets</h2>" in html
    assert f'<a href="files/{second["metadata_id"]}">{second["metadata_id"]}</a> ' in html
    assert "1 renamed" in html
    assert "orders/&lt;bad&gt;.csv" in html
    assert "<bad>" not in html
    [svg] = html.split("<svg")[1:]
    titles = re.findall(r"<title>(\d\d):00 UTC: ([^<]*)</title>", svg)
    assert len({hour for hour, _ in titles}) == 24
    drawn: Counter[str] = Counter()
    for _, text in titles:
        if text != "no uploads":
            n, status = text.split(" ")
            drawn[status] += int(n)
    assert drawn == {"succeeded": 2, "rejected": 1}
    assert "3 uploads" in html
    assert "<script" not in html


REJECTING = """{
  "name": "orders",
  "prefixes": ["orders/"],
  "header": {"order": "any", "extra_columns": true},
  "schema_change": "reject",
  "schema": {"fields": [{"name": "id", "type": "integer"}]}
}"""


def test_a_contract_that_rejects_schema_changes_rejects_the_upload(
    stack: Stack, client: Any
) -> None:
    """A contract with ``"schema_change": "reject"`` that the rows themselves satisfy."""
    from chalicelib.core.events import uploads_from_event

    runtime = Runtime.from_env()
    rt = runtime.pipeline
    contracts = ContractSet((parse_contract(REJECTING, "orders.json"),))
    pipeline = Pipeline(
        rt.settings, rt.database, rt.objects, rt.results, rt.backup, rt.notifier, contracts
    )
    try:
        [first] = uploads_from_event(stack.put("orders/q2.csv", FIRST))
        assert pipeline.process(first).status == "succeeded"  # type: ignore[union-attr]
        [renamed] = uploads_from_event(stack.put("orders/q3.csv", RENAMED))
        outcome = pipeline.process(renamed)
        [again] = uploads_from_event(stack.put("orders/q4.csv", FIRST))
        assert pipeline.process(again).schema_change is None  # type: ignore[union-attr]
    finally:
        runtime.close()

    assert outcome is not None
    assert (outcome.status, outcome.error_code) == ("rejected", "CONTRACT_VIOLATION")
    result = stack.result("results/orders/q3.json")
    assert result["status"] == "rejected"
    assert result["error"]["message"] == (
        "the columns differ from the last succeeded upload of its dataset (1 renamed) "
        "and its contract 'orders' rejects schema changes"
    )
    assert result["schema_change"]["renamed"] == [{"from": "amount", "to": "total"}]
    [row] = stack.rows("filename = 'orders/q3.csv'")
    assert (row["status"], row["error_code"]) == ("rejected", "CONTRACT_VIOLATION")
    # q4 was compared with q2 (no change): the rejected q3 did not become the dataset's schema


def test_datasets_name_the_contract_that_governs_them(stack: Stack, client: Any) -> None:
    """The packaged contracts (chalicelib/contracts/): sales.json governs sales/."""
    conn = stack.db.connect()
    try:
        for n, key in enumerate(["sales/x.csv", "other/x.csv"]):
            conn.run(
                "INSERT INTO file_metadata (filename, status, bucket, upload_id) "
                "VALUES (:k, 'failed', 'b', :u)",
                k=key,
                u=str(n),
            )
    finally:
        conn.close()
    by_name = {d["dataset"]: d for d in get(client, "/datasets").json_body["datasets"]}
    assert by_name["sales/"]["contract"]["name"] == "sales"
    assert by_name["sales/"]["contract"]["schema_change"] in ("warn", "reject")
    assert by_name["other/"]["contract"] is None
