"""Request parameters no client should send: the API answers 400, never 500."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.conftest import Stack

pytestmark = pytest.mark.integration

HUGE = "9" * 5000  # past Python's int-from-string limit (4300 digits)


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("path", "code"),
    [
        (f"/files/{HUGE}", "BAD_ID"),
        (f"/files/-{HUGE}", "BAD_ID"),
        (f"/files?limit={HUGE}", "BAD_LIMIT"),
        (f"/files?limit=0{HUGE}", "BAD_LIMIT"),
        (f"/files?cursor={cursor_of('id:' + HUGE)}", "BAD_CURSOR"),
    ],
    ids=["id", "negative-id", "limit", "limit-leading-zero", "cursor"],
)
def test_a_5000_digit_number_is_a_400_not_a_500(
    client: Any, stack: Stack, path: str, code: str
) -> None:
    response = client.http.get(path)

    assert response.status_code == 400
    error = response.json_body["error"]
    assert error["code"] == code
    assert len(error["message"]) < 300, "the message must not echo 5,000 digits back"
