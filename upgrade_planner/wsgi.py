import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "upgrade_planner.settings")

application = get_wsgi_application()

# Before this process takes a request: what its first requests would otherwise do.
from upgrade_planner.warmup import warm_up  # noqa: E402 - needs the apps loaded above

warm_up()
