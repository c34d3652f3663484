"""A recompute holds no lock while it computes: uploads and results are written meanwhile.

These tests run the recompute in a second thread with its own connection to a real database
file (or the PostgreSQL test server) and hold it in the middle of its bootstrap.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connection, connections

from tests.touchstone.conftest import upload
from tests.touchstone.ledger import capture_enqueued, record_result
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.benchmarks.services import publish_benchmark
from touchstone.rankings import boards
from touchstone.rankings.models import LadderRelease, LeaderboardEntry, LeaderboardSnapshot
from touchstone.rankings.services import leaderboard_is_stale, recompute_leaderboard
from touchstone.submissions.models import Submission
from touchstone.submissions.services import submit_model

# How long an upload may take while a recompute computes. Uploads of this small model take well
# under a second; a recompute holding a lock would keep it waiting for the whole held bootstrap.
UPLOAD_SECONDS = 5
HELD_SECONDS = 15


@pytest.fixture
def file_database(transactional_db, tmp_path):
    """Every thread's connection goes to one migrated database file for the test's duration.

    Django's SQLite test database lives in shared memory, where a second connection meets table
    locks that fail at once instead of waiting like connections to the site's database file do.
    The PostgreSQL test database is already a real server and is used as it is.
    """
    if connection.vendor != "sqlite":
        yield
        return
    saved_settings, saved_connection = connections.settings[DEFAULT_DB_ALIAS], connections[DEFAULT_DB_ALIAS]
    connections.settings[DEFAULT_DB_ALIAS] = {**saved_settings, "NAME": str(tmp_path / "site.sqlite3")}
    connections[DEFAULT_DB_ALIAS] = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        call_command("migrate", verbosity=0, interactive=False)
        yield
    finally:
        connections[DEFAULT_DB_ALIAS].close()
        connections.settings[DEFAULT_DB_ALIAS] = saved_settings
        connections[DEFAULT_DB_ALIAS] = saved_connection


class HeldBootstrap:
    """Stands in the middle of the real bootstrap until released, and says when it got there."""

    def __init__(self, monkeypatch) -> None:
        self.computing, self.release = threading.Event(), threading.Event()
        real = boards.rank_leaderboard

        def held(*args, **kwargs):
            self.computing.set()
            self.release.wait(timeout=HELD_SECONDS)
            return real(*args, **kwargs)

        monkeypatch.setattr(boards, "rank_leaderboard", held)


def recompute_in_thread(version_id: int, errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            recompute_leaderboard(version=BenchmarkVersion.objects.get(pk=version_id))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_an_upload_commits_while_a_recompute_is_computing(file_database, digits_folder, good_model_bytes, monkeypatch):
    capture_enqueued(monkeypatch)
    version = publish_benchmark(folder=digits_folder)
    owner = get_user_model().objects.create_user("ada", "ada@example.org", "a-long-password-1")
    # A fresh result: the recompute also records what the Ladder released for it.
    scored = record_result(version, owner, accuracy=0.9, seed=1)
    held, errors = HeldBootstrap(monkeypatch), []
    thread = recompute_in_thread(version.pk, errors)
    assert held.computing.wait(timeout=60), f"the recompute never reached its bootstrap: {errors}"
    started = time.monotonic()
    uploaded = submit_model(
        owner=owner, version=version, uploaded_file=upload(good_model_bytes), model_name="Uploaded meanwhile"
    )
    waited = time.monotonic() - started
    still_computing = thread.is_alive() and not held.release.is_set()
    held.release.set()
    thread.join(timeout=120)
    assert not errors
    assert still_computing and waited < UPLOAD_SECONDS, f"the upload waited {waited:.1f} s for the recompute"
    assert Submission.objects.get(pk=uploaded.pk).status == Submission.Status.QUEUED
    # The recompute finished and stored its board once the upload was in.
    (entry,) = LeaderboardEntry.objects.filter(version=version)
    assert entry.submission_id == scored.pk
    assert LadderRelease.objects.get(submission_id=scored.pk).improved


def test_a_result_recorded_while_a_recompute_computes_is_kept_for_the_next_one(
    file_database, digits_folder, monkeypatch
):
    queued = capture_enqueued(monkeypatch)
    version = publish_benchmark(folder=digits_folder)
    owner = get_user_model().objects.create_user("ada", "ada@example.org", "a-long-password-1")
    first = record_result(version, owner, accuracy=0.6, seed=1)
    held, errors = HeldBootstrap(monkeypatch), []
    thread = recompute_in_thread(version.pk, errors)
    assert held.computing.wait(timeout=60), f"the recompute never reached its bootstrap: {errors}"
    started = time.monotonic()
    second = record_result(version, owner, accuracy=0.95, seed=2)
    waited = time.monotonic() - started
    held.release.set()
    thread.join(timeout=120)
    assert not errors and waited < UPLOAD_SECONDS, f"recording a result waited {waited:.1f} s"
    # The held recompute stored the board of what it read: only the first result.
    assert [e.submission_id for e in LeaderboardEntry.objects.filter(version=version)] == [first.pk]
    assert leaderboard_is_stale(version_id=version.pk)
    assert queued.count(("recompute", version.pk)) == 2
    recompute_leaderboard(version=BenchmarkVersion.objects.get(pk=version.pk))
    assert not leaderboard_is_stale(version_id=version.pk)
    # One team: the Ladder now holds the better second result.
    assert [e.submission_id for e in LeaderboardEntry.objects.filter(version=version)] == [second.pk]
    assert LeaderboardSnapshot.objects.get(version=version).computed_generation == 2
