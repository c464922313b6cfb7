"""Django's cached-database sessions, without the look-up before each new one.

Django checks that a new session key is unused (a cache read and a query) before it inserts
the session. The key is 32 characters drawn at random from 36, so a clash is as likely as
guessing someone's key; should one happen, the insert (a new primary key) fails, and Django
draws another key and tries again. The check cost a first visit, which every visitor of a
shared plan link is, two round trips for nothing.
"""

from __future__ import annotations

from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDatabaseStore
from django.utils.crypto import get_random_string


class SessionStore(CachedDatabaseStore):
    def _get_new_session_key(self) -> str:
        return get_random_string(32, VALID_KEY_CHARS)
