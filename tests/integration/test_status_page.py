"""The status page in a real browser: headless Chromium against `make local`.

Starts the local stack on free ports, uploads a file with an awkward key from
"another terminal", then loads ``GET /`` in Chromium (which asks for
``text/html``) and checks the rendered DOM and a screenshot. With
``UPDATE_SCREENSHOT=1`` the screenshot is also saved as ``docs/status-page.png``.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from html import unescape
from pathlib import Path

import pytest

from tests.integration.localstack import Running, wait_rows

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
KEY = "reports/<Q3> & \"final\" 'v2'.csv"
CSV = b"region,amount\nnorth,10\nsouth,20\neast,30\nwest,40\n"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")  # Debian, Ubuntu, GitHub's runners
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium_binary() -> str:
    found = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed: .ci/run installs Debian's chromium package")
    pytest.skip("chromium is not installed (apt-get install -y chromium)")


def chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_status_page_shows_an_upload_in_headless_chromium(
    local: Running, tmp_path: Path
) -> None:
    binary = chromium_binary()
    local.wait_for("csv-pipeline local stack ready in")
    local.wait_for("samples/sales/sales-2025-q3.csv  120 rows")
    env = local.env()
    s3 = local.s3()
    s3.put_object(Bucket=env["INPUT_BUCKET"], Key=KEY, Body=CSV)
    row = wait_rows(env, [KEY])[KEY]
    assert (row["status"], row["row_count"]) == ("succeeded", 4)
    wait_rows(env, ["samples/broken/broken-export.csv"])
    page_url = env["STATUS_URL"].removesuffix("status")

    dom = chromium(binary, tmp_path / "profile-dom", "--dump-dom", page_url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "<title>csv-pipeline status</title>" in html
    assert "&lt;Q3&gt; &amp;" in html  # the key is text, not markup
    assert "<Q3>" not in html
    assert f'<td class="key">{KEY}</td>' not in html
    text = unescape(html)
    assert KEY in text
    assert f'href="files/{row["id"]}"' in html
    assert "UNTERMINATED_QUOTE" in text  # the sample that is rejected, with its error
    assert '<span class="badge succeeded">succeeded</span>' in html
    assert '<span class="badge rejected">rejected</span>' in html
    # the datasets, the key's folder among them, and the chart of the last 24 hours
    assert "<h2>Datasets</h2>" in html
    assert '<td class="key">reports/</td>' in html
    assert '<td class="key">samples/sales/</td>' in html
    [chart] = html.split("<svg")[1:]
    assert "UTC: no uploads</title>" in chart
    assert '<rect class="succeeded"' in chart

    shot = tmp_path / "status-page.png"
    result = chromium(
        binary,
        tmp_path / "profile-shot",
        f"--screenshot={shot}",
        "--window-size=1280,900",
        page_url,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert png_size(shot) == (1280, 900)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    if os.environ.get("UPDATE_SCREENSHOT"):
        shutil.copyfile(shot, ROOT / "docs" / "status-page.png")
