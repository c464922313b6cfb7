"""The Celery app: `celery -A upgrade_planner worker` and `celery -A upgrade_planner beat`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "upgrade_planner.settings")

app = Celery("upgrade_planner")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
