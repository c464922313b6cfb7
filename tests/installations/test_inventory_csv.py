"""Reading a Tentacle inventory from a CSV file: formats people actually save, and every error
reported with its line and column."""

import codecs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from upgrade_planner.domain.inventory import (
    COLUMNS,
    MAX_BYTES,
    MAX_ROWS,
    InventoryError,
    InventoryInvalid,
    parse_csv,
    parse_version_text,
    to_csv,
)
from upgrade_planner.domain.planner import TentacleInput

FULL_HEADER = ",".join(COLUMNS)


def errors_of(data: bytes | str) -> list[InventoryError]:
    with pytest.raises(InventoryInvalid) as raised:
        parse_csv(data)
    return raised.value.errors


def texts_of(data: bytes | str) -> list[str]:
    return [error.as_text() for error in errors_of(data)]


# --- Reading valid files ---------------------------------------------------------------------


def test_it_reads_every_column_of_a_full_row() -> None:
    data = (
        f"{FULL_HEADER}\n"
        "web-01,web-01.corp,10933,v2.6.5.1581 ,Polling,Production;Staging,web;api,"
        "Windows Server 2012 R2,CORP\\svc-octopus,yes,no\n"
    )

    assert parse_csv(data) == [
        TentacleInput(
            name="web-01",
            hostname="web-01.corp",
            port=10933,
            version="2.6.5.1581",
            communication_style="polling",
            environments=("Production", "Staging"),
            roles=("web", "api"),
            os="Windows Server 2012 R2",
            service_account="CORP\\svc-octopus",
            restricted_permissions=True,
            online=False,
        )
    ]


def test_only_the_name_is_required_and_the_rest_takes_defaults() -> None:
    assert parse_csv("name\nweb-01\n") == [TentacleInput(name="web-01")]
    assert parse_csv(f"{FULL_HEADER}\nweb-01,,,,,,,,,,\n") == [TentacleInput(name="web-01")]


def test_columns_may_come_in_any_order_and_case_with_spaces_around() -> None:
    data = " Port ,ROLES, Name,Communication Style,service-account\n10933,web, web-01 ,polling,\n"

    assert parse_csv(data) == [
        TentacleInput(name="web-01", port=10933, roles=("web",), communication_style="polling")
    ]


def test_it_reads_utf8_with_a_byte_order_mark() -> None:
    data = codecs.BOM_UTF8 + "name,os\nweb-01,Windows Server 2012 R2 — Français\n".encode()

    assert parse_csv(data) == [TentacleInput(name="web-01", os="Windows Server 2012 R2 — Français")]


def test_a_byte_order_mark_in_text_is_ignored_too() -> None:
    assert parse_csv("\ufeffname\nweb-01\n") == [TentacleInput(name="web-01")]


def test_it_reads_semicolon_separated_files_with_quoted_lists() -> None:
    data = b'name;port;environments\r\nweb-01;10933;"Production;Staging"\r\nweb-02;10934;Test\r\n'

    assert parse_csv(data) == [
        TentacleInput(name="web-01", port=10933, environments=("Production", "Staging")),
        TentacleInput(name="web-02", port=10934, environments=("Test",)),
    ]


def test_it_honours_excels_sep_hint_line() -> None:
    data = 'sep=;\nname;roles\nweb-01;"web;api"\n'

    assert parse_csv(data) == [TentacleInput(name="web-01", roles=("web", "api"))]


def test_a_header_of_one_column_reads_as_comma_separated() -> None:
    assert parse_csv('name\n"web,01"\n') == [TentacleInput(name="web,01")]


def test_an_unquoted_list_in_a_semicolon_file_is_an_error_with_a_hint() -> None:
    errors = errors_of("name;environments\nweb-01;Production;Staging\n")

    assert errors == [
        InventoryError(
            field="tentacles[0]",
            message=(
                "This line has 3 cells but the header has 2. In a semicolon-separated file, "
                'put lists in quotes: "Production;Staging".'
            ),
            line=2,
        )
    ]


def test_blank_lines_are_skipped_and_lines_are_still_counted() -> None:
    errors = errors_of("\n\nname,port\n\nweb-01,1\n,\n   \nweb-02,x\n")

    assert [(error.line, error.column, error.field) for error in errors] == [
        (8, "port", "tentacles[1].port")
    ]


def test_a_quoted_cell_spanning_lines_keeps_line_numbers_right() -> None:
    data = 'name,os\nweb-01,"Windows\nServer\n2012"\nweb-02,ok\nweb-03,"bad\ttab"\n'

    errors = errors_of(data)

    assert [error.as_text() for error in errors] == [
        'Line 2, column os: OS "Windows\\nServer\\n2012" contains a control character '
        "such as a tab or line break.",
        'Line 6, column os: OS "bad\\ttab" contains a control character such as a tab or '
        "line break.",
    ]
    assert [error.field for error in errors] == ["tentacles[0].os", "tentacles[2].os"]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_any_line_ending_counts_as_a_line(newline: str) -> None:
    data = newline.join(["name,port", "web-01,1", "web-02,0", ""])

    assert [(error.line, error.column) for error in errors_of(data)] == [(3, "port")]


@pytest.mark.parametrize(
    "data", [b"", "", "\ufeff", codecs.BOM_UTF8, "\n\n  \n", "name\n", "Name,Port\r\n\r\n"]
)
def test_an_empty_file_or_a_header_alone_is_an_empty_inventory(data: bytes | str) -> None:
    assert parse_csv(data) == []


def test_empty_trailing_cells_that_spreadsheets_add_are_ignored() -> None:
    assert parse_csv("name,port,,\nweb-01,1,,\nweb-02,2,,,,\n") == [
        TentacleInput(name="web-01", port=1),
        TentacleInput(name="web-02", port=2),
    ]


def test_a_short_row_leaves_its_missing_cells_empty() -> None:
    assert parse_csv("name,port,online\nweb-01\n") == [TentacleInput(name="web-01")]


# --- Field values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("listening", "listening"),
        ("POLLING", "polling"),
        ("TentaclePassive", "listening"),
        ("tentacleactive", "polling"),
        ("", "listening"),
    ],
)
def test_communication_style_accepts_octopus_api_names(cell: str, expected: str) -> None:
    (tentacle,) = parse_csv(f"name,communication_style\nweb-01,{cell}\n")

    assert tentacle.communication_style == expected


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("yes", True),
        ("Y", True),
        ("TRUE", True),
        ("1", True),
        ("no", False),
        ("n", False),
        ("False", False),
        ("0", False),
    ],
)
def test_booleans_accept_the_usual_words(cell: str, expected: bool) -> None:
    (tentacle,) = parse_csv(f"name,restricted_permissions,online\nweb-01,{cell},{cell}\n")

    assert (tentacle.restricted_permissions, tentacle.online) == (expected, expected)


def test_empty_booleans_take_their_defaults() -> None:
    (tentacle,) = parse_csv("name,restricted_permissions,online\nweb-01,,\n")

    assert (tentacle.restricted_permissions, tentacle.online) == (False, True)


@pytest.mark.parametrize(
    "cell", ["LocalSystem", "local system", "NT AUTHORITY\\SYSTEM", "nt authority\\system", ""]
)
def test_the_local_system_account_is_the_default_service_account(cell: str) -> None:
    (tentacle,) = parse_csv(f"name,service_account\nweb-01,{cell}\n")

    assert tentacle.service_account == ""


def test_lists_are_trimmed_and_empty_and_repeated_items_dropped() -> None:
    (tentacle,) = parse_csv('name,environments,roles\nweb-01," Prod ;; Test;prod;",;\n')

    assert (tentacle.environments, tentacle.roles) == (("Prod", "Test"), ())


@pytest.mark.parametrize(
    "hostname",
    [
        "web-01",
        "web-01.corp.example.com",
        "web-01.corp.",
        "WEB_01",
        "10.0.0.12",
        "fe80::1",
        "[2001:db8::1]",
        "a" * 63 + "." + "b" * 63,
    ],
)
def test_hostnames_may_be_dns_netbios_names_or_ip_addresses(hostname: str) -> None:
    (tentacle,) = parse_csv(f"name,hostname\nweb-01,{hostname}\n")

    assert tentacle.hostname == hostname


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2.6.5", "2.6.5"),
        ("2.6.5.1581", "2.6.5.1581"),
        (" v3.17.14 ", "3.17.14"),
        ("V2018.10.0", "2018.10.0"),
        ("02.06.05", "2.6.5"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_version_text_is_normalised(text: str, expected: str) -> None:
    assert parse_version_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2.6",
        "2.6.5.1.2",
        "2.6.x",
        "v",
        "2..5",
        "2.6.5-beta",
        "vv2.6.5",
        "\u0662.\u0666.\u0665",  # Arabic-Indic digits: int() takes them, a version must not
        "1 .2.3",
    ],
)
def test_version_text_that_is_not_3_or_4_numbers_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="should be 3 or 4 numbers") as raised:
        parse_version_text(text)

    assert f'Version "{text.strip()}"' in str(raised.value)


# --- Field errors ----------------------------------------------------------------------------

FIELD_ERRORS = [
    ("name", "", "Name is required."),
    ("name", "x" * 201, "Name is 201 characters long; the limit is 200."),
    (
        "hostname",
        "http://x",
        'Hostname "http://x" should be a machine name like web-01.corp, without http:// or a path.',
    ),
    (
        "hostname",
        "web-01/api",
        'Hostname "web-01/api" should be a machine name like web-01.corp, '
        "without http:// or a path.",
    ),
    (
        "hostname",
        "web 01",
        'Hostname "web 01" should be a machine name like web-01.corp or an IP address: '
        "letters, digits, hyphens and underscores, with dots between the parts.",
    ),
    (
        "hostname",
        "web..corp",
        'Hostname "web..corp" should be a machine name like web-01.corp or an IP address: '
        "letters, digits, hyphens and underscores, with dots between the parts.",
    ),
    (
        "hostname",
        "web-01:10933",
        'Hostname "web-01:10933" should not include the port; give 10933 as the Port instead.',
    ),
    ("hostname", "10.0.0.300", 'Hostname "10.0.0.300" is not a valid IP address.'),
    ("hostname", "a" * 254, "Hostname is 254 characters long; the limit is 253."),
    ("port", "abc", 'Port "abc" is not a number between 1 and 65535.'),
    ("port", "0", 'Port "0" is not a number between 1 and 65535.'),
    ("port", "65536", 'Port "65536" is not a number between 1 and 65535.'),
    ("port", "-1", 'Port "-1" is not a number between 1 and 65535.'),
    ("port", "10933.5", 'Port "10933.5" is not a number between 1 and 65535.'),
    (
        "version",
        "2.6",
        'Version "2.6" should be 3 or 4 numbers separated by dots, like 2.6.5 or 2.6.5.1581.',
    ),
    (
        "communication_style",
        "push",
        'Communication style "push" should be listening or polling.',
    ),
    (
        "environments",
        "Prod;" + "e" * 201,
        f'Environments item "{"e" * 59}…" is 201 characters long; the limit is 200.',
    ),
    ("roles", "r" * 201, f'Roles item "{"r" * 59}…" is 201 characters long; the limit is 200.'),
    ("os", "o" * 201, "OS is 201 characters long; the limit is 200."),
    ("service_account", "s" * 201, "Service account is 201 characters long; the limit is 200."),
    (
        "restricted_permissions",
        "maybe",
        'Restricted permissions "maybe" should be yes or no (true/false, 1/0 and y/n also work).',
    ),
    (
        "online",
        "on",
        'Online "on" should be yes or no (true/false, 1/0 and y/n also work).',
    ),
]


@pytest.mark.parametrize(("column", "cell", "message"), FIELD_ERRORS)
def test_each_field_error_names_its_line_column_and_value(
    column: str, cell: str, message: str
) -> None:
    cells = {"name": "web-02", "os": "Windows", column: cell}
    row = ",".join(f'"{cells.get(name, "")}"' for name in COLUMNS)

    errors = errors_of(f"{FULL_HEADER}\nweb-01,,,,,,,,,,\n{row}\n")

    assert errors == [
        InventoryError(field=f"tentacles[1].{column}", message=message, line=3, column=column)
    ]


def test_every_error_in_every_row_is_reported_in_file_then_column_order() -> None:
    data = "online,port,name,version\nmaybe,abc,web-01,2.6\n,,,\n1,99999,,x\nyes,1,web-03,2.6.5\n"

    assert texts_of(data) == [
        'Line 2, column port: Port "abc" is not a number between 1 and 65535.',
        'Line 2, column version: Version "2.6" should be 3 or 4 numbers separated by dots, '
        "like 2.6.5 or 2.6.5.1581.",
        'Line 2, column online: Online "maybe" should be yes or no '
        "(true/false, 1/0 and y/n also work).",
        "Line 4, column name: Name is required.",
        'Line 4, column port: Port "99999" is not a number between 1 and 65535.',
        'Line 4, column version: Version "x" should be 3 or 4 numbers separated by dots, '
        "like 2.6.5 or 2.6.5.1581.",
    ]


def test_a_name_with_a_control_character_is_refused() -> None:
    assert texts_of('name\n"web\x0001"\n') == [
        'Line 2, column name: Name "web\\x0001" contains a control character '
        "such as a tab or line break."
    ]


def test_every_duplicate_name_after_the_first_is_an_error_naming_the_first_line() -> None:
    data = "name,port\nweb-01,1\nweb-02,2\n\nWEB-01,3\n web-01 ,4\nweb-02,5\n"

    errors = errors_of(data)

    assert [error.as_text() for error in errors] == [
        'Line 5, column name: Name "WEB-01" is already used on line 2.',
        'Line 6, column name: Name "web-01" is already used on line 2.',
        'Line 7, column name: Name "web-02" is already used on line 3.',
    ]
    assert [error.field for error in errors] == [
        "tentacles[2].name",
        "tentacles[3].name",
        "tentacles[4].name",
    ]


def test_a_value_under_a_header_cell_with_no_name_is_an_error() -> None:
    assert errors_of("name,,port\nweb-01,x,1\n") == [
        InventoryError(
            field="tentacles[0]",
            message='Cell 2 has a value ("x") but its column has no name in the header (line 1).',
            line=2,
        )
    ]


def test_a_row_with_more_cells_than_the_header_is_an_error_for_that_line() -> None:
    errors = errors_of("name,port\nweb-01,1,extra\nweb-02,2\n")

    assert [error.as_text() for error in errors] == [
        "Line 2: This line has 3 cells but the header has 2. "
        "Put a cell that contains a comma in quotes."
    ]


# --- Header errors ---------------------------------------------------------------------------


def test_an_unknown_column_is_named_with_the_known_ones_listed() -> None:
    errors = errors_of("name,ip,Fqdn\nweb-01,1.2.3.4,web-01.corp\n")

    assert errors == [
        InventoryError(
            field="csv",
            message=(
                'Unknown columns "ip", "Fqdn" in the header. The columns are: name, hostname, '
                "port, version, communication_style, environments, roles, os, service_account, "
                "restricted_permissions, online."
            ),
            line=1,
        )
    ]


def test_rows_are_still_checked_when_the_header_has_an_unknown_column() -> None:
    assert texts_of("name,port,ip\nweb-01,x,1\n") == [
        'Line 1: Unknown column "ip" in the header. The columns are: name, hostname, port, '
        "version, communication_style, environments, roles, os, service_account, "
        "restricted_permissions, online.",
        'Line 2, column port: Port "x" is not a number between 1 and 65535.',
    ]


def test_a_column_twice_in_the_header_is_an_error() -> None:
    assert errors_of("name,Port,port \nweb-01,1,2\n") == [
        InventoryError(
            field="csv",
            message='Column "port" appears twice in the header (columns 2 and 3).',
            line=1,
            column="port",
        )
    ]


def test_a_header_without_a_name_column_is_an_error() -> None:
    assert texts_of("hostname,port\nweb-01.corp,1\n") == [
        'Line 1: The header has no "name" column, and every Tentacle needs a name. '
        "The columns are: name, hostname, port, version, communication_style, environments, "
        "roles, os, service_account, restricted_permissions, online."
    ]


def test_a_file_without_a_header_says_so_showing_its_first_line() -> None:
    assert texts_of("\nweb-01,web-01.corp,10933\nweb-02\n") == [
        "Line 2: The first line should be a header naming the columns, such as "
        '"name,hostname,port"; it is "web-01,web-01.corp,10933". The columns are: name, '
        "hostname, port, version, communication_style, environments, roles, os, "
        "service_account, restricted_permissions, online."
    ]


def test_a_tab_separated_file_is_told_to_use_commas_or_semicolons() -> None:
    (message,) = texts_of("name\thostname\nweb-01\tweb-01.corp\n")

    assert "Separate the columns with commas or semicolons, not tabs." in message


# --- File-level errors -----------------------------------------------------------------------


def test_bytes_that_are_not_utf8_are_refused_naming_the_line() -> None:
    data = b"name,os\nweb-01,ok\n" + "web-02,Français\n".encode("cp1252")

    assert errors_of(data) == [
        InventoryError(
            field="csv",
            message='The file is not UTF-8 text. Save it as "CSV UTF-8" and try again.',
            line=3,
        )
    ]
    assert texts_of(data) == [
        'Line 3: The file is not UTF-8 text. Save it as "CSV UTF-8" and try again.'
    ]


def test_utf16_files_are_refused_with_a_way_out() -> None:
    assert texts_of("name\nweb-01\n".encode("utf-16")) == [
        'The file is UTF-16 text (Excel\'s "Unicode Text"). Save it as "CSV UTF-8" and try again.'
    ]
    assert texts_of("name\nweb-01\n".encode("utf-16-le")) == [
        "Line 1: The file is not UTF-8 text: it contains NUL bytes, as UTF-16 files do. "
        'Save it as "CSV UTF-8" and try again.'
    ]


def test_an_unclosed_quote_names_the_line_it_opens_on_and_rows_before_are_checked() -> None:
    assert texts_of('name,port\nweb-01,x\nweb-02,"1\nweb-03,3\n') == [
        'Line 2, column port: Port "x" is not a number between 1 and 65535.',
        'Line 3: A quoted cell starts on this line but its closing quote (") is missing.',
    ]


def test_text_after_a_closing_quote_is_an_error_on_its_line() -> None:
    assert texts_of('name;os\nweb-01;"Windows" 2012\n') == [
        'Line 2: A closing quote (") must be followed by ";" or the end of the line. '
        'To put a quote inside a quoted cell, double it ("").'
    ]


def test_a_cell_too_long_for_the_csv_reader_is_an_error_on_its_line() -> None:
    data = "name,os\nweb-01,ok\nweb-02," + "x" * 200_000 + "\n"

    assert texts_of(data) == ["Line 3: A cell is longer than 131,072 characters."]


def test_more_rows_than_the_limit_is_one_error_whatever_else_is_wrong() -> None:
    rows = "".join(f"web-{index},not-a-port\n" for index in range(MAX_ROWS + 214))

    assert errors_of("name,port\n" + rows) == [
        InventoryError(
            field="csv",
            message="The inventory has 20,214 Tentacles; the limit is 20,000 Tentacles per plan.",
        )
    ]


def test_exactly_the_row_limit_is_accepted() -> None:
    rows = "".join(f"web-{index}\n" for index in range(MAX_ROWS))

    tentacles = parse_csv("name\n" + rows)

    assert len(tentacles) == MAX_ROWS
    assert tentacles[-1] == TentacleInput(name=f"web-{MAX_ROWS - 1}")


@pytest.mark.parametrize("as_bytes", [True, False])
def test_a_file_over_the_size_limit_is_refused_before_parsing(as_bytes: bool) -> None:
    text = "name,os\n" + "web-01," + "x" * MAX_BYTES + "\n"

    errors = errors_of(text.encode() if as_bytes else text)

    assert [error.as_text() for error in errors] == ["The file is 10.1 MB; the limit is 10 MB."]


def test_a_file_one_byte_over_the_limit_never_rounds_down_to_the_limit() -> None:
    data = b"name\n" + b"x" * (MAX_BYTES - 5) + b"\n"

    assert texts_of(data) == ["The file is 10.1 MB; the limit is 10 MB."]


# --- Messages for the API and pages ----------------------------------------------------------


def test_errors_render_as_text_and_as_api_fields() -> None:
    data = "name,port\nweb-01,abc\nweb-01,1\n"

    with pytest.raises(InventoryInvalid) as raised:
        parse_csv(data)

    assert raised.value.as_field_dict() == {
        "tentacles[0].port": ['Line 2: Port "abc" is not a number between 1 and 65535.'],
        "tentacles[1].name": ['Line 3: Name "web-01" is already used on line 2.'],
    }
    assert str(raised.value) == (
        'Line 2, column port: Port "abc" is not a number between 1 and 65535.; '
        'Line 3, column name: Name "web-01" is already used on line 2.'
    )


# --- Round trip and robustness ---------------------------------------------------------------


def test_to_csv_writes_every_column_and_reads_back_the_same() -> None:
    tentacles = [
        TentacleInput(
            name='web-01, "the first"',
            hostname="web-01.corp",
            port=10933,
            version="2.6.5.1581",
            communication_style="polling",
            environments=("Production", "Staging, EU"),
            roles=("web",),
            os="Windows Server 2012 R2",
            service_account="CORP\\svc",
            restricted_permissions=True,
            online=False,
        ),
        TentacleInput(name="web-02"),
    ]

    text = to_csv(tentacles)

    assert text.splitlines()[0] == FULL_HEADER
    assert text.splitlines()[2] == "web-02,,,,listening,,,,,no,yes"
    assert parse_csv(text) == tentacles
    assert parse_csv(text.encode()) == tentacles


def test_to_csv_of_no_tentacles_is_a_header_that_reads_back_empty() -> None:
    assert parse_csv(to_csv([])) == []


_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
    max_size=30,
).map(str.strip)
_item = _text.filter(lambda item: item != "" and ";" not in item)
_tentacle = st.builds(
    TentacleInput,
    name=_item,
    hostname=st.sampled_from(["", "web-01", "web-01.corp.example.com", "10.1.2.3", "fe80::1"]),
    port=st.none() | st.integers(min_value=1, max_value=65535),
    version=st.sampled_from(["", "2.6.5", "2.6.5.1581", "3.17.14"]),
    communication_style=st.sampled_from(["listening", "polling"]),
    environments=st.lists(_item, max_size=3, unique_by=str.casefold).map(tuple),
    roles=st.lists(_item, max_size=3, unique_by=str.casefold).map(tuple),
    os=_text,
    service_account=_text.filter(
        lambda text: (
            text.lower() not in {"localsystem", "local system", "system", "nt authority\\system"}
        )
    ),
    restricted_permissions=st.booleans(),
    online=st.booleans(),
)


@given(st.lists(_tentacle, max_size=5, unique_by=lambda tentacle: tentacle.name.casefold()))
def test_any_valid_inventory_round_trips_through_to_csv(tentacles: list[TentacleInput]) -> None:
    assert parse_csv(to_csv(tentacles)) == tentacles


@given(st.binary(max_size=300))
def test_random_bytes_either_parse_or_raise_inventory_invalid(data: bytes) -> None:
    try:
        result = parse_csv(data)
    except InventoryInvalid as invalid:
        assert invalid.errors
        assert all(error.message for error in invalid.errors)
    else:
        assert all(isinstance(tentacle, TentacleInput) for tentacle in result)


# Pieces that CSV files are made of, so random text reaches the header and row rules.
_csv_ish = st.lists(
    st.sampled_from([*'name,port;hostnm"\n\r\t 0123456789.:/\ufeff\x00é\ud800', *COLUMNS]),
    max_size=80,
).map("".join)


@given(st.one_of(st.text(max_size=200), _csv_ish, _csv_ish.map(lambda text: FULL_HEADER + text)))
def test_random_text_either_parses_or_raises_inventory_invalid(text: str) -> None:
    try:
        result = parse_csv(text)
    except InventoryInvalid as invalid:
        assert invalid.errors
        assert all(error.as_text() for error in invalid.errors)
    else:
        assert all(isinstance(tentacle, TentacleInput) for tentacle in result)
