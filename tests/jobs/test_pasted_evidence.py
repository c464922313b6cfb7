"""Teams without credentials paste evidence; the matching Tentacle steps are marked."""

import pytest

from tests.factories import create_plan, finish_prerequisites, fleet
from upgrade_planner.domain.vocabulary import StepState
from upgrade_planner.plans.models import Activity, Step

pytestmark = pytest.mark.django_db

PASTE = """name,version
web-0001,3.17.14
web-0002,2.6.5
stranger-01,3.17.14
this line means nothing
"""


def test_pasted_versions_complete_ready_steps_and_report_the_rest(client):
    created = create_plan(tentacles=fleet(3))
    plan = created.plan
    canary = Step.objects.filter(plan=plan, kind="upgrade-tentacle", canary=True).get()
    finish_prerequisites(plan, canary)
    assert canary.tentacle == "web-0001"

    response = client.post(f"/p/{created.edit_token}/evidence", {"evidence": PASTE}, follow=True)

    body = response.content.decode()
    canary.refresh_from_db()
    assert canary.state == StepState.DONE
    assert canary.evidence[-1]["check"] == "pasted-evidence"
    assert "on the target version" in canary.evidence[-1]["detail"]
    assert "Recognised 2 Tentacles of this plan; 1 upgrade step completed." in body
    assert "Not in this plan: stranger-01" in body
    assert "not understood" in body and "this line means nothing" in body
    assert Activity.objects.filter(plan=plan, action="evidence-pasted").exists()


def test_a_tentacle_still_on_2x_gets_a_clear_mark_and_is_not_completed(client):
    created = create_plan(tentacles=fleet(3))
    plan = created.plan
    canary = Step.objects.filter(plan=plan, kind="upgrade-tentacle", canary=True).get()
    finish_prerequisites(plan, canary)
    log = (
        "Performing health check on web-0001\n"
        "Pipefish.Errors.ProtocolViolationException: Request line should have three parts\n"
    )

    client.post(f"/p/{created.edit_token}/evidence", {"evidence": log})

    canary.refresh_from_db()
    assert canary.state == StepState.READY
    assert canary.evidence[-1]["ok"] is False
    assert "Reinstall" in canary.evidence[-1]["detail"]


def test_pasting_needs_the_edit_link_and_some_text(client):
    created = create_plan()

    assert client.post(f"/p/{created.view_token}/evidence", {"evidence": PASTE}).status_code == 404
    empty = client.post(f"/p/{created.edit_token}/evidence", {"evidence": "  "}, follow=True)
    assert "Paste some evidence first" in empty.content.decode()


def test_the_stop_now_card_follows_progress(client):
    created = create_plan(can_provision_new_server=False, tentacles=fleet(12))
    plan = created.plan
    before = client.get(f"/p/{created.edit_token}/").content.decode()
    canary = Step.objects.filter(plan=plan, kind="upgrade-tentacle", canary=True).first()
    finish_prerequisites(plan, canary)
    from upgrade_planner.plans import services

    services.step_complete(step_id=canary.id, plan=plan, confirmed=True)
    after = client.get(f"/p/{created.edit_token}/").content.decode()

    assert "If we stop now" in before and "If we stop now" in after
    situation = lambda body: body.split('id="stop-now"', 1)[1].split("</section>", 1)[0]  # noqa: E731
    assert situation(before) != situation(after)
