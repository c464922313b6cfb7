"""The installation form: the server, the choices that shape the plan, and the inventory typed
in as rows, pasted as CSV or uploaded as a file — all validated by the same inventory rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.http import QueryDict

from upgrade_planner.domain import inventory, planner
from upgrade_planner.installations.server_urls import clean_server_url

LAST_3X = "3.17.14"
LTS_2018_10 = "2018.10"
TARGET_CHOICES = [
    (LTS_2018_10, "2018.10 LTS — the long-term-support release the docs name as the way off 2.6"),
    (LAST_3X, "3.17.14 — the last 3.x release"),
    ("other", "Another version"),
]
APPROACH_CHOICES = [
    ("", "Let the planner choose (recommended)"),
    ("new-server", "New server: install 3.x on a new machine and migrate"),
    ("in-place", "In-place: upgrade every Tentacle with Hydra, then install over 2.6"),
    ("manual", "Manual: install over 2.6, then upgrade each Tentacle by hand"),
]
# A typed row has a box for each inventory column, and a tick box for each flag.
ROW_FLAGS = ("restricted_permissions", "online")
ROW_FIELDS = tuple(column for column in inventory.COLUMNS if column not in ROW_FLAGS)
_ROW_KEY = re.compile(r"^t-(\d{1,5})-([a-z_]+)$")


class ServerUrlField(forms.CharField):
    """The address of an Octopus server, checked and normalised by `clean_server_url`."""

    def clean(self, value: Any) -> str:
        text: str = super().clean(value)
        try:
            return clean_server_url(text)
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error


class CsvFileField(forms.FileField):
    """An uploaded inventory, refused above inventory.MAX_BYTES before it is read."""

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value and value.size > inventory.MAX_BYTES:
            raise forms.ValidationError(
                f"The file is {value.size / 1_048_576:.1f} MB; the limit is "
                f"{inventory.MAX_BYTES // 1_048_576} MB."
            )


def _planner_version(value: str) -> str:
    """`value` if the planner can read it as an Octopus version, else the planner's message."""
    try:
        planner.parse_version(value)
    except planner.PlanningError as error:
        raise forms.ValidationError(error.message) from error
    return value


class InstallationForm(forms.Form):
    name = forms.CharField(
        max_length=200,
        label="Plan name",
        help_text="What your team calls this Octopus installation, e.g. “Production Octopus”.",
    )
    server_version = forms.CharField(
        max_length=40,
        label="Current Octopus Server version",
        help_text="As shown in the Octopus web portal footer, e.g. 2.6.5 or 2.6.5.1581.",
    )
    target = forms.ChoiceField(
        choices=TARGET_CHOICES,
        initial=LTS_2018_10,
        widget=forms.RadioSelect,
        label="Upgrade to",
    )
    target_other = forms.CharField(
        max_length=40, required=False, label="Other target version", help_text="e.g. 2019.3.1"
    )
    can_provision_new_server = forms.BooleanField(
        required=False,
        initial=True,
        label="We can provision a new server for Octopus",
        help_text="The safest route: the 2.6 server keeps running until every Tentacle has "
        "moved, and you can start again if anything goes wrong.",
    )
    sql_server_ready = forms.BooleanField(
        required=False,
        label="A SQL Server for Octopus is ready",
        help_text="Octopus 3.x stores its data in SQL Server (2008 or newer for 3.x).",
    )
    uses_builtin_feed = forms.BooleanField(
        required=False,
        label="We use the built-in package feed",
        help_text="Its packages are not in the 2.6 backup and must be copied across by hand.",
    )
    backup_size_mb = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=10_000_000,
        label="Size of the latest 2.6 backup (.octobak), in MB",
        help_text="Drives the migration time and how much memory the migrator needs.",
    )
    document_count = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=1_000_000_000,
        label="RavenDB document count",
        help_text="Shown in the footer of RavenDB studio. Above about 150,000 the migration "
        "gets slow: prune history first.",
    )
    history_days_to_keep = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=36_500,
        label="Days of history to migrate",
        help_text="Leave empty to migrate all history. Fewer days make the migration faster.",
    )
    polling_port = forms.IntegerField(
        min_value=1,
        max_value=65535,
        initial=10943,
        label="Polling port of the new server",
        help_text="10943 is the default. The Hydra examples in the docs use 10934 — check "
        "what your server really listens on; polling Tentacles are pointed at it.",
    )
    approach = forms.ChoiceField(
        choices=APPROACH_CHOICES, required=False, label="Approach", initial=""
    )
    old_server_url = ServerUrlField(
        max_length=500,
        required=False,
        label="2.6 server URL",
        help_text="Optional, e.g. https://octopus.corp — used to check progress.",
    )
    new_server_url = ServerUrlField(
        max_length=500,
        required=False,
        label="New server URL",
        help_text="Optional, e.g. https://octopus3.corp — also fills in the Hydra server "
        "mapping for polling Tentacles.",
    )
    old_server_api_key = forms.CharField(
        max_length=200,
        required=False,
        label="API key for the 2.6 server",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Optional. Lets the planner confirm upgraded Tentacles no longer answer it. "
        "Stored encrypted, never shown again, sent only to that server.",
    )
    new_server_api_key = forms.CharField(
        max_length=200,
        required=False,
        label="API key for the new server",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Optional. Lets the planner read machine health and Tentacle versions. "
        "Stored encrypted, never shown again, sent only to that server.",
    )
    inventory_csv = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        label="Paste CSV",
        help_text="A header row, then one Tentacle per row. Columns: "
        + ", ".join(inventory.COLUMNS)
        + ". Only name is required; lists are separated by ;.",
    )
    inventory_file = CsvFileField(required=False, label="Or upload a CSV file")

    def clean_server_version(self) -> str:
        return _planner_version(self.cleaned_data["server_version"]).strip()

    def clean_target_other(self) -> str:
        value: str = self.cleaned_data.get("target_other", "").strip()
        return _planner_version(value) if value else value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        other_missing = cleaned.get("target") == "other" and not cleaned.get("target_other")
        if other_missing and "target_other" not in self.errors:
            self.add_error("target_other", "Type the version you want to upgrade to.")
        return cleaned

    def field_for_error(self, field_name: str) -> str | None:
        """The form field that shows a planner error about `field_name`."""
        if field_name == "target_version":
            return "target_other" if self.cleaned_data.get("target") == "other" else "target"
        return field_name if field_name in self.fields else None

    @property
    def target_version(self) -> str:
        if self.cleaned_data.get("target") == "other":
            return str(self.cleaned_data.get("target_other", ""))
        return str(self.cleaned_data.get("target", ""))


def blank_row() -> dict[str, Any]:
    return {column: "" for column in ROW_FIELDS} | {
        "restricted_permissions": False,
        "online": True,
        "communication_style": "listening",
    }


@dataclass
class InventoryRows:
    """The rows typed into the page, kept as text so a bad row comes back as it was typed."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_post(cls, data: QueryDict | dict[str, Any]) -> InventoryRows:
        found: dict[int, dict[str, Any]] = {}
        for key in data:
            match = _ROW_KEY.match(key)
            if match and match.group(2) in ROW_FIELDS + ROW_FLAGS:
                index, column = int(match.group(1)), match.group(2)
                found.setdefault(index, {})[column] = data.get(key, "")
        rows = []
        for index in sorted(found):
            row: dict[str, Any] = {
                column: str(found[index].get(column, "")).strip() for column in ROW_FIELDS
            }
            for flag in ROW_FLAGS:
                row[flag] = flag in found[index]
            rows.append(row)
        return cls(rows)

    @classmethod
    def with_blank_row(cls) -> InventoryRows:
        return cls([blank_row()])

    def edit(self, *, add: bool, remove: str | None) -> None:
        if add:
            self.rows.append(blank_row())
        elif remove and remove.isascii() and remove.isdigit() and int(remove) < len(self.rows):
            del self.rows[int(remove)]
        if not self.rows:
            self.rows.append(blank_row())

    def filled(self) -> list[tuple[int, dict[str, Any]]]:
        """(index on the page, row) for the rows with anything typed in them."""
        return [
            (index, row)
            for index, row in enumerate(self.rows)
            if any(row.get(column) for column in ROW_FIELDS if column != "communication_style")
        ]


@dataclass
class InventoryResult:
    tentacles: list[planner.TentacleInput]
    errors: dict[str, list[str]]  # "rows" / "csv" / "file" → messages
    row_errors: dict[int, list[str]]  # index among the typed rows → messages


def inventory_from_sources(
    *, rows: InventoryRows, pasted: str, upload: Any | None
) -> InventoryResult:
    """Collect the Tentacles from every source the user filled, and every error in them."""
    tentacles: list[planner.TentacleInput] = []
    errors: dict[str, list[str]] = {}
    row_errors: dict[int, list[str]] = {}
    typed = rows.filled()
    if typed:
        try:
            # Blank cells are left out so that the parser applies its defaults.
            tentacles += inventory.parse_rows(
                [{key: value for key, value in row.items() if value != ""} for _, row in typed]
            )
        except inventory.InventoryInvalid as invalid:
            for error in invalid.errors:
                position = _row_index(error.field)
                if position is None:
                    errors.setdefault("rows", []).append(error.message)
                else:
                    row_errors.setdefault(typed[position][0], []).append(error.message)
    for source, data in (("csv", pasted), ("file", upload.read() if upload else b"")):
        if not data or (isinstance(data, str) and not data.strip()):
            continue
        try:
            tentacles += inventory.parse_csv(data)
        except inventory.InventoryInvalid as invalid:
            errors.setdefault(source, []).extend(error.as_text() for error in invalid.errors)
    if not errors and not row_errors:
        errors.update(_duplicates_across_sources(tentacles))
        if len(tentacles) > inventory.MAX_ROWS:
            errors.setdefault("rows", []).append(
                f"The inventory has {len(tentacles):,} Tentacles; the limit is "
                f"{inventory.MAX_ROWS:,}."
            )
    return InventoryResult(tentacles=tentacles, errors=errors, row_errors=row_errors)


def _row_index(field_path: str) -> int | None:
    match = re.match(r"^tentacles\[(\d+)\]", field_path)
    return int(match.group(1)) if match else None


def _duplicates_across_sources(tentacles: list[planner.TentacleInput]) -> dict[str, list[str]]:
    seen: set[str] = set()
    duplicated: list[str] = []
    for tentacle in tentacles:
        key = tentacle.name.casefold()
        if key in seen:
            duplicated.append(tentacle.name)
        seen.add(key)
    if not duplicated:
        return {}
    shown = ", ".join(f"“{name}”" for name in duplicated[:5])
    more = f" and {len(duplicated) - 5} more" if len(duplicated) > 5 else ""
    return {
        "rows": [
            f"These Tentacle names appear in more than one of the rows, the pasted CSV and the "
            f"file: {shown}{more}. Each Tentacle may appear once."
        ]
    }


# --- Re-syncing the inventory of an existing plan --------------------------------------------


class InventoryUpdateForm(forms.Form):
    """The new inventory, pasted or uploaded as CSV. Valid only if the CSV is: `tentacles`
    then holds the parsed inventory."""

    inventory_csv = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        label="Paste the whole inventory as CSV",
    )
    inventory_file = CsvFileField(required=False, label="Or upload a CSV file")

    tentacles: list[planner.TentacleInput]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        pasted = cleaned.get("inventory_csv") or ""
        upload = cleaned.get("inventory_file")
        if self.errors:
            return cleaned
        if upload and pasted.strip():
            raise forms.ValidationError(
                "Paste the inventory or upload a file, not both: the new inventory replaces "
                "the whole current one."
            )
        if not upload and not pasted.strip():
            raise forms.ValidationError(
                "Paste the new inventory or choose a CSV file. It replaces the whole current "
                "inventory, so include every Tentacle that stays."
            )
        source, data = ("inventory_file", upload.read()) if upload else ("inventory_csv", pasted)
        try:
            self.tentacles = inventory.parse_csv(data)
        except inventory.InventoryInvalid as invalid:
            self.add_error(source, [error.as_text() for error in invalid.errors])
        return cleaned


class InventoryApplyForm(forms.Form):
    """The confirmation of a reviewed change: the exact inventory again (as CSV), the
    fingerprint of the inventory it was compared with, and the answer to an approach change."""

    inventory_csv = forms.CharField(strip=False, widget=forms.HiddenInput)
    fingerprint = forms.CharField(max_length=64, widget=forms.HiddenInput)
    approach_choice = forms.ChoiceField(
        required=False,
        choices=[("keep", "Keep the current approach"), ("switch", "Switch")],
        widget=forms.RadioSelect,
    )

    tentacles: list[planner.TentacleInput]

    def clean_inventory_csv(self) -> str:
        text: str = self.cleaned_data["inventory_csv"]
        try:
            self.tentacles = inventory.parse_csv(text)
        except inventory.InventoryInvalid as invalid:
            raise forms.ValidationError([error.as_text() for error in invalid.errors]) from None
        return text


_API_KEY = re.compile(r"[\x21-\x7e]{1,200}")


class InventoryFetchForm(forms.Form):
    server_url = ServerUrlField(
        max_length=500,
        label="Octopus server URL",
        help_text="The address of the Octopus web portal, e.g. https://octopus.corp.",
    )
    api_key = forms.CharField(
        max_length=200,
        label="API key",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Of a user who may view machines and environments. Used for this reading "
        "only: it is not stored.",
    )

    def clean_api_key(self) -> str:
        key: str = self.cleaned_data.get("api_key", "")
        if not _API_KEY.fullmatch(key):
            # Never quote the key back, not even in an error message.
            raise forms.ValidationError(
                "An API key is one word of letters, digits and dashes, like API-ABCDEF123…; "
                "copy it again from your Octopus profile."
            )
        return key
