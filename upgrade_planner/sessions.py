"""Django's cached-database sessions, without the look-up before each new one, and without
failing a page that needs no database when the session cannot be saved.

- Django checks that a new session key is unused (a cache read and a query) before it inserts
  the session. The key is 32 characters drawn at random from 36, so a clash is as likely as
  guessing someone's key; should one happen, the insert (a new primary key) fails, and Django
  draws another key and tries again. The check cost a first visit, which every visitor of a
  shared plan link is, two round trips for nothing.
- A plan page in the cache is served without the database, but opening it remembers the plan
  in the browser's session, which is saved after the page is answered. While the database is
  down that save fails: the page is still served, and the plan is remembered next time.
  Everything else that changes a session (a name given with a step change) is a write,
  which fails with its own clear answer first.
"""

from __future__ import annotations

import logging

from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDatabaseStore
from django.db import DatabaseError
from django.utils.crypto import get_random_string

logger = logging.getLogger(__name__)


class SessionStore(CachedDatabaseStore):
    def _get_new_session_key(self) -> str:
        return get_random_string(32, VALID_KEY_CHARS)

    def save(self, must_create: bool = False) -> None:
        try:
            super().save(must_create)
        except DatabaseError as error:
            logger.warning("session not saved, the database is unavailable: %s", error)
