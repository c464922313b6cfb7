"""Free text from people (names in the activity log, reasons) made fit to store."""

from __future__ import annotations

ACTOR_MAX = 100
NUL_REFUSED = "Remove the NUL character (\\x00): text containing one cannot be saved."


def actor_name(actor: str) -> str:
    """The name someone goes by in the activity log: printable characters only (PostgreSQL
    cannot store a NUL; a line break would garble the log), at most 100 of them."""
    return "".join(c for c in actor if c.isprintable()).strip()[:ACTOR_MAX]


def has_nul(text: str) -> bool:
    return "\x00" in text
