"""The choice of a frozen board's entries from what a recompute read, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from touchstone.rankings.finals import FinalChoices, choose_final_entries, final_candidates, prediction_fingerprint
from touchstone.submissions.models import Submission

START = datetime(2026, 1, 1, tzinfo=UTC)


def ledger(*rows: tuple[str, bool]) -> list[Submission]:
    """Unsaved submissions in scoring order, one per (team, is_baseline), created a minute apart."""
    return [
        Submission(pk=index + 1, team=team, is_baseline=baseline, created_at=START + timedelta(minutes=index))
        for index, (team, baseline) in enumerate(rows)
    ]


def test_it_takes_the_lower_value_when_lower_is_better():
    submissions = ledger(("a", False), ("a", False))
    choices = FinalChoices(marked=frozenset({1, 2}))
    assert choose_final_entries(submissions, ["x", "y"], [0.40, 0.35], choices, higher_is_better=False) == [1]
    assert choose_final_entries(submissions, ["x", "y"], [0.40, 0.35], choices, higher_is_better=True) == [0]


def test_it_keeps_the_earlier_of_a_tied_pair():
    submissions = ledger(("a", False), ("a", False))
    choices = FinalChoices(marked=frozenset({1, 2}))
    assert choose_final_entries(submissions, ["x", "y"], [0.5, 0.5], choices, higher_is_better=True) == [0]


def test_a_duplicate_keeps_the_earliest_submitted_even_when_it_was_scored_later():
    # Scoring order puts team b's copy first, but team a submitted the predictions earlier.
    submissions = ledger(("b", False), ("a", False))
    submissions[0].created_at = START + timedelta(hours=1)
    chosen = choose_final_entries(submissions, ["same", "same"], [0.9, 0.9], FinalChoices(), higher_is_better=True)
    assert chosen == [1]


def test_every_baseline_is_its_own_candidate_and_never_a_teams():
    submissions = ledger(("baselines", True), ("baselines", True), ("baselines", False))
    candidates = final_candidates(submissions, FinalChoices(released=frozenset({1, 2, 3})))
    assert sorted(candidates.values()) == [[0], [1], [2]]


def test_a_team_without_a_public_released_submission_falls_back_to_its_latest_scored_one():
    submissions = ledger(("a", False), ("a", False), ("b", False), ("b", False))
    candidates = final_candidates(submissions, FinalChoices(released=frozenset({3})))
    assert candidates == {"team:a": [1], "team:b": [2]}


def test_the_fingerprint_tells_equal_arrays_from_equal_bytes_of_another_shape_or_type():
    probabilities = np.arange(12, dtype=np.float32).reshape(4, 3) / 12
    assert prediction_fingerprint(probabilities) == prediction_fingerprint(probabilities.copy())
    assert prediction_fingerprint(probabilities) != prediction_fingerprint(probabilities.reshape(3, 4))
    assert prediction_fingerprint(probabilities) != prediction_fingerprint(probabilities.view(np.int32))
    changed = probabilities.copy()
    changed[3, 2] = np.nextafter(changed[3, 2], np.float32(2))
    assert prediction_fingerprint(probabilities) != prediction_fingerprint(changed)
