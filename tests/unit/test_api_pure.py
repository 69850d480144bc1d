"""The status API's parsing and the page's escaping (pure: no server)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib import api, statuspage


@pytest.mark.parametrize("row_id", [1, 42, 2**31 - 1])
def test_a_cursor_round_trips_and_is_opaque(row_id: int) -> None:
    cursor = api.encode_cursor(row_id)
    assert str(row_id) not in cursor
    assert api.decode_cursor(cursor) == row_id


@pytest.mark.parametrize("raw", ["x", "aWQ6", "aWQ6LTE", "MTI", "aWQ6OTk5OTk5OTk5OTk", "é"])
def test_a_foreign_cursor_is_refused(raw: str) -> None:
    with pytest.raises(api.BadRequest) as raised:
        api.decode_cursor(raw)
    assert raised.value.code == "BAD_CURSOR"


def test_no_cursor_starts_past_every_id() -> None:
    assert api.decode_cursor(None) == api.decode_cursor("") == 2**31


@pytest.mark.parametrize(("raw", "limit"), [(None, 20), ("", 20), ("1", 1), ("100", 100)])
def test_limits(raw: str | None, limit: int) -> None:
    assert api.parse_limit(raw) == limit


@pytest.mark.parametrize("raw", ["0", "101", "-1", "1.0", "ten", "\u0661"])
def test_bad_limits(raw: str) -> None:
    with pytest.raises(api.BadRequest, match="from 1 to 100"):
        api.parse_limit(raw)


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
        ("TEXT/HTML", True),
        ("text/html;q=0.5", True),
        ("text/html;q=0", False),
        ("application/json", False),
        ("*/*", False),
        ("", False),
    ],
)
def test_only_clients_that_ask_for_html_get_the_page(accept: str, html: bool) -> None:
    assert api.wants_html(accept) is html


def test_the_authorizer_is_iam_unless_the_stage_says_none() -> None:
    assert type(api.api_authorizer("iam")).__name__ == "IAMAuthorizer"
    assert api.api_authorizer("none") is None
    with pytest.raises(Exception, match="API_AUTH must be 'iam' or 'none'"):
        api.api_authorizer("IAM ")


def test_the_page_escapes_keys_and_errors() -> None:
    item = {
        "id": 7,
        "key": "<script>alert('x')</script>&\"q\".csv",
        "status": "rejected",
        "row_count": None,
        "column_count": None,
        "error": {"code": "BINARY", "message": 'a NUL byte <here> & "there"'},
        "uploaded_at": "2025-09-02T14:30:00+00:00",
    }
    page = statuspage.render(
        counts={"rejected": 1},
        files=[item],
        buckets=("in<put>", "out"),
        now=datetime(2025, 9, 2, 14, 31, tzinfo=UTC),
    )
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;&quot;q&quot;.csv" in page
    assert "a NUL byte &lt;here&gt; &amp; &quot;there&quot;" in page
    assert "s3://in&lt;put&gt;" in page
    assert '<meta http-equiv="refresh" content="5">' in page
    assert "2025-09-02 14:30:00" in page
    assert '<a href="files/7">7</a>' in page


def test_an_empty_page_says_so() -> None:
    page = statuspage.render(counts={}, files=[], buckets=("a", "b"), error="DATABASE_ERROR: x")
    assert "No uploads yet." in page
    assert "Database unavailable: DATABASE_ERROR: x" in page
