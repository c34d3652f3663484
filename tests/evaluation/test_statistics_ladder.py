"""The parameter-free Ladder: what it releases, and that noise does not move it."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.statistics import ladder_replay, ladder_step, round_to_grid


def losses(n_items: int, wrong: list[int] | range) -> np.ndarray:
    result = np.zeros(n_items)
    result[list(wrong)] = 1.0
    return result


def test_it_rounds_to_multiples_of_one_over_root_n():
    assert round_to_grid(0.237, 100) == pytest.approx(0.2)
    assert round_to_grid(0.26, 100) == pytest.approx(0.3)
    assert round_to_grid(0.2375, 400) == pytest.approx(0.25)


def test_it_releases_the_first_score_rounded():
    decision = ladder_step(None, losses(100, range(23)), None)
    assert decision.released_value == pytest.approx(0.2)
    assert decision.improved and decision.new_best_is_candidate


def test_it_releases_a_clear_improvement():
    best = losses(100, range(30))
    decision = ladder_step(best, losses(100, range(10)), 0.3)
    assert decision.released_value == pytest.approx(0.1)
    assert decision.improved and decision.new_best_is_candidate


def test_it_holds_an_improvement_within_one_standard_error():
    # n = 400: the candidate fixes 10 of the best's 100 errors and makes 7 new ones, loss
    # 0.2425. The differences have s ≈ 0.206, so the bar is 0.25 - 0.206 / 20 ≈ 0.2397.
    best = losses(400, range(100))
    candidate = losses(400, [*range(10, 100), *range(100, 107)])
    decision = ladder_step(best, candidate, 0.25)
    assert decision.released_value == 0.25
    assert not decision.improved and not decision.new_best_is_candidate


def test_it_takes_a_new_best_without_changing_the_shown_value_when_rounding_hides_it():
    # Five fewer errors clear the bar (s ≈ 0.19, bar ≈ 0.2403) but 0.2375 still rounds to 0.25.
    best = losses(400, range(100))
    candidate = losses(400, [*range(10, 100), *range(100, 105)])
    decision = ladder_step(best, candidate, 0.25)
    assert decision.released_value == pytest.approx(0.25)
    assert not decision.improved and decision.new_best_is_candidate


def test_it_does_not_move_on_resubmissions_that_only_add_noise():
    # A team resubmits its model 200 times with noise that re-draws 5% of its answers at the
    # model's own error rate: no real change. Showing the best raw score would climb; the
    # Ladder's shown value must stay where the first submission put it.
    rng = np.random.default_rng(1)
    n_items = 2500
    best = losses(n_items, rng.choice(n_items, size=500, replace=False))
    history = [best]
    for _ in range(200):
        candidate = best.copy()
        noisy = rng.random(n_items) < 0.05
        candidate[noisy] = rng.random(noisy.sum()) < 0.2
        history.append(candidate)
    decisions = ladder_replay(history)
    assert [d.released_value for d in decisions] == pytest.approx([0.2] * len(decisions))
    assert sum(d.improved for d in decisions) == 1
    naive_best = min(h.mean() for h in history)
    # The best of 201 noisy scores looks about 12 items (0.005) better than the model is.
    assert naive_best < 0.2 - 0.004


def test_it_replays_a_team_history_step_by_step():
    n_items = 100
    history = [
        losses(n_items, range(40)),  # first: 0.4
        losses(n_items, [*range(2, 40), 99]),  # one item better: within noise, held
        losses(n_items, range(20)),  # clearly better: 0.2
        losses(n_items, range(50)),  # worse: held
    ]
    decisions = ladder_replay(history)
    assert [d.released_value for d in decisions] == pytest.approx([0.4, 0.4, 0.2, 0.2])
    assert [d.improved for d in decisions] == [True, False, True, False]
    assert [d.new_best_is_candidate for d in decisions] == [True, False, True, False]


def test_it_measures_the_noise_against_the_current_best():
    # After the clear improvement, a candidate identical to the new best (s = 0) that is
    # compared with it must not count as an improvement.
    history = [losses(100, range(40)), losses(100, range(20)), losses(100, range(20))]
    decisions = ladder_replay(history)
    assert decisions[2].new_best_is_candidate is False


def test_it_measures_the_bar_from_the_best_loss_not_the_rounded_value():
    # n = 100, best loss 0.34 shown as 0.3. The candidate (0.29: five fewer errors, s ≈ 0.219)
    # clears 0.34 - 0.0219 but would not clear 0.3 - 0.0219.
    best = losses(100, range(34))
    decision = ladder_step(best, losses(100, range(29)), 0.3)
    assert decision.new_best_is_candidate
    assert decision.released_value == pytest.approx(0.3) and not decision.improved


def test_it_rejects_losses_on_different_items():
    with pytest.raises(ValueError, match="same items"):
        ladder_step(np.zeros(10), np.zeros(11), 0.1)
