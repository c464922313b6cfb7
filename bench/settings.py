"""Production settings plus a bench-only URLconf that adds the minimal comparison view.

Everything else (DEBUG, SECRET_KEY, DATABASE_URL, REDIS_URL...) comes from the environment
exactly as in production; bench/run.py sets it."""

from upgrade_planner.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
