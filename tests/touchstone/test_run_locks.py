"""Taking a submission for a run never waits for the locks an upload holds (PostgreSQL).

An upload locks its version's row and its owner's row while it checks the quota. A worker that
wrote the submission's row twice in the transaction that takes it made PostgreSQL check every
foreign key of that row at commit, which waits for those same rows: with the upload waiting in
turn for the worker's key lock on the owner, the two deadlocked and the worker's message was
lost. SQLite takes the whole database for each write and shows neither.
"""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from tests.touchstone.conftest import silence, upload
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.submissions.models import EvaluationRun, Submission
from touchstone.submissions.runs import requeue_stale_runs, start_run
from touchstone.submissions.services import submit_model

pytestmark = pytest.mark.django_db(transaction=True)


class UploadLocks:
    """Another connection holding an upload's locks (the version's row, then the owner's) until released."""

    def __init__(self, version, owner) -> None:
        self.held, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, args=(version.pk, owner.pk))

    def _hold(self, version_id: int, owner_id: int) -> None:
        try:
            with transaction.atomic():
                BenchmarkVersion.objects.select_for_update().get(pk=version_id)
                get_user_model().objects.select_for_update().filter(pk=owner_id).first()
                self.held.set()
                self.release.wait(60)
        finally:
            connection.close()

    def __enter__(self) -> UploadLocks:
        self.thread.start()
        assert self.held.wait(30), "the upload's locks were not taken"
        with connection.cursor() as cursor:
            # A wait for those locks fails here instead of hanging the test.
            cursor.execute("SET lock_timeout = '5s'")
        return self

    def __exit__(self, *exc_info) -> None:
        self.release.set()
        self.thread.join(60)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")


def test_taking_and_requeueing_a_row_do_not_wait_for_an_uploads_locks(version, researcher, good_model_bytes, settings):
    if connection.vendor != "postgresql":
        pytest.skip(
            "row locks and deferred foreign-key checks are PostgreSQL's; run with TOUCHSTONE_TEST_DATABASE=postgres"
        )
    settings.HEARTBEAT_STALE_SECONDS = 30
    submission = submit_model(
        owner=researcher, version=version, uploaded_file=upload(good_model_bytes), model_name="Locks"
    )
    with UploadLocks(version, researcher):
        run = start_run(submission.pk)
        assert run is not None
        silence(submission, 60)
        assert requeue_stale_runs() == [submission.pk]
        again = start_run(submission.pk)
    assert again is not None and again.attempt == 2
    assert EvaluationRun.objects.get(pk=run.pk).outcome == "superseded"
    assert Submission.objects.get(pk=submission.pk).current_run_id == again.pk
