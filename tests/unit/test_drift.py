"""Schema drift (chalicelib/core/drift.py): datasets of keys and what a schema change is."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from chalicelib import api, statuspage
from chalicelib.core.drift import (
    ROOT_DATASET,
    ROOT_LABEL,
    Baseline,
    Rename,
    Retype,
    Schema,
    SchemaChange,
    dataset_label,
    dataset_of,
    email_paragraph,
    schema_change,
)
from chalicelib.core.events import Upload
from chalicelib.core.profile import ColumnProfile, Profile
from chalicelib.core.results import Outcome, build_notification, build_result, shown

TYPES = ("empty", "integer", "number", "boolean", "date", "datetime", "string")
names = st.text(min_size=0, max_size=8)
unique_names = st.lists(names, min_size=0, max_size=12, unique=True)
types = st.sampled_from(TYPES)
solid_types = st.sampled_from([t for t in TYPES if t != "empty"])


def schema(names: list[str] | tuple[str, ...], types: list[str] | None = None) -> Schema:
    kinds = tuple(types) if types is not None else ("string",) * len(names)
    return Schema(tuple(names), kinds, len(names))


def base(previous: Schema) -> Baseline:
    return Baseline(key="sales/q2.csv", metadata_id=41, schema=previous)


# --- datasets -------------------------------------------------------------------------


def test_the_dataset_is_the_folder_with_its_slash() -> None:
    assert dataset_of("reports/2025/q3.csv") == "reports/2025/"
    assert dataset_of("/etc/x.csv") == "/etc/"
    assert dataset_of("a//b.csv") == "a//"
    assert dataset_of("x.csv") == ROOT_DATASET == ""
    assert dataset_of("/x.csv") == "/"  # not the top level: another folder
    assert dataset_of("données/été.csv") == "données/"
    assert dataset_of("dir/") == "dir/"
    assert dataset_label("") == ROOT_LABEL
    assert dataset_label("a/") == "a/"


@given(st.text(max_size=40))
def test_a_key_is_its_dataset_and_a_name_without_a_slash(key: str) -> None:
    dataset = dataset_of(key)
    assert key.startswith(dataset)
    assert "/" not in key[len(dataset) :]
    assert dataset == "" or dataset.endswith("/")
    assert dataset_of(dataset + "other.csv") == dataset


# --- schema_change: properties ----------------------------------------------------------


@given(st.lists(st.tuples(names, types), max_size=12))
def test_identical_schemas_have_no_change(columns: list[tuple[str, str]]) -> None:
    current = schema([n for n, _ in columns], [t for _, t in columns])
    assert schema_change(base(current), current) is None


@given(unique_names)
def test_a_first_upload_has_no_change(header: list[str]) -> None:
    assert schema_change(None, schema(header)) is None


@given(st.lists(st.tuples(names, solid_types), max_size=12, unique_by=lambda c: c[0]), st.data())
def test_a_pure_permutation_is_only_reordered(
    columns: list[tuple[str, str]], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(columns))
    assume(shuffled != columns)
    change = schema_change(
        base(schema([n for n, _ in columns], [t for _, t in columns])),
        schema([n for n, _ in shuffled], [t for _, t in shuffled]),
    )
    assert change is not None
    assert change.reordered
    assert set(change.reordered) <= {n for n, _ in columns}
    assert (change.added, change.removed, change.renamed, change.retyped) == ((), (), (), ())


@given(unique_names, unique_names)
def test_added_and_removed_are_the_set_differences_when_the_count_changes(
    old: list[str], new: list[str]
) -> None:
    assume(len(old) != len(new))
    change = schema_change(base(schema(old)), schema(new))
    assert change is not None
    assert change.renamed == ()
    assert set(change.added) == set(new) - set(old)
    assert set(change.removed) == set(old) - set(new)
    assert list(change.added) == [n for n in new if n not in old]  # in the header's order


@given(unique_names, unique_names)
def test_every_difference_is_accounted_for(old: list[str], new: list[str]) -> None:
    """Added and the renames' new names are what the new header has beyond the old one."""
    change = schema_change(base(schema(old)), schema(new))
    if change is None:
        assert old == new
        return
    assert set(change.added) | {r.new for r in change.renamed} == set(new) - set(old)
    assert set(change.removed) | {r.old for r in change.renamed} == set(old) - set(new)
    assert set(change.reordered) <= set(old) & set(new)


@given(unique_names, names, st.data())
def test_one_inserted_column_is_only_added(
    header: list[str], extra: str, data: st.DataObject
) -> None:
    assume(extra not in header)
    at = data.draw(st.integers(0, len(header)))
    change = schema_change(base(schema(header)), schema([*header[:at], extra, *header[at:]]))
    assert change == SchemaChange("sales/q2.csv", 41, added=(extra,))


@given(st.lists(names, min_size=1, max_size=12, unique=True), names, st.data())
def test_one_renamed_column_is_only_renamed(
    header: list[str], new_name: str, data: st.DataObject
) -> None:
    assume(new_name not in header)
    at = data.draw(st.integers(0, len(header) - 1))
    renamed = [*header[:at], new_name, *header[at + 1 :]]
    change = schema_change(base(schema(header)), schema(renamed))
    assert change == SchemaChange("sales/q2.csv", 41, renamed=(Rename(header[at], new_name),))


@given(st.lists(names, min_size=2, max_size=12, unique=True), st.data())
def test_moving_one_column_reorders_exactly_one(header: list[str], data: st.DataObject) -> None:
    source = data.draw(st.integers(0, len(header) - 1))
    rest = header[:source] + header[source + 1 :]
    target = data.draw(st.integers(0, len(rest)))
    moved = [*rest[:target], header[source], *rest[target:]]
    assume(moved != header)
    change = schema_change(base(schema(header)), schema(moved))
    assert change is not None
    assert len(change.reordered) == 1
    assert change.to_dict()["added"] == change.to_dict()["removed"] == []


@given(st.lists(st.tuples(names, types, types), max_size=12, unique_by=lambda c: c[0]))
def test_retyped_lists_exactly_the_columns_whose_solid_type_changed(
    columns: list[tuple[str, str, str]],
) -> None:
    header = [n for n, _, _ in columns]
    change = schema_change(
        base(schema(header, [a for _, a, _ in columns])),
        schema(header, [b for _, _, b in columns]),
    )
    expected = tuple(Retype(n, a, b) for n, a, b in columns if a != b and "empty" not in (a, b))
    assert (change.retyped if change else ()) == expected
    if change:
        assert (change.added, change.removed, change.reordered, change.renamed) == ((), (), (), ())


@given(st.lists(st.sampled_from("abc"), max_size=8), st.lists(st.sampled_from("abc"), max_size=8))
def test_duplicate_names_match_by_occurrence(old: list[str], new: list[str]) -> None:
    change = schema_change(base(schema(old)), schema(new))
    if change is None:
        assert old == new
        return
    if not change.renamed:
        assert Counter(change.added) == Counter(new) - Counter(old)
        assert Counter(change.removed) == Counter(old) - Counter(new)


@given(
    st.lists(st.tuples(names, types), max_size=10), st.lists(st.tuples(names, types), max_size=10)
)
def test_the_stored_change_reads_back_as_itself(
    old: list[tuple[str, str]], new: list[tuple[str, str]]
) -> None:
    change = schema_change(
        base(schema([n for n, _ in old], [t for _, t in old])),
        schema([n for n, _ in new], [t for _, t in new]),
    )
    if change is not None:
        assert SchemaChange.from_dict(change.to_dict()) == change


# --- schema_change: examples ---------------------------------------------------------------


def test_the_issues_renamed_column() -> None:
    old = schema(["id", "name", "amount"], ["integer", "string", "integer"])
    new = schema(["id", "name", "total"], ["integer", "string", "integer"])
    change = schema_change(base(old), new)
    assert change is not None
    assert change.to_dict() == {
        "previous": {"key": "sales/q2.csv", "metadata_id": 41},
        "added": [],
        "removed": [],
        "reordered": [],
        "renamed": [{"from": "amount", "to": "total"}],
        "retyped": [],
    }


def test_a_rename_with_another_type_is_a_removal_and_an_addition() -> None:
    old = schema(["id", "amount"], ["integer", "integer"])
    change = schema_change(base(old), schema(["id", "total"], ["integer", "date"]))
    assert change == SchemaChange("sales/q2.csv", 41, added=("total",), removed=("amount",))


def test_a_rename_beside_an_added_column_is_a_removal_and_two_additions() -> None:
    change = schema_change(base(schema(["id", "amount"])), schema(["id", "total", "note"]))
    assert change == SchemaChange("sales/q2.csv", 41, added=("total", "note"), removed=("amount",))


def test_an_added_and_a_retyped_column() -> None:
    old = schema(["id", "amount"], ["integer", "integer"])
    new = schema(["id", "amount", "note"], ["integer", "number", "string"])
    change = schema_change(base(old), new)
    assert change == SchemaChange(
        "sales/q2.csv", 41, added=("note",), retyped=(Retype("amount", "integer", "number"),)
    )


def test_a_column_that_was_empty_is_not_retyped() -> None:
    old = schema(["id", "note"], ["integer", "empty"])
    assert schema_change(base(old), schema(["id", "note"], ["integer", "string"])) is None


def test_moving_the_first_column_to_the_end_reorders_only_it() -> None:
    change = schema_change(base(schema(["a", "b", "c", "d"])), schema(["b", "c", "d", "a"]))
    assert change == SchemaChange("sales/q2.csv", 41, reordered=("a",))


# --- the result and the email ---------------------------------------------------------------

WHEN = datetime(2025, 9, 2, 14, 30, 0, tzinfo=UTC)


def outcome(change: SchemaChange | None) -> Outcome:
    columns = tuple(ColumnProfile(n, "integer", 0, "1", "2", 1) for n in ("id", "total"))
    profile = Profile(
        status="succeeded",
        row_count=2,
        column_count=2,
        delimiter=",",
        encoding="utf-8",
        bytes_read=20,
        header=("id", "total"),
        sampled_rows=2,
        columns=columns,
    )
    upload = Upload("in", "sales/q3.csv", WHEN, size=20, etag="e", sequencer="SEQ")
    return Outcome(
        upload=upload,
        status="succeeded",
        result_bucket="out",
        result_key="results/sales/q3.json",
        backup_bucket="bak",
        backup_key="backup/sales/q3.csv",
        profile=profile,
        metadata_id=42,
        schema_change=change,
    )


def test_the_result_carries_schema_change_at_its_top_level() -> None:
    assert build_result(outcome(None))["schema_change"] is None
    change = SchemaChange("sales/q2.csv", 41, renamed=(Rename("amount", "total"),))
    assert build_result(outcome(change))["schema_change"] == change.to_dict()


def test_the_email_has_a_paragraph_naming_the_columns() -> None:
    change = SchemaChange(
        "sales/q2.csv",
        41,
        added=("note",),
        renamed=(Rename("amount", "total"),),
        retyped=(Retype("id", "integer", "string"),),
    )
    body = build_notification(outcome(change)).body
    assert "Schema:      the columns differ from the last succeeded upload" in body
    assert "sales/q2.csv (file_metadata id 41)" in body
    assert "Renamed:     amount -> total\n" in body
    assert "Added:       note\n" in body
    assert "Retyped:     id (integer -> string)\n" in body
    assert "Schema:" not in build_notification(outcome(None)).body


def test_column_names_cannot_forge_lines_of_the_email() -> None:
    change = SchemaChange("a/b.csv", 1, added=("x\nStatus:      FAILED", "y" * 500))
    [added] = [line for line in email_paragraph(change, shown) if line.startswith("Added:")]
    assert "\\n" in added
    assert "\n" not in added
    assert "y" * 100 + "..." in added
    assert "y" * 101 not in added


def test_a_long_list_of_names_is_cut_with_a_count() -> None:
    change = SchemaChange("a/b.csv", 1, removed=tuple(f"c{i}" for i in range(50)))
    [removed] = [line for line in email_paragraph(change, shown) if line.startswith("Removed:")]
    assert removed.endswith("c19 and 30 more")


# --- the status page's datasets and chart -------------------------------------------------


def hour_rows(counts: dict[int, dict[str, int]]) -> list[dict[str, object]]:
    """``uploads_by_hour``'s rows: 24 hours, ``counts`` by hour index."""
    start = datetime(2025, 9, 2, 0, 0)
    rows: list[dict[str, object]] = []
    for i in range(24):
        hour = start + timedelta(hours=i)
        by_status = counts.get(i, {})
        rows += [{"hour": hour, "status": s, "n": n} for s, n in by_status.items()]
        if not by_status:
            rows.append({"hour": hour, "status": None, "n": 0})
    return rows


def test_the_chart_stacks_each_hours_uploads_by_status() -> None:
    svg = statuspage.chart(hour_rows({23: {"succeeded": 6, "failed": 2}, 5: {"rejected": 8}}))

    assert svg.count("UTC: no uploads</title>") == 22
    bars = re.findall(
        r'<rect class="(\w+)" x="(\d+)" y="([\d.]+)" width="\d+" height="([\d.]+)"', svg
    )
    drawn = {(cls, x): float(h) for cls, x, _, h in bars if cls != "none"}
    heights = sorted(drawn.values())
    assert heights == [24.0, 72.0, 96.0]  # 2, 6 and 8 of the busiest hour's 8, on 96 units
    assert "<title>23:00 UTC: 6 succeeded</title>" in svg
    assert "<title>05:00 UTC: 8 rejected</title>" in svg
    assert "16 uploads, 2025-09-02 00:00 to 2025-09-03 00:00 UTC" in svg
    assert "<script" not in svg
    assert "style=" not in svg  # the CSP allows the page's one stylesheet, no style attribute


def test_an_empty_chart_draws_empty_hours() -> None:
    svg = statuspage.chart(hour_rows({}))
    assert svg.count("no uploads") == 24
    assert "0 uploads" in svg


def test_the_datasets_table_escapes_names_and_summarises_the_change() -> None:
    change = SchemaChange("<a>/q2.csv", 7, added=("x",), renamed=(Rename("a", "b"),))
    item = {
        "dataset": "<a>/",
        "name": "<a>/",
        "contract": None,
        "columns": [{"name": "<img src=x>", "type": "string"}],
        "column_count": 1,
        "last_upload": {"id": 9, "key": "<a>/q3.csv", "status": "succeeded", "uploaded_at": None},
        "last_schema_change": {"id": 9, "at": None, "schema_change": change.to_dict()},
    }
    html = statuspage.datasets_table([item])
    assert "&lt;a&gt;/" in html
    assert "&lt;img src=x&gt;" in html
    assert "<img" not in html
    assert '<a href="files/9">9</a> <span class="warn">1 renamed, 1 added</span>' in html
    page = statuspage.render(counts={}, files=[], buckets=("i", "o"), datasets=[item])
    assert "<h2>Datasets</h2>" in page
    assert "No datasets yet." in statuspage.datasets_table([])


def test_one_uploads_page_names_its_dataset_and_its_schema_change() -> None:
    change = SchemaChange("<a>/q2.csv", 7, renamed=(Rename("a", "b"),))
    detail = {
        "id": 8,
        "key": "<a>/q3.csv",
        "status": "succeeded",
        "dataset": "<a>/",
        "schema_change": change.to_dict(),
    }
    html = statuspage.render_file(detail)
    assert "<dt>dataset</dt><dd>&lt;a&gt;/</dd>" in html
    assert "<dt>schema change</dt><dd>1 renamed since &lt;a&gt;/q2.csv (upload 7)</dd>" in html
    top = statuspage.render_file({**detail, "dataset": "", "schema_change": None})
    assert "<dd>(top level)</dd>" in top
    assert "schema change" not in top


@given(st.text(max_size=300))
def test_a_dataset_cursor_reads_back_as_its_name(name: str) -> None:
    assume("\x00" not in name)
    assume(all(not 0xD800 <= ord(c) <= 0xDFFF for c in name))
    assert api.decode_dataset_cursor(api.encode_dataset_cursor(name)) == name


def test_a_forged_or_huge_dataset_cursor_is_a_bad_request() -> None:
    for raw in ("bm9wZQ", "!!", "A" * 5000, api.encode_dataset_cursor("x")[:-1] + "@"):
        with pytest.raises(api.BadRequest):
            api.decode_dataset_cursor(raw)
