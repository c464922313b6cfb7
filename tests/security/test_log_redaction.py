"""Plan links stay out of the logs: Django's warnings, our own lines and gunicorn's access and
error logs show a plan path with its token cut to the last few characters."""

import contextlib
import io
import logging
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.test import Client
from gunicorn.config import Config

from tests.factories import create_plan
from upgrade_planner.redaction import RedactingGunicornLogger, RedactTokens, redact

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def console() -> Iterator[io.StringIO]:
    """What the configured console handler writes while the block runs."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous or stream)


def shown(token: str) -> str:
    return f"…{token[-4:]}/"


def test_a_not_found_warning_for_an_unknown_plan_link_hides_its_token(client):
    token = secrets.token_urlsafe(32)

    with console() as output:
        response = client.get(f"/p/{token}/")

    assert response.status_code == 404
    logged = output.getvalue()
    assert f"Not Found: /p/{shown(token)}" in logged
    assert token not in logged


def test_the_warning_for_a_replaced_link_hides_its_token(client):
    created = create_plan()
    client.post(f"/p/{created.edit_token}/links/edit/rotate")

    with console() as output:
        response = client.get(f"/api/v1/plans/{created.edit_token}")
        page = client.get(f"/p/{created.edit_token}/inventory/")

    assert response.status_code == 410 and page.status_code == 410
    logged = output.getvalue()
    assert f"/api/v1/plans/…{created.edit_token[-4:]}" in logged
    assert f"/p/{shown(created.edit_token)}inventory/" in logged
    assert created.edit_token not in logged


def test_a_refused_csrf_check_is_logged_without_the_plans_token():
    created = create_plan()

    with console() as output:
        response = Client(enforce_csrf_checks=True).post(
            f"/p/{created.edit_token}/actor", {"actor": "Ana"}
        )

    assert response.status_code == 403
    logged = output.getvalue()
    assert "django.security.csrf" in logged and "Forbidden" in logged
    assert created.edit_token not in logged
    assert f"/p/{shown(created.edit_token)}actor" in logged


def test_our_own_lines_and_their_tracebacks_hide_tokens():
    token = secrets.token_urlsafe(32)
    logger = logging.getLogger("upgrade_planner.web.views")

    with console() as output:
        logger.warning("odd request to %s", f"https://planner.example/v/{token}/poll?v=1")
        try:
            raise ValueError(f"cannot read /api/v1/plans/{token}/export.csv")
        except ValueError:
            logger.exception("export failed")

    logged = output.getvalue()
    assert "ValueError: cannot read /api/v1/plans/…" in logged
    assert f"https://planner.example/v/{shown(token)}poll?v=1" in logged
    assert token not in logged


def test_every_handler_of_the_app_and_of_django_redacts():
    """Django installs its own handlers (console, mail_admins, runserver's) before ours; none
    of them may receive a record unredacted."""
    loggers = [logging.getLogger()] + [
        logger
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
        and name.split(".")[0] in {"django", "upgrade_planner"}
    ]
    unfiltered = [
        f"{logger.name}: {handler!r}"
        for logger in loggers
        for handler in logger.handlers
        if not type(handler).__module__.startswith("_pytest")
        and not any(isinstance(f, RedactTokens) for f in handler.filters)
    ]
    assert unfiltered == []
    assert set(settings.LOGGING["handlers"]) <= {
        handler.get_name()
        for logger in loggers
        for handler in logger.handlers
        if any(isinstance(f, RedactTokens) for f in handler.filters)
    }


@pytest.mark.parametrize(
    "text, expected",
    [
        ("/p/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG/", "/p/…DEFG/"),
        ("GET /v/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG/poll?v=3", "GET /v/…DEFG/poll?v=3"),
        ("/api/v1/plans/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "/api/v1/plans/…DEFG"),
        ("/p/guess-1/", "/p/…/"),
        ("POST /api/v1/plans HTTP/1.1", "POST /api/v1/plans HTTP/1.1"),
        ("/static/css/app.css /healthz", "/static/css/app.css /healthz"),
        ("/p/…DEFG/", "/p/…DEFG/"),
    ],
)
def test_redaction_keeps_what_is_not_a_token(text, expected):
    assert redact(text) == expected
    assert redact(redact(text)) == expected


# --- gunicorn -----------------------------------------------------------------------------


@pytest.fixture
def gunicorn_logger(tmp_path: Path) -> Iterator[RedactingGunicornLogger]:
    cfg = Config()
    cfg.set("logger_class", "upgrade_planner.redaction.RedactingGunicornLogger")
    cfg.set("accesslog", str(tmp_path / "access.log"))
    cfg.set("errorlog", str(tmp_path / "error.log"))
    cfg.set(
        "access_log_format",
        '%(h)s "%(r)s" %(s)s "%(f)s" %(U)s %(q)s %({referer}i)s %({raw_uri}e)s',
    )
    logger = cfg.logger_class(cfg)  # as gunicorn loads it, by its dotted path
    assert isinstance(logger, RedactingGunicornLogger)
    yield logger
    for log in (logger.error_log, logger.access_log):
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()
        for existing in list(log.filters):
            log.removeFilter(existing)


def test_gunicorns_access_log_shows_plan_paths_without_their_tokens(gunicorn_logger, tmp_path):
    token = secrets.token_urlsafe(32)
    referrer = f"https://planner.example/p/{token}/"
    environ = {
        "REMOTE_ADDR": "127.0.0.1",
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/p/{token}/poll?v=3",
        "PATH_INFO": f"/p/{token}/poll",
        "QUERY_STRING": "v=3",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": referrer,
    }
    response = SimpleNamespace(status="304 Not Modified", sent=0, headers=[])
    request = SimpleNamespace(headers=[("REFERER", referrer)])

    gunicorn_logger.access(response, request, environ, timedelta(milliseconds=3))
    gunicorn_logger.error("Invalid request from %s: %s", "127.0.0.1", f"/v/{token}/")

    access = (tmp_path / "access.log").read_text()
    errors = (tmp_path / "error.log").read_text()
    assert f'"GET /p/{shown(token)}poll?v=3 HTTP/1.1" 304' in access
    assert f"/p/{shown(token)}poll v=3 https://planner.example/p/{shown(token)}" in access
    assert f"/v/{shown(token)}" in errors
    assert token not in access and token not in errors
