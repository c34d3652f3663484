"""Which database the Django tests run on.

The suite runs on SQLite by default, like ``make run``. With ``TOUCHSTONE_TEST_DATABASE=postgres``
it starts a throwaway PostgreSQL cluster, points Django at it and runs only the tests that use
Django's test database: production stores leaderboards in PostgreSQL, whose ``jsonb`` forgets
key order and whose ``SELECT ... FOR UPDATE`` really locks rows, and SQLite shows neither.
"""

from __future__ import annotations

import os

import pytest

ENVIRONMENT_VARIABLE = "TOUCHSTONE_TEST_DATABASE"
CHOICES = ("sqlite", "postgres")

# pytest-django gives these fixtures a test database; a test that requests one of them (directly
# or through another fixture) or carries the django_db marker touches Django's database.
DATABASE_FIXTURES = ("db", "transactional_db", "live_server", "django_db_setup")


def chosen_database() -> str:
    """``sqlite`` or ``postgres``, from ``TOUCHSTONE_TEST_DATABASE`` (``sqlite`` when unset)."""
    chosen = os.environ.get(ENVIRONMENT_VARIABLE, "").strip().lower() or "sqlite"
    if chosen not in CHOICES:
        raise pytest.UsageError(
            f"{ENVIRONMENT_VARIABLE}={os.environ[ENVIRONMENT_VARIABLE]!r} is not a test database; "
            f"set it to one of {', '.join(CHOICES)} or leave it unset for sqlite."
        )
    return chosen


def uses_django_database(item: pytest.Item) -> bool:
    """Whether the test gets Django's test database, the way pytest-django decides it."""
    if item.get_closest_marker("django_db") is not None:
        return True
    names = getattr(item, "fixturenames", ())
    return any(name in names for name in DATABASE_FIXTURES)


def point_django_at(database_url: str) -> None:
    """Make Django's ``default`` database the one at ``database_url`` before tests create theirs.

    The settings dict is changed in place because Django's connection handler keeps a reference
    to it; a connection opened earlier (to the SQLite file) is closed and forgotten so that the
    next use builds one for the new engine.
    """
    from django.conf import settings
    from django.db import DEFAULT_DB_ALIAS, connections

    from touchstone.env import database_from_url

    settings.DATABASES[DEFAULT_DB_ALIAS].update(database_from_url(database_url, base_dir=settings.BASE_DIR))
    for connection in connections.all(initialized_only=True):
        if connection.alias == DEFAULT_DB_ALIAS:
            connection.close()
            del connections[DEFAULT_DB_ALIAS]
