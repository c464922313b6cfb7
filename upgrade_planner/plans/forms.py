"""What the start page asks about the plan itself: its name, and an approach the team chooses
over the planner's recommendation. The installation is asked by `installations.forms`."""

from __future__ import annotations

from django import forms

from upgrade_planner.domain.vocabulary import Approach

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
        value: str = self.cleaned_data["approach"]
        return Approach(value) if value else None
