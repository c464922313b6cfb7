"""gunicorn's configuration for production (`gunicorn -c gunicorn.conf.py
upgrade_planner.wsgi:application`, as the Dockerfile and docker-compose.yml run it).

Slow clients must not stall the app. Threaded workers keep a client that sends its request
slowly from holding a whole process; the request line and headers are bounded; and in the
compose stack a buffering reverse proxy (deploy/nginx.conf) reads every request in full before
gunicorn sees it. Every value can be set from the environment; see the README.
"""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


# Where to listen: PORT as most platforms set it; BIND_ADDRESS 127.0.0.1 keeps it local.
bind = f"{os.environ.get('BIND_ADDRESS') or '0.0.0.0'}:{_int('PORT', 8000)}"  # noqa: S104

# Processes, and threads in each: a thread waiting on a slow client leaves the others serving.
workers = _int("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 8))
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 4)

# A worker silent this long is restarted. Creating a plan of 20,000 Tentacles takes well under
# it; the proxy waits a little longer (proxy_read_timeout).
timeout = _int("GUNICORN_TIMEOUT", 60)
# On a restart or deploy, requests in flight get this long to finish.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Seconds an idle kept-alive connection is held for its next request.
keepalive = _int("GUNICORN_KEEPALIVE", 5)

# Bounds on what a request may send before the app sees it (gunicorn answers 400 past them).
# Plan URLs carry a 43-character token; the longest are filtered plan pages.
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190

# Workers are replaced after this many requests (with jitter, not all at once), so a slow
# leak never grows without bound.
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 100)
# The application is loaded, and warmed up (upgrade_planner.warmup: URLconf, templates), once
# in the master; each worker is a fork of it. A replaced worker then starts in milliseconds and
# serves its first request as fast as its hundredth, instead of spending a second of CPU on
# imports and template compiling while its neighbours queue. Loading opens no database or
# cache connection, so none is shared between workers. A new release needs a restart of
# gunicorn (not a HUP of the master) to load its code.
preload_app = _int("GUNICORN_PRELOAD", 1) == 1

# The access log to stdout, the error log to stderr: the container's log collects both.
accesslog = "-"
errorlog = "-"
# The workers' heartbeat files in memory: a container's disk may stall.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
# Plan links are credentials: the access and error logs show them with the token cut short.
logger_class = "upgrade_planner.redaction.RedactingGunicornLogger"
