"""The JSON API under /api/v1/, described by /api/v1/openapi.json.

Every operation declares each answer it can give (`response=`), with the schemas of
`api.schemas`, so the OpenAPI document tells a client all of them, errors included. The views
build their answers as plain JSON responses, which django-ninja passes through as they are: the
plan document of a 5,000-step plan is never validated field by field on a read.

Request bodies are validated by the `...In` schemas; Tentacle rows, which a CSV file can carry
too, by the inventory parser, which reports every row's errors at once.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pydantic
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from ninja import NinjaAPI, Schema
from ninja.errors import HttpError, Throttled, ValidationError
from ninja.openapi.schema import REF_TEMPLATE, OpenAPISchema
from ninja.params.functions import Query
from ninja.schema import NinjaGenerateJsonSchema
from ninja.throttling import BaseThrottle

from upgrade_planner.api.schemas import (
    AcceptIn,
    ActionIn,
    Errors,
    FindingOut,
    Gone,
    InventoryOutcome,
    InventoryRefusal,
    InventoryReplaceIn,
    InventoryReplaceOptions,
    JobsOut,
    NoMeasurements,
    NotFound,
    PlanChanged,
    PlanCreated,
    PlanIn,
    PlanOut,
    RateLimited,
    ReadOnly,
    Refusal,
    RehearsalAppliedOut,
    RehearsalApplyIn,
    RehearsalIn,
    ScheduleIn,
    ScheduleOut,
    StepOut,
    StepUpdateIn,
    TentacleIn,
    Unavailable,
    UnsupportedMediaType,
)
from upgrade_planner.domain import catalogue, inventory, planner, readiness
from upgrade_planner.domain.lifecycle import PERSON_ACTIONS
from upgrade_planner.domain.vocabulary import Approach
from upgrade_planner.installations.forms import body_too_large_message, too_many_fields_message
from upgrade_planner.installations.server_urls import clean_server_url
from upgrade_planner.plans import services
from upgrade_planner.plans.access import (
    LinkReplaced,
    TooManyGuesses,
    client_address,
    current_version,
    link_for_token,
    linked_plan,
    polled_link,
)
from upgrade_planner.plans.documents import (
    STEPS_PAGE_LAST,
    STEPS_PAGE_MAX,
    STEPS_PAGE_SIZE,
    StepsPage,
    dependency_ids,
    encoded_plan_document,
    etag_for,
    etag_of,
    finding_document,
    plan_document,
    step_document,
    steps_page_body,
)
from upgrade_planner.plans.exports import (
    Runbook,
    checklist_csv,
    checklist_markdown,
    runbook_for_plan,
)
from upgrade_planner.plans.forecasts import plan_schedule
from upgrade_planner.plans.models import LinkKind, Plan, PlanLink
from upgrade_planner.plans.services import idempotency
from upgrade_planner.plans.services.text import ACTOR_MAX

API_DESCRIPTION = """\
Plans an Octopus Deploy upgrade and tracks it step by step.

Plans are addressed by the token in their edit or read-only link. Step kinds of the
2.6 → 3.x / 2018.10 hop are fixed by the product contract; every kind the planner emits is
listed below.

""" + "\n".join(f"- `{kind}`: {text}" for kind, text in sorted(planner.STEP_KINDS.items()))

# Bodies the operations read themselves rather than through django-ninja: a step action answers
# 422 (not 400) to malformed JSON, and the inventory may come as JSON or as CSV.
BODIES_READ_BY_HAND: tuple[type[Schema], ...] = (
    AcceptIn,
    ActionIn,
    InventoryReplaceIn,
    RehearsalIn,
    RehearsalApplyIn,
)


class PlannerAPI(NinjaAPI):
    """A NinjaAPI whose OpenAPI document also holds the schemas of BODIES_READ_BY_HAND, which
    the operations' `openapi_extra` refer to."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        document = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        components = document["components"]["schemas"]
        for model in BODIES_READ_BY_HAND:
            schema = model.model_json_schema(
                ref_template=REF_TEMPLATE, schema_generator=NinjaGenerateJsonSchema
            )
            components.update(schema.pop("$defs", {}))
            components[model.__name__] = schema
        return document


api = PlannerAPI(
    title="Octopus Upgrade Planner",
    version="1",
    description=API_DESCRIPTION,
    urls_namespace="api",
    openapi_url="/openapi.json",
    # The interactive docs page loads Swagger UI from a CDN; we serve no third-party scripts.
    docs_url=None,
)


def ref(schema: type[pydantic.BaseModel]) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(model=schema.__name__)}


def header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


ETAG = {"ETag": header("The plan's version; send it as If-None-Match to be answered 304.")}
RETRY_AFTER = {"Retry-After": header("Seconds to wait before trying again.")}
# What every operation on a link can answer besides its own answers: an unknown, replaced or
# guessed-at link, and (like every operation) 503 while the database is unreachable.
LINK_ANSWERS: dict[int, type[pydantic.BaseModel]] = {
    404: NotFound,
    410: Gone,
    429: RateLimited,
    503: Unavailable,
}
LINK_HEADERS: dict[int, dict[str, Any]] = {
    429: {"headers": RETRY_AFTER},
    503: {"headers": RETRY_AFTER},
}


def validated[S: Schema](schema: type[S], data: object) -> S:
    """`data` checked by `schema`, for bodies read by hand; errors answer 422 as for a body
    django-ninja read."""
    try:
        return schema.model_validate(data)
    except pydantic.ValidationError as invalid:
        raise ValidationError(
            [dict(error) for error in invalid.errors(include_url=False)]
        ) from None


def errors_response(errors: dict[str, list[str]], status: int = 422) -> JsonResponse:
    return JsonResponse({"errors": errors}, status=status)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [part for part in loc if part not in ("body", "payload", "query")]
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


_FRIENDLY = {
    "missing": "This field is required.",
    "extra_forbidden": "Unknown field.",
    "int_parsing": "Enter a whole number.",
    "int_type": "Enter a whole number.",
    "bool_parsing": "Enter true or false.",
    "bool_type": "Enter true or false.",
    "string_type": "Enter text.",
    "list_type": "Enter a list.",
    "dict_type": "Each Tentacle must be an object.",
    "enum": f"Choose one of: {', '.join(Approach.values)}, or null.",
    "datetime_parsing": "Enter a date and time such as 2026-05-02T20:00:00Z.",
    "datetime_from_date_parsing": "Enter a date and time such as 2026-05-02T20:00:00Z.",
    "datetime_type": "Enter a date and time such as 2026-05-02T20:00:00Z.",
    "uuid_parsing": "Enter the id of a plan.",
}


@api.exception_handler(ValidationError)
def validation_failed(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        kind = error.get("type", "")
        ctx = error.get("ctx") or {}
        if kind in _FRIENDLY:
            message = _FRIENDLY[kind]
        elif kind == "greater_than_equal":
            message = f"Must be at least {ctx.get('ge')}."
        elif kind == "less_than_equal":
            message = f"Must be at most {ctx.get('le')}."
        elif kind in {"string_too_short", "string_too_long", "too_long", "too_short"}:
            message = str(error.get("msg", "Wrong length.")).capitalize() + "."
        else:
            message = str(error.get("msg", "Invalid value."))
        errors.setdefault(_field_path(error.get("loc", ())), []).append(message)
    return errors_response(errors)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # django-ninja reports an unparseable body as a bare 400; say which part is wrong.
    if exc.status_code == 400:
        return errors_response({"body": ["The body is not valid JSON."]}, status=400)
    return JsonResponse({"error": str(exc)}, status=exc.status_code)


@api.exception_handler(RequestDataTooBig)
def body_too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return errors_response({"body": [body_too_large_message(form=False)]}, status=413)


@api.exception_handler(TooManyFieldsSent)
def too_many_fields(request: HttpRequest, exc: TooManyFieldsSent) -> HttpResponse:
    return errors_response({"body": [too_many_fields_message(form=False)]}, status=413)


@api.exception_handler(LinkReplaced)
def link_replaced(request: HttpRequest, exc: LinkReplaced) -> HttpResponse:
    return JsonResponse(
        {
            "error": "link-replaced",
            "detail": "This link was replaced; ask an editor for the new one.",
        },
        status=410,
    )


class ReadOnlyLink(Exception):
    """A write was asked of a read-only link."""


def _editable(request: HttpRequest, token: str) -> PlanLink:
    """The link for `token`, if it may change the plan (else a 403 through ReadOnlyLink)."""
    link = link_for_token(token, client=client_address(request.META))
    if not link.can_edit:
        raise ReadOnlyLink
    return link


@api.exception_handler(ReadOnlyLink)
def read_only_link(request: HttpRequest, exc: ReadOnlyLink) -> HttpResponse:
    return JsonResponse(
        {"error": "read-only", "detail": "This is a read-only link; use the edit link."},
        status=403,
    )


@api.exception_handler(TooManyGuesses)
def too_many_guesses(request: HttpRequest, exc: TooManyGuesses) -> HttpResponse:
    response = JsonResponse(
        {"error": "rate-limited", "detail": "Too many unknown links from your address."},
        status=429,
    )
    response["Retry-After"] = "60"
    return response


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return JsonResponse({"error": "not-found", "detail": str(exc) or "Not found."}, status=404)


def installation_input(payload: PlanIn) -> planner.InstallationInput:
    """Validate what pydantic cannot (URLs, Tentacle rows) and build the planner's input,
    collecting every error before raising."""
    errors: dict[str, list[str]] = {}
    urls: dict[str, str] = {}
    for field in ("old_server_url", "new_server_url"):
        try:
            urls[field] = clean_server_url(getattr(payload, field))
        except ValueError as error:
            errors[field] = [str(error)]
    if not payload.name.strip():
        errors["name"] = ["Give the plan a name."]
    refusal = catalogue.refusal_of(payload.target_version)
    if refusal is not None:
        errors["target_version"] = [refusal]
    for index, message in planner.node_problems(payload.ha_nodes):
        errors.setdefault(f"ha_nodes[{index}]", []).append(message)
    for field, problem in (
        ("server_os", readiness.server_os_problem(payload.server_os)),
        ("dotnet_version", readiness.dotnet_problem(payload.dotnet_version)),
        ("sql_server_version", readiness.sql_server_problem(payload.sql_server_version)),
    ):
        if problem:
            errors[field] = [problem]
    for index, message in readiness.feature_problems(payload.features_in_use):
        errors.setdefault(f"features_in_use[{index}]", []).append(message)
    tentacles: list[planner.TentacleInput] = []
    try:
        tentacles = inventory.parse_rows(payload.tentacles, max_rows=settings.PLAN_MAX_TENTACLES)
    except inventory.InventoryInvalid as invalid:
        for field, messages in invalid.as_field_dict().items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise services.PlanInputInvalid(errors)
    return planner.InstallationInput(
        # The URLs as cleaned above; everything else as sent.
        **{field: getattr(payload, field) for field in planner.INSTALLATION_FIELDS}
        | urls
        | {"ha_nodes": tuple(name.strip() for name in payload.ha_nodes)}
        | {
            field: getattr(payload, field).strip()
            for field in ("server_os", "dotnet_version", "sql_server_version")
        }
        | {"features_in_use": tuple(dict.fromkeys(payload.features_in_use))},
        approach=payload.approach,
        tentacles=tuple(tentacles),
    )


class PlanCreationThrottle(BaseThrottle):
    """PLAN_CREATE_RATE per client address, checked before the body is read, so a client
    over its share costs no parsing. The count itself is kept by `services.plan_create`."""

    def __init__(self) -> None:
        # One instance serves every request: the answer is kept per thread.
        self._last = threading.local()

    def allow_request(self, request: HttpRequest) -> bool:
        self._last.wait = services.plan_creation_wait(client_address(request.META))
        return self._last.wait is None

    def wait(self) -> float | None:
        wait: int | None = getattr(self._last, "wait", None)
        return wait


def too_many_plans_response(retry_after: int, message: str) -> HttpResponse:
    response = JsonResponse({"error": "rate-limited", "detail": message}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


@api.exception_handler(Throttled)
def throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    # Only plan creation is throttled; django-ninja adds Retry-After itself.
    retry_after = int(exc.wait or 60)
    return too_many_plans_response(retry_after, services.TooManyPlans(retry_after).message)


@api.exception_handler(services.TooManyPlans)
def too_many_plans(request: HttpRequest, exc: services.TooManyPlans) -> HttpResponse:
    return too_many_plans_response(exc.retry_after, exc.message)


@api.exception_handler(services.PlanInputInvalid)
def plan_input_invalid(request: HttpRequest, exc: services.PlanInputInvalid) -> HttpResponse:
    return errors_response(exc.errors)


@api.post(
    "/plans",
    summary="Create a plan",
    description=(
        "Each client address may create PLAN_CREATE_RATE plans (30 an hour unless the server "
        "says otherwise); past that the answer is 429 with Retry-After. A plan holds at most "
        "PLAN_MAX_TENTACLES Tentacles (20,000 unless the server says otherwise), and a body "
        "larger than the server reads (16 MB) is answered 413, naming `body`."
    ),
    response={
        201: PlanCreated,
        400: Errors,
        413: Errors,
        422: Errors,
        429: RateLimited,
        503: Unavailable,
    },
    by_alias=True,
    throttle=[PlanCreationThrottle()],
    openapi_extra={
        "responses": {
            201: {
                "headers": {
                    **ETAG,
                    "Location": header("Where the plan document reads, by its view token."),
                }
            },
            429: {"headers": RETRY_AFTER},
            503: {"headers": RETRY_AFTER},
        }
    },
)
def create_plan(request: HttpRequest, payload: PlanIn) -> HttpResponse:
    created = services.plan_create(
        client=client_address(request.META),
        name=payload.name.strip(),
        installation=installation_input(payload),
        old_server_api_key=payload.old_server_api_key,
        new_server_api_key=payload.new_server_api_key,
    )
    return _created_response(request, created)


def _created_response(request: HttpRequest, created: services.CreatedPlan) -> HttpResponse:
    """201 with a new plan's document, its links and tokens (shown this once), its ETag and
    its Location."""
    document = plan_document(created.plan, rows=created.rows)
    document.update(
        edit_token=created.edit_token,
        view_token=created.view_token,
        edit_url=request.build_absolute_uri(
            reverse("plan-edit", kwargs={"token": created.edit_token})
        ),
        view_url=request.build_absolute_uri(
            reverse("plan-view", kwargs={"token": created.view_token})
        ),
    )
    response = JsonResponse(document, status=201)
    response["ETag"] = etag_for(created.plan)
    response["Location"] = reverse("api:plan", kwargs={"token": created.view_token})
    return response


@api.get(
    "/plans/{token}",
    url_name="plan",
    summary="Read a plan",
    description="By its edit or read-only token. Send the ETag back as If-None-Match: while the "
    "plan is unchanged the answer is 304, without a body. A very large plan can be read a page "
    "of steps at a time: give `page` or `page_size` (see `steps_page`); without either, the "
    "document holds every step.",
    response={200: PlanOut, 304: None, **LINK_ANSWERS},
    by_alias=True,
    openapi_extra={"responses": {200: {"headers": ETAG}, 304: {"headers": ETAG}, **LINK_HEADERS}},
)
def read_plan(
    request: HttpRequest,
    token: str,
    page: int | None = Query(
        None,
        ge=1,
        le=STEPS_PAGE_LAST,
        description="Read only this page of the steps, from 1 (needs no page_size).",
    ),
    page_size: int | None = Query(
        None,
        ge=1,
        le=STEPS_PAGE_MAX,
        description=f"Steps a page (default {STEPS_PAGE_SIZE}, at most {STEPS_PAGE_MAX}).",
    ),
) -> HttpResponse:
    # A conditional GET of an unchanged plan is answered as a poll is, from the cached version
    # (plans.access.polled_link: every change of the plan clears it on commit). Any other read
    # looks the link up once, by the narrow query the polls use: finding the document of a
    # version someone has read before costs that query and nothing else.
    conditional = request.headers.get("If-None-Match", "")
    client = client_address(request.META)
    state = (
        polled_link(token, client=client) if conditional else current_version(token, client=client)
    )
    etag = etag_of(state.plan_id, state.version)
    can_edit = state.kind == LinkKind.EDIT
    if etag in conditional:
        response = HttpResponse(status=304)
    elif page is not None or page_size is not None:
        try:
            version, body = steps_page_body(
                state.plan_id,
                state.version,
                can_edit=can_edit,
                page=StepsPage(page or 1, page_size or STEPS_PAGE_SIZE),
            )
        except Plan.DoesNotExist:  # deleted since the lookup
            raise Http404("No plan has this link.") from None
        etag = etag_of(state.plan_id, version)
        response = HttpResponse(body, content_type="application/json")
    else:
        try:
            document = encoded_plan_document(state.plan_id, state.version, can_edit=can_edit)
        except Plan.DoesNotExist:  # deleted since the lookup
            raise Http404("No plan has this link.") from None
        etag = etag_of(state.plan_id, document.version)  # it may have moved on since the lookup
        response = HttpResponse(document.body(), content_type="application/json")
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    return response


def _export(
    request: HttpRequest,
    token: str,
    render: Callable[[Runbook], str],
    content_type: str,
    extension: str,
) -> HttpResponse:
    link = link_for_token(token, client=client_address(request.META))
    response = HttpResponse(render(runbook_for_plan(link.plan)), content_type=content_type)
    slug = "".join(c if c.isalnum() else "-" for c in link.plan.name.lower()).strip("-")
    response["Content-Disposition"] = f'attachment; filename="{slug or "plan"}.{extension}"'
    return response


def export_answers(content_type: str, description: str) -> dict[str, Any]:
    """The OpenAPI answers of an export: a file of `content_type`, or a link's errors."""
    return {
        "responses": {
            200: {
                "description": description,
                "content": {content_type: {"schema": {"type": "string"}}},
                "headers": {"Content-Disposition": header("attachment, named after the plan.")},
            },
            **LINK_HEADERS,
        }
    }


MARKDOWN = "text/markdown; charset=utf-8"
CSV = "text/csv; charset=utf-8"


@api.get(
    "/plans/{token}/export.md",
    summary="The checklist as Markdown",
    response={200: None, **LINK_ANSWERS},
    openapi_extra=export_answers(
        "text/markdown",
        "The checklist as a runbook: each step with its instructions, its state and who last "
        "changed it, when and why; per-Tentacle steps grouped by shared instructions.",
    ),
)
def export_markdown(request: HttpRequest, token: str) -> HttpResponse:
    return _export(request, token, checklist_markdown, MARKDOWN, "md")


@api.get(
    "/plans/{token}/export.csv",
    summary="The checklist as CSV",
    response={200: None, **LINK_ANSWERS},
    openapi_extra=export_answers(
        "text/csv",
        "The checklist, one row a step, header first: the step, its machine, its instructions, "
        "and who last changed its state, when and why.",
    ),
)
def export_csv(request: HttpRequest, token: str) -> HttpResponse:
    return _export(request, token, checklist_csv, CSV, "csv")


@api.exception_handler(services.IdempotencyRefused)
def idempotency_refused(request: HttpRequest, exc: services.IdempotencyRefused) -> HttpResponse:
    return errors_response({"Idempotency-Key": [exc.message]})


@api.post(
    "/plans/{token}/steps/{step_id}/{action}",
    summary="Start, complete, skip or reopen a step",
    description="Answers the step document, or says why the step cannot move (409) or what to "
    "fix (422). With an Idempotency-Key, a retry gets the first answer again (with "
    "Idempotent-Replayed: true) and nothing acts twice; the same key with another request is "
    "refused (422).",
    response={
        200: StepOut,
        403: ReadOnly,
        409: Refusal,
        422: Errors,
        **LINK_ANSWERS,
    },
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": ref(ActionIn)}},
            "required": False,
        },
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": idempotency.KEY_MAX_LENGTH},
                "description": "A replay with the same key returns the first response.",
            }
        ],
        "responses": LINK_HEADERS,
    },
)
def step_action(request: HttpRequest, token: str, step_id: str, action: str) -> HttpResponse:
    # The narrow lookup: a transition reads a few of the plan's columns, not all of them and
    # its installation.
    kind, plan = linked_plan(token, client=client_address(request.META))
    if kind != LinkKind.EDIT:
        raise ReadOnlyLink
    if action not in PERSON_ACTIONS:
        raise Http404(f"Unknown action {action!r}: use start, complete, skip or reopen.")
    try:
        step_uuid = uuid.UUID(step_id)
    except ValueError:
        raise Http404("No such step in this plan.") from None
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return errors_response({"body": ["The body is not valid JSON."]})
    if not isinstance(body, dict):
        return errors_response({"body": ["The body must be a JSON object."]})
    given = validated(ActionIn, body)
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        status, payload = _act(plan, step_uuid, action, given)
        return JsonResponse(payload, status=status)
    answer = services.idempotent_response_run(
        plan=plan,
        key=key,
        request=[str(step_uuid), action, body],
        respond=lambda: _act(plan, step_uuid, action, given),
    )
    response = JsonResponse(answer.body, status=answer.status_code)
    if answer.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def _act(
    plan: Plan, step_id: uuid.UUID, action: str, given: ActionIn
) -> tuple[int, dict[str, Any]]:
    try:
        step = services.step_act(
            plan=plan,
            step_id=step_id,
            action=action,
            actor=given.actor,
            reason=given.reason,
        )
    except services.StepNotFound:
        return 404, {"error": "not-found", "detail": "No such step in this plan."}
    except (services.ReasonRequired, services.ReasonInvalid) as refused:
        return 422, {"errors": {"reason": [refused.message]}}
    except services.ActorInvalid as refused:
        return 422, {"errors": {"actor": [refused.message]}}
    except services.TransitionRefused as refused:
        return 409, {"error": refused.code, "detail": refused.message, **refused.details}
    return 200, step_document(step, dependency_ids(step))


@api.post(
    "/plans/{token}/verify",
    response={202: JobsOut, 403: ReadOnly, **LINK_ANSWERS},
    openapi_extra={"responses": LINK_HEADERS},
    summary="Run every verification that applies now",
    description=(
        "Queues background jobs that read the servers' `GET /api` and `GET /api/machines` and "
        "probe listening Tentacles. Results arrive as step `evidence` and state changes."
    ),
)
def verify_plan(request: HttpRequest, token: str) -> HttpResponse:
    link = _editable(request, token)
    requested = services.verification_request(plan=link.plan, actor="api")
    return JsonResponse(
        {"jobs": [{"id": str(job.pk), "check": job.kind} for job in requested]}, status=202
    )


@api.post(
    "/plans/{token}/readiness/scan",
    response={202: JobsOut, 403: ReadOnly, 422: Errors, **LINK_ANSWERS},
    openapi_extra={"responses": LINK_HEADERS},
    summary="Scan the live server for the readiness report",
    description=(
        "Queues a read-only job that reads the server (its URL and API key as given): "
        "`GET /api`, `/api/serverstatus`, `/api/serverstatus/system-info`, "
        "`/api/octopusservernodes`, `/api/machines` and `/api/licenses/licenses-current-status`. "
        "An endpoint the server lacks is reported as unknown. When it has run, the findings "
        "the new evidence no longer supports are `cleared`. Without a server URL and API key: "
        "422."
    ),
)
def scan_readiness(request: HttpRequest, token: str) -> HttpResponse:
    link = _editable(request, token)
    try:
        requested = services.readiness_scan_request(plan=link.plan)
    except services.ScanNotPossible as refused:
        return errors_response({"old_server_api_key": [refused.message]})
    return JsonResponse(
        {"jobs": [{"id": str(job.pk), "check": job.kind} for job in requested]}, status=202
    )


@api.post(
    "/plans/{token}/findings/{code}/accept",
    response={200: FindingOut, 403: ReadOnly, 422: Errors, **LINK_ANSWERS},
    openapi_extra={"responses": LINK_HEADERS},
    summary="Accept a readiness finding with a reason",
    description=(
        "Records who accepted the finding and why (in the activity log); an accepted inhibitor "
        "no longer refuses the steps it guards. No reason: 422. An unknown code: 404."
    ),
)
def accept_finding(request: HttpRequest, token: str, code: str, payload: AcceptIn) -> HttpResponse:
    link = _editable(request, token)
    try:
        finding = services.finding_accept(
            plan=link.plan, code=code, reason=payload.reason, actor=payload.actor
        )
    except services.FindingNotFound:
        raise Http404(f"No finding {code!r} in this plan.") from None
    except services.FindingNotAcceptable as refused:
        return errors_response({"reason": [refused.message]})
    guards = [str(pk) for pk in finding.guards.values_list("pk", flat=True)]
    return JsonResponse(finding_document(finding, guards))


TENTACLES_BODY = {
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [{"type": "array", "items": ref(TentacleIn)}, ref(InventoryReplaceIn)]
            }
        },
        "text/csv": {
            "schema": {
                "type": "string",
                "description": "The inventory CSV of the product brief §5.5. The header row is "
                "required, even for an inventory without Tentacles.",
            }
        },
    },
    "required": True,
}


def query_switch(name: str) -> dict[str, Any]:
    """A boolean query parameter documented from InventoryReplaceOptions."""
    field = InventoryReplaceOptions.model_fields[name]
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "boolean", "default": False},
        "description": f"{field.description} The same as the body's {name}.",
    }


TENTACLES_PARAMETERS = [
    {
        "name": "approach_choice",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": list(services.APPROACH_CHOICES)},
        "description": "The same as the body's approach_choice; for CSV bodies and JSON lists.",
    },
    {
        "name": "actor",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "maxLength": ACTOR_MAX},
        "description": "Who is acting, for the activity log.",
    },
    query_switch("confirm_removals"),
    query_switch("dry_run"),
    {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "The plan's ETag, as read: the inventory is replaced only if the plan "
        "is still at that version, else 412 and nothing is saved. Without it (or with `*`) "
        "the replacement applies to whatever version the plan is at.",
    },
]
_INVENTORY_BODY_KEYS = tuple(InventoryReplaceIn.model_fields)
_OPTION_KEYS = tuple(InventoryReplaceOptions.model_fields)
EMPTY_BODY = (
    "The body is empty. Send the whole new inventory: a JSON list of Tentacles, "
    '{"tentacles": [...]}, or a CSV file with a header row. To remove every Tentacle, send [] '
    "with confirm_removals=true."
)
NO_CSV_HEADER = (
    "The CSV file has no header row: its first line must name the columns, such as "
    f'"name,hostname,port". The columns are: {", ".join(inventory.COLUMNS)}.'
)


@api.put(
    "/plans/{token}/tentacles",
    summary="Replace the Tentacle inventory, keeping progress",
    description=(
        "Replaces the whole inventory (JSON rows, or `text/csv`). Tentacles are matched by "
        "name, without regard to case: steps of unchanged Tentacles keep their state and "
        "evidence, added Tentacles get new steps, steps of removed ones are retired (the "
        "activity log keeps them), changed ones are re-planned; gates and warnings are "
        "re-planned. All or nothing: an invalid row changes nothing. Replacing the inventory "
        "with the same one changes nothing, not even the version.\n\n"
        "An inventory is never wiped by accident:\n"
        "- an empty body, a CSV file without a header row, or JSON without a list of "
        "Tentacles is refused (422);\n"
        "- removing every Tentacle, or any Tentacle with a step in progress, done, skipped or "
        "failed, needs `confirm_removals=true`: without it the answer is 409 "
        '`"removals-need-confirmation"` naming those Tentacles, and nothing is saved;\n'
        "- with `If-Match: <the plan's ETag>`, the replacement is made only if the plan has "
        "not changed since it was read (412 otherwise);\n"
        "- `dry_run=true` answers what the replacement would do (the diff, the steps created "
        "and retired, what needs confirming) and saves nothing.\n\n"
        "The options (`approach_choice`, `actor`, `confirm_removals`, `dry_run`) go in the "
        "query string, or in the body when it is a JSON object."
    ),
    openapi_extra={
        "requestBody": TENTACLES_BODY,
        "parameters": TENTACLES_PARAMETERS,
        "responses": {
            200: {
                "headers": {
                    "ETag": header(
                        "The plan's version after the change (as it was, after a dry run); "
                        "send it as If-Match with the next change."
                    )
                }
            },
            412: {"headers": {"ETag": header("The plan's current version.")}},
            **LINK_HEADERS,
        },
    },
    response={
        200: InventoryOutcome,
        403: ReadOnly,
        409: InventoryRefusal,
        412: PlanChanged,
        413: Errors,
        415: UnsupportedMediaType,
        422: Errors,
        **LINK_ANSWERS,
    },
)
def replace_tentacles(request: HttpRequest, token: str) -> HttpResponse:
    link = _editable(request, token)
    try:
        body = request.body
    except RequestDataTooBig:
        return errors_response({"body": [body_too_large_message(form=False)]}, status=413)
    options: dict[str, Any] = {
        key: request.GET[key] for key in _OPTION_KEYS if request.GET.get(key)
    }
    if not body.strip():
        return errors_response({"body": [EMPTY_BODY]})
    try:
        if request.content_type == "text/csv":
            tentacles = _tentacles_from_csv(body)
        elif request.content_type in ("application/json", ""):
            tentacles = _tentacles_from_json(body, options)
        else:
            return JsonResponse(
                {
                    "error": "unsupported-media-type",
                    "detail": "Send the inventory as application/json or text/csv.",
                },
                status=415,
            )
    except services.PlanInputInvalid as invalid:
        return errors_response(invalid.errors)
    given = validated(InventoryReplaceOptions, options)
    try:
        expected_version = _version_matched(request, link.plan)
        if given.dry_run:
            preview = services.inventory_preview(
                plan=link.plan, tentacles=tentacles, approach_choice=given.approach_choice
            )
            response = JsonResponse(_dry_run_answer(link.plan, preview))
            response["ETag"] = etag_for(link.plan)
            return response
        outcome = services.inventory_replace(
            plan=link.plan,
            tentacles=tentacles,
            actor=given.actor,
            approach_choice=given.approach_choice,
            expected_version=expected_version,
            confirm_removals=given.confirm_removals,
        )
    except services.PlanChangedSinceRead as moved:
        response = JsonResponse(
            {"error": moved.code, "detail": moved.detail, "version": moved.current}, status=412
        )
        response["ETag"] = etag_of(link.plan.id, moved.current)
        return response
    except services.RemovalsNeedConfirmation as refused:
        removals = refused.removals
        return JsonResponse(
            {
                "error": refused.code,
                "removing": removals.to_confirm,
                "with_progress": removals.with_progress,
                "every_tentacle": removals.every_tentacle,
                "detail": f"{refused.detail} To go ahead, send the same inventory again with "
                "confirm_removals=true.",
            },
            status=409,
        )
    except services.ApproachChangeRequired as change:
        return JsonResponse(
            {
                "error": change.code,
                "current": change.current,
                "recommended": change.recommended,
                "detail": f"{change.detail} Send the same inventory again with "
                'approach_choice "keep" or "switch".',
            },
            status=409,
        )
    plan = outcome.plan
    response = JsonResponse(
        {
            **outcome.diff.counts(),
            "version": plan.version,
            "approach": plan.approach or None,
            "approach_overridden": plan.approach_overridden,
            "steps": outcome.steps,
            "diff": outcome.diff.names(),
        }
    )
    response["ETag"] = etag_for(plan)
    return response


def _version_matched(request: HttpRequest, plan: Plan) -> int | None:
    """The plan's version if If-Match names its current ETag; None without the header or with
    `*`. Raises PlanChangedSinceRead otherwise. The service checks the version again under the
    plan's lock, so a change made in between is refused as well."""
    header_value = request.headers.get("If-Match")
    if header_value is None:
        return None
    # A proxy that compresses answers turns the ETag into a weak one (W/"..."); the version it
    # carries is still exact, so it counts.
    tags = {tag.strip().removeprefix("W/") for tag in header_value.split(",")}
    if "*" in tags:
        return None
    if etag_for(plan) in tags:
        return plan.version
    raise services.PlanChangedSinceRead(expected=None, current=plan.version)


def _dry_run_answer(plan: Plan, preview: services.InventoryPreview) -> dict[str, Any]:
    change = preview.approach_change
    return {
        "dry_run": True,
        **preview.diff.counts(),
        "version": plan.version,
        "diff": preview.diff.names(),
        "steps": preview.steps or {"created": 0, "kept": 0, "retired": 0},
        "created_steps": [{"key": key, "title": title} for key, title in preview.created_steps],
        "retired_steps": [
            {"key": key, "title": title, "state": state}
            for key, title, state in preview.retired_steps
        ],
        "approach_change": None
        if change is None
        else {
            "current": change.current,
            "recommended": change.recommended,
            "effects": change.effects,
        },
        "removals_to_confirm": preview.removals.to_confirm,
        "removes_every_tentacle": preview.removals.every_tentacle,
    }


def _tentacles_from_csv(body: bytes) -> list[planner.TentacleInput]:
    try:
        tentacles = inventory.parse_csv(body, max_rows=settings.PLAN_MAX_TENTACLES)
    except inventory.InventoryInvalid as invalid:
        # Keyed "csv" with the line (and column) in each message: a person fixes a file by line.
        raise services.PlanInputInvalid(
            {"csv": [error.as_text() for error in invalid.errors]}
        ) from None
    if not tentacles and not _csv_has_header(body):
        raise services.PlanInputInvalid({"body": [NO_CSV_HEADER]})
    return tentacles


# What a CSV file without a header can still hold: blank lines, empty cells, a byte-order mark.
_CSV_FILLER = re.compile(r'[\s,;"\ufeff]+')


def _csv_has_header(body: bytes) -> bool:
    """Whether a file the parser read as holding no Tentacles has a header row: one that holds
    only blank lines, empty cells or Excel's `sep=` hint has none, and saying "no Tentacles"
    takes a header row."""
    lines = [
        line
        for line in body.decode("utf-8", errors="replace").splitlines()
        if _CSV_FILLER.sub("", line)
    ]
    if lines and _CSV_FILLER.sub("", lines[0]).lower() == "sep=":
        lines = lines[1:]
    return bool(lines)


def _tentacles_from_json(body: bytes, options: dict[str, Any]) -> list[planner.TentacleInput]:
    try:
        data = json.loads(body)
    except ValueError:
        raise services.PlanInputInvalid({"body": ["The body is not valid JSON."]}) from None
    if isinstance(data, dict):
        unknown = sorted(set(data) - set(_INVENTORY_BODY_KEYS))
        if unknown:
            fields = ", ".join(_INVENTORY_BODY_KEYS)
            raise services.PlanInputInvalid(
                {key: [f"Unknown field. The fields are: {fields}."] for key in unknown}
            )
        if "tentacles" not in data:
            raise services.PlanInputInvalid({"tentacles": ["This field is required."]})
        if data["tentacles"] is None:
            raise services.PlanInputInvalid(
                {
                    "tentacles": [
                        "Send a list of Tentacles, not null. To remove every Tentacle, send [] "
                        "with confirm_removals=true."
                    ]
                }
            )
        for key in _OPTION_KEYS:
            if key in data:
                options[key] = data[key]
        rows = data["tentacles"]
    elif isinstance(data, list):
        rows = data
    else:
        raise services.PlanInputInvalid(
            {"body": ['Send a list of Tentacles, or {"tentacles": [...]}.']}
        )
    try:
        return inventory.parse_rows(rows, max_rows=settings.PLAN_MAX_TENTACLES)
    except inventory.InventoryInvalid as invalid:
        raise services.PlanInputInvalid(invalid.as_field_dict()) from None


# --- The timed runbook ----------------------------------------------------------------------


def _given[T](payload: Schema, name: str, value: T) -> T | services.Keep:
    """`value`, or KEEP when the body left the key out."""
    return value if name in payload.model_fields_set else services.KEEP


def _body_object(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object body ({} when empty); PlanInputInvalid (422) otherwise."""
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        raise services.PlanInputInvalid({"body": ["The body is not valid JSON."]}) from None
    if not isinstance(body, dict):
        raise services.PlanInputInvalid({"body": ["The body must be a JSON object."]})
    return body


@api.patch(
    "/plans/{token}/schedule",
    summary="Set the maintenance window and the people who can work at once",
    description="Answers the plan's `schedule` with the new forecast. Keys left out stay as they "
    "are; null clears that end of the window. Bumps the plan's version and writes an activity "
    "entry.",
    response={200: ScheduleOut, 403: ReadOnly, 422: Errors, **LINK_ANSWERS},
    openapi_extra={"responses": {200: {"headers": ETAG}, **LINK_HEADERS}},
)
def set_schedule(request: HttpRequest, token: str, payload: ScheduleIn) -> HttpResponse:
    link = _editable(request, token)
    if "people_at_once" in payload.model_fields_set and payload.people_at_once is None:
        raise services.PlanInputInvalid(
            {"people_at_once": [f"Give a number of people from 1 to {services.PEOPLE_MAX}."]}
        )
    people = payload.people_at_once if payload.people_at_once is not None else services.KEEP
    plan = services.schedule_set(
        plan=link.plan,
        window_start=_given(payload, "window_start", payload.window_start),
        window_end=_given(payload, "window_end", payload.window_end),
        people_at_once=people,
        actor=payload.actor,
    )
    response = JsonResponse(plan_schedule(plan))
    response["ETag"] = etag_for(plan)
    return response


@api.patch(
    "/plans/{token}/steps/{step_id}",
    summary="Set a step's estimate and/or assignee",
    description="`estimate_minutes` becomes the team's estimate (a re-plan keeps it); "
    '`assignee` null or "" means nobody. Answers the step document. Bumps the plan\'s version '
    "and writes an activity entry.",
    response={200: StepOut, 403: ReadOnly, 422: Errors, **LINK_ANSWERS},
    openapi_extra={"responses": LINK_HEADERS},
)
def update_step(
    request: HttpRequest, token: str, step_id: str, payload: StepUpdateIn
) -> HttpResponse:
    link = _editable(request, token)
    try:
        step_uuid = uuid.UUID(step_id)
    except ValueError:
        raise Http404("No such step in this plan.") from None
    given = payload.model_fields_set
    if "estimate_minutes" in given and payload.estimate_minutes is None:
        raise services.PlanInputInvalid(
            {"estimate_minutes": ["Give a whole number of minutes, not null."]}
        )
    estimate = payload.estimate_minutes if payload.estimate_minutes is not None else services.KEEP
    try:
        step = services.step_update(
            plan=link.plan,
            step_id=step_uuid,
            estimate_minutes=estimate,
            assignee=_given(payload, "assignee", payload.assignee),
            actor=payload.actor,
        )
    except services.StepNotFound:
        raise Http404("No such step in this plan.") from None
    return JsonResponse(step_document(step, dependency_ids(step)))


@api.post(
    "/plans/{token}/rehearsal",
    summary="Make a rehearsal plan from the same input",
    description="A new plan, with its own edit and read-only links, made from this plan's "
    "input (server addresses and API keys excepted: a rehearsal runs on a test instance) and "
    "marked `rehearsal_of` this plan, which links back to it as its `latest_rehearsal`. Run "
    "it on the test instance, then apply its measured times with `POST …/rehearsal/apply`.",
    response={201: PlanCreated, 403: ReadOnly, 422: Errors, **LINK_ANSWERS},
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": ref(RehearsalIn)}},
            "required": False,
        },
        "responses": {201: {"headers": ETAG}, **LINK_HEADERS},
    },
)
def create_rehearsal(request: HttpRequest, token: str) -> HttpResponse:
    link = _editable(request, token)
    given = validated(RehearsalIn, _body_object(request))
    created = services.rehearsal_create(plan=link.plan, actor=given.actor)
    return _created_response(request, created)


@api.post(
    "/plans/{token}/rehearsal/apply",
    summary="Make a rehearsal's measured times this plan's estimates",
    description="Averages the rehearsal's steps done with a start and an end time per step "
    "kind and method (so per machine for per-Tentacle steps), and sets every step of this plan "
    "of the same kind and method to that estimate. Answers what was applied and the forecast "
    "before and after. 404 when the plan has no such rehearsal; 409 when the rehearsal has "
    "measured nothing yet.",
    response={
        200: RehearsalAppliedOut,
        403: ReadOnly,
        409: NoMeasurements,
        422: Errors,
        **LINK_ANSWERS,
    },
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": ref(RehearsalApplyIn)}},
            "required": False,
        },
        "responses": LINK_HEADERS,
    },
)
def apply_rehearsal(request: HttpRequest, token: str) -> HttpResponse:
    link = _editable(request, token)
    given = validated(RehearsalApplyIn, _body_object(request))
    try:
        outcome = services.rehearsal_apply(
            plan=link.plan, rehearsal_id=given.rehearsal, actor=given.actor
        )
    except services.RehearsalNotFound as missing:
        raise Http404(str(missing)) from None
    except services.NothingMeasured as refused:
        return JsonResponse({"error": refused.code, "detail": str(refused)}, status=409)
    return JsonResponse(
        {
            "rehearsal": str(outcome.rehearsal.pk),
            "version": link.plan.version,
            "applied": [dataclasses.asdict(measured) for measured in outcome.applied],
            "before": outcome.before,
            "after": outcome.after,
        }
    )
