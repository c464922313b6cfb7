"""What people send about a plan: on the start page, its name and an approach the team chooses
over the planner's recommendation (the installation is asked by `installations.forms`); on the
plan page, step actions, a new approach, their name and pasted evidence.

The forms shape and bound the input. The rules of the plan stay in the services: a reason
needed to skip, a NUL character refused naming the field, a blocked step."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.core.validators import ProhibitNullCharactersValidator

from upgrade_planner.domain.lifecycle import PERSON_ACTIONS, StepAction
from upgrade_planner.domain.vocabulary import Approach
from upgrade_planner.installations.forms import ApiKeyField
from upgrade_planner.plans import services
from upgrade_planner.plans.services.text import REASON_MAX

# What each approach means, in the words of the start page's choice.
APPROACH_DESCRIPTIONS: dict[Approach, str] = {
    Approach.NEW_SERVER: "install 3.x on a new machine and migrate",
    Approach.IN_PLACE: "upgrade every Tentacle with Hydra, then install over 2.6",
    Approach.MANUAL: "install over 2.6, then upgrade each Tentacle by hand",
}


def _approach_choice(approach: Approach) -> tuple[str, str]:
    description = APPROACH_DESCRIPTIONS.get(approach)
    return str(approach), f"{approach.label}: {description}" if description else approach.label


APPROACH_CHOICES = [
    ("", "Let the planner choose (recommended)"),
    *(_approach_choice(approach) for approach in Approach),
]


def _approach_or_none(value: str) -> Approach | None:
    """A blank choice leaves the approach to the planner."""
    return Approach(value) if value else None


class PlanForm(forms.Form):
    """The plan's name, and the approach if the team has chosen one."""

    name = forms.CharField(
        max_length=200,
        label="Plan name",
        help_text="What your team calls this Octopus installation, e.g. “Production Octopus”.",
    )
    approach = forms.ChoiceField(
        choices=APPROACH_CHOICES, required=False, label="Approach", initial=""
    )

    def clean_approach(self) -> Approach | None:
        return _approach_or_none(self.cleaned_data["approach"])


# --- The plan page ---------------------------------------------------------------------------

MAX_EVIDENCE_CHARS = 1_000_000
SELECT_STEPS_AND_ACTION = "Select one or more Tentacle steps and an action."
EVIDENCE_MISSING = (
    "Paste some evidence first: Tentacle.exe version output, a health-check log, or a CSV of "
    "machine names and versions."
)
EVIDENCE_TOO_LONG = "That paste is over 1 MB; paste it in parts."


def return_address(value: object, *, page: str) -> str:
    """Where to send the browser back to: `value` when it is `page` itself, perhaps with the
    query (filters, page numbers) and fragment it was viewed with; otherwise `page`. Another
    site, another plan or another page of this one is never a return address."""
    if not isinstance(value, str) or not value.isprintable():
        return page
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed "[" where an IPv6 host would be
        return page
    if parts.scheme or parts.netloc or parts.path != page:
        return page
    return value


def problems(form: forms.Form) -> list[str]:
    """Each problem with what was sent, once: two fields may say the same thing."""
    found = (str(message) for errors in form.errors.values() for message in errors)
    return list(dict.fromkeys(found))


class RawText(forms.CharField):
    """Text passed on with any NUL character in it: whether one is refused with the field's
    name or dropped is decided where the text is used (the services, the evidence parser),
    not before with a message of Django's own."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators = [
            validator
            for validator in self.validators
            if not isinstance(validator, ProhibitNullCharactersValidator)
        ]


class ReasonField(RawText):
    """Why a step was skipped, reopened or completed; the services say when one is needed."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", REASON_MAX)
        kwargs.setdefault(
            "error_messages",
            {
                "max_length": "The reason is too long: at most %(limit_value)d characters "
                "(it has %(show_value)d)."
            },
        )
        super().__init__(**kwargs)


class StepIdsField(forms.Field):
    """The ids of the ticked steps. A value that is no id at all is dropped: a stale or
    tampered checkbox does not spoil the rest of the selection."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: object) -> list[uuid.UUID]:
        ids = []
        for item in value if isinstance(value, list) else []:
            try:
                ids.append(uuid.UUID(item))
            except (TypeError, ValueError, AttributeError):
                continue
        return ids


class PlanPageForm(forms.Form):
    """A form posted from the plan page, which then shows the page again as it was viewed:
    `next` is that address, and `return_to` is the one to use."""

    next = forms.Field(required=False)

    def __init__(self, data: Any, *, page: str) -> None:
        super().__init__(data)
        self.page = page

    def clean_next(self) -> str:
        return return_address(self.cleaned_data["next"], page=self.page)

    @property
    def return_to(self) -> str:
        """The judged `next`, also when another field is refused: `clean_next` never refuses,
        it falls back to the plan page."""
        self.is_valid()  # judges the form, once
        cleaned: dict[str, Any] = getattr(self, "cleaned_data", {})
        return str(cleaned.get("next") or self.page)


class StepActionForm(PlanPageForm):
    """A step's Done, Start, Skip or Reopen control. `confirm` is the box ticked to acknowledge
    a point of no return, which sends "yes"."""

    reason = ReasonField()
    confirm = forms.Field(required=False)

    def clean_confirm(self) -> bool:
        return bool(self.cleaned_data["confirm"] == "yes")


ACCEPT_REASON_MISSING = (
    "The reason is required: say why you accept this finding (the activity log records it)."
)


class FindingAcceptForm(PlanPageForm):
    """A person accepts a readiness finding from the report, with a reason; the service bounds
    it and records who accepted it."""

    reason = ReasonField()

    def clean_reason(self) -> str:
        reason: str = self.cleaned_data["reason"]
        if not reason.strip():
            raise forms.ValidationError(ACCEPT_REASON_MISSING, code="required")
        return reason


class AssigneeForm(PlanPageForm):
    """Who does a step, set from its card; blank for nobody. The service bounds the name and
    says so naming the field."""

    assignee = RawText(required=False)


class StepsBulkForm(PlanPageForm):
    """One action for the Tentacle steps ticked in the table, or (`scope` "matching") for
    every one matching the table's filters, which the view reads from the same post."""

    action = forms.ChoiceField(
        choices=[(str(action), action.name.lower()) for action in PERSON_ACTIONS],
        error_messages={
            "required": SELECT_STEPS_AND_ACTION,
            "invalid_choice": SELECT_STEPS_AND_ACTION,
        },
    )
    step = StepIdsField(required=False)
    scope = forms.ChoiceField(choices=[("", "ticked"), ("matching", "matching")], required=False)
    reason = ReasonField()

    def clean_action(self) -> StepAction:
        return StepAction(self.cleaned_data["action"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("scope") != "matching" and not cleaned.get("step"):
            raise forms.ValidationError(SELECT_STEPS_AND_ACTION, code="required")
        return cleaned


class EvidenceForm(PlanPageForm):
    """What a team without credentials pastes: Tentacle.exe version output, a health-check log
    or a CSV. Kept as pasted; the parser reads it line by line."""

    evidence = RawText(required=False, strip=False)

    def clean_evidence(self) -> str:
        text: str = self.cleaned_data["evidence"]
        if not text.strip():
            raise forms.ValidationError(EVIDENCE_MISSING, code="required")
        if len(text) > MAX_EVIDENCE_CHARS:
            raise forms.ValidationError(EVIDENCE_TOO_LONG, code="max_length")
        return text


class ApproachForm(forms.Form):
    """Re-plan with another approach, or blank: the planner's recommendation."""

    approach = forms.ChoiceField(
        choices=APPROACH_CHOICES,
        required=False,
        error_messages={"invalid_choice": "Unknown approach %(value)r."},
    )

    def clean_approach(self) -> Approach | None:
        return _approach_or_none(self.cleaned_data["approach"])


class ActorForm(forms.Form):
    """The name someone goes by in the activity log; blank forgets it. `anonymous` is the
    choice to carry on without a name when the page asks for one."""

    actor = RawText(required=False, strip=False)
    anonymous = forms.BooleanField(required=False)

    def clean_actor(self) -> str:
        return services.actor_name(self.cleaned_data["actor"])


class NameForm(ActorForm, PlanPageForm):
    """The name box of the plan page, or the one shown next to a step whose action was
    refused for want of a name: saved, then back to where it was posted from."""


WINDOW_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


class ScheduleForm(PlanPageForm):
    """The maintenance window (in the server's time zone, UTC by default) and how many people
    can work at once. A blank end of the window clears it."""

    window_start = forms.DateTimeField(
        required=False,
        label="Window starts",
        input_formats=WINDOW_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=WINDOW_FORMATS[0]),
        error_messages={"invalid": "Enter the window's start as a date and time."},
    )
    window_end = forms.DateTimeField(
        required=False,
        label="Window ends",
        input_formats=WINDOW_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=WINDOW_FORMATS[0]),
        error_messages={"invalid": "Enter the window's end as a date and time."},
    )
    people_at_once = forms.IntegerField(
        label="People working at once",
        min_value=1,
        max_value=services.PEOPLE_MAX,
        error_messages={
            "required": "Say how many people can work at once.",
            "invalid": "Say how many people can work at once, as a number.",
            "min_value": "At least one person must be able to work.",
            "max_value": f"At most {services.PEOPLE_MAX} people.",
        },
    )


class ApiKeysForm(PlanPageForm):
    """API keys entered again on the plan page: for a server whose stored key can no longer
    be read, or that was given no key. An empty box keeps what is stored."""

    old_server_api_key = ApiKeyField(required=False, label="API key for the 2.6 server")
    new_server_api_key = ApiKeyField(required=False, label="API key for the new server")

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if not self.errors and not (
            cleaned.get("old_server_api_key") or cleaned.get("new_server_api_key")
        ):
            raise forms.ValidationError("Enter an API key for at least one server.")
        return cleaned

    @property
    def keys(self) -> dict[str, str]:
        return {
            "old": self.cleaned_data.get("old_server_api_key", ""),
            "new": self.cleaned_data.get("new_server_api_key", ""),
        }
