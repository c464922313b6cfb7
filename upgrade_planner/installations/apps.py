from django.apps import AppConfig


class InstallationsConfig(AppConfig):
    name = "upgrade_planner.installations"
    verbose_name = "Installations"
