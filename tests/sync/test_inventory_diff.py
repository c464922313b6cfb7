"""inventory_diff: what a new inventory adds, removes and changes, matched by name."""

import pytest

from tests.factories import tentacle
from upgrade_planner.domain.inventory_diff import (
    fill_unreported,
    inventory_diff,
    inventory_fingerprint,
    kept_as_before,
)


def test_it_finds_added_removed_changed_and_unchanged_tentacles():
    old = [tentacle("web-01"), tentacle("web-02"), tentacle("db-01")]
    new = [
        tentacle("web-01"),
        tentacle("db-01", communication_style="polling", port=10933),
        tentacle("app-01"),
    ]

    diff = inventory_diff(old, new)

    assert [t.name for t in diff.added] == ["app-01"]
    assert [t.name for t in diff.removed] == ["web-02"]
    assert [c.name for c in diff.changed] == ["db-01"]
    assert diff.changed[0].fields == ("port", "communication_style")
    change = diff.changed[0].changes[1]
    assert (change.label, change.old_text, change.new_text) == (
        "communication style",
        "listening",
        "polling",
    )
    assert diff.unchanged == 1
    assert diff.counts() == {"added": 1, "removed": 1, "changed": 1, "unchanged": 1}
    assert not diff.empty


def test_names_match_without_case_and_a_case_change_is_a_change_of_name():
    diff = inventory_diff([tentacle("Web-01")], [tentacle("web-01")])

    assert not diff.added and not diff.removed
    assert diff.changed[0].fields == ("name",)


def test_host_case_and_list_order_are_not_changes():
    old = [tentacle("web-01", hostname="WEB-01.corp", roles=("web", "api"))]
    new = [tentacle("web-01", hostname="web-01.CORP", roles=("api", "web"))]

    assert inventory_diff(old, new).empty
    assert kept_as_before(new, old) == old


def test_an_empty_inventory_removes_everything():
    diff = inventory_diff([tentacle("a"), tentacle("b")], [])

    assert [t.name for t in diff.removed] == ["a", "b"] and diff.unchanged == 0


def test_duplicate_names_are_an_error():
    with pytest.raises(ValueError, match="twice"):
        inventory_diff([], [tentacle("a"), tentacle("A")])


def test_values_show_as_people_read_them():
    diff = inventory_diff(
        [tentacle("a", online=True, environments=())],
        [tentacle("a", online=False, environments=("Prod", "Test"))],
    )

    shown = {c.field: (c.old_text, c.new_text) for c in diff.changed[0].changes}
    assert shown == {"environments": ("—", "Prod, Test"), "online": ("yes", "no")}


def test_names_in_the_log_are_capped():
    diff = inventory_diff([], [tentacle(f"t-{i}") for i in range(10)])

    assert diff.names(limit=3)["added"] == ["t-0", "t-1", "t-2"]


def test_fields_a_source_does_not_report_are_kept_from_the_current_inventory():
    current = [tentacle("web-01", service_account="CORP\\svc", os="Windows 2012", port=10933)]
    fetched = [
        {"name": "WEB-01", "hostname": "web-01.corp", "port": 10934},
        {"name": "web-02", "hostname": "web-02.corp"},
    ]

    filled = fill_unreported(fetched, current)

    assert filled[0]["service_account"] == "CORP\\svc"
    assert filled[0]["os"] == "Windows 2012"
    assert filled[0]["port"] == 10934  # reported: the server's value wins
    assert filled[0]["name"] == "WEB-01"
    assert "service_account" not in filled[1]


def test_the_fingerprint_changes_with_the_inventory():
    one = inventory_fingerprint([tentacle("a")])

    assert one == inventory_fingerprint([tentacle("a")])
    assert one != inventory_fingerprint([tentacle("a", port=1)])
    assert one != inventory_fingerprint([])
