"""The JSON API under /api/v1/, described by /api/v1/openapi.json."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import Field, NinjaAPI, Schema
from ninja.errors import HttpError, ValidationError
from pydantic import ConfigDict, field_validator
from pydantic_core import PydanticCustomError

from upgrade_planner.domain import inventory, planner
from upgrade_planner.domain.vocabulary import Approach
from upgrade_planner.installations.server_urls import clean_server_url
from upgrade_planner.plans import jobs, services
from upgrade_planner.plans.access import (
    LinkReplaced,
    TooManyGuesses,
    client_address,
    current_version,
    link_for_token,
)
from upgrade_planner.plans.documents import (
    dependency_ids,
    etag_for,
    etag_of,
    plan_document,
    step_document,
)
from upgrade_planner.plans.exports import checklist_csv, checklist_markdown
from upgrade_planner.plans.models import Plan, PlanLink

API_DESCRIPTION = """\
Plans an Octopus Deploy upgrade and tracks it step by step.

Plans are addressed by the token in their edit or read-only link. Step kinds of the
2.6 → 3.x / 2018.10 hop are fixed by the product contract; every kind the planner emits is
listed below.

""" + "\n".join(f"- `{kind}`: {text}" for kind, text in sorted(planner.STEP_KINDS.items()))

api = NinjaAPI(
    title="Octopus Upgrade Planner",
    version="1",
    description=API_DESCRIPTION,
    urls_namespace="api",
    openapi_url="/openapi.json",
    # The interactive docs page loads Swagger UI from a CDN; we serve no third-party scripts.
    docs_url=None,
)


class PlanIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=200)
    server_version: str = Field(..., max_length=40, examples=["2.6.5"])
    target_version: str = Field(..., max_length=40, examples=["3.17.14"])
    can_provision_new_server: bool = True
    sql_server_ready: bool = False
    uses_builtin_feed: bool = False
    backup_size_mb: int | None = Field(None, ge=0, le=10_000_000)
    document_count: int | None = Field(None, ge=0, le=1_000_000_000)
    history_days_to_keep: int | None = Field(None, ge=1, le=36_500)
    polling_port: int = Field(10943, ge=1, le=65535)
    approach: Approach | None = None
    old_server_url: str = Field("", max_length=500)
    old_server_api_key: str = Field("", max_length=200, json_schema_extra={"writeOnly": True})
    new_server_url: str = Field("", max_length=500)
    new_server_api_key: str = Field("", max_length=200, json_schema_extra={"writeOnly": True})
    tentacles: list[dict[str, Any]] = Field(
        default_factory=list,
        description=(
            "One object per Tentacle: name (required), hostname, port, version, "
            "communication_style (listening|polling), environments, roles, os, "
            "service_account, restricted_permissions, online."
        ),
        max_length=inventory.MAX_ROWS,
    )

    @field_validator("*")
    @classmethod
    def no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and services.has_nul(value):
            raise PydanticCustomError("nul_character", services.NUL_REFUSED)
        return value


def errors_response(errors: dict[str, list[str]], status: int = 422) -> JsonResponse:
    return JsonResponse({"errors": errors}, status=status)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [part for part in loc if part not in ("body", "payload")]
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
    tentacles: list[planner.TentacleInput] = []
    try:
        tentacles = inventory.parse_rows(payload.tentacles)
    except inventory.InventoryInvalid as invalid:
        for field, messages in invalid.as_field_dict().items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise services.PlanInputInvalid(errors)
    return planner.InstallationInput(
        # The URLs as cleaned above; everything else as sent.
        **{field: getattr(payload, field) for field in planner.INSTALLATION_FIELDS} | urls,
        approach=payload.approach,
        tentacles=tuple(tentacles),
    )


@api.exception_handler(services.IdempotencyRefused)
def idempotency_refused(request: HttpRequest, exc: services.IdempotencyRefused) -> HttpResponse:
    return errors_response({"Idempotency-Key": [exc.message]})


@api.exception_handler(services.PlanInputInvalid)
def plan_input_invalid(request: HttpRequest, exc: services.PlanInputInvalid) -> HttpResponse:
    return errors_response(exc.errors)


@api.post("/plans", response={201: dict[str, Any]}, summary="Create a plan")
def create_plan(request: HttpRequest, payload: PlanIn) -> HttpResponse:
    created = services.plan_create(
        name=payload.name.strip(),
        installation=installation_input(payload),
        old_server_api_key=payload.old_server_api_key,
        new_server_api_key=payload.new_server_api_key,
    )
    document = plan_document(created.plan)
    document.update(
        edit_token=created.edit_token,
        view_token=created.view_token,
        edit_url=request.build_absolute_uri(f"/p/{created.edit_token}/"),
        view_url=request.build_absolute_uri(f"/v/{created.view_token}/"),
    )
    response = JsonResponse(document, status=201)
    response["ETag"] = etag_for(created.plan)
    response["Location"] = f"/api/v1/plans/{created.view_token}"
    return response


@api.get("/plans/{token}", response={200: dict[str, Any]}, summary="Read a plan")
def read_plan(request: HttpRequest, token: str) -> HttpResponse:
    client = client_address(request.META)
    plan_id, version, *_ = current_version(token, client=client)
    etag = etag_of(plan_id, version)
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponse(status=304)
    else:
        link = link_for_token(token, client=client)
        etag = etag_for(link.plan)  # the plan may have moved on between the two reads
        response = JsonResponse(plan_document(link.plan))
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    return response


def _export(
    request: HttpRequest, token: str, render: Any, content_type: str, extension: str
) -> HttpResponse:
    link = link_for_token(token, client=client_address(request.META))
    response = HttpResponse(render(plan_document(link.plan)), content_type=content_type)
    slug = "".join(c if c.isalnum() else "-" for c in link.plan.name.lower()).strip("-")
    response["Content-Disposition"] = f'attachment; filename="{slug or "plan"}.{extension}"'
    return response


@api.get("/plans/{token}/export.md", summary="The checklist as Markdown")
def export_markdown(request: HttpRequest, token: str) -> HttpResponse:
    return _export(request, token, checklist_markdown, "text/markdown; charset=utf-8", "md")


@api.get("/plans/{token}/export.csv", summary="The checklist as CSV")
def export_csv(request: HttpRequest, token: str) -> HttpResponse:
    return _export(request, token, checklist_csv, "text/csv; charset=utf-8", "csv")


ACTION_BODY = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "actor": {"type": "string", "description": "Who is acting, for the log"},
                    "reason": {
                        "type": "string",
                        "description": "Required for skip and reopen",
                    },
                },
            }
        }
    },
    "required": False,
}


@api.post(
    "/plans/{token}/steps/{step_id}/{action}",
    summary="Start, complete, skip or reopen a step",
    openapi_extra={
        "requestBody": ACTION_BODY,
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 200},
                "description": "A replay with the same key returns the first response.",
            }
        ],
    },
    response={
        200: dict[str, Any],
        403: dict[str, Any],
        404: dict[str, Any],
        409: dict[str, Any],
        422: dict[str, Any],
    },
)
def step_action(request: HttpRequest, token: str, step_id: str, action: str) -> HttpResponse:
    link = _editable(request, token)
    if action not in services.STEP_ACTIONS:
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
    errors: dict[str, list[str]] = {}
    for field in ("actor", "reason"):
        value = body.get(field, "")
        if not isinstance(value, str):
            errors[field] = ["Must be text."]
        elif services.has_nul(value):
            errors[field] = [services.NUL_REFUSED]
    if errors:
        return errors_response(errors)
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        status, payload = _act(link.plan, step_uuid, action, body)
        return JsonResponse(payload, status=status)
    answer = services.idempotent_response_run(
        plan=link.plan,
        key=key,
        request=[str(step_uuid), action, body],
        respond=lambda: _act(link.plan, step_uuid, action, body),
    )
    response = JsonResponse(answer.body, status=answer.status_code)
    if answer.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def _act(
    plan: Plan, step_id: uuid.UUID, action: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    kwargs: dict[str, Any] = {"step_id": step_id, "plan": plan, "actor": body.get("actor", "")}
    if action in {"skip", "reopen"}:
        kwargs["reason"] = body.get("reason", "")
    try:
        step = services.STEP_ACTIONS[action](**kwargs)
    except services.StepNotFound:
        return 404, {"error": "not-found", "detail": "No such step in this plan."}
    except (services.ReasonRequired, services.ReasonInvalid) as refused:
        return 422, {"errors": {"reason": [refused.message]}}
    except services.TransitionRefused as refused:
        return 409, {"error": refused.code, "detail": refused.message, **refused.details}
    return 200, step_document(step, dependency_ids(step))


@api.post(
    "/plans/{token}/verify",
    response={202: dict[str, Any], 403: dict[str, Any]},
    summary="Run every verification that applies now",
    description=(
        "Queues background jobs that read the servers' `GET /api` and `GET /api/machines` and "
        "probe listening Tentacles. Results arrive as step `evidence` and state changes."
    ),
)
def verify_plan(request: HttpRequest, token: str) -> HttpResponse:
    link = _editable(request, token)
    requested = jobs.verification_request(plan=link.plan, actor="api")
    return JsonResponse(
        {"jobs": [{"id": str(job.pk), "check": job.kind} for job in requested]}, status=202
    )


TENTACLE_ROW_SCHEMA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "hostname": {"type": "string"},
        "port": {"type": ["integer", "null"], "minimum": 1, "maximum": 65535},
        "version": {"type": "string"},
        "communication_style": {"type": "string", "enum": ["listening", "polling"]},
        "environments": {"type": "array", "items": {"type": "string"}},
        "roles": {"type": "array", "items": {"type": "string"}},
        "os": {"type": "string"},
        "service_account": {"type": "string"},
        "restricted_permissions": {"type": "boolean"},
        "online": {"type": "boolean"},
    },
}
APPROACH_CHOICE_SCHEMA = {
    "type": ["string", "null"],
    "enum": ["keep", "switch", None],
    "description": (
        "Needed only when the new inventory changes the recommended approach of a plan that "
        'follows the recommendation (the answer is then 409 "approach-change"): "keep" stays '
        'with the current approach, recorded as an override; "switch" re-plans with the new '
        "recommendation. Steps that exist in both plans keep their progress either way."
    ),
}
TENTACLES_BODY = {
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"type": "array", "items": TENTACLE_ROW_SCHEMA},
                    {
                        "type": "object",
                        "required": ["tentacles"],
                        "properties": {
                            "tentacles": {"type": "array", "items": TENTACLE_ROW_SCHEMA},
                            "approach_choice": APPROACH_CHOICE_SCHEMA,
                            "actor": {"type": "string", "description": "Who, for the log"},
                        },
                    },
                ]
            }
        },
        "text/csv": {
            "schema": {
                "type": "string",
                "description": "The inventory CSV of the product brief §5.5 (header row first).",
            }
        },
    },
    "required": True,
}
TENTACLES_PARAMETERS = [
    {
        "name": "approach_choice",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": ["keep", "switch"]},
        "description": "The same as the body's approach_choice; for CSV bodies and JSON lists.",
    },
    {
        "name": "actor",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "maxLength": 100},
        "description": "Who is acting, for the activity log.",
    },
]
_INVENTORY_BODY_KEYS = {"tentacles", "approach_choice", "actor"}


@api.put(
    "/plans/{token}/tentacles",
    summary="Replace the Tentacle inventory, keeping progress",
    description=(
        "Replaces the whole inventory (JSON rows, or `text/csv`). Tentacles are matched by "
        "name, without regard to case: steps of unchanged Tentacles keep their state and "
        "evidence, added Tentacles get new steps, steps of removed ones are retired (the "
        "activity log keeps them), changed ones are re-planned; gates and warnings are "
        "re-planned. All or nothing: an invalid row changes nothing. Replacing the inventory "
        "with the same one changes nothing, not even the version."
    ),
    openapi_extra={"requestBody": TENTACLES_BODY, "parameters": TENTACLES_PARAMETERS},
    response={
        200: dict[str, Any],
        403: dict[str, Any],
        404: dict[str, Any],
        409: dict[str, Any],
        413: dict[str, Any],
        415: dict[str, Any],
        422: dict[str, Any],
    },
)
def replace_tentacles(request: HttpRequest, token: str) -> HttpResponse:
    link = _editable(request, token)
    try:
        body = request.body
    except RequestDataTooBig:
        return errors_response(
            {"body": [f"The body is larger than {inventory.MAX_BYTES // 1_048_576} MB."]},
            status=413,
        )
    options: dict[str, Any] = {
        "approach_choice": request.GET.get("approach_choice") or None,
        "actor": request.GET.get("actor", ""),
    }
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
    choice, actor = options["approach_choice"], options["actor"]
    errors: dict[str, list[str]] = {}
    if choice is not None and choice not in services.APPROACH_CHOICES:
        errors["approach_choice"] = ['Choose "keep", "switch" or null.']
    if not isinstance(actor, str):
        errors["actor"] = ["Must be text."]
    if errors:
        return errors_response(errors)
    try:
        outcome = services.inventory_replace(
            plan=link.plan, tentacles=tentacles, actor=actor, approach_choice=choice
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


def _tentacles_from_csv(body: bytes) -> list[planner.TentacleInput]:
    try:
        return inventory.parse_csv(body)
    except inventory.InventoryInvalid as invalid:
        # Keyed "csv" with the line (and column) in each message: a person fixes a file by line.
        raise services.PlanInputInvalid(
            {"csv": [error.as_text() for error in invalid.errors]}
        ) from None


def _tentacles_from_json(body: bytes, options: dict[str, Any]) -> list[planner.TentacleInput]:
    try:
        data = json.loads(body or b"null")
    except ValueError:
        raise services.PlanInputInvalid({"body": ["The body is not valid JSON."]}) from None
    if isinstance(data, dict):
        unknown = sorted(set(data) - _INVENTORY_BODY_KEYS)
        if unknown:
            raise services.PlanInputInvalid(
                {
                    key: ["Unknown field. The fields are: tentacles, approach_choice, actor."]
                    for key in unknown
                }
            )
        if "tentacles" not in data:
            raise services.PlanInputInvalid({"tentacles": ["This field is required."]})
        for key in ("approach_choice", "actor"):
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
        return inventory.parse_rows(rows)
    except inventory.InventoryInvalid as invalid:
        raise services.PlanInputInvalid(invalid.as_field_dict()) from None
