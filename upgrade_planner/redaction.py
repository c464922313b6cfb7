"""Plan links stay out of the logs.

A plan's URL is its key: whoever reads `/p/<token>/` in a log can edit the plan. Every line
the app writes goes through `RedactTokens` (installed on each handler in settings.LOGGING), and
gunicorn's access and error logs through `RedactingGunicornLogger` (gunicorn's
`logger_class`). Both show a plan path as `/p/…a1b2/`: the last characters of the token tell
links apart when reading a log, and are far too few to open one.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# gunicorn ships no type information.
from gunicorn.config import Config  # type: ignore[import-untyped]
from gunicorn.glogging import Logger as GunicornLogger  # type: ignore[import-untyped]

# A path segment that carries a plan token: after /p/, /v/ or /api/v1/plans/, in a path, a
# full URL, a referrer or a query string. A segment already redacted (starting with "…") is
# left alone, so that redacting twice changes nothing.
_PLAN_PATH = re.compile(r"(/(?:p|v|api/v1/plans)/)([^/?#&\s\"'<>…][^/?#&\s\"'<>]*)")
# How much of a token a redacted path keeps: 4 of a token's 43 characters are 24 of its
# 256 bits.
KEPT = 4
# A segment this short is no token of ours (a guess, a mistyped link): shown as "…" alone.
SHORTEST_KEPT = 16


def _redacted(match: re.Match[str]) -> str:
    prefix, token = match.group(1), match.group(2)
    return f"{prefix}…{token[-KEPT:] if len(token) >= SHORTEST_KEPT else ''}"


def redact(text: str) -> str:
    """`text` with the token of every plan path in it shortened to its last few characters."""
    if "/" not in text:
        return text
    return _PLAN_PATH.sub(_redacted, text)


class RedactTokens(logging.Filter):
    """Shortens plan tokens in a log record's message, its traceback and its stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: leave the record to logging's own error report
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            # What a Formatter would write; formatted here so that it can be redacted.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RedactingGunicornLogger(GunicornLogger):  # type: ignore[misc]
    """gunicorn's logger with plan tokens redacted from the access log (the request line, the
    path, the referrer, headers and environ values alike) and from its error log.

    In a gunicorn config file: `logger_class = "upgrade_planner.redaction.RedactingGunicornLogger"`.
    """

    def setup(self, cfg: Config) -> None:
        super().setup(cfg)
        # Also covers handlers from a logconfig, and what the error log says about a request.
        for log in (self.error_log, self.access_log):
            if not any(isinstance(existing, RedactTokens) for existing in log.filters):
                log.addFilter(RedactTokens())

    def atoms(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any
    ) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        return {
            name: redact(value) if isinstance(value, str) else value
            for name, value in atoms.items()
        }
