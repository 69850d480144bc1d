"""The status API through Chalice's test client, on a real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Stack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GOOD = b"id,name\n1,alice\n2,bob\n3,carol\n"


def invoke(client: Any, event: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = client.lambda_.invoke("process_upload", event).payload
    return payload


def get(client: Any, path: str, **headers: str) -> Any:
    return client.http.get(path, headers={"accept": "application/json", **headers})


def add_rows(stack: Stack, statuses: list[str]) -> list[int]:
    """Rows as the pipeline leaves them, inserted directly (many, quickly)."""
    conn = stack.db.connect()
    ids = []
    try:
        for n, status in enumerate(statuses):
            failed = status in ("failed", "rejected")
            rows = conn.run(
                "INSERT INTO file_metadata (bucket, filename, upload_id, status, row_count, "
                "error_code, error_message, result_key) VALUES (:b, :f, :u, :s, :r, :c, :m, :k) "
                "RETURNING id",
                b=stack.names.input_bucket,
                f=f"bulk/{n:03d}.csv",
                u=f"s:{n:018d}",
                s=status,
                r=None if failed else n,
                c="EMPTY" if failed else None,
                m="the file holds no record" if failed else None,
                k=f"results/bulk/{n:03d}.json",
            )
            ids.append(rows[0][0])
    finally:
        conn.close()
    return ids


@pytest.fixture
def uploads(stack: Stack, client: Any) -> dict[str, Any]:
    """Two real uploads (a success, a rejection), then 30 more rows of mixed statuses."""
    invoke(client, stack.put("reports/q3.csv", GOOD))
    invoke(client, stack.put("bad/empty.csv", b""))
    real = {row["filename"]: row["id"] for row in stack.rows()}
    statuses = ["succeeded", "failed", "rejected", "processing", "succeeded"] * 6
    bulk = add_rows(stack, statuses)
    return {"real": real, "bulk": bulk, "all": sorted([*real.values(), *bulk], reverse=True)}


def walk(client: Any, query: str) -> tuple[list[int], int]:
    """Follow next_cursor to the end; the ids seen and the number of pages."""
    seen: list[int] = []
    pages = 0
    cursor = ""
    while True:
        response = get(client, f"/files?{query}{cursor}")
        assert response.status_code == 200, response.body
        body = response.json_body
        pages += 1
        seen += [item["id"] for item in body["files"]]
        if body["next_cursor"] is None:
            return seen, pages
        cursor = f"&cursor={body['next_cursor']}"
        assert pages < 100


def test_files_lists_the_newest_first_with_a_default_limit(
    client: Any, uploads: dict[str, Any]
) -> None:
    body = get(client, "/files").json_body

    assert body["limit"] == 20
    assert body["status"] is None
    assert [item["id"] for item in body["files"]] == uploads["all"][:20]
    assert isinstance(body["next_cursor"], str)


def test_the_cursor_walks_every_row_exactly_once(client: Any, uploads: dict[str, Any]) -> None:
    seen, pages = walk(client, "limit=7")

    assert seen == uploads["all"]  # each once, newest first
    assert pages == -(-len(uploads["all"]) // 7)


def test_a_page_that_ends_exactly_at_the_last_row_has_no_next_cursor(
    client: Any, uploads: dict[str, Any]
) -> None:
    total = len(uploads["all"])  # 32
    body = get(client, f"/files?limit={total}").json_body
    assert len(body["files"]) == total
    assert body["next_cursor"] is None
    seen, pages = walk(client, "limit=16")
    assert (seen, pages) == (uploads["all"], 2)


@pytest.mark.parametrize("status", ["succeeded", "failed", "rejected", "processing"])
def test_files_filter_by_status_and_page(
    stack: Stack, client: Any, uploads: dict[str, Any], status: str
) -> None:
    expected = [row["id"] for row in reversed(stack.rows("status = :s", s=status))]

    seen, _ = walk(client, f"status={status}&limit=3")

    assert seen == expected
    assert expected  # every status is present


def test_an_item_has_its_key_status_counts_error_and_locations(
    stack: Stack, client: Any, uploads: dict[str, Any]
) -> None:
    items = {item["key"]: item for item in get(client, "/files?limit=100").json_body["files"]}

    good = items["reports/q3.csv"]
    assert (good["status"], good["row_count"], good["column_count"]) == ("succeeded", 3, 2)
    assert good["error"] is None
    assert good["result"] == {"bucket": stack.names.output_bucket, "key": "results/reports/q3.json"}
    assert good["backup"]["bucket"] == stack.names.backup_bucket
    assert good["backup"]["key"].startswith("backup/reports/")
    bad = items["bad/empty.csv"]
    assert bad["status"] == "rejected"
    assert bad["error"]["code"] == "EMPTY"
    assert bad["error"]["message"]


def test_one_file_by_id(stack: Stack, client: Any, uploads: dict[str, Any]) -> None:
    row_id = uploads["real"]["reports/q3.csv"]
    [row] = stack.rows("id = :id", id=row_id)

    response = get(client, f"/files/{row_id}")

    assert response.status_code == 200
    body = response.json_body
    assert body["id"] == row_id
    assert body["key"] == "reports/q3.csv"
    assert body["status"] == "succeeded"
    assert body["row_count"] == 3
    assert body["result"] == {"bucket": stack.names.output_bucket, "key": row["result_key"]}
    assert body["backup"] == {"bucket": stack.names.backup_bucket, "key": row["backup_key"]}
    assert body["error"] is None
    assert body["upload_id"] == row["upload_id"]
    assert body["size_bytes"] == len(GOOD)
    assert body["notified_at"]
    rejected = get(client, f"/files/{uploads['real']['bad/empty.csv']}").json_body
    assert rejected["error"]["code"] == "EMPTY"


@pytest.mark.parametrize("raw", ["999999", "0", "-1", "99999999999999999999"])
def test_an_unknown_id_is_a_404(client: Any, uploads: dict[str, Any], raw: str) -> None:
    response = get(client, f"/files/{raw}")

    assert response.status_code == 404
    assert response.json_body["error"]["code"] == "NOT_FOUND"
    assert f"no upload has id {int(raw)}" in response.json_body["error"]["message"]


@pytest.mark.parametrize("raw", ["abc", "1.5", "1e3", "%20"])
def test_a_non_integer_id_is_a_400(client: Any, stack: Stack, raw: str) -> None:
    response = get(client, f"/files/{raw}")

    assert response.status_code == 400
    assert response.json_body["error"]["code"] == "BAD_ID"
    assert "must be an integer" in response.json_body["error"]["message"]


@pytest.mark.parametrize(
    ("query", "code", "message"),
    [
        ("limit=0", "BAD_LIMIT", "limit must be a whole number from 1 to 100, not '0'"),
        ("limit=101", "BAD_LIMIT", "limit must be a whole number from 1 to 100, not '101'"),
        ("limit=ten", "BAD_LIMIT", "limit must be a whole number from 1 to 100, not 'ten'"),
        ("limit=-5", "BAD_LIMIT", "from 1 to 100"),
        (
            "status=done",
            "BAD_STATUS",
            "status must be one of processing, succeeded, rejected, failed, not 'done'",
        ),
        ("status=FAILED", "BAD_STATUS", "not 'FAILED'"),
        ("cursor=bm9wZQ", "BAD_CURSOR", "cursor is not one this API returned"),
        ("cursor=!!!", "BAD_CURSOR", "pass next_cursor from a previous response"),
        ("page=2", "BAD_PARAMETER", "unknown query parameter(s) page: use status, limit, cursor"),
    ],
)
def test_bad_parameters_are_a_400_that_says_what_is_accepted(
    client: Any, stack: Stack, query: str, code: str, message: str
) -> None:
    response = get(client, f"/files?{query}")

    assert response.status_code == 400
    assert response.json_body["error"]["code"] == code
    assert message in response.json_body["error"]["message"]


def test_limit_100_is_accepted(client: Any, uploads: dict[str, Any]) -> None:
    body = get(client, "/files?limit=100").json_body
    assert body["limit"] == 100
    assert len(body["files"]) == len(uploads["all"])


def test_files_say_503_when_the_database_is_down(
    stack: Stack,
    client: Any,
    capfd: pytest.CaptureFixture[str],
    new_container: Callable[[], None],
) -> None:
    from devstack.aws import free_port

    stack.set_secret(port=free_port())
    new_container()
    capfd.readouterr()

    response = get(client, "/files")

    assert response.status_code == 503
    assert response.json_body["error"]["code"] == "DATABASE_ERROR"
    lines = [json.loads(x) for x in capfd.readouterr().out.splitlines() if x.startswith("{")]
    [line] = [x for x in lines if x["level"] == "WARNING"]
    assert any("cannot connect to PostgreSQL at" in x["message"] for x in lines)  # the details
    assert "the database is unavailable: DATABASE_ERROR" in line["message"]
    assert line["function_request_id"]


def test_the_root_is_the_page_for_browsers_and_status_json_for_the_rest(
    stack: Stack, client: Any
) -> None:
    key = "odd/<b>&\"quoted\" 'name'.csv"
    invoke(client, stack.put(key, GOOD))

    page = client.http.get("/", headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    assert "odd/&lt;b&gt;&amp;&quot;quoted&quot; &#x27;name&#x27;.csv" in html
    assert "<b>&" not in html
    assert '<meta http-equiv="refresh"' in html

    as_json = client.http.get("/", headers={"accept": "application/json"})
    assert as_json.status_code == 200
    assert as_json.json_body["counts"]["succeeded"] == 1
    assert as_json.json_body["latest"][0]["key"] == key
    assert client.http.get("/").json_body["database"]["ok"] is True  # no Accept: JSON


def test_the_page_says_when_the_database_is_down(
    stack: Stack, client: Any, new_container: Callable[[], None]
) -> None:
    from devstack.aws import free_port

    stack.set_secret(port=free_port())
    new_container()

    page = client.http.get("/", headers={"accept": "text/html"})

    assert page.status_code == 503
    assert "Database unavailable: DATABASE_ERROR" in page.body.decode()


def _authorizers(api_auth: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "API_AUTH"}
    if api_auth is not None:
        env["API_AUTH"] = api_auth
    code = (
        "import json, app\n"
        "print(json.dumps({path: type(view.authorizer).__name__ "
        "for path, methods in app.app.routes.items() for view in methods.values()}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


def test_deployed_stages_put_every_route_behind_iam_and_the_local_stage_does_not() -> None:
    deployed = _authorizers(None)
    assert deployed.returncode == 0, deployed.stderr
    routes = json.loads(deployed.stdout)
    assert set(routes) == {"/", "/status", "/files", "/files/{file_id}", "/datasets"}
    assert set(routes.values()) == {"IAMAuthorizer"}

    local = _authorizers("none")
    assert set(json.loads(local.stdout).values()) == {"NoneType"}

    wrong = _authorizers("open")
    assert wrong.returncode != 0
    assert "API_AUTH must be 'iam' or 'none', not 'open'" in wrong.stderr

    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    for name, stage in config["stages"].items():
        expected = "none" if name == "local" else "iam"  # tests/infra/test_api_auth.py
        assert stage.get("environment_variables", {}).get("API_AUTH") == expected, name
