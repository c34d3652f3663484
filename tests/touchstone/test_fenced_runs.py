"""Fenced runs: a run that lost its submission (taken over, cancelled by a freeze) changes nothing.

The reports come from the real sandbox (once per model and session); the fences are the
site's own code, run against the test database.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.touchstone.conftest import silence, upload
from touchstone import tasks
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings.models import LadderRelease, LeaderboardEntry
from touchstone.rankings.services import freeze_version, recompute_leaderboard
from touchstone.storage import private_path
from touchstone.submissions import scoring
from touchstone.submissions.models import EvaluationRun, Submission
from touchstone.submissions.runs import beat, report_progress, requeue_stale_runs, start_run
from touchstone.submissions.services import submit_model

pytestmark = pytest.mark.usefixtures("reused_sandbox_runs")


def submit(version, owner, content: bytes, name: str, team: str = "") -> Submission:
    return submit_model(owner=owner, version=version, uploaded_file=upload(content), model_name=name, team=team)


def report_of(submission: Submission):
    return scoring.run_evaluation(submission, progress=lambda fraction, message: None)


def state(submission: Submission) -> dict:
    """Everything a run may write, as stored now."""
    row = Submission.objects.get(pk=submission.pk)
    scored = row.scored_run()
    return {
        "row": {
            field: getattr(row, field)
            for field in ("status", "progress", "progress_message", "error_code", "scored_at", "current_run_id")
        },
        "metrics": sorted(row.metric_results.values_list("part", "metric", "value", "ci_low", "ci_high")),
        "runs": sorted(row.runs.values_list("pk", "outcome", "outcomes_path", "finished_at")),
        "outcome_file": private_path(scored.outcomes_path).read_bytes() if scored else None,
        "releases": sorted(LadderRelease.objects.values_list("submission_id", "sequence", "released", "improved")),
    }


@pytest.fixture
def taken_over(version, researcher, good_model_bytes, settings):
    """A submission whose first run went silent, was taken over and scored by a second run."""
    settings.HEARTBEAT_STALE_SECONDS = 30
    submission = submit(version, researcher, good_model_bytes, "Centroids")
    first = start_run(submission.pk)
    silence(submission, 60)
    second = start_run(submission.pk)
    assert first is not None and second is not None and second.pk != first.pk
    submission.refresh_from_db()
    assert scoring._record_success(submission, second, report_of(submission)) == "scored"
    recompute_leaderboard(version=version)
    return submission, first, second


def test_a_late_writer_changes_no_metric_no_outcome_file_no_status_and_no_release(
    taken_over, version, researcher, weak_model_bytes
):
    submission, first, second = taken_over
    before = state(submission)
    assert before["row"]["status"] == "scored" and before["row"]["current_run_id"] == second.pk
    # The paused run wakes up with a different report (another model's, so any write would show).
    other = submit(version, researcher, weak_model_bytes, "Weak")
    late_report = report_of(other)
    assert late_report.metrics["feedback"]["accuracy"].value != before["metrics"][0][2]

    assert not report_progress(first, 0.5, "batch 3 of 6")
    assert not beat(first)
    assert scoring._record_success(submission, first, late_report) == "superseded"
    assert scoring._record_failure(submission, first, code="internal_error", message="late") == "superseded"
    recompute_leaderboard(version=version)

    assert state(submission) == before
    assert EvaluationRun.objects.get(pk=first.pk).outcome == "superseded"
    # The late run's own outcome file is removed, and the scored run's file is the one it wrote.
    late_files = list(private_path(f"outcomes/{submission.pk}").glob(f"run-{first.pk}-*"))
    assert late_files == []
    assert submission.scored_run().pk == second.pk


def test_a_run_whose_heartbeat_is_fresh_is_not_taken_over(version, researcher, good_model_bytes, settings):
    settings.HEARTBEAT_STALE_SECONDS = 30
    submission = submit(version, researcher, good_model_bytes, "Centroids")
    run = start_run(submission.pk)
    assert run is not None
    silence(submission, 20)
    assert start_run(submission.pk) is None
    assert requeue_stale_runs() == []
    assert Submission.objects.get(pk=submission.pk).current_run_id == run.pk


def test_staleness_is_judged_by_the_database_clock_not_the_workers(
    version, researcher, good_model_bytes, settings, monkeypatch
):
    settings.HEARTBEAT_STALE_SECONDS = 30
    submission = submit(version, researcher, good_model_bytes, "Centroids")
    run = start_run(submission.pk)
    assert run is not None
    # This worker's clock runs an hour ahead: by its clock every heartbeat is an hour old.
    ahead = timezone.now() + timedelta(hours=1)
    monkeypatch.setattr(timezone, "now", lambda: ahead)
    assert start_run(submission.pk) is None
    assert requeue_stale_runs() == []
    # Silent for a minute by the database's clock: taken over, whatever this worker's clock says.
    silence(submission, 60)
    assert requeue_stale_runs() == [submission.pk]
    row = Submission.objects.get(pk=submission.pk)
    assert row.status == "queued" and row.current_run_id is None
    assert EvaluationRun.objects.get(pk=run.pk).outcome == "superseded"
    assert not beat(run)


def test_the_watchdog_requeues_a_silent_run_and_publishes_its_message_once(
    version, researcher, good_model_bytes, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.HEARTBEAT_STALE_SECONDS = 30
    submission = submit(version, researcher, good_model_bytes, "Centroids")
    assert start_run(submission.pk) is not None
    silence(submission, 60)
    published: list[tuple[int, int | None]] = []

    def publish(args, priority=None):
        published.append((args[0], priority))

    monkeypatch.setattr(tasks.evaluate_submission, "apply_async", publish)
    monkeypatch.setattr(tasks.evaluate_submission, "delay", lambda pk: published.append((pk, None)))
    with django_capture_on_commit_callbacks(execute=True):
        tasks.watchdog_pass()
        tasks.watchdog_pass()
    # Once, and ahead of the queue.
    assert published == [(submission.pk, tasks.RECOVERY_PRIORITY)]
    assert Submission.objects.get(pk=submission.pk).status == "queued"


def test_a_freeze_cancels_the_runs_in_flight_and_nothing_they_write_enters_the_final_board(
    version, researcher, good_model_bytes, weak_model_bytes
):
    scored = submit(version, researcher, good_model_bytes, "Scored before", team="a")
    assert scoring.score_submission(submission_id=scored.pk) == "scored"
    running = submit(version, researcher, weak_model_bytes, "Running", team="b")
    queued = submit(version, researcher, weak_model_bytes, "Queued", team="c")
    run = start_run(running.pk)
    assert run is not None
    report = report_of(running)

    freeze_version(version=version)
    for submission in (running, queued):
        row = Submission.objects.get(pk=submission.pk)
        assert (row.status, row.error_code, row.counts_against_quota) == ("failed", "version_frozen", False)
        assert "froze before this evaluation finished" in row.error_message
    assert EvaluationRun.objects.get(pk=run.pk).outcome == "cancelled"
    # The cancelled run finishes anyway: nothing it writes counts.
    assert scoring._record_success(running, run, report) == "superseded"
    assert not running.metric_results.exists()
    assert scoring.score_submission(submission_id=queued.pk) == "skipped"
    recompute_leaderboard(version=BenchmarkVersion.objects.get(pk=version.pk))
    entries = set(LeaderboardEntry.objects.filter(version=version).values_list("submission_id", flat=True))
    assert entries == {scored.pk}


def test_a_run_that_finishes_after_the_freeze_committed_cancels_itself(version, researcher, good_model_bytes):
    submission = submit(version, researcher, good_model_bytes, "Late")
    run = start_run(submission.pk)
    assert run is not None
    report = report_of(submission)
    # The freeze committed, and its cancellation has not reached this row yet.
    BenchmarkVersion.objects.get(pk=version.pk).freeze()
    assert scoring._record_success(submission, run, report) == "superseded"
    row = Submission.objects.get(pk=submission.pk)
    assert (row.status, row.error_code) == ("failed", "version_frozen")
    assert not row.metric_results.exists() and row.scored_at is None


def test_the_ladder_replays_results_in_commit_order_whatever_the_workers_clocks_say(
    version, researcher, good_model_bytes, weak_model_bytes, monkeypatch
):
    first = submit(version, researcher, weak_model_bytes, "Committed first", team="t")
    second = submit(version, researcher, good_model_bytes, "Committed second", team="t")
    runs = {submission.pk: start_run(submission.pk) for submission in (first, second)}
    reports = {submission.pk: report_of(submission) for submission in (first, second)}
    now = timezone.now()
    # The second commit comes from a worker whose clock is ten minutes behind the first's.
    monkeypatch.setattr(timezone, "now", lambda: now)
    assert scoring._record_success(first, runs[first.pk], reports[first.pk]) == "scored"
    monkeypatch.setattr(timezone, "now", lambda: now - timedelta(minutes=10))
    assert scoring._record_success(second, runs[second.pk], reports[second.pk]) == "scored"
    monkeypatch.undo()
    rows = {row.pk: row for row in Submission.objects.filter(pk__in=[first.pk, second.pk])}
    assert rows[second.pk].scored_at < rows[first.pk].scored_at
    assert rows[first.pk].scored_sequence < rows[second.pk].scored_sequence

    recompute_leaderboard(version=version)
    log = list(
        LadderRelease.objects.filter(version=version).order_by("sequence").values_list("submission_id", flat=True)
    )
    assert log == [first.pk, second.pk]


def test_a_redelivered_message_takes_over_a_silent_run_and_scores_it_once(
    version, researcher, good_model_bytes, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.HEARTBEAT_STALE_SECONDS = 30
    submission = submit(version, researcher, good_model_bytes, "Centroids")
    lost = start_run(submission.pk)
    assert lost is not None
    monkeypatch.setattr(tasks.recompute_leaderboard, "delay", lambda version_id: None)
    with django_capture_on_commit_callbacks(execute=True):
        # Redelivered while the first run still beats: it does nothing.
        assert tasks.evaluate_submission.run(submission.pk) == "skipped"
        silence(submission, 60)
        assert tasks.evaluate_submission.run(submission.pk) == "scored"
        assert tasks.evaluate_submission.run(submission.pk) == "skipped"
    outcomes = dict(EvaluationRun.objects.filter(submission=submission).values_list("pk", "outcome"))
    row = Submission.objects.get(pk=submission.pk)
    assert outcomes[lost.pk] == "superseded" and list(outcomes.values()).count("scored") == 1
    assert row.scored_run().pk == row.current_run_id != lost.pk


def test_the_watchdog_recomputes_a_board_whose_recompute_message_was_lost(
    version, researcher, good_model_bytes, monkeypatch, django_capture_on_commit_callbacks
):
    submission = submit(version, researcher, good_model_bytes, "Centroids")
    # Scored, and its recompute message lost: the stored board is behind the newest result.
    assert scoring.score_submission(submission_id=submission.pk) == "scored"
    published: list[int] = []
    monkeypatch.setattr(tasks.recompute_leaderboard, "delay", published.append)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.watchdog_pass()
    assert published == [version.pk]
