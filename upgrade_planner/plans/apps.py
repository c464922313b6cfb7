from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_delete


class PlansConfig(AppConfig):
    name = "upgrade_planner.plans"
    verbose_name = "Plans"

    def ready(self) -> None:
        post_delete.connect(_plan_deleted, sender="plans.Plan", dispatch_uid="plan-deleted")


def _plan_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A deleted plan (its installation deleted in the admin) stops answering polls and
    conditional GETs at once, not when its cached version expires."""
    from upgrade_planner.plans import access

    access.plan_version_changed(instance.pk)
