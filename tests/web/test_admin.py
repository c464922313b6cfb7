"""The Django admin at /admin/: every model is listed and shown, secrets never are, only a
plan's name can be edited, and a list costs the same queries however many plans there are."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.db import connection
from django.db.models import Model
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import fleet, installation
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.installations.models import Installation, Tentacle
from upgrade_planner.plans import services
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

pytestmark = pytest.mark.django_db

OLD_KEY = "API-OLDSERVER7Q2W9E4R1T6Y3U8I5O0P"
NEW_KEY = "API-NEWSERVER3Z8X1C6V4B9N2M7L5K0J"
FETCH_KEY = "API-FETCHONLY5H2G8F1D7S4A9Q3W6E0R"

EVERY_MODEL = [
    Installation,
    Tentacle,
    Plan,
    PlanLink,
    Step,
    StepDependency,
    Activity,
    IdempotencyRecord,
    Job,
    InventoryFetch,
]
# Written only by the services: the admin shows them and refuses to add, change or delete.
VIEW_ONLY = [Tentacle, PlanLink, Step, StepDependency, Activity, Job, InventoryFetch]
# Never added or changed here, but deleting them is allowed (see their admins for why).
DELETABLE_ONLY = [Installation, IdempotencyRecord]


@pytest.fixture
def superuser(django_user_model: Any) -> Any:
    # No password: hashing one costs a second a test, and the client logs in without it.
    return django_user_model.objects.create_superuser("admin", "admin@example.com", None)


@pytest.fixture
def superuser_client(client: Any, superuser: Any) -> Any:
    client.force_login(superuser)
    return client


@dataclass
class Everything:
    """A plan with a row in every table, made the way the product makes them."""

    plan: Plan
    secrets: list[str]


def plan_with_everything(client: Any, name: str = "Prod Octopus") -> Everything:
    created = services.plan_create(
        name=name,
        installation=installation(
            old_server_url="https://octopus-old.example",
            new_server_url="https://octopus-new.example",
        ),
        old_server_api_key=OLD_KEY,
        new_server_api_key=NEW_KEY,
    )
    plan = created.plan
    rotated_view_token = services.link_rotate(plan=plan, kind="view", actor="Ana")
    assert services.verification_request(plan=plan, actor="Ana")
    step = Step.objects.filter(plan=plan, state=StepState.READY, tentacle="", optional=False)[0]
    answer = client.post(
        f"/api/v1/plans/{created.edit_token}/steps/{step.id}/complete",
        data=json.dumps({"actor": "pipeline"}),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=f"deploy-{plan.pk}",
    )
    assert answer.status_code == 200
    services.inventory_fetch_start(
        plan=plan, server_url="https://octopus-old.example", api_key=FETCH_KEY
    )
    plan.refresh_from_db()
    stored = Installation.objects.get(pk=plan.installation_id)
    assert stored.old_server_api_key and stored.new_server_api_key
    secrets = [
        OLD_KEY,
        NEW_KEY,
        FETCH_KEY,
        created.edit_token,
        created.view_token,
        rotated_view_token,
    ]
    ciphertexts = [stored.old_server_api_key, stored.new_server_api_key]
    hashes_and_seeds = [
        value
        for link in PlanLink.objects.filter(plan=plan).values_list("token_hash", "seed")
        for value in link
        if value
    ]
    whole = [*secrets, *ciphertexts, *hashes_and_seeds]
    # Cut short counts too: any 18 characters of a secret hold one of these pieces.
    pieces = [secret[i : i + 12] for secret in whole for i in range(0, len(secret) - 11, 6)]
    return Everything(plan=plan, secrets=[*whole, *pieces])


def one_of(model: type[Model], plan: Plan) -> Model:
    if model is Plan:
        return plan
    if model is Installation:
        return Installation.objects.get(pk=plan.installation_id)
    if model is Tentacle:
        return Tentacle.objects.filter(installation_id=plan.installation_id)[0]
    if model is PlanLink:  # a read-only link: it has a seed as well as a token hash
        return PlanLink.objects.filter(plan=plan).exclude(seed="")[0]
    return model._default_manager.filter(plan=plan)[0]


def admin_url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def model_id(model: type[Model]) -> str:
    return model.__name__


def assert_no_secret_in(body: str, secrets: list[str]) -> None:
    shown = [secret for secret in secrets if secret in body]
    assert not shown, f"secrets shown: {shown}"


# --- Every model is listed and shown, secrets never are -------------------------------------


@pytest.mark.parametrize("model", EVERY_MODEL, ids=model_id)
def test_every_model_has_an_admin_list_that_shows_its_rows(superuser_client, model):
    everything = plan_with_everything(superuser_client)
    row = one_of(model, everything.plan)

    response = superuser_client.get(admin_url(model, "changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count == model._default_manager.count() > 0
    assert admin_url(model, "change", row.pk) in response.content.decode()


@pytest.mark.parametrize("model", EVERY_MODEL, ids=model_id)
def test_no_admin_page_shows_an_api_key_a_ciphertext_a_token_or_a_seed(superuser_client, model):
    everything = plan_with_everything(superuser_client)
    row = one_of(model, everything.plan)

    listed = superuser_client.get(admin_url(model, "changelist"))
    shown = superuser_client.get(admin_url(model, "change", row.pk))

    assert listed.status_code == shown.status_code == 200
    assert str(row.pk) in shown.content.decode()
    assert_no_secret_in(listed.content.decode(), everything.secrets)
    assert_no_secret_in(shown.content.decode(), everything.secrets)


def test_the_installation_page_says_whether_each_key_is_stored_and_offers_no_key_field(
    superuser_client,
):
    everything = plan_with_everything(superuser_client)
    without_keys = services.plan_create(name="No keys", installation=installation()).plan
    Installation.objects.filter(pk=everything.plan.installation_id).update(new_server_api_key="")

    with_key = superuser_client.get(
        admin_url(Installation, "change", everything.plan.installation_id)
    )
    listed = superuser_client.get(admin_url(Installation, "changelist"))
    none = superuser_client.get(admin_url(Installation, "change", without_keys.installation_id))

    body = with_key.content.decode()
    assert body.count("stored (hidden)") == 1 and body.count("not given") == 1
    assert "api_key" not in body
    assert none.content.decode().count("not given") == 2
    assert listed.content.decode().count("stored (hidden)") == 1


def test_the_installation_and_link_pages_cannot_be_searched_by_a_secret(superuser_client):
    everything = plan_with_everything(superuser_client)
    stored = everything.plan.installation
    link = PlanLink.objects.filter(plan=everything.plan).exclude(seed="").first()

    def found(model: type[Model], query: str) -> int:
        response = superuser_client.get(admin_url(model, "changelist"), {"q": query})
        assert response.status_code == 200
        return response.context["cl"].result_count

    assert found(Installation, "Prod Octopus") == 1
    assert found(Installation, stored.old_server_api_key) == 0
    assert found(Installation, stored.new_server_api_key[:30]) == 0
    assert found(PlanLink, "Prod Octopus") == 3
    assert found(PlanLink, link.token_hash) == 0
    assert found(PlanLink, link.seed) == 0


SECRET_FIELDS = {"old_server_api_key", "new_server_api_key", "token_hash", "seed"}


@pytest.mark.parametrize("model", EVERY_MODEL, ids=model_id)
def test_no_admin_lists_searches_or_shows_a_secret_field(rf, superuser, model):
    model_admin = admin.site.get_model_admin(model)
    request = rf.get("/admin/")
    request.user = superuser
    obj = model()
    named = {
        *model_admin.get_list_display(request),
        *model_admin.get_search_fields(request),
        *(f[0] if isinstance(f, tuple) else f for f in model_admin.get_list_filter(request)),
        *model_admin.get_fields(request, obj),
        *flatten_fieldsets(model_admin.get_fieldsets(request, obj)),
        *model_admin.get_readonly_fields(request, obj),
    }
    searched_paths = {part for field in named for part in field.split("__")}

    assert not SECRET_FIELDS & searched_paths
    assert not SECRET_FIELDS & set(model_admin.get_form(request, obj, change=True).base_fields)


# --- Only what cannot break an invariant can be changed -------------------------------------


@pytest.mark.parametrize("model", VIEW_ONLY + DELETABLE_ONLY, ids=model_id)
def test_rows_the_services_write_are_shown_without_a_save_button_and_refuse_changes(
    superuser_client, model
):
    everything = plan_with_everything(superuser_client)
    row = one_of(model, everything.plan)
    before = model._default_manager.filter(pk=row.pk).values().get()

    adding = superuser_client.get(admin_url(model, "add"))
    shown = superuser_client.get(admin_url(model, "change", row.pk))
    posted = superuser_client.post(
        admin_url(model, "change", row.pk), {"name": "x", "state": "done"}
    )

    assert adding.status_code == 403
    assert shown.status_code == 200
    assert 'name="_save"' not in shown.content.decode()
    assert f"View {model._meta.verbose_name}" in shown.content.decode()
    assert posted.status_code == 403
    assert model._default_manager.filter(pk=row.pk).values().get() == before


@pytest.mark.parametrize("model", VIEW_ONLY, ids=model_id)
def test_rows_the_services_write_cannot_be_deleted(superuser_client, model):
    everything = plan_with_everything(superuser_client)
    row = one_of(model, everything.plan)

    asked = superuser_client.get(admin_url(model, "delete", row.pk))
    posted = superuser_client.post(admin_url(model, "delete", row.pk), {"post": "yes"})
    listed = superuser_client.get(admin_url(model, "changelist"))

    assert asked.status_code == posted.status_code == 403
    assert model._default_manager.filter(pk=row.pk).exists()
    assert listed.context["action_form"] is None  # no "delete selected" either


def test_an_idempotency_record_can_be_deleted_and_the_plan_keeps_its_steps(superuser_client):
    everything = plan_with_everything(superuser_client)
    record = IdempotencyRecord.objects.get(plan=everything.plan)
    steps = Step.objects.filter(plan=everything.plan).count()

    response = superuser_client.post(
        admin_url(IdempotencyRecord, "delete", record.pk), {"post": "yes"}
    )

    assert response.status_code == 302
    assert not IdempotencyRecord.objects.filter(pk=record.pk).exists()
    assert Step.objects.filter(plan=everything.plan).count() == steps


def test_deleting_an_installation_deletes_its_plan_and_everything_in_it(superuser_client):
    everything = plan_with_everything(superuser_client)
    other = plan_with_everything(superuser_client, name="Staging Octopus")
    url = admin_url(Installation, "delete", everything.plan.installation_id)

    asked = superuser_client.get(url)
    deleted = superuser_client.post(url, {"post": "yes"})

    assert asked.status_code == 200
    assert "permission to delete" not in asked.content.decode()
    assert_no_secret_in(asked.content.decode(), everything.secrets)
    assert deleted.status_code == 302
    assert not Plan.objects.filter(pk=everything.plan.pk).exists()
    for model in EVERY_MODEL:
        field = {Installation: "pk", Tentacle: "installation", Plan: "installation"}.get(
            model, "plan__installation"
        )
        assert not model._default_manager.filter(
            **{field: everything.plan.installation_id}
        ).exists(), model
        assert model._default_manager.exists(), model  # the other plan is untouched
    assert Plan.objects.get() == other.plan


def test_a_plan_cannot_be_added_or_deleted_here(superuser_client):
    everything = plan_with_everything(superuser_client)

    adding = superuser_client.get(admin_url(Plan, "add"))
    deleting = superuser_client.post(admin_url(Plan, "delete", everything.plan.pk), {"post": "yes"})

    assert adding.status_code == deleting.status_code == 403
    assert Plan.objects.filter(pk=everything.plan.pk).exists()


def unchanged_form(response: Any) -> dict[str, Any]:
    """What a browser sends back from an admin change page when nothing is typed."""
    data: dict[str, Any] = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            data[form.add_prefix(name)] = "" if value is None else value
    return data


def test_renaming_a_plan_moves_its_version_so_cached_pages_show_the_new_name(superuser_client):
    visitor = Client()
    created = services.plan_create(name="Prod Octopus", installation=installation())
    plan = created.plan
    assert "Prod Octopus" in visitor.get(f"/v/{created.view_token}/").content.decode()
    url = admin_url(Plan, "change", plan.pk)
    before = Plan.objects.filter(pk=plan.pk).values().get()

    data = unchanged_form(superuser_client.get(url))
    data.update(name="Production Octopus", approach="manual", version=999, finished_steps=7)
    response = superuser_client.post(url, data)

    assert response.status_code == 302
    after = Plan.objects.filter(pk=plan.pk).values().get()
    assert after["name"] == "Production Octopus"
    assert after["version"] == before["version"] + 1
    computed = set(before) - {"name", "version", "updated_at"}
    assert {field: after[field] for field in computed} == {f: before[f] for f in computed}
    page = visitor.get(f"/v/{created.view_token}/").content.decode()
    assert "Production Octopus" in page and "Prod Octopus" not in page


def test_a_plan_renamed_in_the_admin_moves_its_etag_at_once(
    superuser_client, django_capture_on_commit_callbacks
):
    visitor = Client()
    created = services.plan_create(name="Prod Octopus", installation=installation())
    read = f"/api/v1/plans/{created.view_token}"
    etag = visitor.get(read)["ETag"]
    assert visitor.get(read, HTTP_IF_NONE_MATCH=etag).status_code == 304  # the version is cached
    url = admin_url(Plan, "change", created.plan.pk)
    data = unchanged_form(superuser_client.get(url))
    data.update(name="Production Octopus")

    with django_capture_on_commit_callbacks(execute=True):  # as the admin's request commits
        assert superuser_client.post(url, data).status_code == 302

    renamed = visitor.get(read, HTTP_IF_NONE_MATCH=etag)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Production Octopus"


def test_saving_a_plan_with_its_name_unchanged_leaves_its_version(superuser_client):
    plan = services.plan_create(name="Prod Octopus", installation=installation()).plan
    url = admin_url(Plan, "change", plan.pk)

    response = superuser_client.post(url, unchanged_form(superuser_client.get(url)))

    assert response.status_code == 302
    assert Plan.objects.get(pk=plan.pk).version == plan.version


def test_a_plan_cannot_be_renamed_to_blanks(superuser_client):
    plan = services.plan_create(name="Prod Octopus", installation=installation()).plan
    url = admin_url(Plan, "change", plan.pk)
    data = unchanged_form(superuser_client.get(url))
    data["name"] = "   "

    response = superuser_client.post(url, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"]
    assert Plan.objects.get(pk=plan.pk).name == "Prod Octopus"


# --- Query counts ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", EVERY_MODEL, ids=model_id)
def test_a_list_costs_the_same_queries_for_ten_plans_as_for_one(
    superuser_client, django_assert_max_num_queries, model
):
    url = admin_url(model, "changelist")
    plan_with_everything(superuser_client, name="Plan 1")
    superuser_client.get(url)  # once, so that one-off lookups do not count
    with CaptureQueriesContext(connection) as for_one:
        small = superuser_client.get(url)
    queries_for_one = len(for_one)  # each request clears the log it reads from
    for number in range(2, 11):
        plan_with_everything(superuser_client, name=f"Plan {number}")

    with django_assert_max_num_queries(queries_for_one):
        large = superuser_client.get(url)

    assert small.status_code == large.status_code == 200
    assert large.context["cl"].result_count >= 10 * small.context["cl"].result_count
    assert len(large.context["cl"].result_list) > len(small.context["cl"].result_list)


def test_an_installation_page_costs_the_same_queries_for_3_as_for_300_tentacles(
    superuser_client, django_assert_max_num_queries
):
    small = services.plan_create(name="Small", installation=installation()).plan
    large = services.plan_create(name="Large", installation=installation(tentacles=fleet(300))).plan
    superuser_client.get(admin_url(Installation, "change", small.installation_id))
    with CaptureQueriesContext(connection) as for_small:
        superuser_client.get(admin_url(Installation, "change", small.installation_id))
    queries_for_small = len(for_small)

    with django_assert_max_num_queries(queries_for_small):
        response = superuser_client.get(admin_url(Installation, "change", large.installation_id))

    body = response.content.decode()
    assert response.status_code == 200
    assert "web-0050" in body and "web-0051" not in body  # the first 50, in order
    tentacles = (
        f"{admin_url(Tentacle, 'changelist')}?installation__id__exact={large.installation_id}"
    )
    assert f'<a href="{tentacles}">300 Tentacles</a>' in body
    filtered = superuser_client.get(tentacles)
    assert filtered.context["cl"].result_count == 300


def test_a_plan_page_costs_the_same_queries_however_often_its_links_were_replaced(
    superuser_client, django_assert_max_num_queries
):
    plan = services.plan_create(name="Prod Octopus", installation=installation()).plan
    url = admin_url(Plan, "change", plan.pk)
    superuser_client.get(url)
    with CaptureQueriesContext(connection) as for_two_links:
        superuser_client.get(url)
    queries_for_two_links = len(for_two_links)
    for _ in range(5):
        services.link_rotate(plan=plan, kind="edit")
        services.link_rotate(plan=plan, kind="view")

    with django_assert_max_num_queries(queries_for_two_links):
        response = superuser_client.get(url)

    assert response.status_code == 200
    links = response.context["inline_admin_formsets"][0].formset.forms
    assert len(links) == PlanLink.objects.filter(plan=plan).count() == 12


def test_a_plan_page_counts_what_the_plan_holds_with_a_link_to_each_list(superuser_client):
    plan = plan_with_everything(superuser_client).plan
    steps = Step.objects.filter(plan=plan, retired=False).count()
    jobs_made = Job.objects.filter(plan=plan).count()
    steps_url = f"{admin_url(Step, 'changelist')}?plan__id__exact={plan.pk}&retired__exact=0"
    jobs_url = f"{admin_url(Job, 'changelist')}?plan__id__exact={plan.pk}"

    body = superuser_client.get(admin_url(Plan, "change", plan.pk)).content.decode()

    assert f'<a href="{steps_url.replace("&", "&amp;")}">{steps} steps</a>' in body
    assert f'<a href="{jobs_url}">{jobs_made} jobs</a>' in body
    assert ">1 inventory fetch</a>" in body
    assert superuser_client.get(steps_url).context["cl"].result_count == steps
    assert superuser_client.get(jobs_url).context["cl"].result_count == jobs_made
