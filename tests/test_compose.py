"""docker-compose.yml cannot run here (no Docker engine), so check it against the code."""

import ast
import importlib
import json
import os
import re
import runpy
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "deploy" / "nginx.conf"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def env_names_read_by(path: Path) -> set[str]:
    """Every environment variable name that the Python file at `path` reads."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = ast.unparse(node.func)
            if func in {"os.environ.get", "env_bool", "env_list", "os.getenv", "_int"}:
                names.add(node.args[0].value)
    return names


def settings_env_names() -> set[str]:
    """Every environment variable name that settings.py or gunicorn.conf.py reads."""
    return env_names_read_by(ROOT / "upgrade_planner" / "settings.py") | env_names_read_by(
        ROOT / "gunicorn.conf.py"
    )


def command_words(service: dict) -> list[str]:
    command = service["command"]
    return command if isinstance(command, list) else shlex.split(command)


def test_it_defines_the_six_services(compose):
    assert set(compose["services"]) == {"db", "redis", "web", "proxy", "worker", "beat"}
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


def test_web_runs_gunicorn_with_its_config_file_on_the_wsgi_app(compose):
    web = compose["services"]["web"]
    words = command_words(web)
    joined = " ".join(words)
    assert "manage.py migrate" in joined
    assert "manage.py collectstatic" in joined
    match = re.search(r"gunicorn -c gunicorn.conf.py (\S+):(\w+)", joined)
    assert match, joined
    module, attribute = match.groups()
    assert callable(getattr(importlib.import_module(module), attribute))
    assert "--bind" not in joined  # the config file binds to PORT
    assert web["environment"]["PORT"] == "8000"
    assert web["expose"] == ["8000"]


def test_only_the_proxy_is_published_and_web_trusts_one_proxy(compose):
    services = compose["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    assert services["proxy"]["ports"] == ["8000:80"]
    assert services["web"]["environment"]["TRUSTED_PROXY_COUNT"] == "1"


def test_the_proxy_is_the_official_nginx_image_with_the_config_from_the_repository(compose):
    proxy = compose["services"]["proxy"]
    assert re.fullmatch(r"nginx:[\d.]+", proxy["image"])
    source, target, mode = proxy["volumes"][0].split(":")
    assert (ROOT / source).resolve() == NGINX_CONF
    assert target == "/etc/nginx/conf.d/default.conf"
    assert mode == "ro"
    assert "web" in proxy["depends_on"]


def test_the_web_healthcheck_sends_a_host_the_app_allows(compose):
    test = compose["services"]["web"]["healthcheck"]["test"]
    code = test[test.index("-c") + 1]
    compile(code, "healthcheck", "exec")
    assert "ALLOWED_HOSTS" in code and "/healthz" in code and "'Host'" in code


@pytest.mark.parametrize("service", ["worker", "beat"])
def test_celery_services_point_at_the_project_celery_app(compose, service):
    words = command_words(compose["services"][service])
    assert words[0] == "celery"
    app_module = words[words.index("-A") + 1]
    assert words[words.index("-A") + 2] == service
    from celery import Celery

    assert isinstance(importlib.import_module(app_module).celery_app, Celery)


def test_the_image_runs_gunicorn_with_its_config_file():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^COPY .*gunicorn\.conf\.py", dockerfile, flags=re.MULTILINE)
    cmd = re.findall(r"^CMD (.+)$", dockerfile, flags=re.MULTILINE)[-1]
    assert json.loads(cmd) == [
        "gunicorn",
        "-c",
        "gunicorn.conf.py",
        "upgrade_planner.wsgi:application",
    ]


def test_the_image_runs_as_a_non_root_user_on_python_312():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("FROM python:3.12-slim")
    users = re.findall(r"^USER (\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}


# --- gunicorn.conf.py -------------------------------------------------------------------------


def gunicorn_config(environ: dict[str, str]) -> dict[str, object]:
    """The settings gunicorn.conf.py makes under `environ`, as gunicorn reads them."""
    from gunicorn.config import Config

    config = Config()
    saved = dict(os.environ)
    try:
        os.environ.update(environ)
        namespace = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    for name, value in namespace.items():
        if name in config.settings:
            config.set(name, value)
    return {name: config.settings[name].get() for name in config.settings}


def test_gunicorn_binds_to_port_from_the_environment():
    assert gunicorn_config({"PORT": "9123"})["bind"] == ["0.0.0.0:9123"]
    assert gunicorn_config({"PORT": "9124", "BIND_ADDRESS": "127.0.0.1"})["bind"] == [
        "127.0.0.1:9124"
    ]


def test_gunicorn_has_limits_and_timeouts_against_slow_clients():
    config = gunicorn_config({})

    assert config["worker_class"] == "gthread" and config["threads"] >= 2
    assert 2 <= config["workers"] <= 8
    assert config["timeout"] == 60
    assert 0 < config["graceful_timeout"] <= config["timeout"]
    assert 0 < config["keepalive"] <= 10
    assert config["limit_request_line"] == 4094
    assert config["limit_request_fields"] == 50
    assert config["limit_request_field_size"] == 8190
    assert config["max_requests"] > 0 and 0 < config["max_requests_jitter"] < config["max_requests"]
    assert config["accesslog"] == "-"


def test_gunicorn_workers_are_forks_of_a_loaded_and_warmed_application():
    """A worker replaced after max_requests starts from the master's loaded application."""
    assert gunicorn_config({})["preload_app"] is True
    assert gunicorn_config({"GUNICORN_PRELOAD": "0"})["preload_app"] is False


def test_gunicorn_workers_and_timeout_follow_the_environment():
    config = gunicorn_config({"WEB_CONCURRENCY": "3", "GUNICORN_TIMEOUT": "90"})

    assert config["workers"] == 3
    assert config["timeout"] == 90


# --- deploy/nginx.conf --------------------------------------------------------------------------


def nginx_directives() -> dict[str, list[str]]:
    """Each directive of the proxy's config with every value it is given."""
    text = re.sub(r"#.*", "", NGINX_CONF.read_text())
    directives: dict[str, list[str]] = {}
    for statement in re.findall(r"([a-z_0-9]+)\s+([^;{}]*?)\s*;", text):
        directives.setdefault(statement[0], []).append(statement[1])
    return directives


def test_the_proxy_times_out_slow_clients():
    directives = nginx_directives()

    for name, most in {
        "client_header_timeout": 30,
        "client_body_timeout": 60,
        "send_timeout": 60,
    }.items():
        (value,) = directives[name]
        assert int(value.removesuffix("s")) <= most, name


def test_the_proxy_buffers_requests_and_answers():
    directives = nginx_directives()

    assert directives["proxy_request_buffering"] == ["on"]
    assert directives["proxy_buffering"] == ["on"]


def test_the_proxy_takes_the_same_largest_body_as_the_app(settings):
    (value,) = nginx_directives()["client_max_body_size"]

    assert value.endswith("m")
    assert int(value.removesuffix("m")) * 1024 * 1024 == settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def test_the_proxy_waits_longer_for_an_answer_than_gunicorn_lets_a_request_run():
    (value,) = nginx_directives()["proxy_read_timeout"]

    assert int(value.removesuffix("s")) > gunicorn_config({})["timeout"]


def test_the_proxy_adds_the_client_to_x_forwarded_for_and_passes_to_web():
    directives = nginx_directives()

    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in directives["proxy_set_header"]
    assert "Host $host" in directives["proxy_set_header"]
    assert set(directives["proxy_pass"]) == {"http://web:8000"}


def test_the_proxy_answers_an_oversized_api_body_in_the_api_s_error_shape(settings):
    text = NGINX_CONF.read_text()
    api_answer = re.search(r"location @api_too_large \{.*?return 413 '(.*?)';", text, re.DOTALL)

    assert api_answer
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024)
    assert json.loads(api_answer.group(1)) == {
        "errors": {"body": [f"The body is larger than {limit} MB, the most the planner reads."]}
    }
