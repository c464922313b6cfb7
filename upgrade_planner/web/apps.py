from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "upgrade_planner.web"
    label = "web"
