from django.contrib import admin
from django.urls import path

from upgrade_planner import views
from upgrade_planner.api.endpoints import api
from upgrade_planner.web import schedule as schedule_views
from upgrade_planner.web import views as plan_views

urlpatterns = [
    path("", plan_views.home, name="home"),
    path("p/<str:token>/", plan_views.plan_page, name="plan-edit"),
    path("v/<str:token>/", plan_views.plan_page, {"read_only": True}, name="plan-view"),
    path("p/<str:token>/print", plan_views.plan_print, name="plan-print"),
    path("v/<str:token>/print", plan_views.plan_print, {"read_only": True}, name="plan-view-print"),
    path("p/<str:token>/poll", plan_views.plan_poll, name="plan-poll"),
    path("v/<str:token>/poll", plan_views.plan_poll, {"read_only": True}, name="plan-view-poll"),
    path("p/<str:token>/inventory/", plan_views.inventory_page, name="inventory"),
    path("p/<str:token>/inventory.csv", plan_views.inventory_download, name="inventory-csv"),
    path("p/<str:token>/inventory/preview", plan_views.inventory_preview, name="inventory-preview"),
    path("p/<str:token>/inventory/apply", plan_views.inventory_apply, name="inventory-apply"),
    path(
        "p/<str:token>/inventory/fetch",
        plan_views.inventory_fetch_start,
        name="inventory-fetch-start",
    ),
    path(
        "p/<str:token>/inventory/fetch/<uuid:fetch_id>",
        plan_views.inventory_fetch_page,
        name="inventory-fetch",
    ),
    path(
        "p/<str:token>/steps/<uuid:step_id>/assignee",
        plan_views.step_assign,
        name="step-assign",
    ),
    path(
        "p/<str:token>/steps/<uuid:step_id>/<str:action>",
        plan_views.step_action,
        name="step-action",
    ),
    path("p/<str:token>/steps/bulk", plan_views.steps_bulk, name="steps-bulk"),
    path("p/<str:token>/actor", plan_views.set_actor, name="set-actor"),
    path("p/<str:token>/verify", plan_views.verify_now, name="verify-now"),
    path("p/<str:token>/evidence", plan_views.paste_evidence, name="paste-evidence"),
    path("p/<str:token>/api-keys", plan_views.enter_api_keys, name="enter-api-keys"),
    path(
        "p/<str:token>/findings/<str:code>/accept",
        plan_views.finding_accept,
        name="finding-accept",
    ),
    path("p/<str:token>/readiness/scan", plan_views.readiness_scan, name="readiness-scan"),
    path("p/<str:token>/approach", plan_views.change_approach, name="change-approach"),
    path("p/<str:token>/links/<str:kind>/rotate", plan_views.rotate_link, name="rotate-link"),
    path("p/<str:token>/schedule", schedule_views.schedule_set, name="plan-schedule"),
    path(
        "p/<str:token>/schedule/panel",
        schedule_views.schedule_partial,
        name="plan-schedule-panel",
    ),
    path(
        "v/<str:token>/schedule/panel",
        schedule_views.schedule_partial,
        {"read_only": True},
        name="plan-view-schedule-panel",
    ),
    path("p/<str:token>/rehearsal", plan_views.make_rehearsal, name="plan-rehearsal"),
    path(
        "p/<str:token>/rehearsal/apply",
        schedule_views.rehearsal_apply,
        name="plan-rehearsal-apply",
    ),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
]

# A body too large or with too many fields gets a message naming it, not a bare "Bad Request".
handler400 = "upgrade_planner.web.views.bad_request"
