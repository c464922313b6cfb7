"""The installation form: the server and what the team can do, and the inventory typed in as
rows, pasted as CSV or uploaded as a file — all validated by the same inventory rules.

What is said of the plan itself (its name, a chosen approach) is asked by `plans.forms`."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Self

from django import forms
from django.conf import settings
from django.core.validators import ProhibitNullCharactersValidator
from django.forms.formsets import TOTAL_FORM_COUNT
from django.http import QueryDict
from django.utils.functional import cached_property

from upgrade_planner.domain import catalogue, inventory, planner, readiness
from upgrade_planner.domain.vocabulary import CommunicationStyle, Feature
from upgrade_planner.installations import api_keys
from upgrade_planner.installations.server_urls import clean_server_url

# Typed rows the start page takes: each is 11 form fields, and a post carries at most
# settings.DATA_UPLOAD_MAX_NUMBER_FIELDS. Larger inventories are pasted or uploaded as CSV.
TYPED_ROWS_MAX = 200
TYPED_ROWS_TOO_MANY = (
    f"The page can take up to {TYPED_ROWS_MAX} typed Tentacle rows. For more, paste the "
    "inventory or upload it as a CSV file."
)


def body_too_large_message(*, form: bool) -> str:
    """What is said of a request larger than the planner reads (DATA_UPLOAD_MAX_MEMORY_SIZE)."""
    size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    limit = f"{size // 1_048_576} MB" if size >= 1_048_576 else f"{max(1, size // 1024)} KB"
    if form:
        return (
            f"The form sent more than {limit}, the most the planner reads, so nothing in it was "
            f"read or saved. Upload a large inventory as a CSV file (up to "
            f"{inventory.MAX_BYTES // 1_048_576} MB) instead of pasting it."
        )
    return f"The body is larger than {limit}, the most the planner reads."


def too_many_fields_message(*, form: bool) -> str:
    """What is said of a request with more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS."""
    if form:
        return f"The form sent too many fields to read, so nothing was saved. {TYPED_ROWS_TOO_MANY}"
    return (
        f"The body has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,} form fields; send JSON."
    )


LAST_3X = "3.17.14"
DEFAULT_POLLING_PORT = 10943
LTS_2018_10 = "2018.10"
TARGET_CHOICES = [
    (LTS_2018_10, "2018.10 LTS — the long-term-support release the docs name as the way off 2.6"),
    (LAST_3X, "3.17.14 — the last 3.x release"),
    ("other", "Another version"),
]


class ServerUrlField(forms.CharField):
    """The address of an Octopus server, checked and normalised by `clean_server_url`."""

    def clean(self, value: Any) -> str:
        text: str = super().clean(value)
        try:
            return clean_server_url(text)
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error


class ApiKeyField(forms.CharField):
    """An Octopus API key, typed into a password box that never shows it again, checked by
    `api_keys.clean_api_key`; no error message ever quotes it."""

    widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=200, **kwargs)

    def clean(self, value: Any) -> str:
        text: str = super().clean(value)
        try:
            return api_keys.clean_api_key(text)
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None


class CsvFileField(forms.FileField):
    """An uploaded inventory, refused above inventory.MAX_BYTES before it is read."""

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value and value.size > inventory.MAX_BYTES:
            raise forms.ValidationError(
                f"The file is {value.size / 1_048_576:.1f} MB; the limit is "
                f"{inventory.MAX_BYTES // 1_048_576} MB."
            )


class NodeNamesField(forms.CharField):
    """The server's high-availability nodes, one name a line; blank lines are skipped and every
    error names its line."""

    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})

    def __init__(self, **kwargs: Any) -> None:
        # Room for the most nodes at the longest names, one a line.
        limit = planner.NODES_MAX * (planner.NODE_NAME_MAX + 2)
        super().__init__(required=False, max_length=limit, **kwargs)

    def clean(self, value: Any) -> tuple[str, ...]:
        text: str = super().clean(value)
        lines = planner.node_lines(text)
        names = [name for _, name in lines]
        problems = planner.node_problems(names)
        if problems:
            numbers = [number for number, _ in lines]
            raise forms.ValidationError(
                [
                    f"Line {numbers[index] if index < len(numbers) else len(numbers)}: {message}"
                    for index, message in problems
                ]
            )
        return tuple(names)


def _planner_version(value: str) -> str:
    """`value` if the planner can read it as an Octopus version, else the planner's message."""
    try:
        planner.parse_version(value)
    except planner.PlanningError as error:
        raise forms.ValidationError(error.message) from error
    return value


class InstallationForm(forms.Form):
    """The Octopus server to upgrade, what the team can do, and the inventory as CSV."""

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
    ha_nodes = NodeNamesField(
        label="High-availability nodes (one name a line)",
        help_text="Leave empty for a single server. With two or more nodes each gets its own "
        "steps: every node stops, one is upgraded first, then the others, then all start.",
    )
    # What the readiness report checks (product.md §5.6); every one optional.
    server_os = forms.CharField(
        required=False,
        max_length=200,
        label="Server host OS",
        help_text="e.g. Windows Server 2012 R2. Checked against the target's floor.",
    )
    dotnet_version = forms.CharField(
        required=False, max_length=40, label=".NET Framework version", help_text="e.g. 4.7.2"
    )
    sql_server_version = forms.CharField(
        required=False,
        max_length=40,
        label="SQL Server version",
        help_text="A year (2016, 2008 R2) or the build SQL Server reports (13.0.5026.0).",
    )
    license_maintenance_expires = forms.DateField(
        required=False,
        label="License maintenance expires",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    features_in_use = forms.MultipleChoiceField(
        required=False,
        choices=Feature.choices,
        widget=forms.CheckboxSelectMultiple,
        label="Still in use",
    )
    polling_port = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=65535,
        initial=10943,
        label="Polling port of the new server",
        help_text="Only for a new server; 10943 is the default. The Hydra examples in the docs "
        "use 10934 — check what the new server really listens on; polling Tentacles are "
        "pointed at it.",
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
    old_server_api_key = ApiKeyField(
        required=False,
        label="API key for the 2.6 server",
        help_text="Optional. Lets the planner confirm upgraded Tentacles no longer answer it. "
        "Stored encrypted, never shown again, sent only to that server.",
    )
    new_server_api_key = ApiKeyField(
        required=False,
        label="API key for the new server",
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
    # A browser cannot fill a file input again: after a failed submit, the file's text comes
    # back in this box, and is read as the file was until another file is uploaded.
    inventory_file_text = forms.CharField(
        required=False,
        strip=False,
        max_length=inventory.MAX_BYTES,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        label="The file you uploaded, kept as pasted text",
    )
    inventory_file_name = forms.CharField(required=False, max_length=255, widget=forms.HiddenInput)

    def _readiness_text(self, field: str, problem: Any) -> str:
        value: str = self.cleaned_data.get(field, "").strip()
        message = problem(value)
        if message:
            raise forms.ValidationError(message)
        return value

    def clean_server_os(self) -> str:
        return self._readiness_text("server_os", readiness.server_os_problem)

    def clean_dotnet_version(self) -> str:
        return self._readiness_text("dotnet_version", readiness.dotnet_problem)

    def clean_sql_server_version(self) -> str:
        return self._readiness_text("sql_server_version", readiness.sql_server_problem)

    def clean_features_in_use(self) -> tuple[str, ...]:
        return tuple(self.cleaned_data.get("features_in_use") or ())

    def clean_polling_port(self) -> int:
        # Asked only when there is a new server; the planner ignores it otherwise.
        port = self.cleaned_data.get("polling_port")
        return DEFAULT_POLLING_PORT if port is None else int(port)

    def clean_server_version(self) -> str:
        return _planner_version(self.cleaned_data["server_version"]).strip()

    def clean_target_other(self) -> str:
        value: str = self.cleaned_data.get("target_other", "").strip()
        if not value:
            return value
        _planner_version(value)
        refusal = catalogue.refusal_of(value)
        if refusal is not None:
            raise forms.ValidationError(refusal)
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        other_missing = cleaned.get("target") == "other" and not cleaned.get("target_other")
        if other_missing and "target_other" not in self.errors:
            self.add_error("target_other", "Type the version you want to upgrade to.")
        upload = cleaned.get("inventory_file")
        if upload:
            cleaned["uploaded_inventory"] = upload.read()
            self._keep_upload(upload.name, cleaned["uploaded_inventory"])
        else:
            cleaned["uploaded_inventory"] = cleaned.get("inventory_file_text") or ""
        return cleaned

    def _keep_upload(self, name: str, data: bytes) -> None:
        """Show an uploaded file's text again in the kept-file box, should the page come back
        with errors. A file that is no UTF-8 text is not kept: its error says so."""
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text, name = "", ""
        kept = QueryDict(mutable=True)
        kept.update(self.data)
        kept["inventory_file_text"], kept["inventory_file_name"] = text, name
        self.data = kept

    @property
    def uploaded_inventory(self) -> bytes | str:
        """The inventory file of this submit: one uploaded now, else the text kept from an
        earlier one ("" for none). Read from whichever fields were valid."""
        uploaded: bytes | str = getattr(self, "cleaned_data", {}).get("uploaded_inventory", b"")
        return uploaded

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


def as_typed[FormT: forms.Form](form_class: type[FormT], data: QueryDict) -> FormT:
    """An unbound `form_class` showing what was typed into `data`, without judging it: the
    page is drawn again while the user is still writing (a row was added or removed)."""
    return form_class(initial=_typed_values(form_class(data)))


def _typed_values(form: forms.Form) -> dict[str, Any]:
    """Each field's value as typed (text as sent, a tick box as True or False)."""
    return {name: form[name].value() for name in form.fields}


# --- Tentacles typed in as rows ----------------------------------------------------------------


@dataclass(frozen=True)
class _Cell:
    """The wording of one inventory column as a cell of a typed row."""

    header: str  # the column heading
    spoken: str  # follows "Tentacle 2 " in the cell's accessible name, and names it in errors
    placeholder: str = ""
    help_text: str = ""
    narrow: bool = False


_LIST_HELP = "Separate several with “;”."
_CELLS: dict[str, _Cell] = {
    "name": _Cell("Name", "name", "web-01"),
    "hostname": _Cell("Hostname", "hostname", "web-01.corp"),
    "port": _Cell("Port", "port", "10933", narrow=True),
    "version": _Cell("Version", "version", "2.6.5", narrow=True),
    "communication_style": _Cell("Style", "communication style"),
    "environments": _Cell("Environments", "environments", "Production;Staging", _LIST_HELP),
    "roles": _Cell("Roles", "roles", "web", _LIST_HELP),
    "os": _Cell("OS", "OS", "Windows Server 2012 R2"),
    "service_account": _Cell("Service account", "service account", "Local System"),
    "restricted_permissions": _Cell("Restricted", "has restricted permissions"),
    "online": _Cell("Online", "is online"),
}


def _cell(column: str) -> _Cell:
    words = column.replace("_", " ")
    return _CELLS.get(column) or _Cell(words.capitalize(), words)


# The kind of each column's value and its value when left empty, as the planner declares them:
# a bool is a tick box, the communication style a choice, anything else typed text.
_KINDS: dict[str, Any] = typing.get_type_hints(planner.TentacleInput)
_DEFAULTS: dict[str, Any] = {
    field.name: None if field.default is dataclasses.MISSING else field.default
    for field in dataclasses.fields(planner.TentacleInput)
}


class _CellText(forms.CharField):
    """Text typed into a cell. Only the inventory rules judge it: they refuse every control
    character, NUL included, with a message that names the column."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)
        self.validators = [
            validator
            for validator in self.validators
            if not isinstance(validator, ProhibitNullCharactersValidator)
        ]


class _CellBoundField(forms.BoundField):
    """A cell of a typed row. A column's help is said once, under the table, for every row;
    the cell points at it, and at its own error when it has one."""

    @property
    def help_id(self) -> str:
        return f"tentacle-{self.name}-help"

    @property
    def error_id(self) -> str:
        return f"{self.auto_id}_error"

    @property
    def aria_describedby(self) -> str:
        described_by = [self.help_id] if self.help_text else []
        if self.errors:
            described_by.append(self.error_id)
        return " ".join(described_by)


def _cell_field(column: str, row_number: int) -> forms.Field:
    cell, kind, default = _cell(column), _KINDS[column], _DEFAULTS[column]
    attrs = {"aria-label": f"Tentacle {row_number} {cell.spoken}"}
    if kind is bool:
        return forms.BooleanField(
            required=False,
            initial=default,
            label=cell.header,
            help_text=cell.help_text,
            widget=forms.CheckboxInput(attrs),
        )
    if kind is CommunicationStyle:
        return forms.ChoiceField(
            required=False,
            choices=CommunicationStyle.choices,
            initial=default,
            label=cell.header,
            help_text=cell.help_text,
            widget=forms.Select(attrs),
        )
    if cell.placeholder:
        attrs["placeholder"] = cell.placeholder
    if cell.narrow:
        attrs["class"] = "narrow"
    if int in typing.get_args(kind):
        attrs["inputmode"] = "numeric"
    return _CellText(label=cell.header, help_text=cell.help_text, widget=forms.TextInput(attrs))


@dataclass(frozen=True)
class RowError:
    """One error of a typed row, naming the row and the cell; `id` is what the cell's
    aria-describedby points at ("" for an error about the whole row)."""

    id: str
    text: str


class TentacleRowForm(forms.Form):
    """One Tentacle typed in as a row of the start page: a cell per inventory column, in the
    inventory's order, judged by the same inventory rules as a CSV line or an API row."""

    bound_field_class = _CellBoundField
    tentacle: planner.TentacleInput | None

    def __init__(self, *args: Any, row_number: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.row_number = row_number
        self.tentacle = None
        for column in inventory.COLUMNS:
            # Built for each row: the row number is part of every cell's accessible name.
            self.fields[column] = _cell_field(column, row_number)

    def has_changed(self) -> bool:
        """Whether anything was typed into the row's text cells. A row without is left out
        wherever it is among the rows: a style chosen or a box ticked alone is no Tentacle."""
        return any(
            str(self[name].data or "").strip()
            for name, field in self.fields.items()
            if isinstance(field, _CellText)
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # A cell refused already (a style none of the choices) is left out: the other cells
        # are still judged, so that the row's errors are all said at once.
        try:
            (tentacle,) = inventory.parse_rows([cleaned])
        except inventory.InventoryInvalid as invalid:
            for error in invalid.errors:
                column = error.field.partition(".")[2]  # "tentacles[0].port" → "port"
                self.add_error(column if column in self.fields else None, error.message)
        else:
            self.tentacle = None if self.errors else tentacle
        return cleaned

    def error_lines(self) -> list[RowError]:
        """Every error of the row, about the whole row first, then cell by cell."""
        lines = [
            RowError("", f"Tentacle row {self.row_number}: {message}")
            for message in self.non_field_errors()
        ]
        for name in self.fields:
            cell = self[name]
            if cell.errors and isinstance(cell, _CellBoundField):
                messages = " ".join(str(message) for message in cell.errors)
                lines.append(
                    RowError(
                        cell.error_id,
                        f"Tentacle row {self.row_number}, {_cell(name).spoken}: {messages}",
                    )
                )
        return lines


if typing.TYPE_CHECKING:
    _RowFormSet = forms.BaseFormSet[TentacleRowForm]
else:
    _RowFormSet = forms.BaseFormSet


# Said when the count of rows the page sent (its management form) is missing or nonsense.
_ROWS_UNREADABLE = (
    "The typed Tentacle rows could not be read: the page sent them incomplete. "
    "Type them again, or reload the page."
)


class BaseTentacleRowFormSet(_RowFormSet):
    """The typed rows. Any of them may be left blank; a name may be used by one row only."""

    default_error_messages = {
        "missing_management_form": _ROWS_UNREADABLE,
        "too_many_forms": TYPED_ROWS_TOO_MANY,
    }

    @classmethod
    def get_default_prefix(cls) -> str:
        return "tentacles"

    @classmethod
    def showing(cls, rows: list[dict[str, Any]]) -> Self:
        """Unbound rows showing `rows` (each cell's value as typed), or one blank row."""
        shown = rows or [{}]
        formset = cls(initial=shown)
        formset.extra = len(shown)
        return formset

    def initial_form_count(self) -> int:
        # Every row is a new Tentacle: none stands for a saved one.
        return 0

    @cached_property
    def forms(self) -> list[TentacleRowForm]:
        # A row the request carries no cell of is left out: it would be blank. A browser sends
        # every cell of every row it shows, so this only trims a made-up row count, for which
        # building thousands of forms would cost seconds.
        return [
            self._construct_form(index, **self.get_form_kwargs(index))  # type: ignore[attr-defined]
            for index in range(self.total_form_count())
            if not self.is_bound or self._sent(index)
        ]

    def _sent(self, index: int) -> bool:
        row = self.add_prefix(index)
        return any(f"{row}-{column}" in self.data for column in inventory.COLUMNS)

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        if index is None:
            return {}
        # Any row may be left blank, the first one too.
        return {"row_number": index + 1, "empty_permitted": True}

    def clean(self) -> None:
        if self._sent_count() < 0:
            raise forms.ValidationError(_ROWS_UNREADABLE, code="missing_management_form")
        # Every row with a good name takes part, so a name used twice is said together with
        # any other error of the row.
        first_use: dict[str, int] = {}
        for form in self.forms:
            name = form.cleaned_data.get("name", "") if "name" not in form.errors else ""
            if not name:
                continue
            earlier = first_use.setdefault(name.casefold(), form.row_number)
            if earlier != form.row_number:
                form.add_error("name", f'Name "{name}" is already used in Tentacle row {earlier}.')
                form.tentacle = None

    def _sent_count(self) -> int:
        """How many rows the page says it sent (0 if it did not say)."""
        return int(self.management_form.cleaned_data.get(TOTAL_FORM_COUNT) or 0)

    @property
    def tentacles(self) -> list[planner.TentacleInput]:
        """The Tentacles of the rows with something typed in them, in row order; none while
        any row, or the row count, is wrong."""
        if not self.is_valid():
            return []
        return [form.tentacle for form in self.forms if form.tentacle is not None]

    def edited(self, *, add: bool, remove: str | None) -> Self:
        """These rows as typed, with a blank row added or the row at index `remove` taken
        away, and not judged: the user is still writing."""
        rows = [_typed_values(form) for form in self.forms]
        if add:
            rows.append({})
        elif remove and remove.isascii() and remove.isdigit() and int(remove) < len(rows):
            del rows[int(remove)]
        return self.showing(rows)

    def redisplay(self) -> Self:
        """These rows to show again after a failed submit: as sent, with their errors. When
        the row count itself was refused, the rows with something typed in them instead, so
        a tampered count never draws thousands of rows."""
        if self.management_form.is_valid() and 0 <= self._sent_count() <= self.absolute_max:
            return self
        return self.showing([_typed_values(form) for form in self.forms if form.has_changed()])


TentacleRowFormSet = typing.cast(
    type[BaseTentacleRowFormSet],
    forms.formset_factory(
        TentacleRowForm,
        formset=BaseTentacleRowFormSet,
        extra=1,
        max_num=TYPED_ROWS_MAX,
        absolute_max=TYPED_ROWS_MAX,
        validate_max=True,
    ),
)


@dataclass
class InventoryResult:
    tentacles: list[planner.TentacleInput]
    # "rows" / "csv" / "file" → messages; an error in one typed row is kept by its form.
    errors: dict[str, list[str]]
    rows_valid: bool

    @property
    def valid(self) -> bool:
        return self.rows_valid and not self.errors


def inventory_from_sources(
    *, rows: BaseTentacleRowFormSet, pasted: str, uploaded: bytes | str
) -> InventoryResult:
    """Collect the Tentacles from every source the user filled, and every error in them."""
    tentacles: list[planner.TentacleInput] = []
    errors: dict[str, list[str]] = {}
    rows_valid = rows.is_valid()
    if rows_valid:
        tentacles += rows.tentacles
    elif rows.non_form_errors():
        errors["rows"] = [str(message) for message in rows.non_form_errors()]
    for source, data in (("csv", pasted), ("file", uploaded)):
        if not data or (isinstance(data, str) and not data.strip()):
            continue
        try:
            tentacles += inventory.parse_csv(data, max_rows=settings.PLAN_MAX_TENTACLES)
        except inventory.InventoryInvalid as invalid:
            errors.setdefault(source, []).extend(error.as_text() for error in invalid.errors)
    if rows_valid and not errors:
        errors.update(_duplicates_across_sources(tentacles))
        if len(tentacles) > settings.PLAN_MAX_TENTACLES:
            errors.setdefault("rows", []).append(
                inventory.row_count_message(len(tentacles), settings.PLAN_MAX_TENTACLES)
            )
    return InventoryResult(tentacles=tentacles, errors=errors, rows_valid=rows_valid)


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
            self.tentacles = inventory.parse_csv(data, max_rows=settings.PLAN_MAX_TENTACLES)
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
    # The service refuses, without it, to remove every Tentacle or any with progress.
    confirm_removals = forms.BooleanField(required=False)

    tentacles: list[planner.TentacleInput]

    def clean_inventory_csv(self) -> str:
        text: str = self.cleaned_data["inventory_csv"]
        try:
            self.tentacles = inventory.parse_csv(text, max_rows=settings.PLAN_MAX_TENTACLES)
        except inventory.InventoryInvalid as invalid:
            raise forms.ValidationError([error.as_text() for error in invalid.errors]) from None
        return text


class InventoryFetchForm(forms.Form):
    server_url = ServerUrlField(
        max_length=500,
        label="Octopus server URL",
        help_text="The address of the Octopus web portal, e.g. https://octopus.corp.",
    )
    api_key = ApiKeyField(
        label="API key",
        help_text="Of a user who may view machines and environments. Used for this reading "
        "only: kept encrypted until the reading ends, then forgotten.",
    )
