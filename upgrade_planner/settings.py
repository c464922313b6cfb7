"""The one settings module. Everything that differs between machines comes from the
environment; with nothing set you get a local SQLite database and eager Celery tasks."""

import ipaddress
import os
import re
import secrets
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def database_from_url(url: str) -> dict[str, object]:
    """Turn `sqlite:///path` or `postgres://user:pass@host:port/name` into a DATABASES entry."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # sqlite:///relative.sqlite3 and sqlite:////absolute/path.sqlite3
        name_path = Path(unquote(parts.path)[1:])
        if not name_path.is_absolute():
            name_path = BASE_DIR / name_path
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(name_path)}
    if parts.scheme in {"postgres", "postgresql", "pgsql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            # A new connection costs ~7 ms here; keep them.
            "CONN_MAX_AGE": int(os.environ.get("DB_CONN_MAX_AGE", "600")),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {"connect_timeout": 5},
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL must start with sqlite:// or postgres://, not {parts.scheme or url!r}"
    )


def local_secret_key(path: Path) -> str:
    """A random key kept beside the checkout, so a first run needs no configuration and no
    secret ever lives in the repository."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(50)
        path.write_text(key)
        path.chmod(0o600)
        return key


DEBUG = env_bool("DEBUG")
SECRET_KEY = os.environ.get("SECRET_KEY") or local_secret_key(BASE_DIR / ".secret_key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "upgrade_planner.installations",
    "upgrade_planner.plans",
    "upgrade_planner.web",
]

MIDDLEWARE = [
    "upgrade_planner.web.middleware.WriteLaterMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "upgrade_planner.web.middleware.PlanLinksMiddleware",
]

ROOT_URLCONF = "upgrade_planner.urls"
WSGI_APPLICATION = "upgrade_planner.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ],
        },
    },
]

DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL") or "sqlite:///db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "upgrade_planner.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Sessions hold the plans this browser made or opened and the name its user goes by, and the
# admin's staff login. They live on the server (the database, read through the cache): the
# cookie carries only a random session key, so it holds no plan link, and logging out
# deletes the session, so a copied cookie stops working. `manage.py clearsessions` (run
# hourly by the beat schedule below) deletes expired ones. upgrade_planner/sessions.py says
# what the engine changes of Django's cached_db.
SESSION_ENGINE = "upgrade_planner.sessions"
SESSION_COOKIE_AGE = 60 * 60 * 24 * 90

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": os.environ.get(
            "STATICFILES_BACKEND", "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security -------------------------------------------------------------------------
# HTTPS settings go together, and are on whenever DEBUG is off: a production server is secure
# unless its admin says otherwise. SECURE_HTTPS=0 turns them off for a deliberate plain-HTTP
# setup (the benchmark on loopback); DEBUG=1 (`make run`) has them off unless SECURE_HTTPS=1.
SECURE_HTTPS = env_bool("SECURE_HTTPS", default=not DEBUG)
SECURE_SSL_REDIRECT = SECURE_HTTPS
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365 if SECURE_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HTTPS
SECURE_HSTS_PRELOAD = SECURE_HTTPS
if env_bool("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
# `same-origin` keeps plan URLs (which carry their tokens) from leaking to other sites, while
# still sending a real Origin on our own POSTs, which the CSRF check needs.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "upgrade_planner.views.csrf_failure"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

# --- Celery ---------------------------------------------------------------------------
# Without REDIS_URL tasks run eagerly, in-process: the embedded default needs no broker.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
# The task modules, loaded by workers and by services that send a task by name (so that no
# module of the app has to import them).
CELERY_IMPORTS = ("upgrade_planner.plans.tasks",)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_RESULT_EXPIRES = 60 * 60 * 24
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", "60"))
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", "90"))
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A message not acknowledged within this time (a worker killed mid-job) is delivered
    # again; it must exceed the longest task plus its retry countdown.
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "600")),
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    # A publish that cannot connect fails at once; the outbox relay sends the job later.
    "max_retries": 0,
}
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Inventory from an Octopus server ---------------------------------------------------
# Seconds each request to an Octopus server may take (connect, and each read).
OCTOPUS_FETCH_TIMEOUT = float(os.environ.get("OCTOPUS_FETCH_TIMEOUT", "15"))
# Retries of a fetch after a transient failure, and the first retry's delay in seconds (it
# doubles each time).
OCTOPUS_FETCH_RETRIES = int(os.environ.get("OCTOPUS_FETCH_RETRIES", "2"))
OCTOPUS_FETCH_RETRY_DELAY = int(os.environ.get("OCTOPUS_FETCH_RETRY_DELAY", "5"))
# A fetch still "running" this long after it started belongs to a worker that died; a
# redelivery of its job may take it over. Longer than the job's time limit.
OCTOPUS_FETCH_ABANDONED_AFTER = 360
# --- Limits on input ----------------------------------------------------------------------
# The most Tentacles one plan may have (large estates run well over 10,000). Plan creation, the
# inventory replacement and the fetch from an Octopus server all refuse more, naming the cap.
PLAN_MAX_TENTACLES = int(os.environ.get("PLAN_MAX_TENTACLES", "20000"))
# The largest request body read: 20,000 Tentacles as API JSON with every column filled take
# about 7 MB, as CSV (at most 10 MB, pasted into a form field) less. The reverse proxy's
# client_max_body_size (deploy/nginx.conf) says the same. A larger body is refused with a
# message naming it (API: 413 with {"errors": {"body": [...]}}; start page: a form message).
DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024
# Fields one form post may carry: the start page's typed Tentacle rows (at most
# installations.forms.TYPED_ROWS_MAX, 11 fields each) and the rest of the form, with room.
# Larger inventories are pasted or uploaded as CSV.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2500
# Plans one client address may create, as "<count>/<s|m|h|d>" ("" or "0" turns it off). Form
# and API share the count (kept in the cache, so every web process sees it); over it the API
# answers 429 with Retry-After and the start page says when to try again.
PLAN_CREATE_RATE = os.environ.get("PLAN_CREATE_RATE", "30/h").strip()
if PLAN_CREATE_RATE not in {"", "0"} and not re.fullmatch(r"[1-9][0-9]*/[smhd]", PLAN_CREATE_RATE):
    raise ImproperlyConfigured(
        f'PLAN_CREATE_RATE must be like "30/h" (a count per s, m, h or d), or "0" for no limit, '
        f"not {PLAN_CREATE_RATE!r}."
    )

# Every handler redacts plan tokens (upgrade_planner/redaction.py): a plan's URL is its key,
# and Django logs the path of every 4xx and 5xx ("Not Found: /p/…"). Django's own loggers
# hand their records to these handlers instead of to their default ones, which do not
# redact (and would print each line twice with DEBUG on). gunicorn's logs are redacted by
# its logger class, upgrade_planner.redaction.RedactingGunicornLogger.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_tokens": {"()": "upgrade_planner.redaction.RedactTokens"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_tokens"],
        },
        # `manage.py runserver`'s request lines.
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact_tokens"],
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": [], "propagate": True},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
    },
}

# --- Planner --------------------------------------------------------------------------
# The docs never put a number on "a handful" of Tentacles; at or below this count, without a
# new server, the planner recommends upgrading the Tentacles by hand. Shown to users as an
# assumption.
PLANNER_HANDFUL_THRESHOLD = int(os.environ.get("PLANNER_HANDFUL_THRESHOLD", "10"))

# Lookups of unknown plan tokens allowed per client address per minute (0 turns it off).
UNKNOWN_TOKEN_LIMIT_PER_MINUTE = int(os.environ.get("UNKNOWN_TOKEN_LIMIT_PER_MINUTE", "30"))
# Reverse proxies in front of the app that append the client's address to X-Forwarded-For
# (the compose stack has one). 0: the header is ignored and limits count the socket's peer.
# Behind N proxies the Nth address from the right is the client's; set it only when the app
# cannot be reached except through them, or a client could write its own header.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT is a number of proxies: 0 or more.")
# Failed admin sign-ins allowed per client address, and per user name, within the window;
# after that, sign-ins from that address or for that name wait until the window ends.
ADMIN_LOGIN_FAILURE_LIMIT = int(os.environ.get("ADMIN_LOGIN_FAILURE_LIMIT", "5"))
ADMIN_LOGIN_WINDOW_MINUTES = int(os.environ.get("ADMIN_LOGIN_WINDOW_MINUTES", "15"))

# --- Verification jobs ----------------------------------------------------------------
# A Fernet key (base64, 32 bytes) for the Octopus API keys kept for verification. Unset: one
# derived from SECRET_KEY (readable after a rotation while the old one is in the fallbacks).
API_KEY_ENCRYPTION_KEY = os.environ.get("API_KEY_ENCRYPTION_KEY", "")
VERIFY_HTTP_TIMEOUT = float(os.environ.get("VERIFY_HTTP_TIMEOUT", "10"))
VERIFY_TCP_TIMEOUT = float(os.environ.get("VERIFY_TCP_TIMEOUT", "3"))
JOB_MAX_ATTEMPTS = int(os.environ.get("JOB_MAX_ATTEMPTS", "5"))
JOB_BACKOFF_CAP_SECONDS = int(os.environ.get("JOB_BACKOFF_CAP_SECONDS", "300"))
# A step in progress for longer than this is flagged as stale on the plan page.
STEP_STALE_AFTER_MINUTES = int(os.environ.get("STEP_STALE_AFTER_MINUTES", "120"))
CELERY_BEAT_SCHEDULE = {
    "relay-outbox": {"task": "upgrade_planner.plans.tasks.relay_outbox", "schedule": 10.0},
    "reverify-in-progress": {
        "task": "upgrade_planner.plans.tasks.reverify_in_progress",
        "schedule": float(os.environ.get("REVERIFY_IN_PROGRESS_SECONDS", "300")),
    },
}

# --- Key rotation and verification targets ----------------------------------------------
# Earlier secret keys, newest first: read-only links and API keys made with them keep working
# (Django's own setting, read from the environment here).
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")
# Fernet keys for the stored Octopus API keys, newest first: the first encrypts, all decrypt
# (API_KEY_ENCRYPTION_KEY above still works, as one more).
API_KEY_ENCRYPTION_KEYS = env_list("API_KEY_ENCRYPTION_KEYS")
# Networks the checks never connect to (default: link-local, where cloud metadata services
# answer), and, when set, the only networks they connect to.
VERIFY_DENIED_NETWORKS = env_list(
    "VERIFY_DENIED_NETWORKS", "169.254.0.0/16,fe80::/10,fd00:ec2::254/128"
)
VERIFY_ALLOWED_NETWORKS = env_list("VERIFY_ALLOWED_NETWORKS")
for _network in [*VERIFY_DENIED_NETWORKS, *VERIFY_ALLOWED_NETWORKS]:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _error:
        raise ImproperlyConfigured(f"{_network!r} is not a network: {_error}") from None

# --- Idempotency keys -----------------------------------------------------------------
# Hours the first response to an API request sent with an Idempotency-Key is kept for its
# retries; an hourly task deletes older ones, so a retry after that acts again.
IDEMPOTENCY_KEEP_HOURS = int(os.environ.get("IDEMPOTENCY_KEEP_HOURS", "24"))
CELERY_BEAT_SCHEDULE["purge-idempotency-records"] = {
    "task": "upgrade_planner.plans.tasks.idempotent_responses_purge",
    "schedule": 3600.0,
}
CELERY_BEAT_SCHEDULE["purge-expired-sessions"] = {
    "task": "upgrade_planner.plans.tasks.expired_sessions_purge",
    "schedule": 3600.0,
}
