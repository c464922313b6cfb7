"""The admin for plans and everything they hold.

Every write to a plan goes through `plans.services`, which keeps the plan's version (the
ETag of every read and the key of the page cache), its activity log, its count of finished
steps and the blocked/ready states of its steps consistent. So the admin shows all of it and
edits only a plan's name, bumping the version as the services do. Share links are shown by
kind and date only: their token hashes and seeds never leave the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.db import models
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from upgrade_planner.installations.admin import (
    NeverEditedAdmin,
    ViewOnlyAdmin,
    ViewOnlyInline,
    changelist_link,
)
from upgrade_planner.plans.access import (
    client_address,
    plan_version_changed,
    sign_in_failed,
    sign_in_succeeded,
    sign_in_wait,
)
from upgrade_planner.plans.models import (
    Activity,
    IdempotencyRecord,
    InventoryFetch,
    Job,
    Plan,
    PlanLink,
    Step,
    StepDependency,
)

# Generic for type checkers only (the admin's classes cannot be subscripted at run time).
if TYPE_CHECKING:
    PlanModelAdmin = admin.ModelAdmin[Plan]
else:
    PlanModelAdmin = admin.ModelAdmin


class ThrottledSignInForm(AdminAuthenticationForm):
    """The admin's sign-in, refused for a while after too many failures from one address or
    for one user name (ADMIN_LOGIN_FAILURE_LIMIT in ADMIN_LOGIN_WINDOW_MINUTES). A refused
    attempt checks no password, so it can neither succeed nor tell anything."""

    def clean(self) -> dict[str, Any]:
        address = client_address(self.request.META) if self.request is not None else ""
        username = str(self.data.get("username", ""))
        if wait := sign_in_wait(address, username):
            minutes = -(-wait // 60)
            raise ValidationError(
                "Too many failed sign-ins from your address or for this user name: try again "
                f"in {minutes} minute{'' if minutes == 1 else 's'}.",
                code="throttled",
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            sign_in_failed(address, username)
            raise
        if self.get_user() is not None:
            sign_in_succeeded(username)
        return cleaned


admin.site.login_form = ThrottledSignInForm


class PlanLinkInline(ViewOnlyInline):
    model = PlanLink
    fields = readonly_fields = ("kind", "created_at", "replaced_at")
    show_change_link = False


# What the planner computed for a plan, shown read-only.
PLANNED_FIELDS: tuple[str, ...] = (
    "approach",
    "recommended_approach",
    "approach_overridden",
    "content_version",
    "path",
    "reasons",
    "alternatives",
    "assumptions",
    "warnings",
    "migration",
    "canary",
)


@admin.register(Plan)
class PlanAdmin(PlanModelAdmin):
    list_display = [
        "name",
        "approach",
        "approach_overridden",
        "versions",
        "finished_steps",
        "version",
        "created_at",
        "updated_at",
    ]
    list_filter = ["approach", "recommended_approach", "approach_overridden", "content_version"]
    search_fields = ["name", "installation__name"]
    date_hierarchy = "created_at"
    list_select_related = ["installation"]
    fieldsets = [
        (None, {"fields": ["name", "id", "installation", "created_at", "updated_at"]}),
        (
            "Progress",
            {"fields": ["version", "finished_steps", "records"]},
        ),
        (
            "What the planner recommends",
            {"fields": PLANNED_FIELDS},
        ),
    ]
    # Everything but the name was computed by the planner or is kept by the services.
    readonly_fields = [
        "id",
        "installation",
        "created_at",
        "updated_at",
        "version",
        "finished_steps",
        "records",
        *PLANNED_FIELDS,
    ]
    inlines = [PlanLinkInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A plan is made by the planner from an installation, with its steps and links.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Delete the plan's installation instead: that takes the plan with it, where deleting
        # the plan alone would leave the installation and its stored API keys behind.
        return False

    def save_model(
        self, request: HttpRequest, obj: Plan, form: ModelForm[Plan], change: bool
    ) -> None:
        if "name" not in form.changed_data:
            return
        # Only the name, and a new version so that cached pages and ETags move on. Saving the
        # whole row would write back the version and progress read when the form was loaded,
        # undoing a step change made in the meantime.
        Plan.objects.filter(pk=obj.pk).update(
            name=obj.name, version=models.F("version") + 1, updated_at=timezone.now()
        )
        plan_version_changed(obj.pk)
        obj.refresh_from_db()

    @admin.display(description="Versions")
    def versions(self, plan: Plan) -> str:
        return f"{plan.installation.server_version} → {plan.installation.target_version}"

    @admin.display(description="Records")
    def records(self, plan: Plan) -> SafeString:
        """How many rows of each kind the plan holds, each a link to them in their list."""
        counted: list[tuple[type[models.Model], models.QuerySet[Any], str, str]] = [
            (Step, Step.objects.current(), "step", "steps"),
            (StepDependency, StepDependency.objects.all(), "dependency", "dependencies"),
            (Activity, Activity.objects.all(), "activity", "activities"),
            (Job, Job.objects.all(), "job", "jobs"),
            (InventoryFetch, InventoryFetch.objects.all(), "inventory fetch", "inventory fetches"),
            (
                IdempotencyRecord,
                IdempotencyRecord.objects.all(),
                "idempotency record",
                "idempotency records",
            ),
        ]
        links = []
        for model, rows, one, many in counted:
            count = rows.filter(plan=plan).count()
            filters: dict[str, object] = {"plan__id__exact": plan.pk}
            if model is Step:
                filters["retired__exact"] = 0  # as counted: the steps of the plan now
            name = f"{model._meta.app_label}_{model._meta.model_name}"
            text = f"{count} {one if count == 1 else many}"
            links.append((changelist_link(name, text, **filters),))
        return format_html_join(", ", "{}", links)


@admin.register(PlanLink)
class PlanLinkAdmin(ViewOnlyAdmin):
    # Links are made and replaced by the link service, which keeps one current link per kind
    # and moves the plan's version; deleting one would leave its holders a "no such plan"
    # instead of "this link was replaced", or a plan nobody can edit.
    list_display = ["plan", "kind", "created_at", "replaced_at"]
    list_filter = ["kind", ("replaced_at", admin.EmptyFieldListFilter)]
    # Never the token hash or the seed: a search would tell whether a guessed value is stored.
    search_fields = ["plan__name"]
    date_hierarchy = "created_at"
    list_select_related = ["plan"]
    fields = ["plan", "kind", "created_at", "replaced_at"]


@admin.register(Step)
class StepAdmin(ViewOnlyAdmin):
    list_display = [
        "title",
        "position",
        "phase",
        "kind",
        "state",
        "tentacle",
        "optional",
        "retired",
        "plan",
        "updated_at",
    ]
    list_filter = [
        "state",
        "phase",
        "kind",
        "optional",
        "canary",
        "point_of_no_return",
        "fleet_gate",
        "retired",
    ]
    search_fields = ["title", "key", "tentacle", "plan__name"]
    date_hierarchy = "updated_at"
    list_select_related = ["plan"]
    fields = [
        "id",
        "plan",
        "key",
        "position",
        "title",
        "detail",
        "phase",
        "hop",
        "kind",
        "source",
        "state",
        "waits_for",
        "unblocks",
        "optional",
        "canary",
        "point_of_no_return",
        "fleet_gate",
        "method",
        "tentacle",
        "tentacle_ref",
        "tentacles",
        "labels",
        "evidence",
        "retired",
        "updated_at",
    ]
    readonly_fields = ["waits_for", "unblocks"]

    @admin.display(description="Waits for")
    def waits_for(self, step: Step) -> SafeString | str:
        return _step_links(Step.objects.filter(dependents=step))

    @admin.display(description="Unblocks")
    def unblocks(self, step: Step) -> SafeString | str:
        return _step_links(Step.objects.filter(depends_on=step))


def _step_links(steps: models.QuerySet[Step]) -> SafeString | str:
    rows = steps.order_by("position").values_list("pk", "title", "state")
    return (
        format_html_join(
            "",
            '<div><a href="{}">{}</a> ({})</div>',
            (
                (reverse("admin:plans_step_change", args=[pk]), title, state)
                for pk, title, state in rows
            ),
        )
        or "(none)"
    )


@admin.register(StepDependency)
class StepDependencyAdmin(ViewOnlyAdmin):
    list_display = ["step", "prerequisite", "plan"]
    search_fields = ["step__title", "prerequisite__title", "plan__name"]
    list_select_related = ["step", "prerequisite", "plan"]
    fields = ["step", "prerequisite", "plan"]


@admin.register(Activity)
class ActivityAdmin(ViewOnlyAdmin):
    list_display = ["at", "actor", "verb", "step", "from_state", "to_state", "plan_version", "plan"]
    list_filter = ["action", "from_state", "to_state"]
    search_fields = ["actor", "reason", "step__title", "plan__name"]
    date_hierarchy = "at"
    list_select_related = ["plan", "step"]
    fields = [
        "at",
        "plan",
        "plan_version",
        "actor",
        "action",
        "step",
        "from_state",
        "to_state",
        "reason",
        "details",
        "finished_steps",
    ]

    @admin.display(description="Did", ordering="action")
    def verb(self, activity: Activity) -> str:
        return activity.verb


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(NeverEditedAdmin):
    # Deleting is allowed and harmless: nothing but a retry with the same key reads a record,
    # and such a retry is then handled as a new request, which the step transitions still
    # check against the step's state (a second "complete" answers 409 instead of replaying the
    # first 200). Records are never expired otherwise, so this is how old ones are cleared.
    list_display = ["created_at", "key", "status_code", "plan"]
    list_filter = ["status_code"]
    search_fields = ["key", "plan__name"]
    date_hierarchy = "created_at"
    list_select_related = ["plan"]
    fields = ["plan", "key", "fingerprint", "status_code", "body", "created_at"]


@admin.register(Job)
class JobAdmin(ViewOnlyAdmin):
    # Not even deleting: the plan page lists the latest jobs as the history of its checks
    # (cached pages would keep showing a deleted one until the plan changes), steps' evidence
    # names the job behind it, and a deleted pending job is a check someone asked for that
    # silently never runs.
    list_display = [
        "created_at",
        "kind",
        "state",
        "attempts",
        "max_attempts",
        "step",
        "plan",
        "finished_at",
    ]
    list_filter = ["state", "kind"]
    search_fields = ["kind", "last_error", "plan__name"]
    date_hierarchy = "created_at"
    list_select_related = ["plan", "step"]
    fields = [
        "id",
        "plan",
        "step",
        "kind",
        "state",
        "attempts",
        "max_attempts",
        "created_at",
        "available_at",
        "published_at",
        "started_at",
        "finished_at",
        "last_error",
        "result",
    ]


@admin.register(InventoryFetch)
class InventoryFetchAdmin(ViewOnlyAdmin):
    list_display = ["created_at", "server_url", "state", "progress", "attempts", "actor", "plan"]
    list_filter = ["state"]
    search_fields = ["server_url", "actor", "plan__name"]
    date_hierarchy = "created_at"
    list_select_related = ["plan"]
    fields = [
        "id",
        "plan",
        "server_url",
        "actor",
        "state",
        "progress",
        "attempts",
        "server_version",
        "created_at",
        "started_at",
        "finished_at",
        "error",
        "rows",
        "unrecognised",
    ]
