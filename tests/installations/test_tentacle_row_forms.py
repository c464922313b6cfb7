"""The Tentacles typed in as rows of the start page: a form per row, a formset for the table,
judged by the same inventory rules as a CSV file and the API."""

import pytest
from django import forms
from django.http import QueryDict

from upgrade_planner.domain import inventory
from upgrade_planner.domain.vocabulary import CommunicationStyle
from upgrade_planner.installations.forms import TYPED_ROWS_MAX, TentacleRowForm, TentacleRowFormSet


def posted(rows, *, count=None):
    """A QueryDict as the start page sends `rows` (each a dict of cells)."""
    data = QueryDict(mutable=True)
    data["tentacles-TOTAL_FORMS"] = str(len(rows) if count is None else count)
    data["tentacles-INITIAL_FORMS"] = "0"
    for index, cells in enumerate(rows):
        for column, value in cells.items():
            data[f"tentacles-{index}-{column}"] = value
    return data


def test_a_row_has_a_cell_per_inventory_column_in_its_order():
    form = TentacleRowForm()

    assert tuple(form.fields) == inventory.COLUMNS
    flags = [name for name, field in form.fields.items() if isinstance(field, forms.BooleanField)]
    assert flags == ["restricted_permissions", "online"]
    style = form.fields["communication_style"]
    assert isinstance(style, forms.ChoiceField)
    assert list(style.choices) == CommunicationStyle.choices
    assert (form["online"].initial, form["communication_style"].initial) == (True, "listening")


def test_each_cell_is_named_after_its_row_for_screen_readers():
    form = TentacleRowForm(row_number=3)

    assert form["name"].as_widget().count('aria-label="Tentacle 3 name"') == 1
    assert 'aria-label="Tentacle 3 communication style"' in form["communication_style"].as_widget()
    assert 'aria-label="Tentacle 3 is online"' in form["online"].as_widget()
    assert 'inputmode="numeric"' in form["port"].as_widget()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("port", "99999"),
        ("hostname", "https://web-01.corp/"),
        ("version", "2.6"),
        ("environments", "Prod\tuction"),
        ("os", "x" * 201),
    ],
)
def test_a_wrong_cell_gets_the_message_the_inventory_rules_give(column, value):
    with pytest.raises(inventory.InventoryInvalid) as parsed:
        inventory.parse_rows([{"name": "web-01", column: value}])
    formset = TentacleRowFormSet(posted([{"name": "web-01", column: value}]))

    assert not formset.is_valid()
    assert formset.forms[0].errors == {column: [parsed.value.errors[0].message]}
    assert formset.forms[0].error_lines()[0].text.startswith("Tentacle row 1, ")


def test_the_rows_become_the_tentacles_the_inventory_rules_read():
    rows = [
        {"name": "web-01", "port": "10933", "environments": "Production;Staging", "online": "on"},
        {"name": "app-01", "communication_style": "polling", "restricted_permissions": "on"},
    ]
    formset = TentacleRowFormSet(posted(rows))

    assert formset.is_valid(), formset.errors
    assert formset.tentacles == inventory.parse_rows(
        [
            {**rows[0], "online": True},
            {**rows[1], "restricted_permissions": True, "online": False},
        ]
    )


def test_a_name_used_by_two_rows_is_refused_in_the_second():
    formset = TentacleRowFormSet(posted([{"name": "web-01"}, {"name": ""}, {"name": "WEB-01 "}]))

    assert not formset.is_valid()
    assert formset.forms[2].errors == {"name": ['Name "WEB-01" is already used in Tentacle row 1.']}
    assert formset.forms[2].tentacle is None
    assert formset.tentacles == []  # nothing is taken from a table with a wrong row


def test_typed_rows_are_limited_to_what_one_form_post_can_carry(settings):
    formset = TentacleRowFormSet()

    assert formset.max_num == formset.absolute_max == TYPED_ROWS_MAX == 200
    # Every typed row (11 fields) and the rest of the start form fit in one post.
    assert TYPED_ROWS_MAX * len(inventory.COLUMNS) + 100 <= settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    assert formset.validate_max is True
    assert len(formset.forms) == 1  # one blank row to type into


def test_a_made_up_row_count_builds_a_form_only_for_the_rows_sent():
    formset = TentacleRowFormSet(posted([{"name": "web-01"}], count=TYPED_ROWS_MAX))

    assert len(formset.forms) == 1
    assert formset.is_valid()
    assert [tentacle.name for tentacle in formset.tentacles] == ["web-01"]


def test_a_row_count_over_the_limit_is_refused():
    formset = TentacleRowFormSet(posted([{"name": "web-01"}], count=TYPED_ROWS_MAX + 1))

    assert not formset.is_valid()
    assert formset.non_form_errors() == [
        "The page can take up to 200 typed Tentacle rows. For more, paste the inventory or "
        "upload it as a CSV file."
    ]
    assert formset.tentacles == []
    shown = formset.redisplay()
    assert shown.management_form["TOTAL_FORMS"].value() == 1
    assert shown.forms[0]["name"].value() == "web-01"


def test_adding_and_removing_rows_keeps_what_was_typed():
    formset = TentacleRowFormSet(posted([{"name": "web-01", "online": "on"}, {"name": "db-01"}]))

    added = formset.edited(add=True, remove=None)
    removed = formset.edited(add=False, remove="0")

    assert [form["name"].value() for form in added] == ["web-01", "db-01", None]
    assert [form["online"].value() for form in added] == [True, False, True]
    assert [form["name"].value() for form in removed] == ["db-01"]
    assert added.management_form["TOTAL_FORMS"].value() == 3
    assert formset.edited(add=False, remove="7").total_form_count() == 2
