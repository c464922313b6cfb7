# Two commands matter: `make run` and `make test`. Both build .venv themselves.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format bench drill clean worker beat

# Pick the first interpreter that really is Python >= 3.12 (pyenv shims can lie).
PYTHON := $(shell for py in "$$PYTHON" python3.13 python3.12 $$(ls -d $$(pyenv root 2>/dev/null)/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV) python3 python; do \
	[ -n "$$py" ] && "$$py" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 && { echo "$$py"; break; }; done)

$(STAMP): pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "Python 3.12 or newer is needed (set PYTHON=/path/to/python3.12)."; exit 1; fi
	@if [ ! -x $(BIN)/python ] || ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
		rm -rf $(VENV); $(PYTHON) -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

run: $(STAMP)
	@export DEBUG=$${DEBUG:-1}; \
	$(BIN)/python manage.py migrate --noinput; \
	if [ -n "$$REDIS_URL" ]; then \
		echo "REDIS_URL is set: starting a Celery worker and beat beside the web server."; \
		$(BIN)/celery -A upgrade_planner worker --loglevel=INFO --concurrency=2 & worker=$$!; \
		$(BIN)/celery -A upgrade_planner beat --loglevel=INFO --schedule=$(VENV)/celerybeat-schedule & beat=$$!; \
		trap 'kill $$worker $$beat 2>/dev/null; wait $$worker $$beat 2>/dev/null' EXIT INT TERM; \
	fi; \
	echo ""; echo "  Octopus Upgrade Planner: http://$(HOST):$(PORT)/"; echo ""; \
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

worker: $(STAMP)
	$(BIN)/celery -A upgrade_planner worker --loglevel=INFO

beat: $(STAMP)
	$(BIN)/celery -A upgrade_planner beat --loglevel=INFO --schedule=$(VENV)/celerybeat-schedule

# Load figures beside a minimal view (needs wrk, PostgreSQL and Redis on loopback; see
# docs/benchmarks.md). BENCH_ARGS passes options, e.g. BENCH_ARGS="--rounds 5".
bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Fault drills against real processes: Redis stopped, a worker SIGKILLed mid-job, PostgreSQL
# restarted (needs PostgreSQL's initdb/pg_ctl and redis-server installed; starts its own
# throwaway cluster and Redis on free loopback ports). DRILL_ARGS="--only redis" picks drills.
drill: $(STAMP)
	$(BIN)/python -m bench.drill $(DRILL_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts staticfiles
