"""rank_leaderboard and compare_entries on simulated entries with known structure."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evaluation.metrics import softmax
from evaluation.statistics import (
    bootstrap_weights,
    compare_entries,
    design_effect,
    holm_family_size,
    metric_samples,
    rank_leaderboard,
)

N_CLASSES = 3


def simulated_model(rng, labels, accuracy, sharpness=2.0):
    """Probabilities whose argmax is right on about ``accuracy`` of the items."""
    n_items = labels.shape[0]
    correct = rng.random(n_items) < accuracy
    wrong = (labels + rng.integers(1, N_CLASSES, n_items)) % N_CLASSES
    predicted = np.where(correct, labels, wrong)
    logits = rng.normal(scale=0.3, size=(n_items, N_CLASSES))
    logits[np.arange(n_items), predicted] += sharpness
    return softmax(logits)


def leaderboard_case(seed, accuracies, n_items=800):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_CLASSES, size=n_items)
    return [simulated_model(rng, labels, a) for a in accuracies], labels


def test_it_returns_nothing_for_no_entries():
    labels = np.array([0, 1])
    assert rank_leaderboard([], labels, metrics=["accuracy"], primary="accuracy", seed=1) == []


def test_it_ranks_a_single_entry_first_in_tier_one():
    models, labels = leaderboard_case(1, [0.7])
    (entry,) = rank_leaderboard(models, labels, metrics=["accuracy", "nll"], primary="accuracy", seed=2)
    assert (entry.rank, entry.rank_lower, entry.rank_upper, entry.tier) == (1, 1, 1, 1)
    assert (entry.rank_lower_simultaneous, entry.rank_upper_simultaneous) == (1, 1)
    assert entry.p_value_vs_leader is None
    interval = entry.metrics["accuracy"]
    assert interval.ci_low < interval.value < interval.ci_high


def test_it_keeps_the_input_order_and_reports_every_metric():
    models, labels = leaderboard_case(3, [0.6, 0.9, 0.75])
    names = ["accuracy", "macro_f1", "nll", "brier", "ece", "ece_equal_mass"]
    results = rank_leaderboard(models, labels, metrics=names, primary="accuracy", seed=4, n_resamples=500)
    assert [r.rank for r in results] == [3, 1, 2]
    for model, result in zip(models, results, strict=True):
        assert list(result.metrics) == names
        accuracy = np.mean(model.argmax(axis=1) == labels)
        assert result.metrics["accuracy"].value == pytest.approx(accuracy)
        for interval in result.metrics.values():
            assert interval.ci_low <= interval.value <= interval.ci_high


@pytest.mark.parametrize("primary", ["accuracy", "nll", "macro_f1"])
@pytest.mark.parametrize("clustered", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_it_puts_identical_models_in_the_same_tier(primary, clustered, seed):
    models, labels = leaderboard_case(seed, [0.70, 0.72, 0.74, 0.76, 0.80, 0.85])
    models.append(models[2].copy())
    clusters = np.arange(labels.shape[0]) // 4 if clustered else None
    results = rank_leaderboard(
        models,
        labels,
        metrics=[primary],
        primary=primary,
        seed=seed,
        clusters=clusters,
        n_resamples=500,
    )
    original, twin = results[2], results[-1]
    assert twin.tier == original.tier
    assert twin.rank == original.rank
    assert (twin.rank_lower, twin.rank_upper) == (original.rank_lower, original.rank_upper)
    assert twin.metrics == original.metrics
    assert max(r.tier for r in results) > 1


def test_it_gives_a_clearly_better_model_tier_one_alone():
    models, labels = leaderboard_case(5, [0.70, 0.71, 0.90, 0.72, 0.69], n_items=1000)
    results = rank_leaderboard(models, labels, metrics=["accuracy"], primary="accuracy", seed=6)
    assert [r.tier for r in results].count(1) == 1
    best = results[2]
    assert (best.tier, best.rank, best.rank_lower, best.rank_upper) == (1, 1, 1, 1)
    assert all(r.p_value_vs_leader < 0.001 for i, r in enumerate(results) if i != 2)
    # The other four cannot be told apart from one another.
    assert {r.tier for i, r in enumerate(results) if i != 2} == {2}


def test_it_ranks_a_lower_is_better_primary_metric_ascending():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, N_CLASSES, size=600)
    models = [simulated_model(rng, labels, 0.8, sharpness=s) for s in (6.0, 1.5, 3.0)]
    nll = [-np.mean(np.log(m[np.arange(600), labels])) for m in models]
    results = rank_leaderboard(models, labels, metrics=["nll"], primary="nll", seed=8)
    expected = np.argsort(np.argsort(nll)) + 1
    assert [r.rank for r in results] == list(expected)
    assert results[int(np.argmin(nll))].tier == 1


def test_it_narrows_rank_intervals_to_the_point_rank_when_entries_are_far_apart():
    models, labels = leaderboard_case(9, [0.5, 0.9, 0.7], n_items=2000)
    results = rank_leaderboard(models, labels, metrics=["accuracy"], primary="accuracy", seed=10)
    for result in results:
        assert result.rank_lower == result.rank_upper == result.rank
        assert result.rank_lower_simultaneous == result.rank_upper_simultaneous == result.rank
    assert [r.tier for r in results] == [3, 1, 2]


def test_it_widens_rank_intervals_for_entries_that_cannot_be_told_apart():
    models, labels = leaderboard_case(11, [0.75, 0.75, 0.75, 0.75], n_items=300)
    results = rank_leaderboard(models, labels, metrics=["accuracy"], primary="accuracy", seed=12)
    assert all(r.rank_upper - r.rank_lower >= 2 for r in results)
    assert all(r.rank_lower_simultaneous <= r.rank_lower and r.rank_upper_simultaneous >= r.rank_upper for r in results)
    assert {r.tier for r in results} == {1}


def test_it_corrects_leader_and_neighbour_p_values_as_one_holm_family():
    models, labels = leaderboard_case(13, [0.74, 0.80, 0.70], n_items=700)
    correct = [m.argmax(axis=1) == labels for m in models]
    results = rank_leaderboard(models, labels, metrics=["accuracy"], primary="accuracy", seed=14)
    assert [r.rank for r in results] == [2, 1, 3]

    def mcnemar(a, b):
        only_a = int(np.sum(correct[a] & ~correct[b]))
        only_b = int(np.sum(correct[b] & ~correct[a]))
        return stats.binomtest(only_a, only_a + only_b).pvalue

    # The page compares 0 and 2 with the leader (1), and the neighbours 0 and 2.
    raw = {"0": mcnemar(1, 0), "2": mcnemar(1, 2), "next": mcnemar(0, 2)}
    names = sorted(raw, key=raw.get)
    adjusted, running = {}, 0.0
    for position, name in enumerate(names):
        running = max(running, min(1.0, (3 - position) * raw[name]))
        adjusted[name] = running
    assert results[1].p_value_vs_leader is None and results[1].p_value_vs_next is None
    assert results[0].p_value_vs_leader == pytest.approx(adjusted["0"], rel=1e-9)
    assert results[2].p_value_vs_leader == pytest.approx(adjusted["2"], rel=1e-9)
    assert results[0].p_value_vs_next == pytest.approx(adjusted["0"], rel=1e-9)
    assert results[2].p_value_vs_next == pytest.approx(adjusted["next"], rel=1e-9)


def test_it_reproduces_its_results_for_a_seed():
    models, labels = leaderboard_case(15, [0.7, 0.72, 0.74])
    first = rank_leaderboard(models, labels, metrics=["accuracy", "nll"], primary="accuracy", seed=16)
    again = rank_leaderboard(models, labels, metrics=["accuracy", "nll"], primary="accuracy", seed=16)
    other = rank_leaderboard(models, labels, metrics=["accuracy", "nll"], primary="accuracy", seed=17)
    assert first == again
    # The bootstrap intervals move with the seed; Wilson's accuracy interval does not.
    assert [r.metrics["nll"] for r in first] != [r.metrics["nll"] for r in other]
    assert [r.metrics["accuracy"] for r in first] == [r.metrics["accuracy"] for r in other]


def test_it_names_an_unknown_metric():
    models, labels = leaderboard_case(18, [0.7])
    with pytest.raises(KeyError, match="top5"):
        rank_leaderboard(models, labels, metrics=["top5"], primary="accuracy", seed=1)


def test_it_compares_accuracy_by_exact_mcnemar():
    models, labels = leaderboard_case(19, [0.8, 0.75], n_items=1000)
    correct = [m.argmax(axis=1) == labels for m in models]
    comparison = compare_entries(models[0], models[1], labels, metric="accuracy", seed=20)
    only_a = int(np.sum(correct[0] & ~correct[1]))
    only_b = int(np.sum(correct[1] & ~correct[0]))
    assert (comparison.a_only_correct, comparison.b_only_correct) == (only_a, only_b)
    assert comparison.method == "exact_mcnemar"
    assert comparison.p_value == pytest.approx(stats.binomtest(only_a, only_a + only_b).pvalue)
    assert comparison.difference.value == pytest.approx((only_a - only_b) / 1000)


def test_it_matches_scipy_bca_for_the_accuracy_difference():
    models, labels = leaderboard_case(21, [0.8, 0.77], n_items=1000)
    correct = [(m.argmax(axis=1) == labels).astype(float) for m in models]
    comparison = compare_entries(models[0], models[1], labels, metric="accuracy", seed=22)
    reference = stats.bootstrap(
        (correct[0], correct[1]),
        lambda a, b, axis: a.mean(axis=axis) - b.mean(axis=axis),
        paired=True,
        n_resamples=2000,
        method="BCa",
        rng=np.random.default_rng(23),
    )
    spread, expected = reference.standard_error, reference.confidence_interval
    assert comparison.difference.ci_low == pytest.approx(expected.low, abs=0.35 * spread)
    assert comparison.difference.ci_high == pytest.approx(expected.high, abs=0.35 * spread)


def test_it_compares_other_metrics_by_paired_bootstrap():
    rng = np.random.default_rng(24)
    labels = rng.integers(0, N_CLASSES, size=800)
    sharp = simulated_model(rng, labels, 0.8, sharpness=3.0)
    # The same predictions at a higher temperature: equally accurate, but a different NLL.
    blunt = softmax(np.log(sharp) / 4.0)
    comparison = compare_entries(sharp, blunt, labels, metric="nll", seed=25, n_resamples=999)
    nll = [-np.mean(np.log(m[np.arange(800), labels])) for m in (sharp, blunt)]
    assert comparison.method == "paired_bootstrap"
    assert comparison.difference.value == pytest.approx(nll[0] - nll[1])
    difference = comparison.difference
    assert difference.ci_low <= difference.value <= difference.ci_high
    assert comparison.p_value < 0.05
    assert (comparison.a_only_correct, comparison.b_only_correct) == (0, 0)


def test_it_tests_other_metrics_by_the_difference_over_its_bootstrap_standard_error():
    rng = np.random.default_rng(30)
    labels = rng.integers(0, N_CLASSES, size=600)
    a = simulated_model(rng, labels, 0.8, sharpness=3.0)
    b = simulated_model(rng, labels, 0.8, sharpness=2.0)
    comparison = compare_entries(a, b, labels, metric="brier", seed=31, n_resamples=800)
    samples = metric_samples([a, b], labels, "brier", bootstrap_weights(600, n_resamples=800, seed=31))
    differences = samples[:, 0] - samples[:, 1]
    z = comparison.difference.value / np.std(differences, ddof=1)
    assert comparison.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-6)


def test_it_finds_no_difference_between_identical_entries():
    models, labels = leaderboard_case(26, [0.7])
    for metric in ["accuracy", "brier", "ece"]:
        comparison = compare_entries(models[0], models[0].copy(), labels, metric=metric, seed=27)
        assert comparison.p_value == 1.0
        assert comparison.difference.ci_low == comparison.difference.ci_high == 0.0


def test_it_uses_the_paired_bootstrap_for_clustered_accuracy():
    models, labels = leaderboard_case(28, [0.8, 0.7])
    clusters = np.arange(labels.shape[0]) // 5
    comparison = compare_entries(models[0], models[1], labels, metric="accuracy", seed=29, clusters=clusters)
    assert comparison.method == "paired_bootstrap"
    assert comparison.difference.ci_low > 0


def test_it_gives_accuracy_wilsons_interval():
    models, labels = leaderboard_case(32, [0.6, 0.9])
    results = rank_leaderboard(models, labels, metrics=["accuracy"], primary="accuracy", seed=33)
    for model, result in zip(models, results, strict=True):
        right = int(np.sum(model.argmax(axis=1) == labels))
        expected = stats.binomtest(right, labels.shape[0]).proportion_ci(0.95, method="wilson")
        interval = result.metrics["accuracy"]
        assert (interval.ci_low, interval.ci_high) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_it_gives_a_perfect_entry_an_interval_that_reaches_one_and_is_not_a_point():
    rng = np.random.default_rng(34)
    labels = rng.integers(0, N_CLASSES, size=500)
    perfect = np.eye(N_CLASSES)[labels] * 0.9 + 0.1 / N_CLASSES
    (result,) = rank_leaderboard([perfect], labels, metrics=["accuracy"], primary="accuracy", seed=35)
    interval = result.metrics["accuracy"]
    assert interval.value == interval.ci_high == 1.0
    assert interval.ci_low == pytest.approx(500 / (500 + stats.norm.ppf(0.975) ** 2))


def test_it_widens_clustered_accuracy_by_the_design_effect():
    rng = np.random.default_rng(36)
    labels = rng.integers(0, N_CLASSES, size=600)
    clusters = np.arange(600) // 6
    easy = np.repeat(rng.permutation(np.arange(100) < 75), 6)
    predicted = np.where(easy, labels, (labels + 1) % N_CLASSES)
    model = np.eye(N_CLASSES)[predicted] * 0.8 + 0.2 / N_CLASSES
    (result,) = rank_leaderboard([model], labels, metrics=["accuracy"], primary="accuracy", seed=37, clusters=clusters)
    effective = 600 / float(design_effect(easy, clusters))
    assert effective == pytest.approx(100 * 600 / 599 * 99 / 100)
    expected = stats.binomtest(75, 100).proportion_ci(0.95, method="wilson")
    interval = result.metrics["accuracy"]
    # Each cluster of 6 is all right or all wrong: the 600 items are worth about 100.
    assert interval.ci_low == pytest.approx(expected.low, abs=0.003)
    assert interval.ci_high == pytest.approx(expected.high, abs=0.003)


def test_it_gives_each_entry_its_difference_to_the_best_of_the_others():
    models, labels = leaderboard_case(38, [0.70, 0.78, 0.74, 0.60], n_items=1500)
    results = rank_leaderboard(models, labels, metrics=["accuracy"], primary="accuracy", seed=39)
    accuracy = [r.metrics["accuracy"].value for r in results]
    leader = int(np.argmax(accuracy))
    runner_up = max(a for e, a in enumerate(accuracy) if e != leader)
    for e, result in enumerate(results):
        gap = result.difference_to_leader
        expected = accuracy[e] - (runner_up if e == leader else accuracy[leader])
        assert gap.value == pytest.approx(expected)
        assert gap.ci_low <= gap.value <= gap.ci_high
        # Tier 1 exactly when the simultaneous interval reaches 0.
        assert (result.tier == 1) == (gap.ci_high >= 0)
        assert (result.tier == 1) == (result.rank_lower_simultaneous == 1)
    assert results[3].tier > 1 and results[3].difference_to_leader.ci_high < 0


def test_it_gives_no_difference_to_the_leader_on_a_board_of_one():
    models, labels = leaderboard_case(40, [0.7])
    (result,) = rank_leaderboard(models, labels, metrics=["accuracy"], primary="accuracy", seed=41)
    assert result.difference_to_leader is None


def test_it_gives_p_values_below_the_resampling_floor_on_a_clustered_board():
    # Clustered accuracy is tested by the studentized difference: with 500 resamples a counted
    # p-value could not go below 2 / 501, nor below 2 * 3 / 501 after Holm over 3 tests.
    models, labels = leaderboard_case(42, [0.55, 0.85, 0.70], n_items=2000)
    clusters = np.arange(2000) // 2
    results = rank_leaderboard(
        models, labels, metrics=["accuracy"], primary="accuracy", seed=43, clusters=clusters, n_resamples=500
    )
    assert results[0].p_value_vs_leader < 1e-6
    assert results[2].p_value_vs_leader < 1e-6


def test_it_counts_the_holm_family_of_a_board():
    assert [holm_family_size(k) for k in [1, 2, 3, 20]] == [1, 1, 3, 37]
