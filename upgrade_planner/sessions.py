"""Django's cached-database sessions, without the look-up before each new one, and without
failing a page that needs no database when the session cannot be saved.

- Django checks that a new session key is unused (a cache read and a query) before it inserts
  the session. The key is 32 characters drawn at random from 36, so a clash is as likely as
  guessing someone's key; should one happen, the insert (a new primary key) fails, and Django
  draws another key and tries again. The check cost a first visit, which every visitor of a
  shared plan link is, two round trips for nothing.
- A plan page in the cache is served without the database, but opening it remembers the plan
  in the browser's session, which is saved after the page is answered. While the database
  cannot be reached that save fails: the page is still served, and the plan is remembered on
  a later visit. Nothing of the unsaved session is kept anywhere (not in the cache either), so
  the browser's next request after the database is back starts from what the database holds.
  Only a lost connection is passed over this way; any other database error, and a session
  deleted meanwhile (a sign-out elsewhere), fail as in Django. A change that needs the
  database (a step moved, with the name given) fails in its view first, with its own answer.
- Django saves a session in a transaction of its own, which costs a BEGIN and a COMMIT round
  trip around a statement that is atomic by itself: outside a transaction each save is one
  INSERT or UPDATE, and a new session is written to the cache once (Django wrote it twice).
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError, UpdateError
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDatabaseStore
from django.contrib.sessions.backends.db import SessionStore as DatabaseStore
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connections,
    router,
)
from django.utils.crypto import get_random_string

logger = logging.getLogger(__name__)

# What a database that cannot be reached raises (psycopg and sqlite3 alike).
UNREACHABLE = (OperationalError, InterfaceError)


class SessionStore(CachedDatabaseStore):
    def _get_new_session_key(self) -> str:
        return get_random_string(32, VALID_KEY_CHARS)

    def save(self, must_create: bool = False) -> None:
        if must_create:
            # Inside create(): the failure must reach the outer save() below before the cached
            # copy is written, or the cache would hold a session the database never had.
            self._save_row(must_create=True)
            self._save_copy()
            return
        try:
            if self.session_key is None:
                self.create()  # the row and the cached copy, as just above
                return
            self._save_row(must_create=False)
        except UNREACHABLE as error:  # a new session's insert
            logger.warning("session not saved, the database is unavailable: %s", error)
            return
        except UpdateError as error:  # an existing session's update
            if not isinstance(error.__context__, UNREACHABLE):
                raise
            logger.warning("session not saved, the database is unavailable: %s", error.__context__)
            return
        self._save_copy()

    def _save_row(self, *, must_create: bool) -> None:
        """Insert (`must_create`) or update the session's row in one statement. Django wraps
        it in a transaction of its own, which costs two more round trips (BEGIN, COMMIT) for a
        statement that is atomic by itself; inside a caller's transaction, where a failed
        statement must not end it, Django's savepoint is kept."""
        base: Any = self  # SessionBase's own methods, which the type stubs do not list
        data = base._get_session(no_load=must_create)
        row = self.create_model_instance(data)
        using = router.db_for_write(self.model, instance=row)
        if connections[using].in_atomic_block:
            DatabaseStore.save(self, must_create=must_create)
            return
        try:
            row.save(force_insert=must_create, force_update=not must_create, using=using)
        except IntegrityError as error:
            if must_create:
                raise CreateError from error  # the key is taken: create() draws another
            raise
        except DatabaseError as error:
            if not must_create:
                raise UpdateError from error
            raise

    def _save_copy(self) -> None:
        """The session in the cache, which is read before the database (cached_db)."""
        base: Any = self  # as above
        try:
            base._cache.set(self.cache_key, base._session, self.get_expiry_age())
        except Exception:
            logger.exception("Error saving to cache (%s)", base._cache)
