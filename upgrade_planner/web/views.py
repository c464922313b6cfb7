"""HTML views: the start page with the installation form, and the plan page with its htmx
partials. Each view loads, validates, acts through one service call, and responds."""

from __future__ import annotations

import hashlib
import typing
import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views import defaults
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_htmx.http import (
    HttpResponseClientRedirect,
    HttpResponseStopPolling,
    reswap,
    retarget,
)
from django_htmx.middleware import HtmxDetails

from upgrade_planner.domain import planner
from upgrade_planner.domain.inventory import InventoryInvalid, to_csv
from upgrade_planner.installations.forms import (
    BaseTentacleRowFormSet,
    InstallationForm,
    InventoryApplyForm,
    InventoryFetchForm,
    InventoryUpdateForm,
    TentacleRowFormSet,
    as_typed,
    body_too_large_message,
    inventory_from_sources,
    too_many_fields_message,
)
from upgrade_planner.plans import services
from upgrade_planner.plans.access import (
    LinkReplaced,
    client_address,
    link_for_token,
    polled_link,
    polled_link_with,
    token_sealed,
    token_unsealed,
)
from upgrade_planner.plans.forms import (
    ActorForm,
    ApiKeysForm,
    ApproachForm,
    AssigneeForm,
    EvidenceForm,
    FindingAcceptForm,
    NameForm,
    PlanForm,
    PlanPageForm,
    StepActionForm,
    StepsBulkForm,
    problems,
)
from upgrade_planner.plans.models import (
    FetchState,
    InventoryFetch,
    LinkKind,
    PlanLink,
    StepDependency,
    hash_token,
)
from upgrade_planner.web import page_cache
from upgrade_planner.web.error_summary import SummaryLine, error_summary
from upgrade_planner.web.pages import (
    ACTOR_KEY,
    APPROACH_LABELS,
    ASK_NAME_TAG,
    BULK_PLACE,
    NAME_ASKED_KEY,
    READINESS_PLACE,
    Outcome,
    PlanPage,
    TentacleFilters,
    actor_of,
    link_at_version,
    name_needed,
    place_tag,
    print_page_context,
    split_messages,
    step_place,
    view_query,
)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


RECENT_PLANS_KEY = "recent_plans"
RECENT_PLANS_LIMIT = 20


def remember_plan(request: HtmxHttpRequest, *, token: str, name: str, kind: str) -> None:
    """Keep the plans this browser made or opened in its session, found by the token's hash,
    with the token encrypted (plans.access.token_sealed): the session lives on the server."""
    token_hash = hash_token(token)
    saved = request.session.get(RECENT_PLANS_KEY, [])
    if saved[:1] and {**saved[0], "sealed": ""} == _entry(token_hash, "", name, kind):
        return  # already first: writing the same session on every page view is wasted work
    recent = [p for p in saved if p.get("hash") != token_hash]
    entry = _entry(token_hash, token_sealed(token), name, kind)
    request.session[RECENT_PLANS_KEY] = [entry, *recent][:RECENT_PLANS_LIMIT]


def _entry(token_hash: str, sealed: str, name: str, kind: str) -> dict[str, str]:
    return {"hash": token_hash, "sealed": sealed, "name": name, "kind": kind}


def forget_plan(request: HttpRequest, token: str) -> None:
    recent = request.session.get(RECENT_PLANS_KEY, [])
    token_hash = hash_token(token)
    request.session[RECENT_PLANS_KEY] = [p for p in recent if p.get("hash") != token_hash]


def recent_plans(request: HttpRequest) -> list[dict[str, str]]:
    """The plans this browser made or opened, newest first, each with its token; one kept
    before the server's keys changed beyond its fallbacks is left out."""
    shown = []
    for entry in request.session.get(RECENT_PLANS_KEY, []):
        token = token_unsealed(str(entry.get("sealed", "")))
        if token is not None:
            shown.append({"token": token, "name": entry["name"], "kind": entry["kind"]})
    return shown


@sensitive_post_parameters("old_server_api_key", "new_server_api_key")
@require_http_methods(["GET", "HEAD", "POST"])
def home(request: HtmxHttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _home_render(request, PlanForm(), InstallationForm(), TentacleRowFormSet())
    rows = TentacleRowFormSet(request.POST)
    if "add_row" in request.POST or "remove_row" in request.POST:
        # Show what was typed again without judging it: the user is still writing.
        return _home_render(
            request,
            as_typed(PlanForm, request.POST),
            as_typed(InstallationForm, request.POST),
            rows.edited(add="add_row" in request.POST, remove=request.POST.get("remove_row")),
        )

    plan_form = PlanForm(request.POST)
    client = client_address(request.META)
    wait = services.plan_creation_wait(client)
    if wait is not None:
        # Refused before the inventory is read: a client over its share costs no parsing.
        plan_form.is_valid()
        plan_form.add_error(None, services.TooManyPlans(wait).message)
        return _home_render(
            request,
            plan_form,
            as_typed(InstallationForm, request.POST),
            rows.edited(add=False, remove=None),
            status=429,
        )
    form = InstallationForm(request.POST, request.FILES)
    # Every part is judged, so that all the errors are shown at once.
    plan_valid, form_valid = plan_form.is_valid(), form.is_valid()
    result = inventory_from_sources(
        rows=rows,
        pasted=request.POST.get("inventory_csv", ""),
        # Read even when other fields are wrong, so that all the errors are said at once.
        uploaded=form.uploaded_inventory,
    )
    if not (plan_valid and form_valid and result.valid):
        return _home_render(request, plan_form, form, rows.redisplay(), result.errors)
    try:
        created = services.plan_create(
            name=plan_form.cleaned_data["name"].strip(),
            installation=installation_input(
                form, result.tentacles, approach=plan_form.cleaned_data["approach"]
            ),
            actor=request.session.get("actor", ""),
            old_server_api_key=form.cleaned_data["old_server_api_key"],
            new_server_api_key=form.cleaned_data["new_server_api_key"],
            client=client,
        )
    except services.TooManyPlans as refused:
        plan_form.add_error(None, refused.message)
        return _home_render(request, plan_form, form, rows, status=429)
    except services.PlanInputInvalid as invalid:
        for field, field_messages in invalid.errors.items():
            for message in field_messages:
                if field in plan_form.fields:
                    plan_form.add_error(field, message)
                else:
                    form.add_error(form.field_for_error(field), message)
        return _home_render(request, plan_form, form, rows)
    remember_plan(request, token=created.edit_token, name=created.plan.name, kind="edit")
    return redirect("plan-edit", token=created.edit_token)


def installation_input(
    form: InstallationForm,
    tentacles: list[planner.TentacleInput],
    *,
    approach: planner.Approach | None,
) -> planner.InstallationInput:
    data = form.cleaned_data
    return planner.InstallationInput(
        # The form asks for the target as a choice or a typed version: form.target_version.
        **{
            field: data[field] for field in planner.INSTALLATION_FIELDS if field != "target_version"
        },
        target_version=form.target_version,
        approach=approach,
        tentacles=tuple(tentacles),
    )


def _home_render(
    request: HtmxHttpRequest,
    plan_form: PlanForm,
    form: InstallationForm,
    rows: BaseTentacleRowFormSet,
    inventory_errors: dict[str, list[str]] | None = None,
    *,
    status: int = 200,
    refusal: str = "",
) -> HttpResponse:
    inventory_errors = inventory_errors or {}
    editing_rows = "add_row" in request.POST or "remove_row" in request.POST
    template = (
        "plans/home.html#inventory-rows" if request.htmx and editing_rows else "plans/home.html"
    )
    return render(
        request,
        template,
        {
            "plan_form": plan_form,
            "form": form,
            "rows": rows,
            "inventory_errors": inventory_errors,
            "refusal": refusal,
            "has_errors": bool(
                refusal
                or plan_form.errors
                or form.errors
                or inventory_errors
                or rows.total_error_count()
            ),
            "error_summary": (
                # A refusal of the whole submit (too many plans, too large a body) comes first.
                [SummaryLine("#form-errors", refusal)] if refusal else []
            )
            + error_summary(
                plan_form=plan_form, form=form, rows=rows, inventory_errors=inventory_errors
            ),
            "recent_plans": recent_plans(request),
        },
        status=status,
    )


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 400 answer (handler400), except for a body too large or with too many fields
    to read: the API says so in its JSON, naming the body; the start page is shown again with
    the reason (what was sent cannot be read back, so its fields are empty)."""
    if isinstance(exception, RequestDataTooBig | TooManyFieldsSent):
        too_large = isinstance(exception, RequestDataTooBig)
        if request.path.startswith("/api/"):
            message = (body_too_large_message if too_large else too_many_fields_message)(form=False)
            return JsonResponse({"errors": {"body": [message]}}, status=413)
        if request.path == reverse("home"):
            message = (body_too_large_message if too_large else too_many_fields_message)(form=True)
            return _home_render(
                typing.cast(HtmxHttpRequest, request),
                PlanForm(),
                InstallationForm(),
                TentacleRowFormSet(),
                status=413,
                refusal=message,
            )
    return defaults.bad_request(request, exception)


def _load(request: HttpRequest, token: str) -> PlanLink:
    """The link for `token`, of either kind, for the /v/ routes (/p/ ones use _editable);
    unknown → 404, replaced → 410 page, guessing → 429 page."""
    return link_for_token(token, client=client_address(request.META))


def _page(
    request: HtmxHttpRequest,
    link: PlanLink,
    token: str,
    *,
    read_only: bool,
    outcomes: dict[str, Outcome] | None = None,
) -> PlanPage:
    return PlanPage(
        link=link,
        token=token,
        can_edit=link.can_edit and not read_only,
        filters=TentacleFilters.from_query(request.GET),
        request=request,
        outcomes=outcomes,
    )


@require_safe
def plan_page(request: HtmxHttpRequest, token: str, read_only: bool = False) -> HttpResponse:
    # The cached version, as a poll has it: a page in the cache costs no query (every change
    # of the plan clears that version when it commits, so it never serves an older page).
    partial = request.htmx and request.GET.get("partial") == "tentacles"
    stored = messages.get_messages(request)
    # A full page with no flash messages to show is the same for every visitor of this link
    # at this plan version, but for the CSRF token: serve it from the cache.
    cacheable = not partial and len(stored) == 0

    def page_key(version: int) -> str:
        return page_cache.key_for(request, token=token, version=version, read_only=read_only)

    # The plan's version and the page of that version, in one cache read when they can be.
    state, found = polled_link_with(
        token,
        client=client_address(request.META),
        keys=lambda known: page_cache.fetch_keys(page_key(known.version)) if cacheable else [],
    )
    if not read_only:
        _edit_link_only(state.kind)
    remember_plan(request, token=token, name=state.plan_name, kind=state.kind)
    key = page_key(state.version)
    if cacheable and (cached := page_cache.fetch(key, request, found=found)) is not None:
        return cached
    link = link_at_version(token, version=state.version, client=client_address(request.META))
    # After a plain form post, a message about a step is shown on that step.
    flash, placed = split_messages(stored)
    page = _page(request, link, token, read_only=read_only, outcomes=placed)
    template = "plans/plan.html#tentacle-table" if partial else "plans/plan.html"
    csrf_value = page_cache.csrf_token(request)
    response = render(
        request, template, {**page.context(), "csrf_token": csrf_value, "flash": flash}
    )
    if cacheable and link.plan.version == state.version:
        page_cache.store(key, response, csrf_value)
    return response


@require_safe
def plan_print(request: HtmxHttpRequest, token: str, read_only: bool = False) -> HttpResponse:
    """The plan's printed runbook on a page of its own, to read and print: every step's
    instructions and every machine by name. The plan page of a big plan points here rather
    than carry it; /p/ takes the edit link only, /v/ either link, as the plan page does."""
    link = _load(request, token) if read_only else _editable(request, token)
    context = print_page_context(link.plan, token=token, can_edit=link.can_edit and not read_only)
    return render(request, "plans/print.html", context)


REPLACED_NOTICE = (
    "This link was replaced, so this page has stopped following the plan and its controls no "
    "longer work. Ask someone working on the upgrade for the new link."
)


@require_safe
def plan_poll(request: HtmxHttpRequest, token: str, read_only: bool = False) -> HttpResponse:
    """Polled by every open plan page: answers 304 after one narrow query while nothing
    changed (htmx is configured not to swap a 304), else the parts of the page that move.
    Polling stops (286) once the link is replaced or every step is finished."""
    try:
        polled = polled_link(token, client=client_address(request.META))
    except LinkReplaced as replaced:
        if not read_only:
            # A read-only token on the edit route is an unknown link there, replaced or not.
            _edit_link_only(replaced.kind)
        return _stop_polling_replaced(request, read_only=read_only)
    if not read_only:
        _edit_link_only(polled.kind)
    version = polled.version
    if request.GET.get("v") == str(version):
        return HttpResponseNotModified()
    try:
        response = _live_update(request, token, read_only=read_only, version=version)
    except LinkReplaced:
        return _stop_polling_replaced(request, read_only=read_only)
    if STOPPED_MARK in response.content:
        response.status_code = HttpResponseStopPolling.status_code
    return response


# What the poller partial carries once a finished plan has stopped polling.
STOPPED_MARK = b'data-stopped="finished"'


def _stop_polling_replaced(request: HtmxHttpRequest, *, read_only: bool) -> HttpResponse:
    """The answer to a poll through a replaced link: the poller gives way to a notice saying
    so (and, on a read-only page, so does the note promising live updates)."""
    return HttpResponseStopPolling(
        render_to_string(
            "plans/plan.html#replaced",
            {"notice": REPLACED_NOTICE, "read_only": read_only},
            request,
        )
    )


def _refuse_replaced(request: HtmxHttpRequest, *, place: str) -> HttpResponse:
    """The answer to an htmx action through a replaced link: nothing is swapped but the
    poller, which stops, and the refusal, which is shown next to the control at `place`."""
    response = HttpResponse(
        render_to_string(
            "plans/plan.html#replaced",
            {"notice": REPLACED_NOTICE, "oob": True, "place": place},
            request,
        )
    )
    return reswap(response, "none")


LIVE_SECTIONS = (
    "progress",
    "readiness",
    "stop-now",
    "schedule",
    "verification",
    "checklist",
    "tentacle-table",
    "activity",
)
CARD_SECTIONS = {
    "checklist": "plans/plan.html#step-card",
    "tentacle-table": "plans/plan.html#tentacle-row",
}


def _sections(
    request: HtmxHttpRequest, token: str, *, read_only: bool, version: int, link: PlanLink | None
) -> dict[str, tuple[str, str]]:
    """The live sections of `version` of the page as this request views it: from the cache
    when another visitor has already been sent them, else rendered (and cached)."""
    key = page_cache.sections_key(
        request, token=token, version=version, read_only=read_only, view=view_query(request.GET)
    )

    def render() -> tuple[dict[str, tuple[str, str]], bool]:
        loaded = link or link_at_version(
            token, version=version, client=client_address(request.META)
        )
        page = _page(request, loaded, token, read_only=read_only)
        sections = _render_sections(request, page.context(), page.shapes())
        # Kept only if the plan did not move on while they were rendered.
        return sections, loaded.plan.version == version

    # Rendered once for all the polls of this version that arrive while it renders.
    return page_cache.shared(key, render, kind=dict)


def _live_update(
    request: HtmxHttpRequest,
    token: str,
    *,
    read_only: bool,
    version: int,
    link: PlanLink | None = None,
    sections: dict[str, tuple[str, str]] | None = None,
    answered: dict[str, str] | None = None,
    announce: Outcome | None = None,
) -> HttpResponse:
    """The new poller, any flash messages, and only the sections whose content differs from
    what this page shows (it sends their fingerprints with each poll, and with each action).
    `answered` holds the fingerprints of sections an action answered in place instead."""
    sections = sections or _sections(
        request, token, read_only=read_only, version=version, link=link
    )
    sent = request.POST if request.method == "POST" else request.GET
    answered = answered or {}
    csrf_value = page_cache.csrf_token(request)
    flash, placed = split_messages(messages.get_messages(request))
    flash += placed.values()  # a poll answers no one place: its messages go at the top
    pieces = [
        sections["poller"][0],
        render_to_string(
            "plans/plan.html#flash", {"oob": True, "flash": flash, "announce": announce}, request
        ),
    ]
    fingerprints = {}
    for name in LIVE_SECTIONS:
        html, digest = sections[name]
        fingerprints[name] = digest
        if name in answered:
            fingerprints[name] = answered[name]
        elif sent.get(f"fp-{name}") != digest:
            pieces.append(html.replace(page_cache.PLACEHOLDER, csrf_value))
    for name, (_, digest) in sections.items():
        if name.startswith("shape-"):
            fingerprints[name] = digest
    pieces.append(
        render_to_string(
            "plans/plan.html#fingerprints",
            {"oob": True, "fingerprints": fingerprints, "seen": version},
            request,
        )
    )
    return HttpResponse("".join(pieces))


def _render_sections(
    request: HtmxHttpRequest, context: dict[str, Any], shapes: dict[str, str]
) -> dict[str, tuple[str, str]]:
    """The poller and each live section of a page's `context` as (html, fingerprint), with a
    placeholder where the CSRF token goes: each response masks the token afresh, and that must
    neither count as a change nor reach another visitor. The shapes of the sections that hold
    cards ride along as ("", digest)."""
    csrf_value = page_cache.csrf_token(request)
    context = {**context, "csrf_token": csrf_value, "oob": True}
    poller = render_to_string("plans/plan.html#poller", {**context, "oob": False}, request)
    sections = {"poller": (str(poller), "")}
    for name in LIVE_SECTIONS:
        rendered = render_to_string(f"plans/plan.html#{name}", context, request)
        html = rendered.replace(csrf_value, page_cache.PLACEHOLDER)
        digest = hashlib.sha256(html.replace(page_cache.PLACEHOLDER, "").encode()).hexdigest()
        sections[name] = (html, digest[:16])
    for name, digest in shapes.items():
        sections[name] = ("", digest)
    return sections


def _editable(request: HttpRequest, token: str) -> PlanLink:
    """The link for `token` on a /p/ route: as _load, and a read-only token is unknown here."""
    link = _load(request, token)
    _edit_link_only(link.kind)
    return link


def _editable_at(request: HtmxHttpRequest, token: str, *, place: str) -> PlanLink | HttpResponse:
    """As _editable, for a control at `place` on the page: through a replaced link, htmx gets
    the refusal next to that control (and the poller stops); a plain post gets the 410 page."""
    try:
        return _editable(request, token)
    except LinkReplaced:
        if request.htmx:
            return _refuse_replaced(request, place=place)
        raise


def _edit_link_only(kind: str | None) -> None:
    """Every /p/ URL is for editing: there a read-only token answers as an unknown link does,
    so it neither opens the page nor reaches a form. It is not counted against the limit on
    unknown links: it is no guess (its holder reads the plan at /v/ anyway), and a page left
    open on /p/ with it polls on, which would soon lock its address out of every valid link."""
    if kind != LinkKind.EDIT:
        raise Http404("No plan has this link.")


def _plan_url(token: str) -> str:
    return reverse("plan-edit", kwargs={"token": token})


def _actor(request: HtmxHttpRequest) -> str:
    """The name given with this request, else the one this browser gave before; kept for the
    next request."""
    form = ActorForm(request.POST)
    valid = form.is_valid()
    given = form.cleaned_data["actor"] if valid else ""
    actor = given or actor_of(request)
    if actor:
        request.session[ACTOR_KEY] = actor
    elif valid and form.cleaned_data["anonymous"]:
        request.session[NAME_ASKED_KEY] = True  # asked once: carries on without a name
    return actor


def _refuse(request: HttpRequest, form: Form) -> None:
    for message in problems(form):
        messages.error(request, message)


def _after_change(
    request: HtmxHttpRequest, link: PlanLink, token: str, form: PlanPageForm
) -> HttpResponse:
    """The sections that changed for htmx; else the page again, as `form` was posted from."""
    if request.htmx:
        link.plan.refresh_from_db()  # the change moved the version: show what it is now
        return _live_update(request, token, read_only=False, version=link.plan.version, link=link)
    return redirect(form.return_to)


def _seen_version(request: HttpRequest) -> int | None:
    """The plan version the page that sent this request last showed, if it said."""
    raw = request.POST.get("seen", "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None


def _answer_in_place(
    request: HtmxHttpRequest,
    link: PlanLink,
    token: str,
    *,
    step_id: uuid.UUID,
    outcome: Outcome,
    changed: bool,
) -> HttpResponse:
    """An htmx action's answer: the clicked step's card (or row) with the outcome in it, for
    the request's own target; out of band, the outcome again in the live region, the other
    cards of that section that the change moved (its dependents and the fleet summaries, or
    every card when the page had fallen behind other people's changes), the other sections
    that changed (by their fingerprints), and the new poller and fingerprints."""
    link.plan.refresh_from_db()
    version = link.plan.version
    page = _page(request, link, token, read_only=False)
    csrf_value = page_cache.csrf_token(request)
    context = {**page.context(), "csrf_token": csrf_value}
    shapes = page.shapes()
    sections = _render_sections(request, context, shapes)
    page_cache.store_sections(
        page_cache.sections_key(
            request, token=token, version=version, read_only=False, view=view_query(request.GET)
        ),
        sections,
    )
    step = page.visible.get(step_id)
    if step is None:  # not on this view of the page (another page of the table): the sections
        response = _live_update(
            request, token, read_only=False, version=version, sections=sections, announce=outcome
        )
        return retarget(reswap(response, "outerHTML"), "#poller")
    section = "tentacle-table" if step.tentacle else "checklist"
    step.outcome = outcome
    page.attach_fragments([step])  # the card as the section shows it, now with its outcome
    card_context = {**context, "step": step}
    if request.POST.get(f"fp-shape-{section}") != shapes[f"shape-{section}"]:
        # The section on screen holds other cards than it would now (a re-plan, an inventory
        # update): swap it whole, with the outcome in the clicked card.
        html = render_to_string(f"plans/plan.html#{section}", card_context, request)
        rest = _out_of_band(
            request, token, context=context, sections=sections, answered=section, announce=outcome
        )
        response = HttpResponse(html + rest)
        return retarget(reswap(response, "outerHTML"), f"#{section_id(section)}")
    in_sync = _seen_version(request) == (version - 1 if changed else version) and (
        # The critical path moved: its badges are on cards the change did not otherwise touch.
        section != "checklist" or request.POST.get("fp-shape-critical") == shapes["shape-critical"]
    )
    same_section = [
        other for other in page.visible.values() if bool(other.tentacle) == bool(step.tentacle)
    ]
    if in_sync:
        moved = (
            set(
                StepDependency.objects.filter(
                    prerequisite_id=step_id, step_id__in=[other.id for other in same_section]
                ).values_list("step_id", flat=True)
            )
            if changed
            else set()
        )
        others = [other for other in same_section if other.id in moved]
    else:
        others = [other for other in same_section if other.id != step_id]
    pieces = [render_to_string(CARD_SECTIONS[section], card_context, request)]
    oob_context = {**context, "card_oob": True}
    for other in others:
        pieces.append(
            render_to_string(CARD_SECTIONS[section], {**oob_context, "step": other}, request)
        )
    if section == "checklist":
        for group in context["checklist"]:
            for fleet in group.fleets:
                pieces.append(
                    render_to_string(
                        "plans/plan.html#fleet-card", {**oob_context, "fleet": fleet}, request
                    )
                )
    else:
        for part in ("tentacle-summary", "bulk-bar"):
            pieces.append(render_to_string(f"plans/plan.html#{part}", oob_context, request))
    rest = _out_of_band(
        request, token, context=context, sections=sections, answered=section, announce=outcome
    )
    # Each out-of-band piece in a <template> of its own: after a table row (the answer's own
    # target), the HTML parser would move anything else out of the table; a template keeps
    # every piece as written, and htmx swaps what it holds.
    main, *others_html = pieces
    return HttpResponse(main + "".join(in_template(piece) for piece in [*others_html, rest]))


def in_template(html: str) -> str:
    return f"<template>{html}</template>"


def _out_of_band(
    request: HtmxHttpRequest,
    token: str,
    *,
    context: dict[str, Any],
    sections: dict[str, tuple[str, str]],
    answered: str,
    announce: Outcome,
) -> str:
    """Everything an action's answer sends besides its own target: the new poller, the
    outcome in the live region, the other sections that changed, and the fingerprints, with
    `answered` (the section the answer's target is in) counted as up to date."""
    version = context["plan"].version
    live = _live_update(
        request, token, read_only=False, version=version, sections=sections,
        answered={answered: sections[answered][1]}, announce=announce,
    )  # fmt: skip
    poller = render_to_string("plans/plan.html#poller", {**context, "oob": True}, request)
    # A live update starts with its poller for a poll's own target: here it goes out of band.
    return poller + live.content.decode().removeprefix(sections["poller"][0])


def section_id(section: str) -> str:
    return "tentacles" if section == "tentacle-table" else section


@require_POST
def step_action(
    request: HtmxHttpRequest, token: str, step_id: uuid.UUID, action: str
) -> HttpResponse:
    link = _editable_at(request, token, place=step_place(step_id))
    if isinstance(link, HttpResponse):
        return link
    form = StepActionForm(request.POST, page=_plan_url(token))
    if not form.is_valid():
        outcome = Outcome(level="error", text=" ".join(problems(form)))
    elif _unnamed(request):
        outcome = NAME_FIRST
    else:
        try:
            step = services.step_act(
                plan=link.plan,
                step_id=step_id,
                action=action,
                actor=_actor(request),
                reason=form.cleaned_data["reason"],
                confirmed=form.cleaned_data["confirm"],
            )
        except services.TransitionRefused as refused:
            outcome = Outcome(level="error", text=refused.message)
        except services.StepNotFound as missing:
            raise Http404(str(missing)) from None
        else:
            outcome = Outcome(level="success", text=f"{PAST_TENSE[action]}: {step.title}")
    return _step_answer(request, link, token, step_id=step_id, outcome=outcome, form=form)


def _step_answer(
    request: HtmxHttpRequest,
    link: PlanLink,
    token: str,
    *,
    step_id: uuid.UUID,
    outcome: Outcome,
    form: PlanPageForm,
) -> HttpResponse:
    """A step's card (or row) with `outcome` in it for htmx; else back to the page as it was
    viewed, the outcome kept for the step's place."""
    changed = outcome.level == "success"
    if request.htmx:
        return _answer_in_place(
            request, link, token, step_id=step_id, outcome=outcome, changed=changed
        )
    tags = [place_tag(step_place(step_id)), *([ASK_NAME_TAG] if outcome.ask_name else [])]
    messages.add_message(
        request,
        messages.SUCCESS if changed else messages.ERROR,
        outcome.text,
        extra_tags=" ".join(tags),
    )
    return redirect(form.return_to)


# The refusal of a first change from a page that asked this browser for a name.
NAME_FIRST = Outcome(
    level="error",
    text="Before your first change, say who you are: your name goes in the activity log next "
    "to what you do. Nothing was changed.",
    ask_name=True,
)


def _unnamed(request: HtmxHttpRequest) -> bool:
    """A change sent from a page that asked for a name (it says so with `asking`) comes with
    neither a name nor the choice to carry on without one, and none is known from before.
    A change sent otherwise (a script, an old page) is not held up."""
    if request.POST.get("asking") != "1":
        return False
    form = ActorForm(request.POST)
    if form.is_valid() and (form.cleaned_data["actor"] or form.cleaned_data["anonymous"]):
        return False
    return name_needed(request)


@require_POST
def step_assign(request: HtmxHttpRequest, token: str, step_id: uuid.UUID) -> HttpResponse:
    """Who does a step, set from its card (blank: nobody), through the schedule's
    `step_update` service."""
    link = _editable_at(request, token, place=step_place(step_id))
    if isinstance(link, HttpResponse):
        return link
    form = AssigneeForm(request.POST, page=_plan_url(token))
    if not form.is_valid():
        outcome = Outcome(level="error", text=" ".join(problems(form)))
    elif _unnamed(request):
        outcome = NAME_FIRST
    else:
        try:
            step = services.step_update(
                plan=link.plan,
                step_id=step_id,
                assignee=form.cleaned_data["assignee"],
                actor=_actor(request),
            )
        except services.PlanInputInvalid as invalid:
            outcome = Outcome(level="error", text=" ".join(assignee_problems(invalid)))
        except services.StepNotFound as missing:
            raise Http404(str(missing)) from None
        else:
            who = f"Assigned to {step.assignee}" if step.assignee else "Nobody is assigned"
            outcome = Outcome(level="success", text=f"{who}: {step.title}")
    return _step_answer(request, link, token, step_id=step_id, outcome=outcome, form=form)


def assignee_problems(invalid: services.PlanInputInvalid) -> list[str]:
    """The service's reasons, each naming the assignee field where it does not already."""
    said = [message for field_messages in invalid.errors.values() for message in field_messages]
    return [m if "assignee" in m.lower() else f"Assignee: {m}" for m in said]


@require_POST
def steps_bulk(request: HtmxHttpRequest, token: str) -> HttpResponse:
    link = _editable_at(request, token, place=BULK_PLACE)
    if isinstance(link, HttpResponse):
        return link
    form = StepsBulkForm(request.POST, page=_plan_url(token))
    if not form.is_valid():
        outcome = Outcome(level="error", text=" ".join(problems(form)))
    elif _unnamed(request):
        outcome = NAME_FIRST
    else:
        action = form.cleaned_data["action"]
        actor = _actor(request)
        matching = (
            TentacleFilters.from_query(request.POST).matching(me=actor)
            if form.cleaned_data["scope"] == "matching"
            else None
        )
        result = services.steps_bulk(
            plan=link.plan,
            step_ids=form.cleaned_data["step"],
            tentacles_matching=matching,
            action=action,
            actor=actor,
            reason=form.cleaned_data["reason"],
        )
        outcome = bulk_outcome(result, action)
    if not request.htmx:
        tags = [place_tag(BULK_PLACE), *([ASK_NAME_TAG] if outcome.ask_name else [])]
        messages.add_message(
            request,
            messages.SUCCESS if outcome.level == "success" else messages.ERROR,
            outcome.text,
            extra_tags=" ".join(tags),
        )
        return redirect(form.return_to)
    link.plan.refresh_from_db()
    version = link.plan.version
    page = _page(request, link, token, read_only=False, outcomes={BULK_PLACE: outcome})
    context = {**page.context(), "csrf_token": page_cache.csrf_token(request)}
    table = render_to_string("plans/plan.html#tentacle-table", context, request)
    sections = _sections(request, token, read_only=False, version=version, link=link)
    rest = _out_of_band(
        request, token, context=context, sections=sections, answered="tentacle-table",
        announce=outcome,
    )  # fmt: skip
    return HttpResponse(table + rest)


def bulk_outcome(result: services.BulkOutcome, action: str) -> Outcome:
    """“412 marked done; 38 refused: 38 are blocked, waiting for “Prepare Hydra”.”"""
    if result.problem:
        return Outcome(level="error", text=result.problem)
    done = f"{result.changed:,} {BULK_PAST_TENSE[action]}"
    if not result.refused:
        return Outcome(level="success", text=f"{done}.")
    why = "; ".join(result.refusals)
    return Outcome(
        level="warning" if result.changed else "error",
        text=f"{done}; {result.refused:,} refused: {why}.",
    )


BULK_PAST_TENSE = {
    "start": "started",
    "complete": "marked done",
    "skip": "excluded",
    "reopen": "reopened",
}


@require_POST
def change_approach(request: HtmxHttpRequest, token: str) -> HttpResponse:
    link = _editable(request, token)
    form = ApproachForm(request.POST)
    if not form.is_valid():
        _refuse(request, form)
        return redirect(_plan_url(token))
    try:
        plan = services.plan_change_approach(
            plan=link.plan, approach=form.cleaned_data["approach"], actor=_actor(request)
        )
    except services.PlanInputInvalid as invalid:
        for field_messages in invalid.errors.values():
            for message in field_messages:
                messages.error(request, message)
    else:
        messages.success(
            request,
            f"Re-planned with the {plan.get_approach_display().lower()} approach. Steps that "
            "exist in both plans kept their progress.",
        )
    return redirect(_plan_url(token))


@require_POST
def rotate_link(request: HtmxHttpRequest, token: str, kind: str) -> HttpResponse:
    link = _editable(request, token)
    if kind not in {"edit", "view"}:
        raise Http404("Unknown link.")
    new = services.link_rotate(plan=link.plan, kind=kind, actor=_actor(request))
    if kind == "edit":
        forget_plan(request, token)
        remember_plan(request, token=new, name=link.plan.name, kind="edit")
        messages.warning(
            request,
            "The edit link was replaced: the old one no longer works. Share this page's new "
            "address with the people doing the work.",
        )
        return redirect("plan-edit", token=new)
    messages.warning(request, "The read-only link was replaced: the old one no longer works.")
    return redirect("plan-edit", token=token)


@require_POST
def verify_now(request: HtmxHttpRequest, token: str) -> HttpResponse:
    link = _editable(request, token)
    form = PlanPageForm(request.POST, page=_plan_url(token))
    requested = services.verification_request(plan=link.plan, actor=_actor(request))
    if requested:
        messages.info(
            request,
            f"Checking {len(requested)} thing{'s' if len(requested) != 1 else ''} against your "
            "servers; results appear on the steps.",
        )
    else:
        messages.info(
            request,
            "Nothing to check yet: give the server URLs and API keys, or start a Tentacle step.",
        )
    return _after_change(request, link, token, form)


@require_POST
@sensitive_post_parameters("old_server_api_key", "new_server_api_key")
def enter_api_keys(request: HtmxHttpRequest, token: str) -> HttpResponse:
    """API keys given again on an existing plan (one stored with an encryption key this server
    no longer has reads as "enter it again"); the checks use them from the next run."""
    link = _editable(request, token)
    form = ApiKeysForm(request.POST, page=_plan_url(token))
    if not form.is_valid():
        _refuse(request, form)
        return _after_change(request, link, token, form)
    named = services.api_keys_enter(plan=link.plan, keys=form.keys, actor=_actor(request))
    messages.success(
        request, f"Saved the API key for {' and '.join(named)}; the next check uses it."
    )
    return _after_change(request, link, token, form)


@require_POST
def paste_evidence(request: HtmxHttpRequest, token: str) -> HttpResponse:
    link = _editable(request, token)
    form = EvidenceForm(request.POST, page=_plan_url(token))
    if not form.is_valid():
        _refuse(request, form)
        return _after_change(request, link, token, form)
    result = services.evidence_paste(
        plan=link.plan, text=form.cleaned_data["evidence"], actor=_actor(request)
    )
    for message in paste_summary(result):
        messages.info(request, message)
    return _after_change(request, link, token, form)


@require_POST
def finding_accept(request: HtmxHttpRequest, token: str, code: str) -> HttpResponse:
    """A person accepts a finding of the readiness report with a reason: an inhibitor then
    no longer holds back the step it guards."""
    link = _editable(request, token)
    form = FindingAcceptForm(request.POST, page=_plan_url(token))
    if not form.is_valid():
        outcome = Outcome(level="error", text=" ".join(problems(form)))
    else:
        try:
            finding = services.finding_accept(
                plan=link.plan,
                code=code,
                reason=form.cleaned_data["reason"],
                actor=_actor(request),
            )
        except services.FindingNotFound as missing:
            raise Http404(str(missing)) from None
        except services.FindingNotAcceptable as refused:
            outcome = Outcome(level="error", text=refused.message)
        else:
            outcome = Outcome(
                level="success",
                text=f"Accepted “{finding.code}” with your reason; the activity log records it.",
            )
    return _readiness_answer(request, link, token, outcome=outcome, form=form)


@require_POST
def readiness_scan(request: HtmxHttpRequest, token: str) -> HttpResponse:
    """Ask for a read-only scan of the live server for the readiness report."""
    link = _editable(request, token)
    form = PlanPageForm(request.POST, page=_plan_url(token))
    try:
        services.readiness_scan_request(plan=link.plan)
    except services.ScanNotPossible as refused:
        outcome = Outcome(level="error", text=refused.message)
    else:
        outcome = Outcome(
            level="info",
            text="Scanning the server (read-only). The report updates here when the scan has "
            "run; a finding the server's answers no longer support is then cleared.",
        )
    return _readiness_answer(request, link, token, outcome=outcome, form=form)


OUTCOME_LEVELS = {"success": messages.SUCCESS, "info": messages.INFO, "error": messages.ERROR}


def _readiness_answer(
    request: HtmxHttpRequest, link: PlanLink, token: str, *, outcome: Outcome, form: PlanPageForm
) -> HttpResponse:
    """The readiness report with `outcome` in it for htmx, and out of band the sections the
    change moved (the guarded step's card); else back to the page, the outcome kept for the
    report's place."""
    if not request.htmx:
        messages.add_message(
            request,
            OUTCOME_LEVELS.get(outcome.level, messages.INFO),
            outcome.text,
            extra_tags=place_tag(READINESS_PLACE),
        )
        return redirect(form.return_to)
    link.plan.refresh_from_db()
    page = _page(request, link, token, read_only=False, outcomes={READINESS_PLACE: outcome})
    context = {**page.context(), "csrf_token": page_cache.csrf_token(request)}
    sections = _render_sections(request, context, page.shapes())
    html = render_to_string("plans/plan.html#readiness", context, request)
    rest = _out_of_band(
        request, token, context=context, sections=sections, answered="readiness", announce=outcome
    )
    return retarget(reswap(HttpResponse(html + rest), "outerHTML"), "#readiness")


def paste_summary(result: services.PasteResult) -> list[str]:
    recognised = result.in_plan
    lines = [
        f"Recognised {len(recognised)} Tentacle{'s' if len(recognised) != 1 else ''} of this "
        f"plan; {result.completed} upgrade step{'s' if result.completed != 1 else ''} completed."
    ]
    still = [m.name for m in recognised if m.verdict == "still-on-2x"]
    if still:
        lines.append("Still on the 2.x Tentacle: " + ", ".join(still[:10]) + ".")
    if result.not_in_plan:
        lines.append("Not in this plan: " + ", ".join(result.not_in_plan[:10]) + ".")
    if result.unrecognised:
        shown = "; ".join(f"line {n}: {text[:60]}" for n, text in result.unrecognised[:3])
        lines.append(f"{len(result.unrecognised)} lines were not understood ({shown}).")
    return lines


@require_POST
def make_rehearsal(request: HtmxHttpRequest, token: str) -> HttpResponse:
    """Make a rehearsal plan from this plan's input and open it: this browser remembers its
    link, which is shown nowhere else."""
    link = _editable(request, token)
    created = services.rehearsal_create(plan=link.plan, actor=_actor(request))
    remember_plan(request, token=created.edit_token, name=created.plan.name, kind="edit")
    messages.success(
        request,
        f"This is a rehearsal of “{link.plan.name}”, with links of its own: keep this page's "
        "address. Run it on a test instance, starting and completing each step as you go; "
        "then apply its measured times to the live plan (under Schedule).",
    )
    url = reverse("plan-edit", kwargs={"token": created.edit_token})
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_POST
def set_actor(request: HtmxHttpRequest, token: str) -> HttpResponse:
    """Save the name this browser goes by (blank forgets it), or the choice to carry on
    without one; then back to where the name box was (the page, or a step's card)."""
    _editable(request, token)
    form = NameForm(request.POST, page=_plan_url(token))
    # Always valid: a name is only cleaned, and a blank one forgets the name.
    valid = form.is_valid()
    request.session[ACTOR_KEY] = form.cleaned_data["actor"] if valid else ""
    if valid and form.cleaned_data["anonymous"]:
        request.session[NAME_ASKED_KEY] = True
    return redirect(form.return_to)


PAST_TENSE = {"start": "Started", "complete": "Done", "skip": "Skipped", "reopen": "Reopened"}


# --- Inventory re-sync ----------------------------------------------------------------------


def _inventory_render(
    request: HtmxHttpRequest,
    link: PlanLink,
    token: str,
    template: str = "plans/inventory_update.html",
    **context: Any,
) -> HttpResponse:
    """The inventory update page (or one of its partials): the forms, a preview to confirm,
    or a fetch's progress."""
    preview = context.get("preview")
    if preview is not None and "apply_form" not in context:
        context["apply_form"] = InventoryApplyForm(
            initial={
                "inventory_csv": to_csv(preview.tentacles),
                "fingerprint": preview.fingerprint,
            }
        )
    return render(
        request,
        template,
        {
            "plan": link.plan,
            "installation": link.plan.installation,
            "token": token,
            "preview_limit": PREVIEW_LIMIT,
            "preview_slice": f":{PREVIEW_LIMIT}",
            "preview_minus": -PREVIEW_LIMIT,
            "approach_labels": APPROACH_LABELS,
            **context,
        },
    )


PREVIEW_LIMIT = 200


@require_safe
def inventory_page(request: HtmxHttpRequest, token: str) -> HttpResponse:
    link = _editable(request, token)
    return _inventory_render(request, link, token, show_forms=True)


@require_safe
def inventory_download(request: HtmxHttpRequest, token: str) -> HttpResponse:
    """The current inventory as CSV, to edit and upload again."""
    link = _editable(request, token)
    tentacles = [t.as_input() for t in link.plan.installation.tentacles.all()]
    response = HttpResponse(to_csv(tentacles), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="inventory.csv"'
    return response


@require_POST
def inventory_preview(request: HtmxHttpRequest, token: str) -> HttpResponse:
    link = _editable(request, token)
    form = InventoryUpdateForm(request.POST, request.FILES)
    if not form.is_valid():
        return _inventory_render(request, link, token, upload_form=form, show_forms=True)
    try:
        preview = services.inventory_preview(plan=link.plan, tentacles=form.tentacles)
    except services.PlanInputInvalid as invalid:
        form.add_error(None, [m for messages_ in invalid.errors.values() for m in messages_])
        return _inventory_render(request, link, token, upload_form=form, show_forms=True)
    return _inventory_render(request, link, token, preview=preview)


@require_POST
def inventory_apply(request: HtmxHttpRequest, token: str) -> HttpResponse:
    link = _editable(request, token)
    form = InventoryApplyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The reviewed inventory did not come back intact; start again.")
        return _inventory_render(request, link, token, show_forms=True)
    tentacles = form.tentacles
    try:
        outcome = services.inventory_replace(
            plan=link.plan,
            tentacles=tentacles,
            actor=_actor(request),
            approach_choice=form.cleaned_data["approach_choice"] or None,
            expected_fingerprint=form.cleaned_data["fingerprint"],
            confirm_removals=form.cleaned_data["confirm_removals"],
        )
    except services.RemovalsNeedConfirmation as refused:
        form.add_error(
            "confirm_removals",
            f"{refused.detail} Tick the box to remove "
            f"{'them' if len(refused.removals.to_confirm) > 1 else 'it'} anyway, or cancel.",
        )
        preview = services.inventory_preview(plan=link.plan, tentacles=tentacles)
        return _inventory_render(request, link, token, preview=preview, apply_form=form)
    except services.ApproachChangeRequired:
        form.add_error("approach_choice", "Choose whether to keep the approach or switch.")
        preview = services.inventory_preview(plan=link.plan, tentacles=tentacles)
        return _inventory_render(request, link, token, preview=preview, apply_form=form)
    except services.InventoryChangedSincePreview as changed:
        messages.warning(request, str(changed))
        preview = services.inventory_preview(plan=link.plan, tentacles=tentacles)
        return _inventory_render(request, link, token, preview=preview)
    except services.PlanInputInvalid as invalid:
        for field_messages in invalid.errors.values():
            for message in field_messages:
                messages.error(request, message)
        return _inventory_render(request, link, token, show_forms=True)
    if outcome.diff.empty:
        messages.info(request, "The inventory was already up to date; nothing changed.")
    else:
        messages.success(
            request,
            f"Inventory updated: {services.inventory_change_summary(outcome.diff)}. "
            f"{outcome.steps['created']} steps added, {outcome.steps['retired']} retired; "
            "the others kept their progress.",
        )
    return redirect(reverse("plan-edit", kwargs={"token": token}) + "#tentacles")


@sensitive_post_parameters("api_key")
@require_POST
def inventory_fetch_start(request: HtmxHttpRequest, token: str) -> HttpResponse:
    link = _editable(request, token)
    form = InventoryFetchForm(request.POST)
    if not form.is_valid():
        return _inventory_render(request, link, token, fetch_form=form, show_forms=True)
    fetch = services.inventory_fetch_start(
        plan=link.plan,
        server_url=form.cleaned_data["server_url"],
        api_key=form.cleaned_data["api_key"],
        actor=_actor(request),
    )
    return redirect("inventory-fetch", token=token, fetch_id=fetch.id)


@require_safe
def inventory_fetch_page(request: HtmxHttpRequest, token: str, fetch_id: uuid.UUID) -> HttpResponse:
    """A fetch's progress while it runs (the page polls this), then its result to review."""
    link = _editable(request, token)
    fetch = get_object_or_404(InventoryFetch, pk=fetch_id, plan=link.plan)
    context: dict[str, Any] = {"fetch": fetch}
    if fetch.state == FetchState.DONE:
        try:
            tentacles = services.fetched_tentacles(fetch=fetch)
            context["preview"] = services.inventory_preview(plan=link.plan, tentacles=tentacles)
        except (InventoryInvalid, services.PlanInputInvalid) as invalid:
            context["fetch_problem"] = str(invalid)
    if request.htmx:
        partial = "plans/_inventory_update.html#fetch-status"
        return _inventory_render(request, link, token, template=partial, **context)
    return _inventory_render(request, link, token, **context)
