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
.warn { color: #8d5a00; font-size: 13px; }
header a { color: #fff; }
h2 { font-size: 17px; margin: 24px 0 8px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dt { color: var(--muted); } dd { margin: 0; }
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
        f'<td class="key">{escape(str(item["key"]))}{_contract(item)}</td>'
        f'<td><span class="badge {status}">{status}</span></td>'
        f'<td class="num">{_number(item.get("row_count"))}</td>'
        f'<td class="num">{_number(item.get("column_count"))}</td>'
        f"<td>{escape(_format(item))}</td>"
        f'<td class="err">{error_html}{_warnings(item)}</td>'
        f"<td>{escape(_utc(item.get('uploaded_at')))}</td>"
        "</tr>"
    )


def _contract(item: Mapping[str, Any]) -> str:
    """The mark of a data contract: its name, and how many values broke it."""
    contract = item.get("contract")
    if not contract:
        return ""
    broken = contract.get("violations")
    count = f": {int(broken):,} violation(s)" if broken else ""
    return f'<div class="warn">contract {escape(str(contract.get("name")))}{count}</div>'


def _format(item: Mapping[str, Any]) -> str:
    """``utf-16-le, gzip``: how the file was read (empty when it could not be)."""
    parts = [str(item[name]) for name in ("encoding", "compression") if item.get(name)]
    return ", ".join(parts)


def _warnings(item: Mapping[str, Any]) -> str:
    error = item.get("error") or {}
    notes = [
        f'<div class="warn"><code>{escape(str(w.get("code")))}</code></div>'
        for w in item.get("warnings") or []
        if w.get("code") != error.get("code")
    ]
    ragged = item.get("ragged_rows")
    if ragged:
        notes.append(f'<div class="warn">{int(ragged):,} ragged row(s)</div>')
    return "".join(notes)


def _contract_fact(contract: Mapping[str, Any] | None) -> str:
    if not contract:
        return ""
    counts = contract.get("counts") or []
    parts = [
        f"{c.get('column')} {c.get('rule')} x{c.get('count')} (first row {c.get('first_row')})"
        for c in counts
    ]
    parts += [f"{p.get('column')} {p.get('kind')}" for p in contract.get("header_problems") or []]
    return f"{contract.get('name')}" + (": " + "; ".join(parts) if parts else ": every row holds")


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
        '<tr><td class="empty" colspan="8">No uploads yet.</td></tr>'
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
<th>format</th><th>error / warnings</th><th>uploaded (UTC)</th></tr></thead>
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


def render_file(detail: Mapping[str, Any]) -> str:
    """One upload (``GET /files/{id}`` for browsers): its facts and its column profile."""
    error = detail.get("error")
    facts = [
        ("file", detail.get("key")),
        ("status", detail.get("status")),
        ("rows", _number(detail.get("row_count"))),
        ("columns", _number(detail.get("column_count"))),
        ("format", _format(detail)),
        ("delimiter", repr(detail.get("delimiter")) if detail.get("delimiter") else ""),
        ("ragged rows", _number(detail.get("ragged_rows"))),
        ("error", f"{error['code']}: {error.get('message') or ''}" if error else ""),
        ("contract", _contract_fact(detail.get("contract"))),
        ("uploaded (UTC)", _utc(detail.get("uploaded_at"))),
    ]
    warnings = [f"{w.get('code')}: {w.get('message')}" for w in detail.get("warnings") or []]
    facts += [("warning", text) for text in warnings]
    listing = "".join(
        f"<dt>{escape(name)}</dt><dd>{escape(str(value))}</dd>" for name, value in facts if value
    )
    profile = detail.get("profile") or {}
    rows = (
        "".join(
            "<tr>"
            f'<td class="key">{escape(str(c.get("name")))}</td>'
            f"<td>{escape(str(c.get('type')))}</td>"
            f'<td class="num">{_number(c.get("empty"))}</td>'
            f"<td>{escape(str(c.get('min') if c.get('min') is not None else ''))}</td>"
            f"<td>{escape(str(c.get('max') if c.get('max') is not None else ''))}</td>"
            f'<td class="num">{_number(c.get("max_length"))}</td>'
            "</tr>"
            for c in profile.get("columns") or []
        )
        or '<tr><td class="empty" colspan="6">No column profile.</td></tr>'
    )
    sampled = profile.get("sampled_rows")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>csv-pipeline: upload {int(detail["id"])}</title>
<style>{_STYLE}</style>
</head>
<body>
<header><h1>Upload {int(detail["id"])}</h1><p><a href="../">all uploads</a></p>
</header>
<main>
<dl>{listing}</dl>
<h2>Column profile{f" (a sample of {int(sampled):,} rows)" if sampled else ""}</h2>
<table>
<thead><tr><th>column</th><th>type</th><th>empty</th><th>min</th><th>max</th>
<th>longest</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</main>
</body>
</html>
"""
