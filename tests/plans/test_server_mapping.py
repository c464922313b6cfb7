"""The Hydra Server Mapping: the exact string format and the trailing slash rule."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from upgrade_planner.domain.planner import (
    PlanningError,
    build_server_mapping,
    validate_server_mapping,
)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "https://octopus3.mycompany.com:10934",
        "http://new.server:10943",
        "https://new.server:10943/",
        "https://old.server:10943/=>https://new.server:10943/",
        "https://a:10943/=>https://b:10943/,https://c:10943/=>https://d:10943/",
        "https://a:10943/=>https://b:10943/;https://c:10943/=>https://d:10943/",
        " https://a:10943/ => https://b:10943/ ",
        "https://[2001:db8::1]:10943",
    ],
)
def test_valid_mappings_have_no_errors(text):
    assert validate_server_mapping(text) == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("https://old:10943=>https://new:10943/", '"https://old:10943" needs a trailing "/"'),
        ("https://old:10943/=>https://new:10943", '"https://new:10943" needs a trailing "/"'),
        ("https://octopus3.corp", "has no port"),
        ("ftp://octopus3.corp:10943", "must start with https:// or http://"),
        ("octopus3.corp:10943", "is not scheme://host:port"),
        ("https://a:10943,https://b:10943", "lists several addresses"),
        ("https://a:1/=>https://b:2/,", "Entry 2 is empty"),
        ("https://octopus3.corp:10943/octopus", 'has a path "/octopus"'),
        ("https://octopus3.corp:70000", "port 70000; ports run from 1 to 65535"),
        ("https://a:1/=>https://b:2/=>https://c:3/", "is not an old=>new pair"),
        ("https://bad_host!:10943", "invalid host name"),
    ],
)
def test_invalid_mappings_name_the_bad_piece(text, fragment):
    errors = validate_server_mapping(text)

    assert errors
    assert any(fragment in error for error in errors), errors


def test_each_bad_pair_gets_its_own_error():
    errors = validate_server_mapping("https://a:1=>https://b:2/,https://c:3/=>https://d:4")

    assert len(errors) == 2
    assert '"https://a:1=>https://b:2/" (old side)' in errors[0]
    assert '"https://c:3/=>https://d:4" (new side)' in errors[1]


def test_it_builds_the_single_address_form_for_one_new_server():
    mapping = build_server_mapping([("", "https://octopus3.corp:10943/")])

    assert mapping == "https://octopus3.corp:10943"


def test_it_builds_pairs_with_the_required_trailing_slashes():
    mapping = build_server_mapping(
        [
            ("https://old1:10943", "https://new1:10943"),
            ("https://old2:10943/", "https://new2:10943/"),
        ]
    )

    assert mapping == (
        "https://old1:10943/=>https://new1:10943/,https://old2:10943/=>https://new2:10943/"
    )


def test_no_entries_mean_a_blank_mapping():
    assert build_server_mapping([]) == ""


@pytest.mark.parametrize(
    ("entries", "fragment"),
    [
        ([("", "https://a:1"), ("https://old:1", "https://b:1")], "either one new address"),
        ([("", "https://a:1"), ("", "https://b:1")], "Several new addresses"),
        ([("", "https://a")], "has no port"),
    ],
)
def test_it_refuses_mappings_it_cannot_build(entries, fragment):
    with pytest.raises(PlanningError) as error:
        build_server_mapping(entries)

    assert error.value.field == "server_mapping"
    assert fragment in error.value.message


hosts = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){0,2}", fullmatch=True).filter(
    lambda host: not host.endswith("-")
)
addresses = st.builds(
    lambda scheme, host, port: f"{scheme}://{host}:{port}",
    st.sampled_from(["http", "https"]),
    hosts,
    st.integers(min_value=1, max_value=65535),
)


@given(st.lists(st.tuples(addresses, addresses), min_size=1, max_size=4))
def test_built_pair_mappings_always_validate(pairs):
    mapping = build_server_mapping(pairs)

    assert validate_server_mapping(mapping) == []
    assert mapping.count("=>") == len(dict.fromkeys(pairs))


@given(addresses)
def test_a_built_single_address_always_validates(address):
    assert validate_server_mapping(build_server_mapping([("", address)])) == []
