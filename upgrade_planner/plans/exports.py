"""The checklist as Markdown and CSV, from the plan document.

Names and titles come from users (a plan's name, Tentacle names inside step titles and warnings):
in the CSV no cell starts a spreadsheet formula (domain/spreadsheet.py, shared with the inventory
download), and in the Markdown they are text, never HTML, links, images or emphasis.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from upgrade_planner.domain.spreadsheet import formula_safe

CSV_COLUMNS = (
    "number",
    "id",
    "hop",
    "phase",
    "kind",
    "title",
    "tentacle",
    "optional",
    "state",
    "depends_on",
    "source",
    "estimate_minutes",
    "assignee",
    "started_at",
    "finished_at",
)
STATE_MARKS = {"done": "x", "skipped": "-"}


def checklist_csv(document: dict[str, Any]) -> str:
    numbers = {step["id"]: index for index, step in enumerate(document["steps"], start=1)}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for number, step in enumerate(document["steps"], start=1):
        writer.writerow(
            [
                number,
                step["id"],
                step["hop"],
                step["phase"],
                step["kind"],
                formula_safe(step["title"]),
                formula_safe(step["tentacle"] or ""),
                "yes" if step["optional"] else "no",
                step["state"],
                " ".join(str(numbers[dep]) for dep in step["depends_on"] if dep in numbers),
                formula_safe(step["source"]),
                step["estimate_minutes"],
                formula_safe(step["assignee"] or ""),
                step["started_at"] or "",
                step["finished_at"] or "",
            ]
        )
    return out.getvalue()


# Characters that start Markdown syntax inside a line (emphasis, code, links and images, a
# heading's closing #, table cells, strikethrough) are escaped with a backslash. HTML's are
# written as entities, which every Markdown flavour shows as the character: a backslash before
# "<" is not an escape in the original Markdown, and the tag would pass through as HTML.
_MARKDOWN_SYNTAX = re.compile(r"[\\`*_\[\]#|~!]")
_HTML_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_HTML_SYNTAX = re.compile("[&<>]")
# A line break would let a name start a block of its own: a heading, a list item, raw HTML.
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def markdown_text(text: str) -> str:
    """`text` as Markdown that shows exactly that text, on one line."""
    text = _LINE_BREAKS.sub(" ", text)
    text = _MARKDOWN_SYNTAX.sub(lambda match: "\\" + match.group(), text)
    return _HTML_SYNTAX.sub(lambda match: _HTML_ENTITIES[match.group()], text)


def checklist_markdown(document: dict[str, Any]) -> str:
    instance = document["instance"]
    lines = [
        f"# {markdown_text(document['name'])}",
        "",
        f"Octopus {instance['server_version']} → {instance['target_version']}"
        + (f" · approach: {document['approach']}" if document["approach"] else "")
        + f" · plan version {document['version']}",
        "",
        "## Version path",
        "",
    ]
    for number, hop in enumerate(document["path"], start=1):
        lines.append(
            f"{number}. **{hop['from']} → {hop['to']}** — {markdown_text(hop['reason'])} "
            f"({hop['source']})"
        )
    if document["warnings"]:
        lines += ["", "## Warnings", ""]
        for warning in document["warnings"]:
            lines.append(
                f"- **{warning['code']}** ({warning['severity']}): {markdown_text(warning['text'])}"
            )
            lines.append(f"  What to do: {markdown_text(warning['action'])}")
    lines += ["", "## Checklist", ""]
    phase = None
    for step in document["steps"]:
        if (step["hop"], step["phase"]) != phase:
            phase = (step["hop"], step["phase"])
            lines += ["", f"### Hop {step['hop'] + 1}: {step['phase']}", ""]
        mark = STATE_MARKS.get(step["state"], " ")
        extra = " *(optional)*" if step["optional"] else ""
        state = "" if step["state"] in STATE_MARKS else f" — {step['state']}"
        lines.append(f"- [{mark}] {markdown_text(step['title'])}{extra}{state}")
    lines.append("")
    return "\n".join(lines)
