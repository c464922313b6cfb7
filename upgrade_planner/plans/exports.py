"""The checklist as Markdown and CSV, from the plan document."""

from __future__ import annotations

import csv
import io
from typing import Any

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
                _no_formula(step["title"]),
                _no_formula(step["tentacle"] or ""),
                "yes" if step["optional"] else "no",
                step["state"],
                " ".join(str(numbers[dep]) for dep in step["depends_on"] if dep in numbers),
                step["source"],
            ]
        )
    return out.getvalue()


def _no_formula(text: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas; names come from users."""
    return "'" + text if text[:1] in {"=", "+", "-", "@"} else text


def checklist_markdown(document: dict[str, Any]) -> str:
    instance = document["instance"]
    lines = [
        f"# {document['name']}",
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
            f"{number}. **{hop['from']} → {hop['to']}** — {hop['reason']} ({hop['source']})"
        )
    if document["warnings"]:
        lines += ["", "## Warnings", ""]
        for warning in document["warnings"]:
            lines.append(f"- **{warning['code']}** ({warning['severity']}): {warning['text']}")
            lines.append(f"  What to do: {warning['action']}")
    lines += ["", "## Checklist", ""]
    phase = None
    for step in document["steps"]:
        if (step["hop"], step["phase"]) != phase:
            phase = (step["hop"], step["phase"])
            lines += ["", f"### Hop {step['hop'] + 1}: {step['phase']}", ""]
        mark = STATE_MARKS.get(step["state"], " ")
        extra = " *(optional)*" if step["optional"] else ""
        state = "" if step["state"] in STATE_MARKS else f" — {step['state']}"
        lines.append(f"- [{mark}] {step['title']}{extra}{state}")
    lines.append("")
    return "\n".join(lines)
