"""docker-compose.yml cannot run here (no Docker engine), so check it against the code."""

import ast
import importlib
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def settings_env_names() -> set[str]:
    """Every environment variable name that settings.py reads."""
    tree = ast.parse((ROOT / "upgrade_planner" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = ast.unparse(node.func)
            if func in {"os.environ.get", "env_bool", "env_list", "os.getenv"}:
                names.add(node.args[0].value)
    return names


def command_words(service: dict) -> list[str]:
    command = service["command"]
    return command if isinstance(command, list) else shlex.split(command)


def test_it_defines_the_five_services(compose):
    assert set(compose["services"]) == {"db", "redis", "web", "worker", "beat"}
    assert compose["services"]["db"]["image"].startswith("postgres:16")
    assert compose["services"]["redis"]["image"].startswith("redis:7")
    assert "pgdata" in compose["volumes"]
    for name in ("db", "redis"):
        assert "healthcheck" in compose["services"][name]


def test_app_services_wait_for_healthy_db_and_redis(compose):
    for name in ("web", "worker", "beat"):
        depends = compose["services"][name]["depends_on"]
        assert depends["db"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"


def test_every_environment_variable_is_one_that_settings_reads(compose):
    known = settings_env_names()
    for name in ("web", "worker", "beat"):
        env = compose["services"][name]["environment"]
        unknown = set(env) - known
        assert not unknown, f"{name} sets variables settings.py never reads: {unknown}"
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"} <= set(
        compose["services"]["web"]["environment"]
    )


def test_web_runs_gunicorn_on_the_wsgi_app_and_exposes_its_port(compose):
    web = compose["services"]["web"]
    words = command_words(web)
    joined = " ".join(words)
    assert "manage.py migrate" in joined
    assert "manage.py collectstatic" in joined
    match = re.search(r"gunicorn (\S+):(\w+) .*--bind [\d.]+:(\d+)", joined)
    assert match, joined
    module, attribute, port = match.groups()
    assert callable(getattr(importlib.import_module(module), attribute))
    assert any(mapping.endswith(f":{port}") for mapping in web["ports"])


@pytest.mark.parametrize("service", ["worker", "beat"])
def test_celery_services_point_at_the_project_celery_app(compose, service):
    words = command_words(compose["services"][service])
    assert words[0] == "celery"
    app_module = words[words.index("-A") + 1]
    assert words[words.index("-A") + 2] == service
    from celery import Celery

    assert isinstance(importlib.import_module(app_module).celery_app, Celery)


def test_the_image_runs_as_a_non_root_user_on_python_312():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("FROM python:3.12-slim")
    users = re.findall(r"^USER (\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
