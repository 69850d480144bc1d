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
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from chalicelib.core.drift import SchemaChange, dataset_label

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
.chart { background: #fff; border: 1px solid var(--line); border-radius: 8px;
         padding: 12px 16px; margin-bottom: 24px; }
.chart svg { display: block; width: 100%; height: auto; }
.chart rect { fill: var(--c); }
.chart rect.none { fill: #f5f7fa; }
.chart text { fill: var(--muted); font-size: 10px; }
.chart line { stroke: var(--line); }
.legend { font-size: 12px; color: var(--muted); }
.legend .badge { margin-right: 4px; }
td.cols { font-size: 13px; max-width: 360px; word-break: break-word; }
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
    if item.get("schema_changed"):
        notes.append('<div class="warn">schema change</div>')
    return "".join(notes)


def _change_summary(change: Mapping[str, Any] | None) -> str:
    """``1 renamed, 2 added`` for a stored ``schema_change`` (empty for none)."""
    return SchemaChange.from_dict(change).summary() if change else ""


#: The chart's geometry (SVG user units): one bar per hour, the newest on the right.
CHART_HOURS = 24
_BAR, _GAP, _PLOT_H, _LEFT, _TOP, _BOTTOM = 24, 6, 96, 34, 8, 18


def hourly(rows: Sequence[Mapping[str, Any]]) -> list[tuple[datetime, dict[str, int]]]:
    """``uploads_by_hour``'s rows as the hours in order, each with its counts by status."""
    hours: dict[datetime, dict[str, int]] = {}
    for row in rows:
        counts = hours.setdefault(row["hour"], {})
        if row.get("status"):
            counts[str(row["status"])] = int(row["n"])
    return sorted(hours.items())


def chart(rows: Sequence[Mapping[str, Any]]) -> str:
    """Uploads per hour by status over the last 24 hours: an inline SVG, no script.

    Bars stack by status (coloured by the stylesheet's status classes); each
    segment's ``<title>`` is its tooltip. The scale is the busiest hour.
    """
    hours = hourly(rows)
    top = max((sum(c.values()) for _, c in hours), default=0)
    width = _LEFT + len(hours) * (_BAR + _GAP)
    height = _TOP + _PLOT_H + _BOTTOM
    base = _TOP + _PLOT_H
    parts = [
        f'<line x1="{_LEFT}" y1="{base}" x2="{width}" y2="{base}"/>',
        f'<text x="0" y="{_TOP + 8}">{top:,}</text>',
        f'<text x="0" y="{base}">0</text>',
    ]
    for i, (hour, counts) in enumerate(hours):
        x = _LEFT + i * (_BAR + _GAP)
        y = float(base)
        label = hour.strftime("%H:00")
        for status in STATUSES:
            n = counts.get(status, 0)
            if not n:
                continue
            h = _PLOT_H * n / top
            y -= h
            parts.append(
                f'<rect class="{status}" x="{x}" y="{y:.1f}" width="{_BAR}" height="{h:.1f}">'
                f"<title>{label} UTC: {n:,} {status}</title></rect>"
            )
        if not counts:
            parts.append(
                f'<rect class="none" x="{x}" y="{_TOP}" width="{_BAR}" height="{_PLOT_H}">'
                f"<title>{label} UTC: no uploads</title></rect>"
            )
        if i % 3 == 0 or i == len(hours) - 1:
            parts.append(f'<text x="{x}" y="{height - 4}">{label}</text>')
    total = sum(sum(c.values()) for _, c in hours)
    legend = " ".join(f'<span class="badge {s}">{s}</span>' for s in STATUSES)
    first = hours[0][0] if hours else None
    span = (
        f"{first:%Y-%m-%d %H:00} to {first + timedelta(hours=len(hours)):%Y-%m-%d %H:00} UTC"
        if first
        else ""
    )
    return (
        '<section class="chart"><h2>Uploads per hour, last 24 hours</h2>'
        f'<svg viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{total:,} uploads per hour by status, {span}">'
        + "".join(parts)
        + f'</svg><p class="legend">{legend} &middot; {total:,} uploads, {span}</p></section>'
    )


_SHOWN_COLUMNS = 8
_NAME_CHARS = 40


def _columns(item: Mapping[str, Any]) -> str:
    columns = item.get("columns")
    if columns is None:
        return '<span class="warn">none succeeded yet</span>'
    names = [
        str(c["name"]) if len(str(c["name"])) <= _NAME_CHARS else str(c["name"])[:_NAME_CHARS] + "…"
        for c in columns[:_SHOWN_COLUMNS]
    ]
    more = int(item.get("column_count") or len(columns)) - len(names)
    text = ", ".join(names) + (f" and {more:,} more" if more > 0 else "")
    return escape(text)


def _dataset_contract(contract: Mapping[str, Any] | None) -> str:
    """A dataset's contract in a few words: its name, and whether changes reject."""
    if not contract:
        return "none"
    rejects = " (rejects schema changes)" if contract.get("schema_change") == "reject" else ""
    return f"{contract.get('name')}{rejects}"


def _dataset_row(item: Mapping[str, Any]) -> str:
    last = item["last_upload"]
    status = escape(str(last["status"]))
    change = item.get("last_schema_change")
    change_html = (
        f'<a href="files/{int(change["id"])}">{int(change["id"])}</a> '
        f'<span class="warn">{escape(_change_summary(change.get("schema_change")))}</span>'
        if change and change.get("id") is not None
        else ""
    )
    contract = item.get("contract")
    return (
        "<tr>"
        f'<td class="key">{escape(str(item["name"]))}</td>'
        f"<td>{escape(_dataset_contract(contract))}</td>"
        f'<td class="cols">{_columns(item)}</td>'
        f'<td class="num"><a href="files/{int(last["id"])}">{int(last["id"])}</a></td>'
        f'<td><span class="badge {status}">{status}</span></td>'
        f"<td>{escape(_utc(last.get('uploaded_at')))}</td>"
        f"<td>{change_html}</td>"
        "</tr>"
    )


def datasets_table(datasets: Sequence[Mapping[str, Any]]) -> str:
    rows = "".join(_dataset_row(item) for item in datasets) or (
        '<tr><td class="empty" colspan="7">No datasets yet.</td></tr>'
    )
    return (
        "<h2>Datasets</h2>"
        "<table><thead><tr><th>dataset</th><th>contract</th><th>columns</th>"
        "<th>last upload</th><th>status</th><th>uploaded (UTC)</th>"
        "<th>last schema change</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


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
    datasets: Sequence[Mapping[str, Any]] = (),
    hours: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The whole page: counts by status, the hourly chart, the most recent uploads
    and the datasets."""
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
{chart(hours)}
<h2>Latest uploads</h2>
<table>
<thead><tr><th>id</th><th>file</th><th>status</th><th>rows</th><th>columns</th>
<th>format</th><th>error / warnings</th><th>uploaded (UTC)</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<footer>The {len(files)} most recent uploads. JSON: <a href="status">status</a>,
<a href="files">files</a> (<code>?status=&amp;limit=&amp;cursor=</code>),
<code>files/{{id}}</code>, <a href="datasets">datasets</a>.</footer>
{datasets_table(datasets)}
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
    if detail.get("dataset") is not None:
        facts.append(("dataset", dataset_label(str(detail["dataset"]))))
    change = detail.get("schema_change")
    if change:
        previous = change.get("previous") or {}
        facts.append(
            (
                "schema change",
                f"{_change_summary(change)} since {previous.get('key')} "
                f"(upload {previous.get('metadata_id')})",
            )
        )
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
