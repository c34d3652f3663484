"""Marks taken at the same moment: they take turns on the version's row, so no team gets three.

Each mark runs in its own thread with its own connection to a real database file (or the
PostgreSQL test server); the first is held just after it counted the team's marks.
"""

from __future__ import annotations

import threading

from django.contrib.auth import get_user_model
from django.db import connection

from tests.touchstone.ledger import capture_enqueued, record_result
from tests.touchstone.test_recompute_locks import file_database  # noqa: F401  (a fixture)
from touchstone.benchmarks.services import publish_benchmark
from touchstone.rankings.services import freeze_version
from touchstone.submissions import services
from touchstone.submissions.models import Submission
from touchstone.submissions.services import SubmissionRejected, mark_final

HELD_SECONDS = 15


class HeldCount:
    """Holds the first mark right after it counted the team's marks, until released."""

    def __init__(self, monkeypatch) -> None:
        self.counted, self.release = threading.Event(), threading.Event()
        real = services.final_submissions

        def held(**kwargs):
            marked = list(real(**kwargs))
            if not self.counted.is_set():
                self.counted.set()
                self.release.wait(timeout=HELD_SECONDS)
            return Submission.objects.filter(pk__in=[submission.pk for submission in marked])

        monkeypatch.setattr(services, "final_submissions", held)


def in_thread(work, outcomes: list) -> threading.Thread:
    def run() -> None:
        try:
            outcomes.append(work())
        except BaseException as error:
            outcomes.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_two_marks_at_once_cannot_give_a_team_three(file_database, digits_folder, monkeypatch):  # noqa: F811
    capture_enqueued(monkeypatch)
    version = publish_benchmark(folder=digits_folder)
    owner = get_user_model().objects.create_user("ada")
    first, second, third = (record_result(version, owner, accuracy=0.8, seed=seed) for seed in (1, 2, 3))
    mark_final(submission=first)
    held, outcomes_second, outcomes_third = HeldCount(monkeypatch), [], []

    holder = in_thread(lambda: mark_final(submission=second), outcomes_second)
    assert held.counted.wait(timeout=60), f"the first mark never counted: {outcomes_second}"
    racer = in_thread(lambda: mark_final(submission=third), outcomes_third)
    racer.join(timeout=1)
    waited = racer.is_alive()
    held.release.set()
    holder.join(timeout=60)
    racer.join(timeout=60)

    assert waited, "the second mark did not wait for the first one's transaction"
    assert isinstance(outcomes_second[0], Submission)
    assert isinstance(outcomes_third[0], SubmissionRejected) and "at most 2" in outcomes_third[0].message
    assert set(Submission.objects.filter(final_marked_at__isnull=False).values_list("pk", flat=True)) == {
        first.pk,
        second.pk,
    }


def test_a_mark_that_waited_for_a_freeze_is_refused(file_database, digits_folder, monkeypatch):  # noqa: F811
    capture_enqueued(monkeypatch)
    version = publish_benchmark(folder=digits_folder)
    owner = get_user_model().objects.create_user("ada")
    submission = record_result(version, owner, accuracy=0.8, seed=1)
    frozen, release = threading.Event(), threading.Event()
    real_freeze = type(version).freeze

    def held_freeze(self) -> None:
        real_freeze(self)
        frozen.set()
        release.wait(timeout=HELD_SECONDS)

    monkeypatch.setattr(type(version), "freeze", held_freeze)
    outcomes_freeze, outcomes_mark = [], []
    freezer = in_thread(lambda: freeze_version(version=version), outcomes_freeze)
    assert frozen.wait(timeout=60), f"the freeze never ran: {outcomes_freeze}"
    marker = in_thread(lambda: mark_final(submission=submission), outcomes_mark)
    marker.join(timeout=1)
    waited = marker.is_alive()
    release.set()
    freezer.join(timeout=120)
    marker.join(timeout=60)

    assert waited, "the mark did not wait for the freeze's transaction"
    assert isinstance(outcomes_mark[0], SubmissionRejected) and "frozen" in outcomes_mark[0].message
    assert Submission.objects.get(pk=submission.pk).final_marked_at is None
