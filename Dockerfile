FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=upgrade_planner.settings

WORKDIR /app
RUN useradd --create-home --uid 10001 planner

COPY pyproject.toml ./
COPY upgrade_planner ./upgrade_planner
RUN pip install .

COPY manage.py gunicorn.conf.py ./
COPY templates ./templates
COPY static ./static
# collectstatic needs settings but no real secret or database.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && chown -R planner:planner /app

USER planner
EXPOSE 8000
# Workers, threads, timeouts and request limits: gunicorn.conf.py (PORT, WEB_CONCURRENCY, ...).
CMD ["gunicorn", "-c", "gunicorn.conf.py", "upgrade_planner.wsgi:application"]
