"""The admin for what the customer has: read, and deleted whole, never edited.

An installation and its Tentacles are the planner's input. The plan, its steps and their
labels were computed from them, and the Tentacles change only through the inventory services,
which plan again; an edit here would leave a plan that contradicts its own installation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.apps import apps
from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from upgrade_planner.domain import inventory
from upgrade_planner.installations.api_keys import masked
from upgrade_planner.installations.models import Installation, Tentacle

TENTACLES_SHOWN = 50

# The admin's classes are generic for type checkers only (they cannot be subscripted at run time).
if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin[Any]
    TabularInline = admin.TabularInline[Any, Any]
    TentacleFormSet = BaseInlineFormSet[Tentacle, Installation, Any]
else:
    ModelAdmin = admin.ModelAdmin
    TabularInline = admin.TabularInline
    TentacleFormSet = BaseInlineFormSet


class NeverEditedAdmin(ModelAdmin):
    """Rows written only by the services, which keep the plan's version, activity and step
    bookkeeping consistent: the admin may look (and delete, where a subclass allows it) but
    never add or change."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ViewOnlyAdmin(NeverEditedAdmin):
    """Never edited, nor deleted one at a time: only along with their whole installation."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ViewOnlyInline(TabularInline):
    extra = 0
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def changelist_link(model: str, text: str, **filters: object) -> SafeString:
    """A link to `model`'s admin list (app_label_modelname) narrowed by `filters`."""
    url = f"{reverse(f'admin:{model}_changelist')}?{urlencode(filters)}"
    return format_html('<a href="{}">{}</a>', url, text)


def parts_of_an_installation() -> set[str]:
    """The names of the models deleted along with an installation: its Tentacles, its plan
    and everything the plan holds (looked up so that this app need not import the plans app)."""
    return {
        str(model._meta.verbose_name)
        for label in ("installations", "plans")
        for model in apps.get_app_config(label).get_models()
    }


class FirstTentaclesFormSet(TentacleFormSet):
    """Only the first Tentacles: a 5,000-Tentacle installation would otherwise render 5,000
    rows; the rest are a link away, in the Tentacle list."""

    def get_queryset(self) -> QuerySet[Tentacle]:
        if not hasattr(self, "_first_tentacles"):
            self._first_tentacles = super().get_queryset()[:TENTACLES_SHOWN]
        return self._first_tentacles


class TentacleInline(ViewOnlyInline):
    model = Tentacle
    formset = FirstTentaclesFormSet
    fields = readonly_fields = (
        "position",
        "name",
        "hostname",
        "port",
        "version",
        "communication_style",
        "environments",
        "roles",
        "online",
    )
    verbose_name_plural = f"Tentacles (the first {TENTACLES_SHOWN})"


@admin.register(Installation)
class InstallationAdmin(NeverEditedAdmin):
    list_display = [
        "name",
        "server_version",
        "target_version",
        "tentacle_count",
        "approach",
        "old_server_key",
        "new_server_key",
        "created_at",
    ]
    list_filter = [
        "can_provision_new_server",
        "sql_server_ready",
        "uses_builtin_feed",
        "plan__approach",
    ]
    # Never the API key columns: searching them would tell ciphertexts apart.
    search_fields = ["name", "plan__name", "old_server_url", "new_server_url"]
    date_hierarchy = "created_at"
    list_select_related = ["plan"]
    # The API key columns are left out of every form and page: only whether one is stored
    # is shown, in the words the plan page uses.
    exclude = ["old_server_api_key", "new_server_api_key"]
    fieldsets = [
        (None, {"fields": ["id", "name", "plan_link", "created_at"]}),
        ("Versions", {"fields": ["server_version", "target_version"]}),
        (
            "Server and data",
            {
                "fields": [
                    "can_provision_new_server",
                    "sql_server_ready",
                    "uses_builtin_feed",
                    "backup_size_mb",
                    "document_count",
                    "history_days_to_keep",
                    "polling_port",
                    "ha_nodes",
                ]
            },
        ),
        (
            "Octopus servers",
            {
                "fields": [
                    "old_server_url",
                    "old_server_key",
                    "new_server_url",
                    "new_server_key",
                ]
            },
        ),
        ("Tentacles", {"fields": ["all_tentacles"]}),
    ]
    readonly_fields = ["plan_link", "old_server_key", "new_server_key", "all_tentacles"]
    inlines = [TentacleInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Installation]:
        count = (
            Tentacle.objects.filter(installation=OuterRef("pk"))
            .order_by()
            .values("installation")
            .annotate(count=Count("pk"))
            .values("count")
        )
        installations: QuerySet[Installation] = super().get_queryset(request)
        return installations.annotate(
            tentacle_total=Coalesce(Subquery(count, output_field=IntegerField()), 0)
        )

    # Deleting is allowed: it deletes the plan and everything the plan holds with it, so
    # nothing is left half-made, and it removes a customer's data (API keys included) in one go.
    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[str], list[Any]]:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # The parts' own admins refuse to delete them one at a time (that would break the
        # plan), not along with the whole installation.
        return deleted, counts, perms_needed - parts_of_an_installation(), protected

    @admin.display(description="Tentacles", ordering="tentacle_total")
    def tentacle_count(self, installation: Installation) -> int:
        return getattr(installation, "tentacle_total", 0)

    @admin.display(description="Approach", ordering="plan__approach")
    def approach(self, installation: Installation) -> str:
        plan = getattr(installation, "plan", None)
        return plan.get_approach_display() if plan is not None else "(no plan)"

    @admin.display(description="Old server API key")
    def old_server_key(self, installation: Installation) -> str:
        return masked(installation.old_server_api_key)

    @admin.display(description="New server API key")
    def new_server_key(self, installation: Installation) -> str:
        return masked(installation.new_server_api_key)

    @admin.display(description="Plan")
    def plan_link(self, installation: Installation) -> SafeString | str:
        plan = getattr(installation, "plan", None)
        if plan is None:
            return "(no plan)"
        url = reverse("admin:plans_plan_change", args=[plan.pk])
        return format_html('<a href="{}">{}</a>', url, plan.name)

    @admin.display(description="All Tentacles")
    def all_tentacles(self, installation: Installation) -> SafeString:
        total = installation.tentacles.count()
        return changelist_link(
            "installations_tentacle",
            f"{total} Tentacle{'' if total == 1 else 's'}",
            installation__id__exact=installation.pk,
        )


@admin.register(Tentacle)
class TentacleAdmin(ViewOnlyAdmin):
    list_display = [
        "name",
        "hostname",
        "port",
        "version",
        "communication_style",
        "online",
        "restricted_permissions",
        "installation",
    ]
    list_filter = ["communication_style", "online", "restricted_permissions", "version"]
    search_fields = ["name", "hostname", "installation__name"]
    list_select_related = ["installation"]
    fields = ["id", "installation", "position", *inventory.COLUMNS]
