from django.contrib import admin

from upgrade_planner.plans.models import (
    Activity,
    InventoryFetch,
    Plan,
    PlanLink,
    Step,
    StepDependency,
)


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["name", "approach", "approach_overridden", "version", "created_at"]
    list_filter = ["approach"]
    search_fields = ["name"]
    readonly_fields = ["id", "version", "content_version", "created_at", "updated_at"]


@admin.register(PlanLink)
class PlanLinkAdmin(admin.ModelAdmin):
    list_display = ["plan", "kind", "created_at", "replaced_at"]
    list_filter = ["kind"]
    readonly_fields = ["token_hash"]
    list_select_related = ["plan"]


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "state", "tentacle", "plan"]
    list_filter = ["state", "kind", "phase"]
    search_fields = ["title", "tentacle"]
    list_select_related = ["plan"]


@admin.register(StepDependency)
class StepDependencyAdmin(admin.ModelAdmin):
    list_display = ["step", "prerequisite", "plan"]
    raw_id_fields = ["step", "prerequisite", "plan"]


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ["at", "actor", "action", "from_state", "to_state", "plan"]
    list_filter = ["action"]
    list_select_related = ["plan"]


@admin.register(InventoryFetch)
class InventoryFetchAdmin(admin.ModelAdmin):
    list_display = ["created_at", "server_url", "state", "attempts", "plan"]
    list_filter = ["state"]
    list_select_related = ["plan"]
    raw_id_fields = ["plan"]
    readonly_fields = ["id", "created_at", "started_at", "finished_at"]
