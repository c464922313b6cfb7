"""/api/v1/openapi.json tells a client every answer each operation can give, and the answers the
API really gives match the schemas it names."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import OperationalError
from django.test import Client
from pydantic import TypeAdapter, ValidationError

from tests.factories import api_body, create_plan, finish_prerequisites, fleet, installation
from tests.fake_octopus import FakeOctopus
from tests.sync.helpers import in_place_plan_with_progress, inventory_of, rows
from upgrade_planner.api import endpoints, schemas
from upgrade_planner.domain import inventory
from upgrade_planner.domain.vocabulary import Approach, CommunicationStyle, StepState
from upgrade_planner.installations import api_keys
from upgrade_planner.installations.models import Installation
from upgrade_planner.plans import services
from upgrade_planner.plans.models import Finding, Step, StepDependency

pytestmark = pytest.mark.django_db

PLANS = "/api/v1/plans"
PLAN = "/api/v1/plans/{token}"
MARKDOWN = "/api/v1/plans/{token}/export.md"
CSV = "/api/v1/plans/{token}/export.csv"
STEP = "/api/v1/plans/{token}/steps/{step_id}/{action}"
VERIFY = "/api/v1/plans/{token}/verify"
TENTACLES = "/api/v1/plans/{token}/tentacles"
SCHEDULE = "/api/v1/plans/{token}/schedule"
STEP_PLAN = "/api/v1/plans/{token}/steps/{step_id}"
REHEARSAL = "/api/v1/plans/{token}/rehearsal"
REHEARSAL_APPLY = "/api/v1/plans/{token}/rehearsal/apply"

LINK_ERRORS = {404: "NotFound", 410: "Gone", 429: "RateLimited", 503: "Unavailable"}
# Every answer of every operation, read off the code paths: the schema named for a JSON body,
# a media type for a file, None for no body.
EXPECTED: dict[tuple[str, str], dict[int, str | None]] = {
    ("post", PLANS): {
        201: "PlanCreated",
        400: "Errors",
        413: "Errors",
        422: "Errors",
        429: "RateLimited",
        503: "Unavailable",
    },
    ("get", PLAN): {200: "PlanOut", 304: None, **LINK_ERRORS},
    ("get", MARKDOWN): {200: "text/markdown", **LINK_ERRORS},
    ("get", CSV): {200: "text/csv", **LINK_ERRORS},
    ("post", STEP): {
        200: "StepOut",
        403: "ReadOnly",
        409: "Refusal",
        422: "Errors",
        **LINK_ERRORS,
    },
    ("post", VERIFY): {202: "JobsOut", 403: "ReadOnly", **LINK_ERRORS},
    ("post", f"{PLAN}/readiness/scan"): {
        202: "JobsOut",
        403: "ReadOnly",
        422: "Errors",
        **LINK_ERRORS,
    },
    ("post", f"{PLAN}/findings/{{code}}/accept"): {
        200: "FindingOut",
        403: "ReadOnly",
        422: "Errors",
        **LINK_ERRORS,
    },
    ("put", TENTACLES): {
        200: "InventoryOutcome",
        403: "ReadOnly",
        409: "InventoryRefusal",
        412: "PlanChanged",
        413: "Errors",
        415: "UnsupportedMediaType",
        422: "Errors",
        **LINK_ERRORS,
    },
    ("patch", SCHEDULE): {200: "ScheduleOut", 403: "ReadOnly", 422: "Errors", **LINK_ERRORS},
    ("patch", STEP_PLAN): {200: "StepOut", 403: "ReadOnly", 422: "Errors", **LINK_ERRORS},
    ("post", REHEARSAL): {201: "PlanCreated", 403: "ReadOnly", 422: "Errors", **LINK_ERRORS},
    ("post", REHEARSAL_APPLY): {
        200: "RehearsalAppliedOut",
        403: "ReadOnly",
        409: "NoMeasurements",
        422: "Errors",
        **LINK_ERRORS,
    },
}


@pytest.fixture
def document(client: Client) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def documented(spec: dict[str, Any]) -> str | None:
    """What an answer's spec says its body is: a schema's name, a media type, or None."""
    content = spec.get("content")
    if not content:
        return None
    ((media_type, body),) = content.items()
    if media_type == "application/json":
        return body["schema"]["$ref"].removeprefix("#/components/schemas/")
    return media_type


def test_the_document_lists_every_operation_and_no_other(document):
    operations = {
        (method, path) for path, methods in document["paths"].items() for method in methods
    }

    assert operations == set(EXPECTED)


@pytest.mark.parametrize(("method", "path"), list(EXPECTED), ids=lambda part: str(part))
def test_each_operation_documents_every_answer_it_gives_with_its_schema(document, method, path):
    responses = document["paths"][path][method]["responses"]

    answers = {int(status): documented(spec) for status, spec in responses.items()}

    assert answers == EXPECTED[(method, path)]
    assert all(responses[str(status)]["description"] for status in answers)


def test_the_step_action_409_schema_has_the_error_and_what_blocks_the_step(document):
    spec = document["paths"][STEP]["post"]["responses"]["409"]
    name = documented(spec)
    schema = document["components"]["schemas"][name]

    assert {"error", "detail", "blocked_by", "dependents", "inhibited_by"} == set(
        schema["properties"]
    )
    assert set(schema["required"]) == {"error", "detail"}
    assert schema["properties"]["error"]["enum"] == [
        "blocked",
        "inhibited",
        "not-skippable",
        "has-started-dependents",
        "invalid-transition",
    ]


def test_vocabularies_in_the_document_are_the_domain_s(document):
    components = document["components"]["schemas"]

    assert components["Approach"]["enum"] == Approach.values
    assert components["CommunicationStyle"]["enum"] == CommunicationStyle.values
    assert components["StepState"]["enum"] == StepState.values
    assert set(components["TentacleIn"]["properties"]) == set(inventory.COLUMNS)
    assert set(components["TentacleOut"]["properties"]) == set(inventory.COLUMNS)
    assert components["PlanIn"]["properties"]["tentacles"]["items"] == {
        "$ref": "#/components/schemas/TentacleIn"
    }


def test_bodies_read_by_hand_are_documented_with_their_schemas(document):
    step_body = document["paths"][STEP]["post"]["requestBody"]["content"]["application/json"]
    inventory_body = document["paths"][TENTACLES]["put"]["requestBody"]["content"]

    assert step_body["schema"] == {"$ref": "#/components/schemas/ActionIn"}
    assert set(document["components"]["schemas"]["ActionIn"]["properties"]) == {"actor", "reason"}
    assert {"$ref": "#/components/schemas/InventoryReplaceIn"} in inventory_body[
        "application/json"
    ]["schema"]["oneOf"]
    assert set(document["components"]["schemas"]["InventoryReplaceIn"]["properties"]) == {
        "tentacles",
        "approach_choice",
        "actor",
        "confirm_removals",
        "dry_run",
    }
    assert "text/csv" in inventory_body


def test_the_inventory_replacement_documents_its_safety_switches(document):
    operation = document["paths"][TENTACLES]["put"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    components = document["components"]["schemas"]

    assert {"confirm_removals", "dry_run", "If-Match"} <= set(parameters)
    assert parameters["confirm_removals"]["schema"] == {"type": "boolean", "default": False}
    assert parameters["If-Match"]["in"] == "header"
    assert "removals-need-confirmation" in operation["description"]
    refusals = {ref["$ref"].rsplit("/", 1)[1] for ref in components["InventoryRefusal"]["anyOf"]}
    assert refusals == {"ApproachChangeRefusal", "RemovalsRefusal"}
    assert components["RemovalsRefusal"]["properties"]["error"]["enum"] == [
        "removals-need-confirmation"
    ]
    outcomes = {ref["$ref"].rsplit("/", 1)[1] for ref in components["InventoryOutcome"]["anyOf"]}
    assert outcomes == {"InventoryReplacedOut", "InventoryDryRunOut"}


def test_a_real_409_answer_validates_against_its_documented_schema(client, document):
    created = create_plan()
    blocked = Step.objects.filter(plan=created.plan, state=StepState.BLOCKED, tentacle="").first()
    name = documented(document["paths"][STEP]["post"]["responses"]["409"])

    response = client.post(
        f"/api/v1/plans/{created.edit_token}/steps/{blocked.id}/complete",
        data="{}",
        content_type="application/json",
    )

    assert response.status_code == 409
    refusal = TypeAdapter(getattr(schemas, name)).validate_json(response.content, strict=True)
    assert refusal.error == "blocked"
    waits_for = set(
        StepDependency.objects.filter(step=blocked).values_list("prerequisite_id", flat=True)
    )
    assert refusal.blocked_by and set(refusal.blocked_by) <= waits_for
    assert refusal.dependents is None


def test_a_plan_with_evidence_from_a_job_and_a_paste_reads_back_as_documented(
    client, django_capture_on_commit_callbacks, eager_tasks
):
    with FakeOctopus(version="3.17.14") as octopus:
        created = services.plan_create(
            name="Verified",
            installation=installation(new_server_url=octopus.url, tentacles=fleet(3)),
            new_server_api_key=octopus.api_key,
        )
        plan = created.plan
        install = Step.objects.get(plan=plan, kind="install-server-new-machine")
        finish_prerequisites(plan, install)
        with django_capture_on_commit_callbacks(execute=True):
            services.verification_request(plan=plan)
    services.evidence_paste(plan=plan, text="name,version\nweb-0001,3.17.14\n")

    response = client.get(f"/api/v1/plans/{created.view_token}")

    assert response.status_code == 200
    document = TypeAdapter(schemas.PlanOut).validate_json(response.content, strict=True)
    evidence = [entry for step in document.steps for entry in step.evidence]
    assert {entry.check for entry in evidence} == {"server-version", "pasted-evidence"}
    assert {entry.job is None for entry in evidence} == {True, False}


@pytest.mark.parametrize(
    "answer",
    [
        {"error": "blocked", "detail": "Waiting.", "blocked_by": ["x"]},
        {"error": "blocked", "detail": "Waiting.", "waits_for": []},
        {"error": "on-fire", "detail": "Waiting."},
        {"error": "blocked"},
    ],
)
def test_the_refusal_schema_refuses_what_it_does_not_document(answer):
    with pytest.raises(ValidationError):
        TypeAdapter(schemas.Refusal).validate_json(json.dumps(answer), strict=True)


# --- Every documented answer, provoked for real ----------------------------------------------


@dataclass
class World:
    client: Client
    monkeypatch: pytest.MonkeyPatch
    settings: Any

    def __post_init__(self) -> None:
        self.created = create_plan(new_server_url="http://127.0.0.1:9")
        self.plan = self.created.plan
        self.edit = self.created.edit_token
        self.view = self.created.view_token

    def step(self, **filters: Any) -> Step:
        return Step.objects.filter(plan=self.plan, **filters).order_by("position").first()

    def ready_step(self) -> Step:
        return self.step(state=StepState.READY, tentacle="", optional=False)

    def act(self, token: str, step_id: Any, action: str, body: Any = None, **headers: str):
        return self.client.post(
            f"/api/v1/plans/{token}/steps/{step_id}/{action}",
            data=json.dumps(body or {}),
            content_type="application/json",
            **headers,
        )

    def put(self, token: str, body: Any, content_type: str = "application/json", query: str = ""):
        data = json.dumps(body) if content_type == "application/json" else body
        return self.client.put(
            f"/api/v1/plans/{token}/tentacles{query}", data=data, content_type=content_type
        )

    def rotated(self, kind: str) -> str:
        """The plan's old token of `kind` once an editor has replaced it."""
        old = self.edit if kind == "edit" else self.view
        services.link_rotate(plan=self.plan, kind=kind)
        return old

    def guesser(self) -> Client:
        """A client whose address has used up its unknown-link lookups."""
        self.settings.UNKNOWN_TOKEN_LIMIT_PER_MINUTE = 1
        guesser = Client(REMOTE_ADDR="10.20.30.40")
        assert guesser.get("/api/v1/plans/a-guess").status_code == 404
        return guesser

    def database_down(self) -> None:
        def down(*args: Any, **kwargs: Any) -> Any:
            raise OperationalError("connection refused")

        self.monkeypatch.setattr(endpoints, "current_version", down)
        self.monkeypatch.setattr(endpoints, "link_for_token", down)
        self.monkeypatch.setattr(endpoints, "linked_plan", down)
        self.monkeypatch.setattr(services, "plan_create", down)


Provoke = Callable[[World], Any]
ANSWERS: dict[tuple[str, str, int], list[tuple[str, Provoke]]] = defaultdict(list)


def answer(method: str, path: str, status: int, label: str = "") -> Callable[[Provoke], Provoke]:
    def register(provoke: Provoke) -> Provoke:
        ANSWERS[(method, path, status)].append((label or provoke.__name__, provoke))
        return provoke

    return register


def link_errors(method: str, path: str, request: Callable[[World, str], Any]) -> None:
    """Register the 404, 410, 429 and 503 every operation on a link can answer."""
    answer(method, path, 404, "unknown link")(lambda w: request(w, "no-such-link"))
    answer(method, path, 410, "replaced link")(lambda w: request(w, w.rotated("edit")))

    def rate_limited(w: World) -> Any:
        guesser = w.guesser()
        w.client = guesser
        return request(w, "another-guess")

    answer(method, path, 429, "rate limited")(rate_limited)

    def database_down(w: World) -> Any:
        w.database_down()
        return request(w, w.edit)

    answer(method, path, 503, "database down")(database_down)


answer("post", PLANS, 201, "created")(
    lambda w: w.client.post(PLANS, data=json.dumps(api_body()), content_type="application/json")
)
answer("post", PLANS, 400, "not JSON")(
    lambda w: w.client.post(PLANS, data="{not json", content_type="application/json")
)
answer("post", PLANS, 422, "bad field")(
    lambda w: w.client.post(
        PLANS, data=json.dumps(api_body(polling_port=0)), content_type="application/json"
    )
)


@answer("post", PLANS, 413, "too large")
def create_too_large(w: World) -> Any:
    w.settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body = json.dumps(api_body(tentacles=[{"name": f"web-{n}"} for n in range(20)]))
    return w.client.post(PLANS, data=body, content_type="application/json")


@answer("post", PLANS, 429, "too many plans")
def create_too_many(w: World) -> Any:
    w.settings.PLAN_CREATE_RATE = "1/h"
    body = json.dumps(api_body())
    assert w.client.post(PLANS, data=body, content_type="application/json").status_code == 201
    return w.client.post(PLANS, data=body, content_type="application/json")


@answer("post", PLANS, 503, "database down")
def create_while_the_database_is_down(w: World) -> Any:
    w.database_down()
    return w.client.post(PLANS, data=json.dumps(api_body()), content_type="application/json")


def read(w: World, token: str) -> Any:
    return w.client.get(f"/api/v1/plans/{token}")


answer("get", PLAN, 200, "by view token")(lambda w: read(w, w.view))
answer("get", PLAN, 200, "after a change")(
    lambda w: (w.act(w.edit, w.ready_step().id, "complete"), read(w, w.edit))[1]
)


@answer("get", PLAN, 304, "unchanged")
def read_unchanged(w: World) -> Any:
    etag = read(w, w.view)["ETag"]
    return w.client.get(f"/api/v1/plans/{w.view}", HTTP_IF_NONE_MATCH=etag)


link_errors("get", PLAN, read)

for export_path, extension in ((MARKDOWN, "md"), (CSV, "csv")):

    def export(w: World, token: str, extension: str = extension) -> Any:
        return w.client.get(f"/api/v1/plans/{token}/export.{extension}")

    answer("get", export_path, 200, "file")(lambda w, export=export: export(w, w.view))
    link_errors("get", export_path, export)


answer("post", STEP, 200, "complete")(lambda w: w.act(w.edit, w.ready_step().id, "complete"))


@answer("post", STEP, 200, "replayed")
def replayed(w: World) -> Any:
    step = w.ready_step()
    w.act(w.edit, step.id, "start", HTTP_IDEMPOTENCY_KEY="k")
    return w.act(w.edit, step.id, "start", HTTP_IDEMPOTENCY_KEY="k")


answer("post", STEP, 403, "view token")(lambda w: w.act(w.view, w.ready_step().id, "complete"))
answer("post", STEP, 404, "unknown step")(lambda w: w.act(w.edit, uuid.uuid4(), "complete"))
answer("post", STEP, 404, "unknown action")(lambda w: w.act(w.edit, w.ready_step().id, "fly"))
answer("post", STEP, 409, "blocked")(
    lambda w: w.act(w.edit, w.step(state=StepState.BLOCKED, tentacle="").id, "complete")
)
answer("post", STEP, 409, "not skippable")(
    lambda w: w.act(w.edit, w.ready_step().id, "skip", {"reason": "no time"})
)


@answer("post", STEP, 409, "invalid transition")
def started_twice(w: World) -> Any:
    step = w.ready_step()
    w.act(w.edit, step.id, "start")
    return w.act(w.edit, step.id, "start")


@answer("post", STEP, 409, "has started dependents")
def reopen_with_started_dependents(w: World) -> Any:
    dependent = w.step(kind__startswith="install-server")
    finish_prerequisites(w.plan, dependent)
    first = w.step(kind="backup-database")
    w.act(w.edit, dependent.id, "start")
    return w.act(w.edit, first.id, "reopen", {"reason": "redo"})


answer("post", STEP, 422, "no reason")(
    lambda w: w.act(w.edit, w.step(kind="upgrade-tentacle").id, "skip")
)
answer("post", STEP, 422, "actor not text")(
    lambda w: w.act(w.edit, w.ready_step().id, "start", {"actor": 7})
)


@answer("post", STEP, 422, "key reused")
def key_reused(w: World) -> Any:
    step = w.ready_step()
    w.act(w.edit, step.id, "start", HTTP_IDEMPOTENCY_KEY="k")
    return w.act(w.edit, step.id, "complete", HTTP_IDEMPOTENCY_KEY="k")


link_errors("post", STEP, lambda w, token: w.act(token, w.ready_step().id, "complete"))


@answer("post", VERIFY, 202, "queued")
def queued(w: World) -> Any:
    response = w.client.post(f"/api/v1/plans/{w.edit}/verify")
    assert response.json()["jobs"], "the plan has a server to check"
    return response


answer("post", VERIFY, 403, "view token")(lambda w: w.client.post(f"/api/v1/plans/{w.view}/verify"))
link_errors("post", VERIFY, lambda w, token: w.client.post(f"/api/v1/plans/{token}/verify"))


def same_inventory(w: World) -> list[dict[str, Any]]:
    return rows(inventory_of(w.plan))


answer("put", TENTACLES, 200, "one Tentacle fewer")(lambda w: w.put(w.edit, same_inventory(w)[:-1]))
answer("put", TENTACLES, 200, "dry run")(
    lambda w: w.put(w.edit, same_inventory(w)[1:], query="?dry_run=true")
)
answer("put", TENTACLES, 403, "view token")(lambda w: w.put(w.view, same_inventory(w)))


@answer("put", TENTACLES, 409, "approach change")
def approach_change(w: World) -> Any:
    changing = in_place_plan_with_progress()
    return w.put(changing.edit_token, rows(inventory_of(changing.plan)[:9]))


answer("put", TENTACLES, 409, "removals need confirmation")(lambda w: w.put(w.edit, []))


@answer("put", TENTACLES, 412, "stale If-Match")
def stale_if_match(w: World) -> Any:
    etag = read(w, w.edit)["ETag"]
    w.act(w.edit, w.ready_step().id, "start")
    return w.client.put(
        f"/api/v1/plans/{w.edit}/tentacles",
        data=json.dumps(same_inventory(w)[:-1]),
        content_type="application/json",
        HTTP_IF_MATCH=etag,
    )


@answer("put", TENTACLES, 413, "too large")
def too_large(w: World) -> Any:
    w.settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    return w.put(w.edit, "name\n" + "web-01\n" * 50, content_type="text/csv")


answer("put", TENTACLES, 415, "plain text")(
    lambda w: w.put(w.edit, "name\nweb-01\n", content_type="text/plain")
)
answer("put", TENTACLES, 422, "bad row")(lambda w: w.put(w.edit, [{"name": "a", "port": "x"}]))
answer("put", TENTACLES, 422, "empty body")(lambda w: w.put(w.edit, "", content_type="text/csv"))
answer("put", TENTACLES, 422, "bad choice")(
    lambda w: w.put(w.edit, {"tentacles": same_inventory(w), "approach_choice": "maybe"})
)
link_errors("put", TENTACLES, lambda w, token: w.put(token, same_inventory(w)))


def patch(w: World, path: str, body: Any) -> Any:
    return w.client.patch(path, data=json.dumps(body), content_type="application/json")


WINDOW = {"window_start": "2026-05-02T20:00:00Z", "window_end": "2026-05-03T06:00:00Z"}


def set_window(w: World, token: str, body: Any = None) -> Any:
    return patch(w, f"/api/v1/plans/{token}/schedule", WINDOW if body is None else body)


answer("patch", SCHEDULE, 200, "window set")(lambda w: set_window(w, w.edit))
answer("patch", SCHEDULE, 200, "running late")(
    lambda w: (w.act(w.edit, w.ready_step().id, "start"), set_window(w, w.edit))[1]
)
answer("patch", SCHEDULE, 403, "view token")(lambda w: set_window(w, w.view))
answer("patch", SCHEDULE, 422, "ends before it starts")(
    lambda w: set_window(w, w.edit, {**WINDOW, "window_end": "2026-05-02T19:00:00Z"})
)
answer("patch", SCHEDULE, 422, "not a time")(
    lambda w: set_window(w, w.edit, {"window_start": "Saturday evening"})
)
link_errors("patch", SCHEDULE, set_window)


def plan_step(w: World, token: str, step_id: Any = None, body: Any = None) -> Any:
    step_id = step_id or w.ready_step().id
    body = {"estimate_minutes": 45, "assignee": "Ana"} if body is None else body
    return patch(w, f"/api/v1/plans/{token}/steps/{step_id}", body)


answer("patch", STEP_PLAN, 200, "estimate and assignee")(lambda w: plan_step(w, w.edit))
answer("patch", STEP_PLAN, 403, "view token")(lambda w: plan_step(w, w.view))
answer("patch", STEP_PLAN, 404, "unknown step")(lambda w: plan_step(w, w.edit, uuid.uuid4()))
answer("patch", STEP_PLAN, 422, "negative estimate")(
    lambda w: plan_step(w, w.edit, body={"estimate_minutes": -5})
)
answer("patch", STEP_PLAN, 422, "nothing to set")(lambda w: plan_step(w, w.edit, body={}))
link_errors("patch", STEP_PLAN, lambda w, token: plan_step(w, token))


def rehearse(w: World, token: str, body: Any = None) -> Any:
    return w.client.post(
        f"/api/v1/plans/{token}/rehearsal",
        data=json.dumps(body or {}),
        content_type="application/json",
    )


def apply(w: World, token: str, body: Any = None) -> Any:
    return w.client.post(
        f"/api/v1/plans/{token}/rehearsal/apply",
        data=json.dumps(body or {}),
        content_type="application/json",
    )


def rehearsed(w: World) -> dict[str, Any]:
    """A rehearsal of the world's plan with one step run, start to finish."""
    made = rehearse(w, w.edit).json()
    first = next(s for s in made["steps"] if s["state"] == "ready" and not s["optional"])
    w.act(made["edit_token"], first["id"], "start")
    w.act(made["edit_token"], first["id"], "complete")
    return made


answer("post", REHEARSAL, 201, "made")(lambda w: rehearse(w, w.edit, {"actor": "Ana"}))
answer("post", REHEARSAL, 403, "view token")(lambda w: rehearse(w, w.view))
answer("post", REHEARSAL, 422, "actor not text")(lambda w: rehearse(w, w.edit, {"actor": 7}))
link_errors("post", REHEARSAL, rehearse)
answer("post", REHEARSAL_APPLY, 200, "applied")(lambda w: (rehearsed(w), apply(w, w.edit))[1])
answer("post", REHEARSAL_APPLY, 403, "view token")(lambda w: apply(w, w.view))
answer("post", REHEARSAL_APPLY, 404, "no rehearsal yet")(lambda w: apply(w, w.edit))
answer("post", REHEARSAL_APPLY, 409, "nothing measured")(
    lambda w: (rehearse(w, w.edit), apply(w, w.edit))[1]
)
answer("post", REHEARSAL_APPLY, 422, "not a plan id")(
    lambda w: apply(w, w.edit, {"rehearsal": "last-week"})
)
link_errors("post", REHEARSAL_APPLY, lambda w, token: apply(w, token))


def scan(w: World, token: str) -> Any:
    return w.client.post(f"/api/v1/plans/{token}/readiness/scan")


def scannable(w: World) -> World:
    Installation.objects.filter(pk=w.plan.installation_id).update(
        old_server_url="http://127.0.0.1:9", old_server_api_key=api_keys.encrypt("API-SCANKEY")
    )
    return w


def accept(w: World, token: str, body: Any = None, code: str = "sql-server-below-floor") -> Any:
    return w.client.post(
        f"/api/v1/plans/{token}/findings/{code}/accept",
        data=json.dumps({"reason": "SQL moves next week"} if body is None else body),
        content_type="application/json",
    )


def with_finding(w: World) -> World:
    Finding.objects.create(
        plan=w.plan,
        code="sql-server-below-floor",
        severity="inhibitor",
        text="The database runs on SQL Server 2014.",
        source="src/pages/docs/support/compatibility.md",
    )
    return w


SCAN = f"{PLAN}/readiness/scan"
ACCEPT = f"{PLAN}/findings/{{code}}/accept"
answer("post", SCAN, 202, "queued")(lambda w: scan(scannable(w), w.edit))
answer("post", SCAN, 403, "view token")(lambda w: scan(w, w.view))
answer("post", SCAN, 422, "no server key")(lambda w: scan(w, w.edit))
link_errors("post", SCAN, scan)
answer("post", ACCEPT, 200, "accepted")(lambda w: accept(with_finding(w), w.edit))
answer("post", ACCEPT, 403, "view token")(lambda w: accept(with_finding(w), w.view))
answer("post", ACCEPT, 422, "no reason")(lambda w: accept(with_finding(w), w.edit, {}))
link_errors("post", ACCEPT, lambda w, token: accept(with_finding(w), token))


def test_every_documented_answer_is_provoked_below():
    documented_answers = {
        (method, path, status) for (method, path), answers in EXPECTED.items() for status in answers
    }

    assert set(ANSWERS) == documented_answers


@pytest.mark.parametrize(
    ("method", "path", "status", "provoke"),
    [
        pytest.param(method, path, status, provoke, id=f"{method} {path} {status} {label}")
        for (method, path, status), provokers in ANSWERS.items()
        for label, provoke in provokers
    ],
)
def test_each_real_answer_matches_what_the_document_says(
    client, document, monkeypatch, settings, method, path, status, provoke
):
    spec = document["paths"][path][method]["responses"][str(status)]

    response = provoke(World(client, monkeypatch, settings))

    assert response.status_code == status
    body = documented(spec)
    if body is None:
        assert response.content == b""
    elif "/" in body:
        assert response["Content-Type"].startswith(body)
    else:
        TypeAdapter(getattr(schemas, body)).validate_json(response.content, strict=True)
    for header in spec.get("headers", {}):
        assert response.has_header(header), header
