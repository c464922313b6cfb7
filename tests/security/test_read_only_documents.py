"""A plan read through its read-only link, by the API or as an export, shows a port probe's
outcome but not what it found out about the network, as the read-only page does."""

import pytest
from django.db import transaction

from tests.factories import create_plan
from upgrade_planner.domain.evidence import StepVerdict
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Step

pytestmark = pytest.mark.django_db

REFUSED = "web-0001.corp:10933 did not accept a connection ([Errno 111] Connection refused)"
ACCEPTED = "web-0002.corp:10933 accepts connections"


def probed_plan():
    created = create_plan()
    steps = {
        step.tentacle: step
        for step in Step.objects.filter(plan=created.plan, kind="upgrade-tentacle")
    }
    with transaction.atomic():
        services.evidence_record(
            plan=created.plan,
            check="tentacle-ports",
            verdicts=[
                StepVerdict(steps["web-0001"].id, False, REFUSED),
                StepVerdict(steps["web-0002"].id, True, ACCEPTED),
            ],
        )
    return created


def evidence_of(document, tentacle):
    return next(step for step in document["steps"] if step["tentacle"] == tentacle)["evidence"]


def test_the_api_read_with_a_read_only_token_shows_a_probes_outcome_only(client):
    created = probed_plan()

    response = client.get(f"/api/v1/plans/{created.view_token}")

    assert response.status_code == 200
    body = response.content.decode()
    assert "Errno 111" not in body and "web-0001.corp:10933" not in body
    assert "web-0002.corp:10933" not in body
    document = response.json()
    refused = evidence_of(document, "web-0001")[-1]
    assert refused["check"] == "tentacle-ports" and refused["ok"] is False
    assert refused["detail"] == "Its Tentacle port did not accept a connection."
    assert evidence_of(document, "web-0002")[-1]["detail"] == (
        "Its Tentacle port accepts connections."
    )


def test_the_api_read_with_the_edit_token_shows_what_the_probe_found(client):
    created = probed_plan()

    document = client.get(f"/api/v1/plans/{created.edit_token}").json()

    assert evidence_of(document, "web-0001")[-1]["detail"] == REFUSED


def test_exports_through_a_read_only_token_show_no_probe_findings(client):
    created = probed_plan()

    for export in ("export.md", "export.csv"):
        response = client.get(f"/api/v1/plans/{created.view_token}/{export}")
        assert response.status_code == 200
        body = response.content.decode()
        assert "Errno 111" not in body and "web-0001.corp:10933" not in body, export
