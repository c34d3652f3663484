"""Merged recomputes: each change marks the board out of date, and only stale boards are computed."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.touchstone.ledger import capture_enqueued, record_result
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings import boards
from touchstone.rankings.boards import compute_board
from touchstone.rankings.models import LeaderboardEntry, LeaderboardSnapshot
from touchstone.rankings.services import (
    freeze_version,
    leaderboard_is_stale,
    read_board_inputs,
    recompute_leaderboard,
    store_board,
)
from touchstone.submissions.models import Submission
from touchstone.tasks import recompute_leaderboard as recompute_leaderboard_task
from touchstone.tasks import refresh_stale_leaderboards, withdraw


@pytest.fixture
def bootstraps(monkeypatch) -> list[int]:
    """Counts the joint bootstraps a recompute really runs (one per board computed)."""
    calls: list[int] = []
    real = boards.rank_leaderboard

    def counted(probabilities, *args, **kwargs):
        calls.append(len(probabilities))
        return real(probabilities, *args, **kwargs)

    monkeypatch.setattr(boards, "rank_leaderboard", counted)
    return calls


@pytest.fixture
def teams(db) -> list:
    # No passwords: hashing five of them would take longer than the recomputes under test.
    return [get_user_model().objects.create_user(f"team{i}") for i in range(5)]


def record(version, owner, django_capture_on_commit_callbacks, **kwargs) -> Submission:
    """A result recorded and committed, so the recompute it queues is sent."""
    with django_capture_on_commit_callbacks(execute=True):
        return record_result(version, owner, **kwargs)


def run_queued(queued: list[tuple[str, int]]) -> None:
    """Run queued recomputes one after another, as one worker would, including those they queue."""
    while queued:
        task, version_id = queued.pop(0)
        if task == "recompute":
            recompute_leaderboard_task(version_id)


def test_a_burst_of_ten_results_costs_one_bootstrap(
    version, teams, bootstraps, monkeypatch, django_capture_on_commit_callbacks
):
    queued = capture_enqueued(monkeypatch)
    for seed in range(10):
        record(version, teams[seed % 5], django_capture_on_commit_callbacks, accuracy=0.5 + seed / 25, seed=seed)
    assert queued == [("recompute", version.pk)] * 10
    run_queued(queued)
    assert bootstraps == [5]  # one board, one entry per team
    assert LeaderboardEntry.objects.filter(version=version).count() == 5
    assert not leaderboard_is_stale(version_id=version.pk)


def test_results_arriving_between_two_recomputes_cost_a_second_one_and_no_more(
    version, teams, bootstraps, monkeypatch, django_capture_on_commit_callbacks
):
    queued = capture_enqueued(monkeypatch)
    for seed in range(3):
        record(version, teams[seed], django_capture_on_commit_callbacks, accuracy=0.6, seed=seed)
    task, version_id = queued.pop(0)
    assert task == "recompute"
    recompute_leaderboard_task(version_id)
    for seed in range(3, 5):
        record(version, teams[seed], django_capture_on_commit_callbacks, accuracy=0.7, seed=seed)
    run_queued(queued)
    assert bootstraps == [3, 5]
    assert LeaderboardSnapshot.objects.get(version=version).computed_generation == 5


def test_a_board_computed_from_older_inputs_never_replaces_a_newer_one(version, teams):
    first = record_result(version, teams[0], accuracy=0.6, seed=1)
    older = read_board_inputs(version_id=version.pk)
    second = record_result(version, teams[1], accuracy=0.9, seed=2)
    newer = read_board_inputs(version_id=version.pk)
    assert (older.generation, newer.generation) == (1, 2)
    assert store_board(version_id=version.pk, board=compute_board(newer))
    # The slower recompute finishes last: its board must not come back.
    assert not store_board(version_id=version.pk, board=compute_board(older))
    assert {e.submission_id for e in LeaderboardEntry.objects.filter(version=version)} == {first.pk, second.pk}
    assert LeaderboardSnapshot.objects.get(version=version).computed_generation == 2


def test_a_recompute_that_misses_a_result_recorded_meanwhile_queues_another(
    version, teams, monkeypatch, django_capture_on_commit_callbacks
):
    queued = capture_enqueued(monkeypatch)
    first = record(version, teams[0], django_capture_on_commit_callbacks, accuracy=0.6, seed=1)
    queued.clear()
    real = boards.rank_leaderboard
    late = []

    def result_arrives_meanwhile(*args, **kwargs):
        if not late:
            # Recorded without its own message (as if that message were lost): only the
            # recompute that missed it can see that the stored board is behind.
            late.append(record_result(version, teams[1], accuracy=0.9, seed=2))
        return real(*args, **kwargs)

    monkeypatch.setattr(boards, "rank_leaderboard", result_arrives_meanwhile)
    assert recompute_leaderboard_task(version.pk) is True
    assert [e.submission_id for e in LeaderboardEntry.objects.filter(version=version)] == [first.pk]
    assert queued == [("recompute", version.pk)]
    run_queued(queued)
    assert {e.submission_id for e in LeaderboardEntry.objects.filter(version=version)} == {first.pk, late[0].pk}


def test_a_withdrawal_marks_the_board_out_of_date_and_its_recompute_drops_the_entry(
    version, teams, monkeypatch, django_capture_on_commit_callbacks
):
    queued = capture_enqueued(monkeypatch)
    submission = record(version, teams[0], django_capture_on_commit_callbacks, accuracy=0.8, seed=1)
    run_queued(queued)
    assert LeaderboardEntry.objects.filter(version=version).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        withdraw(submission)
    assert leaderboard_is_stale(version_id=version.pk)
    assert queued == [("recompute", version.pk)]
    run_queued(queued)
    assert not LeaderboardEntry.objects.filter(version=version).exists()


def test_freezing_computes_the_final_board_once(
    version, teams, bootstraps, monkeypatch, django_capture_on_commit_callbacks
):
    queued = capture_enqueued(monkeypatch)
    for seed in range(2):
        record(version, teams[seed], django_capture_on_commit_callbacks, accuracy=0.7, seed=seed)
    run_queued(queued)
    with django_capture_on_commit_callbacks(execute=True):
        snapshot = freeze_version(version=version)
    assert snapshot.part == "final" and snapshot.n_entries == 2
    # The freeze computed the final board itself, so it leaves nothing to queue and the board is
    # current: the feedback board, then the final one.
    assert queued == []
    assert not leaderboard_is_stale(version_id=version.pk)
    assert bootstraps == [2, 2]


def test_an_explicit_recompute_stores_a_board_even_when_nothing_changed(version, teams, bootstraps):
    record_result(version, teams[0], accuracy=0.8, seed=1)
    recompute_leaderboard(version=version)
    first = LeaderboardSnapshot.objects.get(version=version).computed_at
    recompute_leaderboard(version=version)
    assert len(bootstraps) == 2
    assert LeaderboardSnapshot.objects.get(version=version).computed_at > first


def test_saving_a_version_read_before_a_result_keeps_the_results_generation(version, teams):
    stale = BenchmarkVersion.objects.get(pk=version.pk)
    record_result(version, teams[0], accuracy=0.8, seed=1)
    stale.description = "Edited in the admin"
    stale.save()
    version.refresh_from_db()
    assert version.description == "Edited in the admin" and version.generation == 1
    assert leaderboard_is_stale(version_id=version.pk)


def test_the_sweep_queues_a_recompute_for_exactly_the_versions_whose_board_is_behind(
    version, teams, monkeypatch, django_capture_on_commit_callbacks
):
    queued = capture_enqueued(monkeypatch)
    record(version, teams[0], django_capture_on_commit_callbacks, accuracy=0.8, seed=1)
    run_queued(queued)
    with django_capture_on_commit_callbacks(execute=True):
        assert refresh_stale_leaderboards() == []
    assert queued == []

    # A change whose own recompute message was lost (or an upgrade that marks boards stale).
    BenchmarkVersion.objects.filter(pk=version.pk).mark_leaderboard_stale()
    with django_capture_on_commit_callbacks(execute=True):
        assert refresh_stale_leaderboards() == [version.pk]
    assert queued == [("recompute", version.pk)]
    run_queued(queued)
    assert not leaderboard_is_stale(version_id=version.pk)
