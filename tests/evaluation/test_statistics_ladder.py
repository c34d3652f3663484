"""The parameter-free Ladder as published: what it releases, on which grid, and against what bar."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from evaluation.statistics import beats_bar, ladder_replay, ladder_step, release_value

ZERO_ONE = (0.0, 1.0)


def losses(n_items: int, wrong: list[int] | range) -> np.ndarray:
    result = np.zeros(n_items)
    result[list(wrong)] = 1.0
    return result


def authors_ladder(history: list[np.ndarray]) -> tuple[list[Fraction], int]:
    """Blum & Hardt's Algorithm 2 for 0/1 losses, in exact arithmetic: the reference.

    ``R_0 = inf``; for each ``l_t``: ``s = std(l_t - l_best)`` (ddof = 1); if
    ``mean(l_t) < R_{t-1} - s / sqrt(n)`` then ``R_t = [mean(l_t)]_{1/n}`` and ``l_best = l_t``,
    else ``R_t = R_{t-1}``. Squares are compared as fractions, so no rounding decides a tie.
    Also returns how many candidates sat exactly on the bar.
    """
    released: list[Fraction] = []
    ties = 0
    best: list[int] | None = None
    for current in history:
        values = [int(v) for v in current]
        n_items = len(values)
        mean = Fraction(sum(values), n_items)
        if best is None:
            best, shown = values, mean
        else:
            differences = [a - b for a, b in zip(values, best, strict=True)]
            centre = Fraction(sum(differences), n_items)
            variance = sum((Fraction(d) - centre) ** 2 for d in differences) / (n_items - 1)
            gap = released[-1] - mean  # R_{t-1} - mean(l_t) must exceed s / sqrt(n)
            ties += gap > 0 and gap * gap == variance / n_items
            if gap > 0 and gap * gap > variance / n_items:
                best, shown = values, mean
            else:
                shown = released[-1]
        released.append(shown)
    return released, ties


def test_it_releases_the_exact_score_on_the_one_over_n_grid():
    assert release_value(0.23, 100, ZERO_ONE) == 0.23
    assert release_value(0.2375, 400, ZERO_ONE) == 0.2375
    # A continuous loss is rounded to the nearest multiple of 1/n.
    assert release_value(0.123456, 1000) == pytest.approx(0.123)
    decision = ladder_step(None, losses(100, range(23)), None, loss_range=ZERO_ONE)
    assert decision.released_value == 0.23 and decision.improved


def test_it_keeps_released_values_inside_the_range_of_the_loss():
    assert release_value(-0.0004, 1000) == 0.0
    assert release_value(1.0004, 1000, ZERO_ONE) == 1.0
    assert release_value(2.3, 10, (0.0, 2.0)) == 2.0
    assert math.copysign(1.0, release_value(-0.0001, 100)) == 1.0  # never a negative zero either


def test_it_follows_a_hand_computed_sequence():
    # n = 100, 0/1 losses. A release needs a > b and (a - b)^2 > a + b, where a items are
    # fixed and b broken relative to the team's best.
    n_items = 100
    history = [
        losses(n_items, range(40)),  # first: released 0.40
        losses(n_items, range(1, 40)),  # a = 1, b = 0: 1 > 1 fails, held at 0.40
        losses(n_items, range(2, 40)),  # a = 2, b = 0: 4 > 2, released 0.38
        losses(n_items, [*range(5, 40), 90, 91]),  # a = 3, b = 2: 1 > 5 fails, held
        losses(n_items, [*range(7, 40), 90]),  # a = 5, b = 1: 16 > 6, released 0.34
        losses(n_items, range(60)),  # worse: held
    ]
    decisions = ladder_replay(history, loss_range=ZERO_ONE)
    assert [d.released_value for d in decisions] == [0.40, 0.40, 0.38, 0.38, 0.34, 0.34]
    assert [d.improved for d in decisions] == [True, False, True, False, True, False]


def test_it_agrees_with_the_authors_rule_on_random_zero_one_histories():
    rng = np.random.default_rng(5)
    boundary_cases = 0
    for _ in range(60):
        n_items = int(rng.integers(20, 200))
        history = [(rng.random(n_items) < 0.4).astype(float)]
        for _ in range(15):
            # Each candidate changes a few items of the latest one: ties of the bar come up.
            candidate = history[-1].copy()
            changed = rng.choice(n_items, size=int(rng.integers(1, 8)), replace=False)
            candidate[changed] = rng.random(changed.size) < 0.3
            history.append(candidate)
        ours = [d.released_value for d in ladder_replay(history, loss_range=ZERO_ONE)]
        reference, ties = authors_ladder(history)
        assert ours == [float(value) for value in reference]
        boundary_cases += ties
    assert boundary_cases > 0  # the histories really reached the bar's boundary


def test_its_bar_is_the_authors_standard_error_test_for_continuous_losses():
    rng = np.random.default_rng(9)
    checked = 0
    for _ in range(500):
        n_items = int(rng.integers(5, 300))
        best = rng.gamma(2.0, 0.3, n_items)
        new = best + rng.normal(-0.02, 0.1, n_items)
        difference = new - best
        margin = (best.mean() - new.mean()) - np.std(difference, ddof=1) / math.sqrt(n_items)
        if abs(margin) < 1e-9:
            continue
        assert beats_bar(best, new) == (margin > 0)
        checked += 1
    assert checked > 450


def test_it_never_releases_a_one_item_fix_whatever_the_rounding():
    # S = -1 and Q = 1 sit exactly on the bar: the authors' strict inequality fails.
    for n_items in (7, 100, 333, 1000, 4096):
        best = losses(n_items, range(n_items // 3))
        assert not beats_bar(best, losses(n_items, range(1, n_items // 3)))
        assert beats_bar(best, losses(n_items, range(2, n_items // 3)))


def test_it_measures_the_bar_from_the_best_not_from_the_last_submission():
    history = [losses(100, range(40)), losses(100, range(20)), losses(100, range(20))]
    decisions = ladder_replay(history, loss_range=ZERO_ONE)
    assert [d.improved for d in decisions] == [True, True, False]


def test_it_keeps_a_boosting_attack_near_chance():
    # Blum & Hardt's boosting attack: submit random labellings of a binary task, keep those that
    # score above chance, and take their majority vote. With exact scores the vote looks far
    # better than chance on the feedback part; with the Ladder only released labellings have a
    # score to select on, and the vote stays near chance.
    rng = np.random.default_rng(3)
    exact_scores, ladder_scores = [], []
    for _ in range(20):
        labels = rng.integers(0, 2, 2000)
        guesses = rng.integers(0, 2, (400, 2000))
        history = list((guesses != labels).astype(float))
        decisions = ladder_replay(history, loss_range=ZERO_ONE)
        above_chance = (guesses == labels).mean(axis=1) > 0.5
        released_above = [
            i for i, decision in enumerate(decisions) if decision.improved and decision.released_value < 0.5
        ]
        for chosen, scores in ((guesses[above_chance], exact_scores), (guesses[released_above], ladder_scores)):
            vote = 2 * chosen.sum(axis=0) > len(chosen)
            scores.append(float((vote == labels).mean()))
    assert np.mean(exact_scores) > 0.58  # the attack is real
    assert np.mean(ladder_scores) < 0.54


def test_it_rejects_losses_on_different_items():
    with pytest.raises(ValueError, match="same items"):
        ladder_step(np.zeros(10), np.zeros(11), 0.1)
