"""The frozen board: one entry per team from its final submissions, no duplicates, nothing withdrawn after."""

from __future__ import annotations

import re

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from evaluation.runner import bootstrap_seed
from evaluation.statistics import (
    holm_family_size,
    minimum_detectable_effect,
    rank_leaderboard,
    typical_discordance_rate,
)
from tests.touchstone.conftest import api_client_for
from tests.touchstone.ledger import hidden_split, record_result
from touchstone import tasks
from touchstone.benchmarks.models import BenchmarkVersion
from touchstone.rankings.models import LadderRelease, LeaderboardSnapshot
from touchstone.rankings.services import freeze_version, recompute_leaderboard
from touchstone.submissions.models import Submission
from touchstone.submissions.outcomes import submission_outcomes
from touchstone.submissions.services import SubmissionRejected


@pytest.fixture
def teams(db) -> list:
    return [get_user_model().objects.create_user(f"team{i}") for i in range(4)]


def board(version) -> dict:
    response = APIClient().get(f"/api/v1/benchmarks/digits/versions/{version.version}/leaderboard/")
    assert response.status_code == 200, response.content
    return response.json()


def final_part(version) -> tuple[np.ndarray, np.ndarray]:
    test, masks = hidden_split(version.folder)
    return masks["final"], test.labels[masks["final"]]


def final_accuracy(version, submission: Submission) -> float:
    mask, labels = final_part(version)
    predictions = submission_outcomes(submission)["probabilities"][mask].argmax(axis=1)
    return float(np.mean(predictions == labels))


def mark(owner, *submissions: Submission) -> None:
    client = api_client_for(owner)
    for submission in submissions:
        response = client.post(f"/api/v1/submissions/{submission.pk}/final/")
        assert response.status_code == 200, response.content


def test_a_frozen_board_ranks_each_team_by_the_better_of_its_marked_pair(version, teams):
    best_unmarked = record_result(version, teams[0], accuracy=0.95, seed=1)
    pair = [record_result(version, teams[0], accuracy=accuracy, seed=seed) for accuracy, seed in ((0.6, 2), (0.75, 3))]
    alone = record_result(version, teams[1], accuracy=0.8, seed=4)
    mark(teams[0], *pair)
    better = max(pair, key=lambda submission: final_accuracy(version, submission))
    assert final_accuracy(version, best_unmarked) > final_accuracy(version, better)

    freeze_version(version=version)

    entries = board(version)["entries"]
    assert sorted((entry["team"], entry["submission"]) for entry in entries) == [
        ("team0", better.pk),
        ("team1", alone.pk),
    ]
    for entry in entries:
        submission = Submission.objects.get(pk=entry["submission"])
        assert entry["metrics"]["accuracy"]["value"] == pytest.approx(final_accuracy(version, submission))
    # The team's other submissions keep their final-part scores on their own pages, without a rank.
    page = APIClient().get(f"/api/v1/submissions/{best_unmarked.pk}/").json()
    assert page["scores_part"] == "final" and page["ranking"] is None and page["final"] is None


def test_a_team_that_marked_nothing_is_represented_by_its_latest_released_submission(version, teams):
    first = record_result(version, teams[0], accuracy=0.7, seed=1)
    released = record_result(version, teams[0], accuracy=0.92, seed=2)
    latest = record_result(version, teams[0], accuracy=0.5, seed=3)
    record_result(version, teams[1], accuracy=0.8, seed=4)
    recompute_leaderboard(version=version)
    improved = dict(LadderRelease.objects.filter(submission__team="team0").values_list("submission_id", "improved"))
    assert improved == {first.pk: True, released.pk: True, latest.pk: False}

    freeze_version(version=version)

    chosen = {entry["team"]: entry["submission"] for entry in board(version)["entries"]}
    assert chosen["team0"] == released.pk
    assert APIClient().get(f"/api/v1/submissions/{released.pk}/").json()["final"] == "default"


def test_identical_prediction_files_count_once_for_the_earliest(version, teams):
    original = record_result(version, teams[0], accuracy=0.8, seed=7)
    copy = record_result(version, teams[1], accuracy=0.8, seed=7)
    another_copy = record_result(version, teams[2], accuracy=0.8, seed=7)
    own = record_result(version, teams[2], accuracy=0.6, seed=8)
    mark(teams[2], another_copy, own)
    stored = [submission_outcomes(s)["probabilities"] for s in (original, copy, another_copy)]
    assert all(np.array_equal(stored[0], other) for other in stored[1:])
    assert final_accuracy(version, another_copy) > final_accuracy(version, own)

    freeze_version(version=version)

    entries = board(version)["entries"]
    # The copy of team1 is team1's only candidate, so team1 has no entry; team2's better
    # candidate is a copy too, so its entry is its own model.
    assert sorted(entry["submission"] for entry in entries) == [original.pk, own.pk]
    assert LeaderboardSnapshot.objects.get(version=version).n_entries == 2


def test_each_baseline_is_its_own_entry(version, teams):
    baselines = [
        record_result(version, teams[3], accuracy=a, seed=s, is_baseline=True) for a, s in ((0.7, 1), (0.6, 2))
    ]
    team = record_result(version, teams[0], accuracy=0.8, seed=3)

    freeze_version(version=version)

    entries = board(version)["entries"]
    assert sorted(entry["submission"] for entry in entries if entry["is_baseline"]) == [b.pk for b in baselines]
    assert [entry["submission"] for entry in entries if not entry["is_baseline"]] == [team.pk]


def test_tiers_ranks_and_p_values_of_a_frozen_board_count_teams_not_submissions(version, teams, settings):
    for index, team in enumerate(teams[:3]):
        for repeat in range(3):
            record_result(version, team, accuracy=0.78 + 0.02 * index - 0.01 * repeat, seed=10 * index + repeat)

    freeze_version(version=version)

    entries = board(version)["entries"]
    assert len(entries) == 3 and len({entry["team"] for entry in entries}) == 3
    mask, labels = final_part(version)
    chosen = sorted(entries, key=lambda entry: entry["submission"])

    def statistics(submissions: list[int]) -> dict:
        probabilities = [
            submission_outcomes(Submission.objects.get(pk=pk))["probabilities"][mask] for pk in submissions
        ]
        computed = rank_leaderboard(
            probabilities,
            labels,
            metrics=version.report_metrics,
            primary=version.primary_metric,
            seed=bootstrap_seed(version.content_hash, "test", "final"),
            n_resamples=settings.BOOTSTRAP_RESAMPLES,
        )
        return {
            pk: (s.rank, s.tier, s.rank_upper_simultaneous, s.p_value_vs_leader)
            for pk, s in zip(submissions, computed, strict=True)
        }

    expected = statistics([entry["submission"] for entry in chosen])
    shown = {
        entry["submission"]: (
            entry["rank"],
            entry["tier"],
            entry["rank_upper_simultaneous"],
            entry["p_value_vs_leader"],
        )
        for entry in chosen
    }
    assert shown == pytest.approx(expected)
    # Ranking every submission would have given other numbers for the same entries.
    every = statistics(list(Submission.objects.order_by("pk").values_list("pk", flat=True)))
    assert {pk: every[pk] for pk in shown} != shown


def test_a_frozen_board_shows_each_entrys_difference_to_the_leader_as_the_library_computes_it(version, teams, settings):
    for index, team in enumerate(teams):
        record_result(version, team, accuracy=0.6 + 0.1 * index, seed=40 + index)
    freeze_version(version=version)

    payload = board(version)
    entries = sorted(payload["entries"], key=lambda entry: entry["submission"])
    mask, labels = final_part(version)
    computed = rank_leaderboard(
        [submission_outcomes(Submission.objects.get(pk=e["submission"]))["probabilities"][mask] for e in entries],
        labels,
        metrics=version.report_metrics,
        primary=version.primary_metric,
        seed=bootstrap_seed(version.content_hash, "test", "final"),
        n_resamples=settings.BOOTSTRAP_RESAMPLES,
    )
    for entry, statistics in zip(entries, computed, strict=True):
        assert entry["difference_to_leader"] == pytest.approx(statistics.difference_to_leader.to_dict())
        gap = entry["difference_to_leader"]
        # Tier 1 is exactly the entries whose interval of the gap to the best of the others reaches 0.
        assert (entry["tier"] == 1) == (gap["ci_high"] >= 0)
    correct = np.stack(
        [
            submission_outcomes(Submission.objects.get(pk=e["submission"]))["probabilities"][mask].argmax(1) == labels
            for e in entries
        ],
        axis=1,
    )
    expected = minimum_detectable_effect(
        len(labels), typical_discordance_rate(correct), family_size=holm_family_size(len(entries))
    )
    assert payload["minimum_detectable_effect"] == pytest.approx(expected)


def test_the_frozen_board_shows_each_teams_rank_on_the_open_board_at_the_freeze(version, teams):
    for index, accuracy in enumerate((0.7, 0.9, 0.8)):
        record_result(version, teams[index], accuracy=accuracy, seed=index)
    recompute_leaderboard(version=version)
    open_ranks = {entry["team"]: entry["rank"] for entry in board(version)["entries"]}
    assert sorted(open_ranks.values()) == [1, 2, 3]

    freeze_version(version=version)

    frozen = board(version)["entries"]
    assert {entry["team"]: entry["feedback_rank"] for entry in frozen} == open_ranks
    # Later recomputes of the frozen board keep the ranks of the open board it replaced.
    recompute_leaderboard(version=version)
    assert {entry["team"]: entry["feedback_rank"] for entry in board(version)["entries"]} == open_ranks

    page = Client().get(f"/benchmarks/digits/{version.version}/").content.decode()
    assert "Open-board rank" in page and "One entry per team" in page
    cells = page.split('class="feedback-rank">')[1:]
    assert [int(cell.split("<", 1)[0]) for cell in cells] == [open_ranks[entry["team"]] for entry in frozen]
    csv = APIClient().get(f"/api/v1/benchmarks/digits/versions/{version.version}/leaderboard/?format=csv")
    assert "feedback_rank" in csv.content.decode().splitlines()[0]
    leader = frozen[0]
    own_page = Client().get(f"/submissions/{leader['submission']}/").content.decode()
    assert f'id="feedback-rank">{open_ranks[leader["team"]]}<' in own_page


def test_a_result_the_open_board_had_not_counted_yet_still_gets_its_feedback_rank(version, teams):
    record_result(version, teams[0], accuracy=0.9, seed=1)
    recompute_leaderboard(version=version)
    # Scored after the last recompute: the open board is brought up to date at the freeze.
    record_result(version, teams[1], accuracy=0.7, seed=2)

    freeze_version(version=version)

    assert {entry["team"]: entry["feedback_rank"] for entry in board(version)["entries"]} == {"team0": 1, "team1": 2}


def test_nothing_can_be_withdrawn_through_the_api_after_the_freeze(version, researcher):
    submission = record_result(version, researcher, accuracy=0.8, seed=1)
    freeze_version(version=version)
    generation = BenchmarkVersion.objects.get(pk=version.pk).generation

    response = api_client_for(researcher).post(f"/api/v1/submissions/{submission.pk}/withdraw/")

    assert response.status_code == 409, response.content
    body = response.json()
    assert set(body) == {"detail", "field"} and body["field"] is None
    assert "cannot be withdrawn" in body["detail"] and "frozen" in body["detail"]
    assert Submission.objects.get(pk=submission.pk).status == Submission.Status.SCORED
    assert BenchmarkVersion.objects.get(pk=version.pk).generation == generation
    assert [entry["submission"] for entry in board(version)["entries"]] == [submission.pk]


def test_a_withdrawal_checked_against_a_version_read_before_the_freeze_is_refused(version, researcher):
    submission = record_result(version, researcher, accuracy=0.8, seed=1)
    read_before = Submission.objects.select_related("version").get(pk=submission.pk)
    freeze_version(version=version)
    assert read_before.version.is_open  # what the caller read is out of date
    with pytest.raises(SubmissionRejected, match="frozen"):
        tasks.withdraw(read_before)
    assert Submission.objects.get(pk=submission.pk).status == Submission.Status.SCORED


def test_the_submission_page_hides_withdrawal_once_frozen_and_refuses_a_posted_one(version, researcher):
    submission = record_result(version, researcher, accuracy=0.8, seed=1)
    page = Client()
    page.force_login(researcher)
    assert "Withdraw this submission" in page.get(f"/submissions/{submission.pk}/").content.decode()
    freeze_version(version=version)

    shown = page.get(f"/submissions/{submission.pk}/").content.decode()
    assert "Withdraw this submission" not in shown and 'id="no-withdrawal"' in shown

    refused = page.post(f"/submissions/{submission.pk}/withdraw/", {"confirm": "yes"}, follow=True).content.decode()
    assert "cannot be withdrawn" in refused
    assert Submission.objects.get(pk=submission.pk).status == Submission.Status.SCORED


def test_the_frozen_page_shows_each_entrys_joint_rank_set_beside_its_marginal_rank_interval(version, teams):
    for index, team in enumerate(teams):
        record_result(version, team, accuracy=0.6 + 0.1 * index, seed=60 + index)
    freeze_version(version=version)

    page = Client().get(f"/benchmarks/digits/{version.version}/").content.decode()
    for entry in board(version)["entries"]:
        row = re.search(rf'<tr [^>]*data-submission="{entry["submission"]}">(.*?)</tr>', page, re.S)
        assert row, f"no row for submission {entry['submission']}"
        rank_set = re.search(r'class="rank-set">(\d+)–(\d+)<', row.group(1))
        assert rank_set, "the row has no rank set"
        assert (int(rank_set.group(1)), int(rank_set.group(2))) == (
            entry["rank_lower_simultaneous"],
            entry["rank_upper_simultaneous"],
        )
        assert f"{entry['rank_lower']}–{entry['rank_upper']}" in row.group(1)
