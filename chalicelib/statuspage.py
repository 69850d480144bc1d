"""The status page (``GET /`` for browsers): plain HTML and CSS, no script (pure).

It refreshes itself every few seconds (``<meta http-equiv="refresh">``).
Everything that comes from an upload (keys, error messages) is escaped: keys
may hold ``<``, ``&`` and quotes. :data:`CONTENT_SECURITY_POLICY` allows the
page's one inline stylesheet, by its hash, and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

REFRESH_SECONDS = 5
STATUSES = ("processing", "succeeded", "rejected", "failed")

_STYLE = """
:root { color-scheme: light; --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: var(--ink); background: #f5f7fa; }
header { background: #243b53; color: #fff; padding: 18px 32px; }
header h1 { margin: 0; font-size: 22px; font-weight: 600; }
header p { margin: 4px 0 0; color: #bcccdc; font-size: 13px; }
main { padding: 24px 32px; max-width: 1280px; }
.counts { display: flex; gap: 16px; margin-bottom: 24px; }
.count { flex: 1; background: #fff; border: 1px solid var(--line); border-radius: 8px;
         padding: 14px 18px; border-top: 4px solid var(--c); }
.count b { display: block; font-size: 30px; font-weight: 600; }
.count span { color: var(--muted); text-transform: uppercase; font-size: 12px;
              letter-spacing: .06em; }
.alert { background: #ffe3e3; border: 1px solid #ff8a8a; color: #8a1c1c;
         padding: 12px 16px; border-radius: 8px; margin-bottom: 24px; }
table { width: 100%; border-collapse: collapse; background: #fff;
        border: 1px solid var(--line); border-radius: 8px; }
th, td { text-align: left; padding: 9px 12px; border-bottom: 1px solid var(--line);
         vertical-align: top; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .06em;
     color: var(--muted); background: #fafbfc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.key { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 13px;
         word-break: break-all; }
td.err { color: #8a1c1c; max-width: 420px; }
td.err code { font-weight: 600; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
         font-weight: 600; color: #fff; background: var(--c); }
.processing { --c: #2680c2; } .succeeded { --c: #2f8132; }
.rejected { --c: #cb6e17; } .failed { --c: #ba2525; }
.empty { color: var(--muted); text-align: center; padding: 28px; }
footer { color: var(--muted); font-size: 13px; margin-top: 16px; }
a { color: #2680c2; }
"""


def _style_hash(style: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode()


#: No script, no frame, no form, no base; the stylesheet below by its hash (a
#: changed stylesheet changes the hash with it).
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src '{_style_hash(_STYLE)}'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def _utc(value: Any) -> str:
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else ""


def _row(item: Mapping[str, Any]) -> str:
    status = escape(str(item["status"]))
    error = item.get("error")
    error_html = (
        f"<code>{escape(error['code'])}</code> {escape(error.get('message') or '')}"
        if error
        else ""
    )
    return (
        "<tr>"
        f'<td class="num"><a href="files/{int(item["id"])}">{int(item["id"])}</a></td>'
        f'<td class="key">{escape(str(item["key"]))}</td>'
        f'<td><span class="badge {status}">{status}</span></td>'
        f'<td class="num">{_number(item.get("row_count"))}</td>'
        f'<td class="num">{_number(item.get("column_count"))}</td>'
        f'<td class="err">{error_html}</td>'
        f"<td>{escape(_utc(item.get('uploaded_at')))}</td>"
        "</tr>"
    )


def render(
    *,
    counts: Mapping[str, int],
    files: Sequence[Mapping[str, Any]],
    buckets: tuple[str, str],
    error: str | None = None,
    now: datetime | None = None,
) -> str:
    """The whole page: counts by status, then the most recent uploads."""
    moment = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S")
    cards = "".join(
        f'<div class="count {s}"><b>{int(counts.get(s, 0)):,}</b><span>{s}</span></div>'
        for s in STATUSES
    )
    alert = f'<div class="alert">Database unavailable: {escape(error)}</div>' if error else ""
    rows = "".join(_row(item) for item in files) or (
        '<tr><td class="empty" colspan="7">No uploads yet.</td></tr>'
    )
    input_bucket, output_bucket = (escape(b) for b in buckets)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>csv-pipeline status</title>
<style>{_STYLE}</style>
</head>
<body>
<header>
<h1>csv-pipeline</h1>
<p>uploads to s3://{input_bucket}, results in s3://{output_bucket}
&middot; as of {moment} UTC &middot; refreshes every {REFRESH_SECONDS} s</p>
</header>
<main>
{alert}<section class="counts">{cards}</section>
<table>
<thead><tr><th>id</th><th>file</th><th>status</th><th>rows</th><th>columns</th>
<th>error</th><th>uploaded (UTC)</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<footer>The {len(files)} most recent uploads. JSON: <a href="status">status</a>,
<a href="files">files</a> (<code>?status=&amp;limit=&amp;cursor=</code>),
<code>files/{{id}}</code>.</footer>
</main>
</body>
</html>
"""
