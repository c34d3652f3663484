"""The sweep that publishes again the message of a submission whose worker or message was lost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tests.touchstone.conftest import upload
from touchstone import tasks
from touchstone.submissions.models import Submission
from touchstone.submissions.scoring import requeue_stalled
from touchstone.submissions.services import submit_model

HOUR = 3600.0


def submit(version, owner, content: bytes, name: str) -> Submission:
    return submit_model(owner=owner, version=version, uploaded_file=upload(content), model_name=name)


def age(submission: Submission, seconds: float) -> None:
    """Make the row look untouched for ``seconds``: its message published then, or its last heartbeat."""
    then = timezone.now() - timedelta(seconds=seconds)
    Submission.objects.filter(pk=submission.pk).update(updated_at=then, heartbeat_at=then)


@pytest.fixture
def rows(version, researcher, good_model_bytes):
    """One submission in each state the sweep tells apart."""
    made = {
        name: submit(version, researcher, good_model_bytes, name)
        for name in ("stalled", "live", "lost", "waiting", "scored")
    }
    for name in ("stalled", "live", "scored"):
        assert made[name].claim()
    Submission.objects.filter(pk=made["scored"].pk).update(status=Submission.Status.SCORED)
    for name in ("stalled", "lost", "scored"):
        age(made[name], 2 * HOUR)
    return made


def test_a_run_whose_worker_died_is_queued_again_and_only_it(rows):
    due = requeue_stalled(running_for_seconds=HOUR, queued_for_seconds=3 * HOUR)
    assert due == [rows["stalled"].pk]
    statuses = dict(Submission.objects.values_list("model_name", "status"))
    assert statuses == {
        "stalled": "queued",
        "live": "running",
        "lost": "queued",
        "waiting": "queued",
        "scored": "scored",
    }
    # Any worker can now claim the submission again.
    assert Submission.objects.get(pk=rows["stalled"].pk).claim()


def test_a_queued_submission_whose_message_is_older_than_the_bound_is_published_again(rows):
    due = requeue_stalled(running_for_seconds=3 * HOUR, queued_for_seconds=HOUR)
    assert due == [rows["lost"].pk]
    lost = Submission.objects.get(pk=rows["lost"].pk)
    assert lost.status == "queued"
    # Its message counts as published now, so the next sweeps leave it alone for a while.
    assert timezone.now() - lost.updated_at < timedelta(minutes=1)
    assert requeue_stalled(running_for_seconds=3 * HOUR, queued_for_seconds=HOUR) == []


def test_a_submission_queued_again_by_the_sweep_is_not_also_published_as_lost(rows):
    # The stalled run becomes queued in the first pass; the second pass must not count it twice.
    due = requeue_stalled(running_for_seconds=HOUR, queued_for_seconds=0.0)
    assert sorted(due) == sorted([rows["stalled"].pk, rows["lost"].pk, rows["waiting"].pk])


@pytest.mark.parametrize("interrupted_read", [0, 1], ids=["running-rows", "queued-rows"])
def test_two_sweeps_at_once_publish_each_submission_once(rows, interrupted_read):
    """A second sweep runs completely between the first sweep's read of its candidates and its
    updates (the interleaving two beat processes or two workers can produce)."""
    results: dict[str, list[int]] = {}
    selects = []

    def run_the_other_sweep_after_a_read(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.lstrip().upper().startswith("SELECT") and "other" not in results:
            selects.append(sql)
            if len(selects) - 1 == interrupted_read:
                results["other"] = []
                results["other"] = requeue_stalled(running_for_seconds=HOUR, queued_for_seconds=HOUR)
        return result

    with connection.execute_wrapper(run_the_other_sweep_after_a_read):
        results["first"] = requeue_stalled(running_for_seconds=HOUR, queued_for_seconds=HOUR)
    assert "other" in results, "the second sweep never ran"
    published = results["first"] + results["other"]
    assert sorted(published) == sorted([rows["stalled"].pk, rows["lost"].pk])


def test_the_sweep_task_publishes_one_evaluation_message_per_submission_due(
    rows, settings, django_capture_on_commit_callbacks
):
    settings.HEARTBEAT_STALE_SECONDS = HOUR  # the stalled row's heartbeat is two hours old
    settings.REQUEUE_QUEUED_SECONDS = HOUR
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        due = tasks.requeue_stalled_submissions()
    assert due == [rows["stalled"].pk, rows["lost"].pk]
    # The run lost with its worker goes ahead of the queue; the lost message is published as usual.
    assert [(callback.func, callback.args, callback.keywords) for callback in callbacks] == [
        (tasks.publish_evaluation, (rows["stalled"].pk,), {"priority": tasks.RECOVERY_PRIORITY}),
        (tasks.publish_evaluation, (rows["lost"].pk,), {}),
    ]
