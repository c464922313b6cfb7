"""Nothing the app keeps in the cache is found by a plan's token: keys hold its hash only."""

import pytest
from django.core.cache import cache

from tests.factories import create_plan

pytestmark = pytest.mark.django_db


def test_no_cache_key_holds_a_token(client, settings):
    # A local-memory cache, whatever REDIS_URL says, so that its keys can be listed.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    created = create_plan()
    for token, prefix in ((created.edit_token, "p"), (created.view_token, "v")):
        client.get(f"/{prefix}/{token}/")
        client.get(f"/{prefix}/{token}/poll", {"v": 0})
        client.get(f"/{prefix}/{token}/poll", {"v": created.plan.version})
    client.get(f"/api/v1/plans/{created.view_token}")

    keys = list(cache._cache)
    assert any("plan-page:" in key for key in keys) and any("plan-version:" in key for key in keys)
    for token in (created.edit_token, created.view_token):
        assert not [key for key in keys if token in key or token[:12] in key]
