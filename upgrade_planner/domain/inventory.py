"""Tentacle inventory input: CSV files and JSON rows in, validated `TentacleInput` rows out.

Pure: no ORM, no settings, no I/O. Either every row is valid and the whole inventory comes back,
or `InventoryInvalid` is raised with every error found (all rows, all fields), so a bad file
saves nothing and the user fixes it in one go.

CSV format (product brief §5.5):

* UTF-8, with or without a byte-order mark. Excel's "CSV UTF-8" export works as is.
* Comma or semicolon between columns, decided by the header line: whichever of the two appears
  there outside quotes (the more frequent one if both do). Excel's `sep=;` first line is honoured.
  Lists inside a cell (environments, roles) are always `;`-separated, so in a semicolon-delimited
  file a list cell must be quoted: `web-01;"Production;Staging";web`.
* A header row naming the columns, in any order and any case; spaces or hyphens inside a name
  count as underscores ("Communication Style" is `communication_style`). Only `name` is required.
* Blank lines, and rows whose cells are all empty, are skipped. Line numbers are physical lines
  of the file (the header is usually line 1), so a quoted cell spanning lines is counted right.
* Empty cells past the last header column are ignored (spreadsheets add them); a value there is
  an error for that line, as is a value under a header cell left blank.
* A quoting mistake (an unclosed quote, text after a closing quote) stops the reading at that
  line: the error names it, and the rows before it are still checked.
* A cell that `to_csv` wrote with a leading ``'`` so that spreadsheets do not run it as a formula
  (``'=web``, ``'-db``) is read without that ``'``: a downloaded inventory, edited in a
  spreadsheet or not, uploads again as it was (domain/spreadsheet.py).

JSON rows (the API) follow the same field rules; `parse_rows` documents what JSON adds.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from upgrade_planner.domain.planner import TentacleInput
from upgrade_planner.domain.spreadsheet import formula_restored, formula_safe
from upgrade_planner.domain.versions import read_version
from upgrade_planner.domain.vocabulary import OCTOPUS_STYLE_NAMES, CommunicationStyle

# The parsers' default cap on Tentacles; callers pass the deployment's own (a setting).
MAX_ROWS = 20_000
# The largest inventory file: 20,000 Tentacles with every column filled take about 4 MB.
MAX_BYTES = 10 * 1024 * 1024
MAX_TEXT = 200
MAX_HOSTNAME = 253

COLUMNS = (
    "name",
    "hostname",
    "port",
    "version",
    "communication_style",
    "environments",
    "roles",
    "os",
    "service_account",
    "restricted_permissions",
    "online",
)
_COLUMN_ORDER = {column: position for position, column in enumerate(COLUMNS)}
_LABELS = {
    "name": "Name",
    "hostname": "Hostname",
    "port": "Port",
    "version": "Version",
    "communication_style": "Communication style",
    "environments": "Environments",
    "roles": "Roles",
    "os": "OS",
    "service_account": "Service account",
    "restricted_permissions": "Restricted permissions",
    "online": "Online",
}
_KNOWN_COLUMNS_TEXT = ", ".join(COLUMNS)

# Control characters (tabs and line breaks included) and lone surrogates: invisible in a table,
# and PostgreSQL refuses NUL and unpaired surrogates outright.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_PORT = re.compile(r"[0-9]{1,5}")
# Underscores are not valid in DNS names but are common in NetBIOS names, which Tentacles use.
_HOSTNAME = re.compile(
    r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
)
_HOST_WITH_PORT = re.compile(r"([^:]+):([0-9]+)")
_DOTTED_NUMBERS = re.compile(r"[0-9]*(?:\.[0-9]*)+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_COLUMN_NAME_SPACING = re.compile(r"[\s-]+")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_QUOTE_OR_LINE_BREAK = re.compile(r'["\r\n]')

_STYLES: dict[str, CommunicationStyle] = {
    **{str(style): style for style in CommunicationStyle},
    # The names Octopus's own API uses, so an export of /api/machines can be pasted in.
    **OCTOPUS_STYLE_NAMES,
}
_TRUE = frozenset({"yes", "y", "true", "1"})
_FALSE = frozenset({"no", "n", "false", "0"})
_LOCAL_SYSTEM = frozenset({"localsystem", "local system", "nt authority\\system", "system"})


@dataclass(frozen=True)
class InventoryError:
    """One problem with the inventory, addressed both for the API and for a person."""

    field: str  # "tentacles[3].port" (0-based row index), or "tentacles" / "csv" for the file
    message: str  # a sentence for users that names the column in words
    line: int | None = None  # 1-based physical line of the CSV file; None for JSON rows
    column: str | None = None  # the CSV column, e.g. "port"

    def as_text(self) -> str:
        if self.line is not None and self.column is not None:
            return f"Line {self.line}, column {self.column}: {self.message}"
        if self.line is not None:
            return f"Line {self.line}: {self.message}"
        if self.field == "csv":
            return self.message
        return f"{self.field}: {self.message}"


class InventoryInvalid(Exception):
    """The inventory has errors; `errors` holds every one, in file order."""

    def __init__(self, errors: list[InventoryError]) -> None:
        self.errors = errors
        super().__init__("; ".join(error.as_text() for error in errors[:5]))

    def as_field_dict(self) -> dict[str, list[str]]:
        """Errors in the API's `{"errors": {field: [message, ...]}}` shape.

        A CSV error keeps its line number in the message: the field's row index is 0-based and
        counts Tentacles, while the person fixing the file looks for a line.
        """
        by_field: dict[str, list[str]] = {}
        for error in self.errors:
            text = error.message if error.line is None else f"Line {error.line}: {error.message}"
            by_field.setdefault(error.field, []).append(text)
        return by_field


class _Invalid(ValueError):
    """A field value is wrong; the message is written for the user."""


class _Collector:
    def __init__(self) -> None:
        self._errors: list[tuple[int, int, InventoryError]] = []

    def add(
        self,
        field: str,
        message: str,
        *,
        row: int = -1,
        line: int | None = None,
        column: str | None = None,
        order_column: str | None = None,
    ) -> None:
        position = _COLUMN_ORDER.get(order_column or column or "", -1)
        self._errors.append((row, position, InventoryError(field, message, line, column)))

    def raise_if_any(self) -> None:
        if self._errors:
            # Stable sort keeps the order errors were found in within one cell.
            ordered = sorted(self._errors, key=lambda item: (item[0], item[1]))
            raise InventoryInvalid([error for _, _, error in ordered])


# ---------------------------------------------------------------------------------------------
# Field rules, shared by CSV cells and JSON values (JSON values are type-checked first).


def _show(value: str, limit: int = 60) -> str:
    """A user's value, safe to quote in a message: escaped if unprintable, shortened if long."""
    if _UNPRINTABLE.search(value):
        value = value.encode("unicode_escape", "backslashreplace").decode("ascii")
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _check_text(column: str, text: str, limit: int = MAX_TEXT) -> str:
    label = _LABELS[column]
    if len(text) > limit:
        raise _Invalid(f"{label} is {len(text):,} characters long; the limit is {limit}.")
    if _UNPRINTABLE.search(text):
        raise _Invalid(
            f'{label} "{_show(text)}" contains a control character such as a tab or line break.'
        )
    return text


def parse_version_text(text: str) -> str:
    """A Tentacle version as typed ("v2.6.5.1581 ") in normal form ("2.6.5.1581"); "" stays "".

    Raises ValueError with a message that names the value.
    """
    stripped = text.strip()
    if not stripped:
        return ""
    read = read_version(stripped)
    if read is None or read.parts < 3 or read.suffix or read.lts:
        raise ValueError(
            f'Version "{_show(stripped)}" should be 3 or 4 numbers separated by dots, '
            "like 2.6.5 or 2.6.5.1581."
        )
    return read.normal


def _clean_name(text: str) -> str:
    if not text:
        raise _Invalid("Name is required.")
    return _check_text("name", text)


def _clean_hostname(text: str) -> str:
    if not text:
        return ""
    if len(text) > MAX_HOSTNAME:
        raise _Invalid(f"Hostname is {len(text):,} characters long; the limit is {MAX_HOSTNAME}.")
    if _SCHEME.match(text) or "/" in text or "\\" in text:
        raise _Invalid(
            f'Hostname "{_show(text)}" should be a machine name like web-01.corp, '
            "without http:// or a path."
        )
    dotted_numbers = _DOTTED_NUMBERS.fullmatch(text) is not None
    if not dotted_numbers and _HOSTNAME.fullmatch(text) is not None:
        return text  # the common case, checked first: ipaddress is slow for 10,000 rows
    try:
        ipaddress.ip_address(text[1:-1] if text.startswith("[") and text.endswith("]") else text)
    except ValueError:
        pass
    else:
        return text
    with_port = _HOST_WITH_PORT.fullmatch(text)
    if with_port is not None:
        raise _Invalid(
            f'Hostname "{_show(text)}" should not include the port; '
            f"give {with_port.group(2)} as the Port instead."
        )
    if dotted_numbers:
        raise _Invalid(f'Hostname "{_show(text)}" is not a valid IP address.')
    raise _Invalid(
        f'Hostname "{_show(text)}" should be a machine name like web-01.corp or an IP '
        "address: letters, digits, hyphens and underscores, with dots between the parts."
    )


def _port_out_of_range(shown: str) -> _Invalid:
    return _Invalid(f'Port "{shown}" is not a number between 1 and 65535.')


def _clean_port(text: str) -> int | None:
    if not text:
        return None
    if _PORT.fullmatch(text) is None or not 1 <= int(text) <= 65535:
        raise _port_out_of_range(_show(text))
    return int(text)


def _clean_version(text: str) -> str:
    try:
        return parse_version_text(text)
    except ValueError as error:
        raise _Invalid(str(error)) from None


def _clean_style(text: str) -> CommunicationStyle:
    if not text:
        return CommunicationStyle.LISTENING
    style = _STYLES.get(text.lower())
    if style is None:
        raise _Invalid(f'Communication style "{_show(text)}" should be listening or polling.')
    return style


def _clean_list(column: str, items: Iterable[str]) -> tuple[str, ...]:
    label = _LABELS[column]
    cleaned: dict[str, str] = {}  # case-folded → first spelling, so "Prod;prod" is one item
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        if ";" in item:
            # Lists travel through CSV as ;-separated cells, so an item cannot hold one.
            raise _Invalid(f'{label} item "{_show(item)}" cannot contain ";".')
        if len(item) > MAX_TEXT:
            raise _Invalid(
                f'{label} item "{_show(item)}" is {len(item):,} characters long; '
                f"the limit is {MAX_TEXT}."
            )
        if _UNPRINTABLE.search(item):
            raise _Invalid(
                f'{label} item "{_show(item)}" contains a control character '
                "such as a tab or line break."
            )
        cleaned.setdefault(item.casefold(), item)
    return tuple(cleaned.values())


def _clean_service_account(text: str) -> str:
    text = _check_text("service_account", text)
    return "" if text.lower() in _LOCAL_SYSTEM else text


def _clean_bool(column: str, text: str, default: bool) -> bool:
    if not text:
        return default
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _Invalid(
        f'{_LABELS[column]} "{_show(text)}" should be yes or no '
        "(true/false, 1/0 and y/n also work)."
    )


def _clean_os(text: str) -> str:
    return _check_text("os", text)


def _clean_environments(text: str) -> tuple[str, ...]:
    return _clean_list("environments", text.split(";"))


def _clean_roles(text: str) -> tuple[str, ...]:
    return _clean_list("roles", text.split(";"))


def _clean_restricted_permissions(text: str) -> bool:
    return _clean_bool("restricted_permissions", text, False)


def _clean_online(text: str) -> bool:
    return _clean_bool("online", text, True)


# A fleet of 20,000 Tentacles names a handful of versions, styles, systems, accounts and
# environment and role lists, thousands of times each: the rules of those columns remember
# what they made of each text (every value they return is immutable; a text they refuse is
# not remembered, and is refused again with the same message).
_remembered = functools.lru_cache(maxsize=4096)

# Every optional field: its rule for text, and its value when left empty.
_OPTIONAL_FIELDS: tuple[tuple[str, Callable[[str], object], object], ...] = (
    ("hostname", _clean_hostname, ""),
    ("port", _clean_port, None),
    ("version", _remembered(_clean_version), ""),
    ("communication_style", _remembered(_clean_style), CommunicationStyle.LISTENING),
    ("environments", _remembered(_clean_environments), ()),
    ("roles", _remembered(_clean_roles), ()),
    ("os", _remembered(_clean_os), ""),
    ("service_account", _remembered(_clean_service_account), ""),
    ("restricted_permissions", _remembered(_clean_restricted_permissions), False),
    ("online", _remembered(_clean_online), True),
)
# The environments and roles of JSON rows, as lists (made tuples to be remembered).
_clean_list_remembered = _remembered(_clean_list)


def _build_tentacle(
    values: Mapping[str, object], report: Callable[[str, str], None]
) -> TentacleInput | None:
    """Validate one row's values (str, or already-typed JSON values) into a TentacleInput.

    `values` holds the columns present (a missing name is not reported: the caller has);
    `report(column, message)` records an error. Returns None when anything was wrong.
    """
    failed = False
    name = ""
    raw_name = values.get("name")
    if "name" in values:
        try:
            name = _clean_name(raw_name.strip() if isinstance(raw_name, str) else "")
        except _Invalid as error:
            failed = True
            report("name", str(error))
    fields: dict[str, Any] = {}
    for column, rule, default in _OPTIONAL_FIELDS:
        raw = values.get(column)
        if raw is None:
            fields[column] = default
        elif not isinstance(raw, str):
            fields[column] = raw  # already typed and checked by the JSON layer
        elif not (text := raw.strip()):
            fields[column] = default
        else:
            try:
                fields[column] = rule(text)
            except _Invalid as error:
                failed = True
                report(column, str(error))
    if failed or not name:
        return None
    return TentacleInput(name=name, **fields)


class _DuplicateNames:
    def __init__(self) -> None:
        self._first: dict[str, str] = {}

    def first_use(self, name: str, where: str) -> str | None:
        """Where `name` was first used, or None (and remember `where`) if this is the first."""
        key = name.casefold()
        earlier = self._first.get(key)
        if earlier is None:
            self._first[key] = where
        return earlier


# ---------------------------------------------------------------------------------------------
# CSV


def row_count_message(count: int, limit: int = MAX_ROWS) -> str:
    """What is said of an inventory of `count` Tentacles, more than `limit` allows."""
    return f"The inventory has {count:,} Tentacles; the limit is {limit:,} Tentacles per plan."


def _megabytes(size: int) -> str:
    tenths = -(-size * 10 // (1024 * 1024))  # rounded up, so 5 MB + 1 byte never shows "5.0"
    return f"{tenths / 10:.1f} MB"


def _decode(data: bytes | str, errors: _Collector) -> str | None:
    if isinstance(data, str):
        # Characters never outnumber UTF-8 bytes, so a huge string is refused without encoding.
        size = len(data) if len(data) > MAX_BYTES else len(data.encode("utf-8", "surrogatepass"))
        text = data
    else:
        size = len(data)
        text = ""
    if size > MAX_BYTES:
        errors.add(
            "csv", f"The file is {_megabytes(size)}; the limit is {MAX_BYTES // 1_048_576} MB."
        )
        return None
    if isinstance(data, bytes):
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            errors.add(
                "csv",
                'The file is UTF-16 text (Excel\'s "Unicode Text"). '
                'Save it as "CSV UTF-8" and try again.',
            )
            return None
        if b"\x00" in data:
            line = len(_LINE_BREAK.findall(data[: data.index(b"\x00")].decode("utf-8", "replace")))
            errors.add(
                "csv",
                "The file is not UTF-8 text: it contains NUL bytes, as UTF-16 files do. "
                'Save it as "CSV UTF-8" and try again.',
                line=line + 1,
            )
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            before = data[: error.start].decode("utf-8", "replace")
            line = len(_LINE_BREAK.findall(before)) + 1
            errors.add(
                "csv",
                'The file is not UTF-8 text. Save it as "CSV UTF-8" and try again.',
                line=line,
            )
            return None
    return text.removeprefix("\ufeff")


def _first_line(text: str) -> str:
    """The first line with a value in it, up to its end outside quotes."""
    start = 0
    while True:
        match = _LINE_BREAK.search(text, start)
        end = len(text) if match is None else match.start()
        if text[start:end].strip(" \t,;") or match is None:
            break
        start = match.end()
    if '"' not in text[start:end]:
        return text[start:end]
    position, in_quotes = start, False
    while True:
        if in_quotes:
            position = text.find('"', position) + 1
            if position == 0:
                return text[start:]
            in_quotes = False
        else:
            found = _QUOTE_OR_LINE_BREAK.search(text, position)
            if found is None:
                return text[start:]
            if found.group() != '"':
                return text[start : found.start()]
            position, in_quotes = found.end(), True


def _outside_quotes(line: str) -> str:
    return "".join(line.split('"')[::2]) if '"' in line else line


def _sniff(text: str) -> tuple[str, bool]:
    """The delimiter, and whether the first line is Excel's `sep=` hint rather than the header."""
    first = _first_line(text)
    hint = first.strip().lower()
    if hint in ("sep=,", "sep=;"):
        return hint[-1], True
    bare = _outside_quotes(first)
    return (";" if bare.count(";") > bare.count(",") else ","), False


def _normalise_column(cell: str) -> str:
    return _COLUMN_NAME_SPACING.sub("_", cell.strip().lower())


@dataclass(frozen=True)
class _Header:
    line: int
    columns: tuple[str | None, ...]  # the column at each cell position; None to ignore the cell
    unnamed: frozenset[int]  # positions whose header cell is blank: their cells must be too
    has_name: bool


def _read_header(cells: list[str], line: int, errors: _Collector) -> _Header | None:
    """The header's columns; None (with an error) when the line is clearly not a header."""
    names = [_normalise_column(cell) for cell in cells]
    if not any(name in _COLUMN_ORDER for name in names):
        line_text = ",".join(cells)
        shown = _show(line_text)
        tabs = (
            "Separate the columns with commas or semicolons, not tabs. "
            if "\t" in line_text
            else ""
        )
        errors.add(
            "csv",
            "The first line should be a header naming the columns, such as "
            f'"name,hostname,port"; it is "{shown}". {tabs}The columns are: {_KNOWN_COLUMNS_TEXT}.',
            line=line,
        )
        return None
    columns: list[str | None] = []
    unnamed: set[int] = set()
    first_position: dict[str, int] = {}
    unknown: list[str] = []
    for position, name in enumerate(names):
        column: str | None = None
        if not name:
            unnamed.add(position)
        elif name not in _COLUMN_ORDER:
            unknown.append(cells[position].strip())
        elif name in first_position:
            errors.add(
                "csv",
                f'Column "{name}" appears twice in the header '
                f"(columns {first_position[name] + 1} and {position + 1}).",
                line=line,
                column=name,
            )
        else:
            first_position[name] = position
            column = name
        columns.append(column)
    if unknown:
        listed = ", ".join(f'"{_show(name)}"' for name in unknown)
        errors.add(
            "csv",
            f"Unknown column{'s' if len(unknown) > 1 else ''} {listed} in the header. "
            f"The columns are: {_KNOWN_COLUMNS_TEXT}.",
            line=line,
        )
    has_name = "name" in first_position
    if not has_name:
        errors.add(
            "csv",
            'The header has no "name" column, and every Tentacle needs a name. '
            f"The columns are: {_KNOWN_COLUMNS_TEXT}.",
            line=line,
        )
    return _Header(line, tuple(columns), frozenset(unnamed), has_name)


def _csv_read_error(
    error: csv.Error, row_start: int, line_now: int, delimiter: str
) -> tuple[int, str]:
    reason = str(error)
    if "unexpected end of data" in reason:
        return row_start, (
            'A quoted cell starts on this line but its closing quote (") is missing.'
        )
    if "expected after" in reason:
        return line_now, (
            f'A closing quote (") must be followed by "{delimiter}" or the end of the line. '
            'To put a quote inside a quoted cell, double it ("").'
        )
    if "field larger than field limit" in reason:
        return line_now, f"A cell is longer than {csv.field_size_limit():,} characters."
    return line_now, f"This line could not be read as CSV ({reason})."


def parse_csv(data: bytes | str, *, max_rows: int = MAX_ROWS) -> list[TentacleInput]:
    """Every Tentacle in an inventory CSV file, or InventoryInvalid with every error found;
    more than `max_rows` Tentacles is one error alone."""
    errors = _Collector()
    text = _decode(data, errors)
    if text is None:
        errors.raise_if_any()
        return []  # pragma: no cover - _decode reports an error whenever it returns None

    delimiter, skip_hint = _sniff(text)
    header, rows = _read_rows(text, delimiter, skip_hint, errors)
    if len(rows) > max_rows:
        # One error, not thousands: the file has to be split whatever else is wrong with it.
        raise InventoryInvalid([InventoryError("csv", row_count_message(len(rows), max_rows))])
    if header is None:
        errors.raise_if_any()
        return []

    width = len(header.columns)
    duplicates = _DuplicateNames()
    tentacles: list[TentacleInput] = []
    for index, (line, cells) in enumerate(rows):
        if len(cells) > width and any(cell.strip() for cell in cells[width:]):
            hint = (
                ' In a semicolon-separated file, put lists in quotes: "Production;Staging".'
                if delimiter == ";"
                else " Put a cell that contains a comma in quotes."
            )
            errors.add(
                f"tentacles[{index}]",
                f"This line has {len(cells)} cells but the header has {width}.{hint}",
                row=index,
                line=line,
            )
            continue

        def report(column: str, message: str, index: int = index, line: int = line) -> None:
            errors.add(f"tentacles[{index}].{column}", message, row=index, line=line, column=column)

        values = {
            column: formula_restored(cell.strip())
            for column, cell in zip(header.columns, cells, strict=False)
            if column
        }
        if header.has_name:
            values.setdefault("name", "")  # a short row still needs its name
        for position in header.unnamed:
            cell = cells[position] if position < len(cells) else ""
            if cell.strip():
                errors.add(
                    f"tentacles[{index}]",
                    f'Cell {position + 1} has a value ("{_show(cell.strip())}") but its column '
                    f"has no name in the header (line {header.line}).",
                    row=index,
                    line=line,
                )
        tentacle = _build_tentacle(values, report)
        name = values.get("name", "").strip()
        if name:
            first = duplicates.first_use(name, str(line))
            if first is not None:
                report("name", f'Name "{_show(name)}" is already used on line {first}.')
                continue
        if tentacle is not None:
            tentacles.append(tentacle)

    errors.raise_if_any()
    return tentacles


def _read_rows(
    text: str, delimiter: str, skip_hint: bool, errors: _Collector
) -> tuple[_Header | None, list[tuple[int, list[str]]]]:
    """The header and the non-blank data rows with the line each starts on."""
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter, strict=True, skipinitialspace=True
    )
    header: _Header | None = None
    rows: list[tuple[int, list[str]]] = []
    next_start = 1
    try:
        for cells in reader:
            start, next_start = next_start, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if skip_hint:
                skip_hint = False
            elif header is None:
                header = _read_header(cells, start, errors)
                if header is None:
                    return None, []
            else:
                rows.append((start, cells))
    except csv.Error as error:
        # The rest of the file cannot be split into cells reliably, so reading stops here; the
        # rows before this line are still checked.
        line, message = _csv_read_error(error, next_start, reader.line_num, delimiter)
        errors.add("csv", message, row=len(rows), line=line)
    return header, rows


# ---------------------------------------------------------------------------------------------
# JSON rows


def _describe(value: object) -> str:
    """A JSON value as the sender wrote it, for messages about wrong types."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, int) and abs(value) >= 10**20:
            # Python refuses to print integers of more than 4,300 digits; nobody needs to see them.
            return "a number with more than 20 digits"
        return f"the number {_show(repr(value))}"
    if isinstance(value, str):
        return f'"{_show(value)}"'
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _json_value(column: str, value: object) -> object:
    """A JSON value as its field's type, or as a string for the shared text rules.

    None and strings pass through (the text rules handle them, null meaning "not given");
    typed values are checked here. Raises _Invalid for a wrong type.
    """
    if value is None or isinstance(value, str):
        return value
    label = _LABELS[column]
    if column == "port":
        # bool is an int in Python but never a port in JSON.
        if isinstance(value, int) and not isinstance(value, bool):
            if not 1 <= value <= 65535:
                if abs(value) < 10**20:
                    raise _port_out_of_range(str(value))
                raise _Invalid(
                    f"Port should be a number between 1 and 65535, not {_describe(value)}."
                )
            return value
        raise _Invalid(f"Port should be a number between 1 and 65535, not {_describe(value)}.")
    if column in ("environments", "roles"):
        if not isinstance(value, list | tuple):
            raise _Invalid(f"{label} should be a list of names, not {_describe(value)}.")
        for position, item in enumerate(value, start=1):
            if not isinstance(item, str):
                raise _Invalid(
                    f"{label} should be a list of names; item {position} is {_describe(item)}."
                )
        return _clean_list_remembered(column, tuple(value))
    if column in ("restricted_permissions", "online"):
        if isinstance(value, bool):
            return value
        raise _Invalid(f"{label} should be true or false, not {_describe(value)}.")
    raise _Invalid(f"{label} should be text, not {_describe(value)}.")


def parse_rows(rows: object, *, max_rows: int = MAX_ROWS) -> list[TentacleInput]:
    """Every Tentacle in the API's `tentacles` list (normally list[dict]), or InventoryInvalid.

    Values follow the CSV rules; besides, lists may be JSON lists or ;-separated strings, the
    port a number or a numeric string, booleans true/false or the CSV words. null means "not
    given".
    """
    if rows is None:
        return []
    if not isinstance(rows, list | tuple):
        raise InventoryInvalid(
            [InventoryError("tentacles", f"Tentacles should be a list, not {_describe(rows)}.")]
        )
    if len(rows) > max_rows:
        raise InventoryInvalid(
            [InventoryError("tentacles", row_count_message(len(rows), max_rows))]
        )

    errors = _Collector()
    duplicates = _DuplicateNames()
    tentacles: list[TentacleInput] = []
    for index, row in enumerate(rows):
        where = f"tentacles[{index}]"
        if not isinstance(row, dict):
            errors.add(where, "Each Tentacle must be an object.", row=index)
            continue
        unknown = [key for key in row if key not in _COLUMN_ORDER]
        if unknown:
            listed = ", ".join(f'"{_show(str(key))}"' for key in unknown)
            errors.add(
                where,
                f"Unknown field{'s' if len(unknown) > 1 else ''} {listed}. "
                f"The fields are: {_KNOWN_COLUMNS_TEXT}.",
                row=index,
            )

        def report(column: str, message: str, index: int = index) -> None:
            errors.add(f"tentacles[{index}].{column}", message, row=index, order_column=column)

        # A field left out of `values` takes its default, or, for a name of the wrong type
        # (already reported), is not checked again as missing.
        values: dict[str, object] = {}
        for column in COLUMNS:
            raw = row.get(column)
            if raw is None and column != "name":
                continue
            try:
                values[column] = _json_value(column, raw)
            except _Invalid as error:
                report(column, str(error))
        tentacle = _build_tentacle(values, report)
        name = row.get("name")
        if isinstance(name, str) and name.strip():
            first = duplicates.first_use(name.strip(), where)
            if first is not None:
                report("name", f'Name "{_show(name.strip())}" is already used by {first}.')
                continue
        if tentacle is not None:
            tentacles.append(tentacle)

    errors.raise_if_any()
    return tentacles


def to_csv(tentacles: Iterable[TentacleInput]) -> str:
    """An inventory CSV file that `parse_csv` reads back into the same Tentacles, and that a
    spreadsheet opens without running any cell as a formula."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for tentacle in tentacles:
        cells: tuple[str | int, ...] = (
            tentacle.name,
            tentacle.hostname,
            "" if tentacle.port is None else tentacle.port,
            tentacle.version,
            tentacle.communication_style,
            ";".join(tentacle.environments),
            ";".join(tentacle.roles),
            tentacle.os,
            tentacle.service_account,
            "yes" if tentacle.restricted_permissions else "no",
            "yes" if tentacle.online else "no",
        )
        writer.writerow(formula_safe(cell) if isinstance(cell, str) else cell for cell in cells)
    return buffer.getvalue()
