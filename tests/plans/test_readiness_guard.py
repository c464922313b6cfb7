"""An open inhibitor blocks the server upgrade it guards, in the services and the API, until a
scan clears it or a person accepts it with a reason (product.md §5.6)."""

from __future__ import annotations

import json

import pytest

from tests.factories import api_body, create_plan, finish_prerequisites
from tests.fake_octopus import FakeOctopus
from upgrade_planner.installations import api_keys
from upgrade_planner.installations.models import Installation
from upgrade_planner.plans import jobs, services
from upgrade_planner.plans.models import Activity, Finding, Step

pytestmark = pytest.mark.django_db


def modern_plan(**fields):
    return create_plan(
        server_version="2022.1",
        target_version="2024.1",
        sql_server_version="2014",
        server_os="Windows Server 2012",
        tentacles=(),
        **fields,
    )


def upgrade_step(plan) -> Step:
    return Step.objects.of_plan(plan).filter(kind="upgrade-server-modern").first()


def test_the_server_upgrade_is_refused_naming_its_open_inhibitors():
    created = modern_plan()
    step = upgrade_step(created.plan)
    finish_prerequisites(created.plan, step)

    with pytest.raises(services.StepInhibited) as refused:
        services.step_start(plan=created.plan, step_id=step.pk)

    assert set(refused.value.details["inhibited_by"]) == {
        "sql-server-below-floor",
        "host-os-below-floor",
    }
    step.refresh_from_db()
    assert step.state == "ready"


def test_the_api_answers_409_inhibited_and_accepting_every_inhibitor_lets_the_step_start(client):
    response = client.post(
        "/api/v1/plans",
        data=json.dumps(
            api_body(
                server_version="2022.1",
                target_version="2024.1",
                sql_server_version="2014",
                server_os="Windows Server 2012",
            )
        ),
        content_type="application/json",
    )
    assert response.status_code == 201
    created = response.json()
    token = created["edit_token"]
    readiness = created["readiness"]
    guarded = next(f for f in readiness["findings"] if f["code"] == "sql-server-below-floor")
    assert guarded["severity"] == "inhibitor" and guarded["state"] == "open"
    step_id = guarded["guards"][0]
    plan = Finding.objects.get(code="sql-server-below-floor").plan
    finish_prerequisites(plan, Step.objects.get(pk=step_id))

    refused = client.post(
        f"/api/v1/plans/{token}/steps/{step_id}/start", data="{}", content_type="application/json"
    )
    assert refused.status_code == 409
    assert refused.json()["error"] == "inhibited"
    assert set(refused.json()["inhibited_by"]) == {"sql-server-below-floor", "host-os-below-floor"}

    no_reason = client.post(
        f"/api/v1/plans/{token}/findings/sql-server-below-floor/accept",
        data=json.dumps({}),
        content_type="application/json",
    )
    assert no_reason.status_code == 422
    view = client.post(
        f"/api/v1/plans/{created['view_token']}/findings/sql-server-below-floor/accept",
        data=json.dumps({"reason": "x"}),
        content_type="application/json",
    )
    assert view.status_code == 403
    for code in ("sql-server-below-floor", "host-os-below-floor"):
        accepted = client.post(
            f"/api/v1/plans/{token}/findings/{code}/accept",
            data=json.dumps({"reason": "Moving next week; rehearsed", "actor": "Ana"}),
            content_type="application/json",
        )
        assert accepted.status_code == 200
        assert accepted.json()["state"] == "accepted"

    started = client.post(
        f"/api/v1/plans/{token}/steps/{step_id}/start", data="{}", content_type="application/json"
    )
    assert started.status_code == 200
    assert Activity.objects.filter(plan=plan, action="finding-accepted", actor="Ana").count() == 2


def test_unknown_readiness_values_are_refused_naming_the_field(client):
    response = client.post(
        "/api/v1/plans",
        data=json.dumps(
            api_body(server_os="Windows 95", sql_server_version="2015", features_in_use=["cobol"])
        ),
        content_type="application/json",
    )

    assert response.status_code == 422
    assert {"server_os", "sql_server_version", "features_in_use[0]"} <= set(
        response.json()["errors"]
    )
    assert not Installation.objects.exists()


def scanned(plan, server: FakeOctopus) -> str:
    Installation.objects.filter(pk=plan.installation_id).update(
        old_server_url=server.url, old_server_api_key=api_keys.encrypt(server.api_key)
    )
    plan.refresh_from_db()
    [job] = services.readiness_scan_request(plan=plan)
    return jobs.job_run(job.pk)


def test_a_scan_reading_a_newer_host_clears_the_os_inhibitor(settings):
    settings.VERIFY_HTTP_TIMEOUT = 2
    created = modern_plan()
    overrides = {
        "/api/serverstatus/system-info": lambda q: (
            200,
            {"OSVersion": "Microsoft Windows NT 10.0.17763.0"},
        ),
        "/api/serverstatus": lambda q: (200, {"MaintenanceExpires": "2030-01-01T00:00:00Z"}),
    }
    with FakeOctopus(version="2022.1.2000", overrides=overrides) as server:
        state = scanned(created.plan, server)

    assert state == "done"
    findings = dict(Finding.objects.filter(plan=created.plan).values_list("code", "state"))
    assert findings["host-os-below-floor"] == "cleared"
    assert findings["sql-server-below-floor"] == "open"
    assert (
        "license-maintenance-unknown" not in findings
        or findings["license-maintenance-unknown"] == "cleared"
    )
    assert findings["scan-incomplete"] == "open"  # no HA nodes or license status endpoint


@pytest.mark.parametrize(
    ("overrides", "delay"),
    [({"/api": lambda q: (200, b"<html>sign in</html>")}, 0.0), ({}, 3.0)],
    ids=["garbage", "timeout"],
)
def test_a_scan_of_a_server_answering_garbage_or_nothing_fails_with_a_message(
    settings, overrides, delay
):
    settings.VERIFY_HTTP_TIMEOUT = 0.5
    settings.JOB_MAX_ATTEMPTS = 1
    created = modern_plan()
    with FakeOctopus(overrides=overrides, delay=delay) as server:
        job_id = services.readiness_scan_request(
            plan=(scanned_plan := _with_server(created.plan, server))
        )[0].pk
        state = jobs.job_run(job_id)

    assert state in {"failed", "pending"}
    assert scanned_plan.installation.scan_facts is None
    assert Finding.objects.get(plan=created.plan, code="host-os-below-floor").state == "open"


def _with_server(plan, server):
    Installation.objects.filter(pk=plan.installation_id).update(
        old_server_url=server.url, old_server_api_key=api_keys.encrypt(server.api_key)
    )
    plan.refresh_from_db()
    return plan
