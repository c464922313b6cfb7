"""Migration sizing: migrator flags, memory, pruning and an honest time range."""

import pytest

from tests.plans.builders import plan
from upgrade_planner.domain.planner import size_migration

COMMAND = (
    'Octopus.Migrator.exe migrate --instance "OctopusServer" '
    '--file "<path to .octobak>" --master-key "<master key>"'
)


def test_without_sizes_it_gives_one_command_and_a_wide_honest_range():
    sizing = size_migration(None, None, None)

    assert sizing.migrator_flags == ()
    assert sizing.command == COMMAND
    assert "500 MB" in sizing.ram_advice and "32 GB" in sizing.ram_advice
    assert sizing.prune_first is False
    assert (sizing.duration_low_hours, sizing.duration_high_hours) == (0.5, 48.0)
    assert any("estimate" in note for note in sizing.notes)
    assert any("days" in note for note in sizing.notes)


def test_a_small_backup_needs_no_second_pass_or_extra_memory():
    sizing = size_migration(300, None, None)

    assert sizing.migrator_flags == ()
    assert "300 MB" in sizing.ram_advice and "usual memory" in sizing.ram_advice
    assert sizing.duration_high_hours < 8


def test_a_large_backup_skips_logs_first_and_imports_them_afterwards():
    sizing = size_migration(800, None, None)

    assert sizing.migrator_flags == ("--nologs", "--onlylogs")
    assert sizing.command.splitlines() == [f"{COMMAND} --nologs", f"{COMMAND} --onlylogs"]
    assert "at least 16 GB" in sizing.ram_advice
    assert "600 MB" in sizing.ram_advice  # the other page's figure is mentioned
    assert sizing.prune_first is False


def test_a_backup_over_a_gigabyte_needs_32_gb_and_pruning_first():
    sizing = size_migration(2048, None, None)

    assert "at least 32 GB" in sizing.ram_advice
    assert sizing.prune_first is True
    assert sizing.duration_high_hours >= 24  # "hours or even days"


def test_many_documents_mean_pruning_even_with_a_small_backup():
    sizing = size_migration(100, 200_000, None)

    assert sizing.prune_first is True
    assert "--nologs" in sizing.migrator_flags
    assert any("200,000 documents" in note for note in sizing.notes)


def test_history_to_keep_becomes_maxage_on_the_first_pass_only():
    sizing = size_migration(900, None, 90)

    first, second = sizing.command.splitlines()
    assert first == f"{COMMAND} --maxage=90 --nologs"
    assert second == f"{COMMAND} --onlylogs"
    assert sizing.migrator_flags == ("--maxage=90", "--nologs", "--onlylogs")


def test_without_history_to_keep_it_suggests_maxage():
    sizing = size_migration(100, None, None)

    assert any("--maxage" in note and "90 days" in note for note in sizing.notes)


@pytest.mark.parametrize(
    ("smaller", "larger"),
    [((100, None), (1000, None)), ((1000, None), (5000, None)), ((None, 10_000), (None, 500_000))],
)
def test_more_data_never_means_a_shorter_estimate(smaller, larger):
    low = size_migration(*smaller, None)
    high = size_migration(*larger, None)

    assert high.duration_low_hours >= low.duration_low_hours
    assert high.duration_high_hours > low.duration_high_hours
    assert low.duration_low_hours < low.duration_high_hours


def test_sizing_is_only_for_the_2_6_migration():
    assert plan(server_version="3.17.14", target_version="2019.1.0").migration is None
    migration = plan(backup_size_mb=800).migration
    assert migration is not None and "--nologs" in migration.migrator_flags
