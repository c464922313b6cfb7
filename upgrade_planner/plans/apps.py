from django.apps import AppConfig


class PlansConfig(AppConfig):
    name = "upgrade_planner.plans"
    verbose_name = "Plans"
