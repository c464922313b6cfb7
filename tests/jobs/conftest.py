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
def eager_tasks(request):
    """Run tasks in-process unless the test is about a live worker, whatever REDIS_URL says."""
    if request.node.get_closest_marker("services"):
        yield
        return
    from kombu import pools

    from upgrade_planner.celery import app

    keys = ("task_always_eager", "broker_url")
    saved = {key: app.conf.get(key) for key in keys}
    app.conf.update(task_always_eager=True, broker_url="memory://")
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
    yield
    app.conf.update(saved)
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
