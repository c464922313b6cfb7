"""Free text from people (names in the activity log, reasons) made fit to store.

The limits live here, once: the forms, the API's schemas and the services all ask these, so a
5 MB reason is refused wherever it comes in, and nothing stored grows every poll of the plan."""

from __future__ import annotations

from typing import cast

from upgrade_planner.plans.models import Activity

# The activity log's column decides how long a name can be.
ACTOR_MAX = cast(int, Activity._meta.get_field("actor").max_length)
# Why a step was skipped, reopened, completed or failed: a sentence or two, shown in the log.
REASON_MAX = 500
NUL_REFUSED = "Remove the NUL character (\\x00): text containing one cannot be saved."


def actor_name(actor: str) -> str:
    """The name someone goes by in the activity log: printable characters only (PostgreSQL
    cannot store a NUL; a line break would garble the log), at most `ACTOR_MAX` of them."""
    return "".join(c for c in actor if c.isprintable()).strip()[:ACTOR_MAX]


def has_nul(text: str) -> bool:
    return "\x00" in text


def too_long(text: str, *, limit: int, what: str) -> str | None:
    """Why `text` is refused as longer than `limit` characters (`what` names it, e.g. "The
    reason"), or None when it fits."""
    if len(text) <= limit:
        return None
    return f"{what} is too long: at most {limit:,} characters (it has {len(text):,})."


def shortened(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the cut shown: for text nobody can rewrite, such as a
    check's error message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
