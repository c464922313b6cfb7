"""The start page's "Another version" target, judged by the release catalogue."""

import pytest

from tests.web.test_start_page import form_data
from upgrade_planner.plans.models import Plan

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("3.18", "3.x ends at 3.17.14; the next line is 4.0."),
        ("2019.14", "2019.x ends at 2019.13; the next line is 2020.1."),
        ("2018.13", "2018.x ends at 2018.12; the next line is 2019.1."),
    ],
)
def test_a_target_no_release_has_is_refused_next_to_the_field(client, target, message):
    response = client.post("/", form_data(target="other", target_other=target))

    body = response.content.decode()
    assert response.status_code == 200
    assert response.context["form"].errors["target_other"] == [
        f'"{target}" is not an Octopus Deploy version: {message}'
    ]
    assert message in body
    assert Plan.objects.count() == 0


def test_a_target_newer_than_the_catalogue_makes_a_plan_that_says_so(client):
    response = client.post(
        "/", form_data(server_version="2025.1.0", target="other", target_other="2027.1")
    )

    assert response.status_code == 302
    plan = Plan.objects.get()
    page = client.get(response["Location"]).content.decode()
    assert f"content version {plan.content_version}" in page
