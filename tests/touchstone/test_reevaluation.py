"""Which submissions a new version re-evaluates, once only, and behind the uploads."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from tests.touchstone.conftest import upload
from tests.touchstone.ledger import capture_enqueued, record_result
from tests.touchstone.reevaluation_fixture import publish_next
from touchstone import tasks
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings.reevaluation import create_reevaluations, reevaluation_origins
from touchstone.rankings.services import freeze_version, recompute_leaderboard, refresh_leaderboard
from touchstone.submissions.models import Submission
from touchstone.submissions.queueing import next_background, queue_note
from touchstone.submissions.services import submit_model, withdraw_submission


@pytest.fixture
def queued(monkeypatch):
    return capture_enqueued(monkeypatch)


def _board(version: BenchmarkVersion) -> None:
    refresh_leaderboard(version_id=version.pk)


def test_it_re_evaluates_each_teams_released_entry_and_not_its_held_withdrawn_or_failed_ones(
    version, researcher, other_researcher, queued, django_capture_on_commit_callbacks, digits_folder, tmp_path
):
    first = record_result(version, researcher, accuracy=0.8, seed=1)
    better = record_result(version, researcher, accuracy=0.97, seed=2)
    _board(version)
    held = record_result(version, researcher, accuracy=0.5, seed=3)
    grace = record_result(version, other_researcher, accuracy=0.9, seed=4)
    _board(version)
    withdrawn_team = record_result(version, other_researcher, accuracy=0.95, seed=5)
    _board(version)
    withdraw_submission(submission=withdrawn_team)
    Submission.objects.filter(pk=grace.pk).update(status=Submission.Status.FAILED)  # failed: no entry either
    assert {s.pk for s in reevaluation_origins(version)} == {better.pk}

    with django_capture_on_commit_callbacks(execute=True):
        new = publish_next(digits_folder, tmp_path / "digits")
    copies = list(Submission.objects.filter(version=new))
    assert [copy.reevaluation_of_id for copy in copies] == [better.pk]
    copy = copies[0]
    assert (copy.sha256, copy.model_path, copy.team, copy.owner_id) == (
        better.sha256,
        better.model_path,
        better.team,
        better.owner_id,
    )
    assert copy.origin == Submission.Origin.REEVALUATION and not copy.counts_against_quota
    assert copy.status == Submission.Status.QUEUED
    # No upload waits, so the dispatcher handed it to the workers as the publication committed.
    assert ("evaluate", copy.pk) in queued
    assert first.pk != better.pk and held.pk not in {c.reevaluation_of_id for c in copies}


def test_publishing_twice_or_a_redelivered_signal_adds_no_second_re_evaluation(
    version, researcher, queued, django_capture_on_commit_callbacks, digits_folder, tmp_path
):
    entry = record_result(version, researcher, accuracy=0.9, seed=1)
    _board(version)
    with django_capture_on_commit_callbacks(execute=True):
        new = publish_next(digits_folder, tmp_path / "digits")
    assert Submission.objects.filter(version=new).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert create_reevaluations(version=new, previous=version) == []
        tasks.reevaluate_on_publish(BenchmarkVersion, version=new, previous=version)
    assert Submission.objects.filter(version=new, reevaluation_of=entry).count() == 1
    # Even a writer that skips the check cannot add the same re-evaluation twice.
    duplicate = Submission.objects.get(version=new)
    duplicate.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


def test_a_frozen_version_hands_on_its_final_board_entries(
    version, researcher, other_researcher, queued, digits_folder, tmp_path
):
    ada = record_result(version, researcher, accuracy=0.9, seed=1)
    grace = record_result(version, other_researcher, accuracy=0.8, seed=2)
    ada_held = record_result(version, researcher, accuracy=0.3, seed=3)
    _board(version)
    # Published while 1.0.0 was open (a frozen version's hidden items are public, so they would
    # not be reused as they are), and re-evaluated once 1.0.0 froze.
    new = publish_next(digits_folder, tmp_path / "digits")
    freeze_version(version=version)
    assert {s.pk for s in reevaluation_origins(version)} == {ada.pk, grace.pk}
    create_reevaluations(version=new, previous=BenchmarkVersion.objects.get(pk=version.pk))
    assert set(Submission.objects.filter(version=new).values_list("reevaluation_of", flat=True)) == {ada.pk, grace.pk}
    assert ada_held.pk not in set(Submission.objects.filter(version=new).values_list("reevaluation_of", flat=True))


def test_re_evaluations_wait_while_any_upload_is_queued_and_uploads_never_do(
    version, researcher, other_researcher, queued, good_model_bytes, django_capture_on_commit_callbacks, digits_folder,
    tmp_path, settings,
):  # fmt: skip
    settings.BACKGROUND_CONCURRENCY = 2
    record_result(version, researcher, accuracy=0.9, seed=1)
    record_result(version, other_researcher, accuracy=0.8, seed=2)
    _board(version)
    with django_capture_on_commit_callbacks(execute=True):
        upload_row = submit_model(
            owner=researcher, version=version, uploaded_file=upload(good_model_bytes), model_name="Fresh"
        )
        tasks.queue_evaluation(upload_row.pk)
        new = publish_next(digits_folder, tmp_path / "digits")
    copies = list(Submission.objects.filter(version=new).order_by("pk"))
    assert len(copies) == 2
    # The upload went out at once; no re-evaluation did, since an upload is queued.
    assert queued == [("evaluate", upload_row.pk)]
    assert next_background() == []
    assert (
        queue_note(copies[0])
        == f"re-evaluation of #{copies[0].reevaluation_of_id} from digits 1.0.0, queued behind 1 upload"
    )
    # A worker that takes a re-evaluation's message meanwhile (say a second worker, or the sweep)
    # puts it back instead of starting it.
    assert tasks.evaluate_submission.run(copies[0].pk) == "deferred"
    copies[0].refresh_from_db()
    assert copies[0].status == Submission.Status.QUEUED and copies[0].dispatched_at is None
    # Once the upload is claimed, the re-evaluations go out, at most BACKGROUND_CONCURRENCY at once.
    Submission.objects.filter(pk=upload_row.pk).update(status=Submission.Status.RUNNING)
    assert next_background() == [copies[0].pk, copies[1].pk]
    assert next_background() == []
    assert queue_note(Submission.objects.get(pk=copies[0].pk)).endswith("next to run")


def test_with_one_background_slot_re_evaluations_go_out_one_at_a_time_in_order(
    version, researcher, other_researcher, queued, django_capture_on_commit_callbacks, digits_folder, tmp_path
):
    record_result(version, researcher, accuracy=0.9, seed=1)
    record_result(version, other_researcher, accuracy=0.8, seed=2)
    recompute_leaderboard(version=version)
    with django_capture_on_commit_callbacks(execute=True):
        new = publish_next(digits_folder, tmp_path / "digits")
    copies = list(Submission.objects.filter(version=new).order_by("created_at", "pk"))
    assert [pk for task, pk in queued if task == "evaluate"] == [copies[0].pk]
    assert next_background() == []
    Submission.objects.filter(pk=copies[0].pk).update(status=Submission.Status.SCORED)
    assert next_background() == [copies[1].pk]


def test_the_sweep_creates_the_re_evaluations_a_stopped_process_never_made_and_only_once(
    version, researcher, queued, django_capture_on_commit_callbacks, digits_folder, tmp_path
):
    entry = record_result(version, researcher, accuracy=0.9, seed=1)
    _board(version)
    # The publication commits, but its receiver never runs (the process stopped right after).
    new = publish_next(digits_folder, tmp_path / "digits")
    assert not Submission.objects.filter(version=new).exists()
    later = record_result(version, researcher, accuracy=0.99, seed=2)
    _board(version)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.requeue_stalled_submissions.run()
        tasks.requeue_stalled_submissions.run()
    copies = list(Submission.objects.filter(version=new))
    # What the publication would have re-evaluated: not the entry released after it.
    assert [copy.reevaluation_of_id for copy in copies] == [entry.pk] and later.pk != entry.pk
    assert ("evaluate", copies[0].pk) in queued
