"""Finding a plan from the token in a link."""

from __future__ import annotations

import hmac

from django.http import Http404

from upgrade_planner.plans.models import PlanLink, hash_token


class LinkReplaced(Exception):
    """The token belonged to a link that an editor has since rotated."""


def link_for_token(token: str) -> PlanLink:
    """The current link for `token` with its plan and installation, in one query.

    Raises Http404 for an unknown token and LinkReplaced for a rotated one.
    """
    token_hash = hash_token(token)
    link = (
        PlanLink.objects.select_related("plan__installation").filter(token_hash=token_hash).first()
    )
    # The lookup is by hash, so its timing says nothing about the token; the comparison
    # below keeps it that way should the lookup ever change.
    if link is None or not hmac.compare_digest(link.token_hash, token_hash):
        raise Http404("No plan has this link.")
    if link.replaced_at is not None:
        raise LinkReplaced
    return link
