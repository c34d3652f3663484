"""The Ladder's release log: append-only, continued by each recompute, never rewritten by a withdrawal."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from evaluation.statistics import ladder_replay
from tests.touchstone.ledger import Hidden, record_probabilities
from touchstone.rankings.boards import compute_board
from touchstone.rankings.disclosure import leaderboard
from touchstone.rankings.models import AppendOnlyError, LadderRelease
from touchstone.rankings.services import leaderboard_is_stale, read_board_inputs, recompute_leaderboard, store_board
from touchstone.submissions.services import withdraw_submission


@pytest.fixture
def hidden(version) -> Hidden:
    return Hidden(version)


@pytest.fixture
def teams(db) -> list:
    return [get_user_model().objects.create_user(f"team{i}") for i in range(3)]


def submit(version, owner, hidden: Hidden, wrong: int, name: str):
    return record_probabilities(version, owner, hidden.wrong_on(wrong), name=name)


def log_rows(version) -> list[tuple]:
    return list(
        LadderRelease.objects.filter(version=version)
        .order_by("sequence")
        .values_list("pk", "sequence", "submission_id", "group", "released", "improved", "ci_low", "ci_high")
    )


def test_the_log_refuses_to_change_or_delete_a_release(version, teams, hidden):
    submit(version, teams[0], hidden, 40, "first")
    recompute_leaderboard(version=version)
    release = LadderRelease.objects.get()
    release.released = 0.99
    with pytest.raises(AppendOnlyError, match="append-only"):
        release.save()
    with pytest.raises(AppendOnlyError):
        release.delete()
    with pytest.raises(AppendOnlyError):
        LadderRelease.objects.filter(pk=release.pk).update(released=0.99)
    with pytest.raises(AppendOnlyError):
        LadderRelease.objects.all().delete()
    assert LadderRelease.objects.get().released == pytest.approx(hidden.accuracy_when_wrong_on(40))


def test_the_database_refuses_two_releases_at_one_place_or_for_one_submission(version, teams, hidden):
    first = submit(version, teams[0], hidden, 40, "first")
    second = submit(version, teams[1], hidden, 30, "second")
    recompute_leaderboard(version=version)
    fields = {"version": version, "group": "team:x", "metric": "accuracy", "n_items": 1, "released": 0.5}
    with pytest.raises(IntegrityError), transaction.atomic():
        LadderRelease.objects.create(submission=first, sequence=3, improved=True, **fields)
    third = submit(version, teams[2], hidden, 20, "third")
    with pytest.raises(IntegrityError), transaction.atomic():
        LadderRelease.objects.create(submission=third, sequence=2, improved=True, **fields)
    assert [row[2] for row in log_rows(version)] == [first.pk, second.pk]


def test_each_recompute_appends_only_what_was_scored_since_and_releases_the_exact_score(version, teams, hidden):
    first = submit(version, teams[0], hidden, 40, "first")
    recompute_leaderboard(version=version)
    before = log_rows(version)
    second = submit(version, teams[0], hidden, 38, "two fewer errors")
    third = submit(version, teams[1], hidden, 50, "another team")
    recompute_leaderboard(version=version)
    after = log_rows(version)
    assert after[:1] == before
    assert [(row[1], row[2]) for row in after] == [(1, first.pk), (2, second.pk), (3, third.pk)]
    assert [row[4] for row in after] == pytest.approx([hidden.accuracy_when_wrong_on(k) for k in (40, 38, 50)])
    assert [row[5] for row in after] == [True, True, True]
    recompute_leaderboard(version=version)
    assert log_rows(version) == after


def test_a_team_continues_its_ladder_from_the_log(version, teams, hidden):
    submit(version, teams[0], hidden, 40, "first")
    recompute_leaderboard(version=version)
    one_fewer = submit(version, teams[0], hidden, 39, "one error fewer")
    worse = submit(version, teams[0], hidden, 60, "worse")
    recompute_leaderboard(version=version)
    held = LadderRelease.objects.filter(submission__in=[one_fewer, worse]).order_by("sequence")
    # Within one standard error of the best: held at the best's value, which stays shown.
    assert [(r.improved, r.released) for r in held] == [(False, pytest.approx(hidden.accuracy_when_wrong_on(40)))] * 2
    assert all(r.ci_low is None for r in held)
    (entry,) = leaderboard(version)["entries"]
    assert entry["model_name"] == "first"


def test_withdrawing_a_teams_best_hides_its_entry_and_keeps_its_bar(version, teams, hidden):
    best = submit(version, teams[0], hidden, 20, "best")
    held = submit(version, teams[0], hidden, 30, "held")
    submit(version, teams[1], hidden, 35, "other team")
    recompute_leaderboard(version=version)
    before = log_rows(version)
    withdraw_submission(submission=best)
    recompute_leaderboard(version=version)
    # The team has no entry now, and the submission the Ladder held is not released.
    assert [e["model_name"] for e in leaderboard(version)["entries"]] == ["other team"]
    assert log_rows(version) == before
    assert not LadderRelease.objects.get(submission=held).improved
    # A replay of the Ladder over what is left would have released it: the log is what prevents it.
    held_losses = (hidden.wrong_on(30).argmax(axis=1) != hidden.labels)[hidden.feedback].astype(float)
    assert ladder_replay([held_losses])[0].improved
    # The bar is still the withdrawn best: 25 errors do not beat 20; 10 do.
    between = submit(version, teams[0], hidden, 25, "between")
    better = submit(version, teams[0], hidden, 10, "better")
    recompute_leaderboard(version=version)
    assert not LadderRelease.objects.get(submission=between).improved
    assert LadderRelease.objects.get(submission=better).improved
    assert [e["model_name"] for e in leaderboard(version)["entries"]] == ["better", "other team"]


def test_withdrawing_and_resubmitting_never_changes_a_released_value(version, teams, hidden, client):
    history = [(0, 30), (0, 31), (1, 40), (0, 25), (1, 20), (0, 26)]
    submissions = [submit(version, teams[team], hidden, wrong, f"{team}-{wrong}") for team, wrong in history]
    recompute_leaderboard(version=version)
    before = log_rows(version)
    shown_before = {s.pk: client.get(f"/api/v1/submissions/{s.pk}/").json()["ladder"] for s in submissions}
    for submission in (submissions[3], submissions[4], submissions[0]):
        withdraw_submission(submission=submission)
        recompute_leaderboard(version=version)
        # Resubmitting the very model it withdrew: the Ladder holds it against the withdrawn best.
        again = submit(version, submission.owner, hidden, history[submissions.index(submission)][1], "again")
        recompute_leaderboard(version=version)
        assert not LadderRelease.objects.get(submission=again).improved
    assert log_rows(version)[: len(before)] == before
    for submission in submissions:
        submission.refresh_from_db()
        if submission.status == "scored":
            assert client.get(f"/api/v1/submissions/{submission.pk}/").json()["ladder"] == shown_before[submission.pk]


def test_a_board_built_on_an_older_log_is_refused_and_the_next_recompute_continues(version, teams, hidden):
    first = submit(version, teams[0], hidden, 40, "first")
    older = read_board_inputs(version_id=version.pk)
    second = submit(version, teams[1], hidden, 30, "second")
    newer = read_board_inputs(version_id=version.pk)
    assert store_board(version_id=version.pk, board=compute_board(older))
    # The newer board continued the log as it was before the first one appended to it.
    assert not store_board(version_id=version.pk, board=compute_board(newer))
    assert [row[2] for row in log_rows(version)] == [first.pk]
    assert leaderboard_is_stale(version_id=version.pk)
    recompute_leaderboard(version=version)
    assert [(row[1], row[2]) for row in log_rows(version)] == [(1, first.pk), (2, second.pk)]


def test_each_baseline_climbs_a_ladder_of_its_own(version, teams, hidden):
    baseline = record_probabilities(version, teams[0], hidden.wrong_on(50), name="baseline", is_baseline=True)
    model = submit(version, teams[0], hidden, 60, "worse than the baseline")
    recompute_leaderboard(version=version)
    groups = dict(LadderRelease.objects.values_list("submission_id", "group"))
    assert groups == {baseline.pk: f"baseline:{baseline.pk}", model.pk: "team:team0"}
    assert {e["model_name"] for e in leaderboard(version)["entries"]} == {"baseline", "worse than the baseline"}
