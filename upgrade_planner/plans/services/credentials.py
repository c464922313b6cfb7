"""API keys given again on an existing plan: when a stored key can no longer be read (the
encryption key it was stored with is gone), or was never given, the team enters it on the plan
page instead of making a new plan."""

from __future__ import annotations

from django.db import transaction

from upgrade_planner.domain.vocabulary import ActivityAction
from upgrade_planner.installations import api_keys
from upgrade_planner.plans.models import Plan
from upgrade_planner.plans.services.links import activity_log

# The servers a plan may hold a key for, as the activity log names them.
SERVERS = {"old": "the 2.6 server", "new": "the new server"}


def api_keys_enter(*, plan: Plan, keys: dict[str, str], actor: str) -> list[str]:
    """Store the keys given (`{"old": …, "new": …}`, already checked by
    `api_keys.clean_api_key`; an empty one keeps what is stored), encrypted, and log which
    servers got one — never the key. Returns the names of those servers."""
    given = {server: key for server, key in keys.items() if key}
    unknown = set(given) - set(SERVERS)
    if unknown:
        raise ValueError(f"No server called {sorted(unknown)!r}.")
    if not given:
        return []
    installation = plan.installation
    with transaction.atomic():
        fields = []
        for server, key in given.items():
            field = f"{server}_server_api_key"
            setattr(installation, field, api_keys.encrypt(key))
            fields.append(field)
        installation.save(update_fields=fields)
        named = [SERVERS[server] for server in SERVERS if server in given]
        activity_log(
            plan=plan,
            actor=actor,
            action=ActivityAction.API_KEYS_ENTERED,
            details={"summary": " and ".join(named), "servers": sorted(given)},
        )
    return named
