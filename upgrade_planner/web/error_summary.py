"""The start page's error summary: every error of a failed submit, in the order of the page,
each linking to its field, its typed row's cell or its CSV line's message."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms

from upgrade_planner.installations.forms import BaseTentacleRowFormSet

# The inventory's sources, as the summary names them before each of their messages.
SOURCES = {"rows": "Tentacles", "csv": "Pasted CSV", "file": "Uploaded file"}
# Where the messages of each source are listed in full.
SOURCE_ANCHORS = {"rows": "inventory-rows", "csv": "csv-errors", "file": "file-errors"}
# A CSV of thousands of bad lines lists them all beside its box; the summary names the first.
LINES_PER_SOURCE = 10


@dataclass(frozen=True)
class SummaryLine:
    href: str  # "#…" on this page
    text: str


def error_summary(
    *,
    plan_form: forms.Form,
    form: forms.Form,
    rows: BaseTentacleRowFormSet,
    inventory_errors: dict[str, list[str]],
) -> list[SummaryLine]:
    lines: list[SummaryLine] = []
    for bound in _fields_in_page_order(plan_form, form, inventory=False):
        lines += _field_lines(bound)
    for source_form in (plan_form, form):
        lines += [SummaryLine("#form-errors", str(m)) for m in source_form.non_field_errors()]
    lines += _source_lines("rows", inventory_errors.get("rows", []))
    for row in rows.forms if rows.is_bound else []:
        for error in row.error_lines():
            cell = error.id.removesuffix("_error") if error.id else row["name"].auto_id
            lines.append(SummaryLine(f"#{cell}", error.text))
    for bound in _fields_in_page_order(plan_form, form, inventory=True):
        lines += _field_lines(bound)
    lines += _source_lines("csv", inventory_errors.get("csv", []))
    lines += _source_lines("file", inventory_errors.get("file", []))
    return lines


def _fields_in_page_order(
    plan_form: forms.Form, form: forms.Form, *, inventory: bool
) -> list[forms.BoundField]:
    """The fields as templates/plans/home.html lays them out: the plan's name, the server,
    the approach beside the polling port, …, and the inventory's boxes last."""
    if inventory:
        return [form[name] for name in form.fields if name.startswith("inventory_")]
    ordered = [plan_form["name"]]
    for name in form.fields:
        if name.startswith("inventory_"):
            continue
        ordered.append(form[name])
        if name == "polling_port":
            ordered.append(plan_form["approach"])
    return ordered


def _field_lines(bound: forms.BoundField) -> list[SummaryLine]:
    return [SummaryLine(f"#{bound.id_for_label}", f"{bound.label}: {m}") for m in bound.errors]


def _source_lines(source: str, messages: list[str]) -> list[SummaryLine]:
    name = SOURCES[source]
    lines = [
        SummaryLine(f"#{source}-error-{number}", f"{name}: {message}")
        for number, message in enumerate(messages[:LINES_PER_SOURCE], start=1)
    ]
    if len(messages) > LINES_PER_SOURCE:
        more = len(messages) - LINES_PER_SOURCE
        lines.append(
            SummaryLine(
                f"#{SOURCE_ANCHORS[source]}",
                f"{name}: {more:,} more error{'s' if more != 1 else ''}, listed beside it",
            )
        )
    return lines
