import pytest

from tests.fake_octopus import FakeOctopus


@pytest.fixture
def octopus():
    """The new server, already on the plans' target version."""
    with FakeOctopus(version="3.17.14") as fake:
        yield fake


@pytest.fixture
def old_octopus():
    """The old server, with a key of its own."""
    with FakeOctopus(version="2.6.5", api_key="API-OLD") as fake:
        yield fake


@pytest.fixture(autouse=True)
def jobs_run_in_process(eager_tasks):
    """Every test here runs its jobs in-process (see tests/conftest.py: eager_tasks)."""
    return
