"""A browser must not run, frame or sniff what the status API answers.

The page is plain HTML with one inline stylesheet and no script: its policy
allows that stylesheet (by hash) and nothing else, and no other site may put
it in a frame (clickjacking). JSON answers allow nothing at all.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest

from tests.conftest import Stack

pytestmark = pytest.mark.integration

EVERYWHERE = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def policy(headers: dict[str, str]) -> dict[str, str]:
    """A Content-Security-Policy header as ``{directive: sources}``."""
    text = headers.get("Content-Security-Policy") or headers.get("content-security-policy") or ""
    directives = (part.strip().partition(" ") for part in text.split(";") if part.strip())
    return {name: sources.strip() for name, _, sources in directives}


def test_the_status_page_allows_its_own_stylesheet_and_nothing_else(
    stack: Stack, client: Any
) -> None:
    response = client.http.get("/", headers={"accept": "text/html"})

    assert response.status_code == 200
    for name, value in EVERYWHERE.items():
        assert response.headers.get(name) == value, name
    csp = policy(response.headers)
    assert csp["default-src"] == "'none'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["base-uri"] == "'none'"
    assert csp["form-action"] == "'none'"
    assert "script-src" not in csp  # default-src 'none': no script at all
    [style] = re.findall(r"<style>(.*?)</style>", response.body.decode(), flags=re.S)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert csp["style-src"] == f"'sha256-{digest}'"  # this stylesheet, not 'unsafe-inline'


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/status", 200),
        ("/files", 200),
        ("/files/abc", 400),
        ("/files/999", 404),
        ("/datasets", 200),
        ("/", 200),
    ],
)
def test_json_answers_carry_the_same_headers_and_allow_nothing(
    stack: Stack, client: Any, path: str, status: int
) -> None:
    response = client.http.get(path)

    assert response.status_code == status
    for name, value in EVERYWHERE.items():
        assert response.headers.get(name) == value, name
    assert policy(response.headers) == {"default-src": "'none'", "frame-ancestors": "'none'"}
