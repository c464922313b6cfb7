"""The plan page's forms: what a browser or a hand-made POST may send to the step actions, the
bulk action, the approach, the name and the pasted evidence, and where the browser is sent
back to. A refused input gets a message and changes nothing; none gets a server error."""

import re
import uuid
from urllib.parse import urlsplit

import pytest
from django.contrib.messages import get_messages
from django.http import QueryDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import create_plan, finish_prerequisites, fleet
from upgrade_planner.domain.lifecycle import StepAction
from upgrade_planner.domain.vocabulary import Approach, StepState
from upgrade_planner.plans.forms import (
    EVIDENCE_MISSING,
    EVIDENCE_TOO_LONG,
    MAX_EVIDENCE_CHARS,
    SELECT_STEPS_AND_ACTION,
    ActorForm,
    ApproachForm,
    EvidenceForm,
    StepActionForm,
    StepsBulkForm,
    problems,
    return_address,
)
from upgrade_planner.plans.models import Activity, Job, Plan, Step

PAGE = "/p/abc123/"
TOO_LONG = "The reason is too long: at most 500 characters (it has 501)."


def posted(**fields: str | list[str]) -> QueryDict:
    data = QueryDict(mutable=True)
    for name, value in fields.items():
        data.setlist(name, value if isinstance(value, list) else [value])
    return data


def flashed(response) -> list[str]:
    return [message.message for message in get_messages(response.wsgi_request)]


def upgrades(plan, count):
    return list(
        Step.objects.filter(plan=plan, kind="upgrade-tentacle").order_by("position")[:count]
    )


def ready_step(plan):
    return (
        Step.objects.filter(plan=plan, state=StepState.READY, tentacle="")
        .order_by("position")
        .first()
    )


def states(steps):
    return [Step.objects.get(pk=step.pk).state for step in steps]


# --- The return address ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [PAGE, f"{PAGE}?state=ready&log=2", f"{PAGE}?q=caf%C3%A9#tentacles", f"{PAGE}?q=café"],
)
def test_the_plan_page_with_its_view_is_a_return_address(address):
    assert return_address(address, page=PAGE) == address


@pytest.mark.parametrize(
    "address",
    [
        "https://evil.example/",
        f"https://evil.example{PAGE}",
        f"//evil.example{PAGE}",
        "/p/other-plan/",
        f"{PAGE}../other-plan/",
        f"{PAGE}%2e%2e/other-plan/",
        f"{PAGE}inventory/",
        "/p/abc123",
        f"{PAGE}?q=a\r\nLocation: https://evil.example/",
        f"{PAGE}?q=\x00",
        "http://[::1/",
        "javascript:alert(1)",
        "",
        None,
    ],
)
def test_anything_else_returns_to_the_plan_page_itself(address):
    assert return_address(address, page=PAGE) == PAGE


def test_a_refused_field_keeps_the_return_address():
    form = StepActionForm(posted(reason="x" * 501, next=f"{PAGE}?state=done"), page=PAGE)

    assert not form.is_valid()
    assert form.return_to == f"{PAGE}?state=done"


def test_a_form_not_yet_judged_still_knows_its_return_address():
    form = StepActionForm(posted(next="https://evil.example/"), page=PAGE)

    assert form.return_to == PAGE


# --- The forms on their own ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("confirm", "confirmed"), [("yes", True), ("on", False), ("YES", False), (" yes", False)]
)
def test_only_the_checkbox_value_yes_confirms(confirm, confirmed):
    form = StepActionForm(posted(confirm=confirm), page=PAGE)

    assert form.is_valid()
    assert form.cleaned_data["confirm"] is confirmed


def test_no_confirmation_and_no_reason_are_valid_the_services_say_when_they_are_needed():
    form = StepActionForm(posted(), page=PAGE)

    assert form.is_valid()
    assert form.cleaned_data == {"next": PAGE, "reason": "", "confirm": False}


def test_a_reason_is_bounded_to_500_characters():
    assert StepActionForm(posted(reason="x" * 500), page=PAGE).is_valid()
    refused = StepActionForm(posted(reason="x" * 501), page=PAGE)

    assert not refused.is_valid()
    assert problems(refused) == [TOO_LONG]


def test_a_nul_in_a_reason_is_left_for_the_service_to_refuse():
    form = StepActionForm(posted(reason="gone\x00"), page=PAGE)

    assert form.is_valid()
    assert form.cleaned_data["reason"] == "gone\x00"


def test_step_ids_that_are_no_ids_are_dropped():
    first, second = uuid.uuid4(), uuid.uuid4()
    form = StepsBulkForm(
        posted(action="skip", step=[str(first), "garbage", "", str(second), "1e3"]), page=PAGE
    )

    assert form.is_valid()
    assert form.cleaned_data["step"] == [first, second]
    assert form.cleaned_data["action"] is StepAction.SKIP


@pytest.mark.parametrize(
    "fields",
    [
        {"action": "explode", "step": [str(uuid.uuid4())]},
        {"action": "fail", "step": [str(uuid.uuid4())]},
        {"step": [str(uuid.uuid4())]},
        {"action": "skip", "step": ["garbage", "'; drop table"]},
        {"action": "skip"},
        {"action": "nonsense", "step": ["garbage"]},
    ],
)
def test_a_bulk_action_needs_a_known_action_and_a_step_said_once(fields):
    form = StepsBulkForm(posted(**fields), page=PAGE)

    assert not form.is_valid()
    assert problems(form) == [SELECT_STEPS_AND_ACTION]


@pytest.mark.parametrize(
    ("value", "approach"),
    [("", None), ("in-place", Approach.IN_PLACE), ("new-server", Approach.NEW_SERVER)],
)
def test_an_approach_is_one_of_the_vocabulary_or_blank_for_the_recommendation(value, approach):
    form = ApproachForm(posted(approach=value))

    assert form.is_valid()
    assert form.cleaned_data["approach"] is approach


def test_an_unknown_approach_is_named_in_the_message():
    form = ApproachForm(posted(approach="sideways"))

    assert not form.is_valid()
    assert problems(form) == ["Unknown approach 'sideways'."]


@pytest.mark.parametrize(
    ("typed", "kept"), [("  Ana  ", "Ana"), ("A\x00na\n", "Ana"), ("x" * 150, "x" * 100), ("", "")]
)
def test_a_name_is_cleaned_never_refused(typed, kept):
    form = ActorForm(posted(actor=typed))

    assert form.is_valid()
    assert form.cleaned_data["actor"] == kept


@pytest.mark.parametrize(
    ("text", "problem"),
    [("", EVIDENCE_MISSING), (" \n\t ", EVIDENCE_MISSING), ("x" * 1_000_001, EVIDENCE_TOO_LONG)],
)
def test_evidence_needs_some_text_under_the_size_limit(text, problem):
    form = EvidenceForm(posted(evidence=text), page=PAGE)

    assert not form.is_valid()
    assert problems(form) == [problem]


def test_evidence_is_kept_as_pasted_with_its_nul_characters_for_the_parser():
    text = "\n  web-01\x00,3.17.14\n" + " " * (MAX_EVIDENCE_CHARS - 20)
    form = EvidenceForm(posted(evidence=text), page=PAGE)

    assert form.is_valid()
    assert form.cleaned_data["evidence"] == text


# --- The views ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_over_long_reason_is_refused_and_the_step_stays(client):
    created = create_plan()
    step = upgrades(created.plan, 1)[0]
    before = states([step])

    response = client.post(
        f"/p/{created.edit_token}/steps/{step.id}/skip",
        {"reason": "x" * 501, "next": f"/p/{created.edit_token}/?state=ready"},
    )

    assert response.status_code == 302
    assert response["Location"] == f"/p/{created.edit_token}/?state=ready"
    assert flashed(response) == [TOO_LONG]
    assert states([step]) == before
    assert not Activity.objects.filter(step=step).exists()


@pytest.mark.django_db
def test_an_over_long_reason_sent_by_htmx_gets_the_live_sections_with_the_message(client):
    created = create_plan()
    step = upgrades(created.plan, 1)[0]
    before = states([step])
    version = created.plan.version

    response = client.post(
        f"/p/{created.edit_token}/steps/{step.id}/skip",
        {"reason": "x" * 501},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    assert TOO_LONG in response.content.decode()
    assert f'data-version="{version}"' in response.content.decode()
    assert states([step]) == before
    assert Plan.objects.get(pk=created.plan.pk).version == version


@pytest.mark.django_db
def test_a_reason_of_500_characters_is_recorded(client):
    created = create_plan()
    step = upgrades(created.plan, 1)[0]

    response = client.post(f"/p/{created.edit_token}/steps/{step.id}/skip", {"reason": "r" * 500})

    assert response.status_code == 302
    assert flashed(response) == [f"Skipped: {step.title}"]
    assert Activity.objects.get(step=step, action="skip").reason == "r" * 500


@pytest.mark.django_db
@pytest.mark.parametrize(
    "next_address",
    [
        "https://evil.example/",
        "//evil.example/p/x/",
        "/p/{other}/",
        "/p/{token}/../{other}/",
        "/v/{token}/",
        "/p/{token}/inventory/",
    ],
)
def test_a_return_address_elsewhere_is_replaced_by_the_plan_page(client, next_address):
    created, other = create_plan(), create_plan("Other Octopus")
    step = ready_step(created.plan)
    address = next_address.format(token=created.edit_token, other=other.edit_token)

    response = client.post(
        f"/p/{created.edit_token}/steps/{step.id}/start", {"next": address, "confirm": "yes"}
    )

    assert response.status_code == 302
    assert response["Location"] == f"/p/{created.edit_token}/"
    assert states([step]) == [StepState.IN_PROGRESS]
    assert not Activity.objects.filter(plan=other.plan, step__isnull=False).exists()


@pytest.mark.django_db
def test_a_point_of_no_return_is_not_confirmed_by_any_other_checkbox_value(client):
    created = create_plan(can_provision_new_server=False, tentacles=fleet(12))
    step = (
        Step.objects.filter(plan=created.plan, point_of_no_return=True).order_by("position").first()
    )
    finish_prerequisites(created.plan, step)

    response = client.post(f"/p/{created.edit_token}/steps/{step.id}/complete", {"confirm": "on"})

    assert response.status_code == 302
    assert "is a point of no return: tick the box" in flashed(response)[0]
    assert states([step]) == [StepState.READY]


@pytest.mark.django_db
def test_an_unknown_step_action_is_not_found_and_changes_nothing(client):
    created = create_plan()
    step = ready_step(created.plan)

    response = client.post(f"/p/{created.edit_token}/steps/{step.id}/explode", {"reason": "x"})

    assert response.status_code == 404
    assert states([step]) == [StepState.READY]
    assert not Activity.objects.filter(step=step).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        {"action": "explode"},
        {"action": "fail"},
        {"action": ""},
        {"step_ids": ["garbage", "12345"]},
        {"step_ids": []},
    ],
)
def test_a_bulk_action_without_a_known_action_or_a_step_is_refused(client, fields):
    created = create_plan(tentacles=fleet(3))
    steps = upgrades(created.plan, 2)
    before = states(steps)
    ids = fields.pop("step_ids", [str(s.id) for s in steps])
    data = {"action": "skip", "reason": "retired", "step": ids} | fields

    response = client.post(f"/p/{created.edit_token}/steps/bulk", data)

    assert response.status_code == 302
    assert response["Location"] == f"/p/{created.edit_token}/"
    assert flashed(response) == [SELECT_STEPS_AND_ACTION]
    assert states(steps) == before
    assert not Activity.objects.filter(step__in=steps).exists()


@pytest.mark.django_db
def test_garbage_among_the_selected_steps_is_dropped_and_the_rest_are_acted_on(client):
    created = create_plan(tentacles=fleet(3))
    steps = upgrades(created.plan, 2)

    response = client.post(
        f"/p/{created.edit_token}/steps/bulk",
        {"action": "skip", "reason": "retired", "step": [str(steps[0].id), "garbage", "\x00"]},
    )

    assert response.status_code == 302
    assert flashed(response) == ["1 excluded."]
    assert states(steps) == [StepState.SKIPPED, StepState.BLOCKED]


@pytest.mark.django_db
def test_an_over_long_bulk_reason_is_refused_and_no_step_moves(client):
    created = create_plan(tentacles=fleet(3))
    steps = upgrades(created.plan, 2)
    before = states(steps)

    response = client.post(
        f"/p/{created.edit_token}/steps/bulk",
        {"action": "skip", "reason": "x" * 501, "step": [str(s.id) for s in steps]},
    )

    assert response.status_code == 302
    assert flashed(response) == [TOO_LONG]
    assert states(steps) == before
    assert not Activity.objects.filter(step__in=steps).exists()


@pytest.mark.django_db
def test_a_bulk_reason_with_a_nul_is_refused_by_the_service_once_and_no_step_moves(client):
    created = create_plan(tentacles=fleet(3))
    steps = upgrades(created.plan, 2)
    before = states(steps)

    response = client.post(
        f"/p/{created.edit_token}/steps/bulk",
        {"action": "skip", "reason": "gone\x00", "step": [str(s.id) for s in steps]},
    )

    assert response.status_code == 302
    assert [m[:36] for m in flashed(response)] == ["The reason: Remove the NUL character"]
    assert states(steps) == before
    assert not Activity.objects.filter(step__in=steps).exists()


@pytest.mark.django_db
def test_a_bulk_action_returns_to_the_view_it_was_posted_from(client):
    created = create_plan(tentacles=fleet(3))
    steps = upgrades(created.plan, 1)
    back = f"/p/{created.edit_token}/?state=ready&page=1"

    response = client.post(
        f"/p/{created.edit_token}/steps/bulk",
        {"action": "skip", "reason": "retired", "step": [str(steps[0].id)], "next": back},
    )

    assert response["Location"] == back
    assert states(steps) == [StepState.SKIPPED]


@pytest.mark.django_db
@pytest.mark.parametrize("approach", ["sideways", "fail", "in-place\x00", "IN-PLACE"])
def test_an_unknown_approach_is_refused_and_the_plan_is_unchanged(client, approach):
    created = create_plan(tentacles=fleet(12))
    before = Plan.objects.get(pk=created.plan.pk)

    response = client.post(f"/p/{created.edit_token}/approach", {"approach": approach})

    assert response.status_code == 302
    assert response["Location"] == f"/p/{created.edit_token}/"
    assert flashed(response) == [f"Unknown approach {approach!r}."]
    after = Plan.objects.get(pk=created.plan.pk)
    assert (after.approach, after.approach_overridden, after.version) == (
        before.approach,
        before.approach_overridden,
        before.version,
    )
    assert not Activity.objects.filter(plan=created.plan, action="approach-changed").exists()


@pytest.mark.django_db
def test_an_approach_form_without_the_field_goes_back_to_the_recommendation(client):
    created = create_plan(tentacles=fleet(12))
    client.post(f"/p/{created.edit_token}/approach", {"approach": "in-place"})

    response = client.post(f"/p/{created.edit_token}/approach", {})

    assert response.status_code == 302
    plan = Plan.objects.get(pk=created.plan.pk)
    assert plan.approach == plan.recommended_approach and not plan.approach_overridden


@pytest.mark.django_db
def test_a_saved_name_is_cleaned_and_a_blank_one_forgets_it(client):
    created = create_plan()
    steps = upgrades(created.plan, 2)

    saved = client.post(f"/p/{created.edit_token}/actor", {"actor": "  A\x00na\r\n"})
    client.post(f"/p/{created.edit_token}/steps/{steps[0].id}/skip", {"reason": "retired"})
    client.post(f"/p/{created.edit_token}/actor", {"actor": "   "})
    client.post(f"/p/{created.edit_token}/steps/{steps[1].id}/skip", {"reason": "retired"})

    assert saved.status_code == 302 and saved["Location"] == f"/p/{created.edit_token}/"
    assert Activity.objects.get(step=steps[0], action="skip").actor == "Ana"
    assert Activity.objects.get(step=steps[1], action="skip").actor == ""


@pytest.mark.django_db
def test_a_name_sent_with_an_action_is_used_and_kept(client):
    created = create_plan()
    steps = upgrades(created.plan, 2)

    client.post(
        f"/p/{created.edit_token}/steps/{steps[0].id}/skip", {"reason": "gone", "actor": "Bo\x00"}
    )
    client.post(f"/p/{created.edit_token}/steps/{steps[1].id}/skip", {"reason": "gone"})

    assert Activity.objects.get(step=steps[0]).actor == "Bo"
    assert Activity.objects.get(step=steps[1]).actor == "Bo"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "problem"),
    [("   \n", EVIDENCE_MISSING), ("web-0001,3.17.14\n" * 60_000, EVIDENCE_TOO_LONG)],
)
def test_a_blank_or_over_large_paste_is_refused_and_nothing_is_recorded(client, text, problem):
    created = create_plan(tentacles=fleet(3))
    canary = upgrades(created.plan, 1)[0]
    finish_prerequisites(created.plan, canary)
    version = Plan.objects.get(pk=created.plan.pk).version
    back = f"/p/{created.edit_token}/?state=ready"

    response = client.post(f"/p/{created.edit_token}/evidence", {"evidence": text, "next": back})

    assert response.status_code == 302 and response["Location"] == back
    assert flashed(response) == [problem]
    assert states([canary]) == [StepState.READY]
    assert Plan.objects.get(pk=created.plan.pk).version == version
    assert not Activity.objects.filter(plan=created.plan, action="evidence-pasted").exists()


@pytest.mark.django_db
def test_a_paste_with_nul_characters_is_read_without_them(client):
    created = create_plan(tentacles=fleet(3))
    step = upgrades(created.plan, 1)[0]
    finish_prerequisites(created.plan, step)

    response = client.post(
        f"/p/{created.edit_token}/evidence",
        {"evidence": "name,version\nweb-00\x0001,3.17.14\x00\n", "next": "https://evil.example/"},
    )

    assert response.status_code == 302
    assert response["Location"] == f"/p/{created.edit_token}/"
    assert flashed(response)[0].startswith("Recognised 1 Tentacle of this plan")
    assert states([step]) == [StepState.DONE]


@pytest.mark.django_db
def test_check_now_returns_to_the_plan_page_not_to_another_site(client):
    created = create_plan()

    response = client.post(f"/p/{created.edit_token}/verify", {"next": "//evil.example/"})

    assert response.status_code == 302
    assert response["Location"] == f"/p/{created.edit_token}/"
    assert flashed(response) == [
        "Nothing to check yet: give the server URLs and API keys, or start a Tentacle step."
    ]
    assert not Job.objects.filter(plan=created.plan).exists()


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(["steps/bulk", "evidence", "verify", "approach", "actor", "skip"]),
    data=st.dictionaries(
        st.sampled_from(["action", "step", "reason", "next", "approach", "actor", "evidence"]),
        st.text(max_size=40)
        | st.sampled_from(["skip", "complete", "in-place", "//evil.example/", "/p/other/"])
        | st.lists(st.text(max_size=40) | st.uuids().map(str), max_size=3),
    ),
)
def test_any_post_to_the_page_forms_comes_back_to_this_plan_and_leaves_others_alone(
    client, path, data
):
    created = create_plan(tentacles=fleet(2))
    other = create_plan("Other Octopus", tentacles=fleet(2))
    other_version = Plan.objects.get(pk=other.plan.pk).version
    if path == "skip":
        step = upgrades(created.plan, 1)[0]
        path = f"steps/{step.id}/skip"

    response = client.post(f"/p/{created.edit_token}/{path}", data)

    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == f"/p/{created.edit_token}/"
    assert Plan.objects.get(pk=other.plan.pk).version == other_version


@pytest.mark.django_db
def test_the_schedule_form_returns_to_each_view_though_the_section_is_rendered_once(client):
    """The schedule section is kept once per plan version; its form's return address is this
    view's, not that of whoever rendered the section first."""
    created = create_plan(tentacles=fleet(3))
    base = f"/p/{created.edit_token}/"
    views = ["", "?state=ready", "?mine=1"]

    returns, rendered = [], 0
    for view in views:
        response = client.get(f"{base}{view}")
        rendered += [t.name for t in response.templates].count("plans/_schedule.html")
        body = response.content.decode()
        section = body[body.index('id="schedule"') :]
        returns.append(re.search(r'name="next" value="([^"]*)"', section)[1])

    assert returns == [base, f"{base}?state=ready", f"{base}?mine=1"]
    assert rendered == 1
    assert "__plan_page" not in body
