"""Reading a Tentacle inventory from JSON rows (the API's `tentacles` list): the same rules as the
CSV file, plus JSON types."""

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from upgrade_planner.domain.inventory import (
    COLUMNS,
    MAX_ROWS,
    InventoryError,
    InventoryInvalid,
    parse_csv,
    parse_rows,
    to_csv,
)
from upgrade_planner.domain.planner import TentacleInput


def errors_of(rows: object) -> list[InventoryError]:
    with pytest.raises(InventoryInvalid) as raised:
        parse_rows(rows)
    return raised.value.errors


def field_errors_of(rows: object) -> dict[str, list[str]]:
    with pytest.raises(InventoryInvalid) as raised:
        parse_rows(rows)
    return raised.value.as_field_dict()


def test_it_reads_the_documented_row_shape() -> None:
    rows = [
        {
            "name": "web-01",
            "hostname": "web-01.corp",
            "port": 10933,
            "version": "2.6.5",
            "communication_style": "listening",
            "environments": ["Production"],
            "roles": ["web"],
            "os": "Windows Server 2012 R2",
            "service_account": "",
            "restricted_permissions": False,
            "online": True,
        }
    ]

    assert parse_rows(rows) == [
        TentacleInput(
            name="web-01",
            hostname="web-01.corp",
            port=10933,
            version="2.6.5",
            environments=("Production",),
            roles=("web",),
            os="Windows Server 2012 R2",
        )
    ]


def test_strings_are_accepted_where_the_csv_would_have_them() -> None:
    rows = [
        {
            "name": " web-01 ",
            "port": " 10933 ",
            "version": "v2.6.5.1581",
            "communication_style": "TentacleActive",
            "environments": "Production; Staging;",
            "roles": "web",
            "service_account": "LocalSystem",
            "restricted_permissions": "yes",
            "online": "N",
        }
    ]

    assert parse_rows(rows) == [
        TentacleInput(
            name="web-01",
            port=10933,
            version="2.6.5.1581",
            communication_style="polling",
            environments=("Production", "Staging"),
            roles=("web",),
            restricted_permissions=True,
            online=False,
        )
    ]


def test_null_means_not_given() -> None:
    row: dict[str, Any] = {
        "name": "web-01",
        "hostname": None,
        "port": None,
        "version": None,
        "communication_style": None,
        "environments": None,
        "roles": None,
        "os": None,
        "service_account": None,
        "restricted_permissions": None,
        "online": None,
    }

    assert parse_rows([row]) == [TentacleInput(name="web-01")]


def test_list_items_are_trimmed_and_blank_or_repeated_items_dropped() -> None:
    (tentacle,) = parse_rows([{"name": "web-01", "roles": [" web ", "", "WEB", "api"]}])

    assert tentacle.roles == ("web", "api")


@pytest.mark.parametrize("rows", [[], None, ()])
def test_no_rows_is_an_empty_inventory(rows: object) -> None:
    assert parse_rows(rows) == []


@pytest.mark.parametrize(
    ("port", "message"),
    [
        (True, "Port should be a number between 1 and 65535, not true."),
        (False, "Port should be a number between 1 and 65535, not false."),
        (10933.0, "Port should be a number between 1 and 65535, not the number 10933.0."),
        ([10933], "Port should be a number between 1 and 65535, not a list."),
        ({"value": 1}, "Port should be a number between 1 and 65535, not an object."),
        (0, 'Port "0" is not a number between 1 and 65535.'),
        (70000, 'Port "70000" is not a number between 1 and 65535.'),
        ("ten", 'Port "ten" is not a number between 1 and 65535.'),
        pytest.param(
            10**5000,
            "Port should be a number between 1 and 65535, not a number with more than 20 digits.",
            id="too-many-digits-to-print",
        ),
    ],
)
def test_a_port_must_be_a_whole_number_in_range(port: object, message: str) -> None:
    assert field_errors_of([{"name": "web-01", "port": port}]) == {"tentacles[0].port": [message]}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", 5, "Name should be text, not the number 5."),
        ("hostname", ["a"], "Hostname should be text, not a list."),
        ("version", 2.6, "Version should be text, not the number 2.6."),
        ("communication_style", True, "Communication style should be text, not true."),
        ("os", {"name": "Windows"}, "OS should be text, not an object."),
        ("environments", 3, "Environments should be a list of names, not the number 3."),
        ("roles", ["web", 7], "Roles should be a list of names; item 2 is the number 7."),
        ("roles", ["web", None], "Roles should be a list of names; item 2 is null."),
        ("environments", ["a;b"], 'Environments item "a;b" cannot contain ";".'),
        ("online", 1, "Online should be true or false, not the number 1."),
        (
            "restricted_permissions",
            "sometimes",
            'Restricted permissions "sometimes" should be yes or no '
            "(true/false, 1/0 and y/n also work).",
        ),
        ("hostname", "http://web-01", None),
    ],
)
def test_a_wrong_type_or_value_names_the_field_and_what_was_sent(
    field: str, value: object, message: str | None
) -> None:
    errors = field_errors_of([{"name": "web-00"}, {"name": "web-01", field: value}])

    assert list(errors) == [f"tentacles[1].{field}"]
    if message is not None:
        assert errors[f"tentacles[1].{field}"] == [message]


def test_a_missing_name_is_required_but_a_wrong_typed_one_is_reported_once() -> None:
    assert field_errors_of([{"port": 1}, {"name": None}, {"name": "  "}, {"name": False}]) == {
        "tentacles[0].name": ["Name is required."],
        "tentacles[1].name": ["Name is required."],
        "tentacles[2].name": ["Name is required."],
        "tentacles[3].name": ["Name should be text, not false."],
    }


def test_a_row_that_is_not_an_object_is_an_error_at_its_index() -> None:
    errors = errors_of([{"name": "web-01"}, "web-02", ["web-03"], None])

    assert [error.as_text() for error in errors] == [
        "tentacles[1]: Each Tentacle must be an object.",
        "tentacles[2]: Each Tentacle must be an object.",
        "tentacles[3]: Each Tentacle must be an object.",
    ]


def test_unknown_keys_are_named_with_the_known_fields_listed() -> None:
    assert errors_of([{"name": "web-01", "ip": "10.0.0.1", "Port": 1}]) == [
        InventoryError(
            field="tentacles[0]",
            message=(
                'Unknown fields "ip", "Port". The fields are: name, hostname, port, version, '
                "communication_style, environments, roles, os, service_account, "
                "restricted_permissions, online."
            ),
        )
    ]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("web-01", 'Tentacles should be a list, not "web-01".'),
        ({"name": "web-01"}, "Tentacles should be a list, not an object."),
        (3, "Tentacles should be a list, not the number 3."),
    ],
)
def test_tentacles_that_are_not_a_list_are_one_error(rows: object, message: str) -> None:
    assert errors_of(rows) == [InventoryError(field="tentacles", message=message)]


def test_duplicate_names_name_the_first_row_that_used_them() -> None:
    rows = [{"name": "web-01"}, {"name": "web-02"}, {"name": "Web-01 "}, {"name": "WEB-02"}]

    assert field_errors_of(rows) == {
        "tentacles[2].name": ['Name "Web-01" is already used by tentacles[0].'],
        "tentacles[3].name": ['Name "WEB-02" is already used by tentacles[1].'],
    }


def test_every_error_is_collected_in_row_then_field_order() -> None:
    rows = [
        {"online": "maybe", "name": "web-01", "port": True, "extra": 1},
        {"name": "web-02", "version": "2.6"},
        7,
    ]

    errors = errors_of(rows)

    assert [(error.field, error.line, error.column) for error in errors] == [
        ("tentacles[0]", None, None),
        ("tentacles[0].port", None, None),
        ("tentacles[0].online", None, None),
        ("tentacles[1].version", None, None),
        ("tentacles[2]", None, None),
    ]
    assert errors[1].as_text() == (
        "tentacles[0].port: Port should be a number between 1 and 65535, not true."
    )


def test_more_rows_than_the_limit_is_one_error() -> None:
    rows = [{"name": f"web-{index}", "port": "bad"} for index in range(MAX_ROWS + 214)]

    assert field_errors_of(rows) == {
        "tentacles": ["The inventory has 20,214 Tentacles; the limit is 20,000 Tentacles per plan."]
    }


def test_rows_and_csv_give_the_same_tentacles() -> None:
    rows = [
        {"name": "web-01", "port": 10933, "environments": ["Production", "Staging"]},
        {"name": "db-01", "communication_style": "polling", "online": False},
    ]

    tentacles = parse_rows(rows)

    assert parse_csv(to_csv(tentacles)) == tentacles


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["10933", "yes", "polling", "2.6.5", "web-01", "a;b", "http://x"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
_row = st.dictionaries(
    st.sampled_from([*COLUMNS, "other", "Name"]),
    _json,
    max_size=11,
)


@given(st.one_of(_json, st.lists(st.one_of(_row, _json), max_size=5)))
def test_any_json_either_parses_or_raises_inventory_invalid(rows: object) -> None:
    try:
        result = parse_rows(rows)
    except InventoryInvalid as invalid:
        assert invalid.errors
        assert all(
            field.startswith("tentacles") and messages
            for field, messages in invalid.as_field_dict().items()
        )
    else:
        assert all(isinstance(tentacle, TentacleInput) for tentacle in result)


def test_repeated_values_are_read_the_same_each_time_and_refused_each_time():
    """The rules of repeating columns remember the values they read; a refused value is not
    remembered, so every row that has it is refused, with its own field path."""
    good = {"version": "v2.6.5", "environments": ["Prod", "prod", " Test "], "online": "yes"}
    bad = {"version": "2.6", "roles": ["a;b"], "os": "Windows\tServer"}
    rows = [{"name": f"web-{i}", **good} for i in range(3)]
    rows += [{"name": f"bad-{i}", **bad} for i in range(2)]

    errors = field_errors_of(rows)

    for index in (3, 4):
        for column in ("version", "roles", "os"):
            assert errors[f"tentacles[{index}].{column}"] == errors[f"tentacles[3].{column}"]
    assert not any(
        key.startswith(("tentacles[0]", "tentacles[1]", "tentacles[2]")) for key in errors
    )
    read = parse_rows(rows[:3])
    assert {(t.version, t.environments, t.online) for t in read} == {
        ("2.6.5", ("Prod", "Test"), True)
    }
