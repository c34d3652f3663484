"""The joint item bootstrap against scipy, the analytic standard error, Wilson and simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evaluation.metrics import macro_f1, softmax
from evaluation.statistics import (
    bootstrap_intervals,
    bootstrap_weights,
    percentile_interval,
    rank_leaderboard,
)
from tests.evaluation.oracles import (
    accuracy_normal_interval,
    accuracy_standard_error,
    wilson_interval,
)


def two_class_model(correct: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Probabilities that put 0.9 on the true class where ``correct``, else on the other one."""
    predicted = np.where(correct, labels, 1 - labels)
    probabilities = np.full((labels.shape[0], 2), 0.1)
    probabilities[np.arange(labels.shape[0]), predicted] = 0.9
    return probabilities


def test_it_draws_n_items_with_replacement_in_every_resample():
    weights = bootstrap_weights(500, n_resamples=300, seed=1)
    assert weights.shape == (300, 500)
    assert weights.dtype == np.float32
    np.testing.assert_array_equal(weights.sum(axis=1), 500)
    assert np.all(weights == np.round(weights)) and weights.min() >= 0


def test_it_draws_items_uniformly():
    weights = bootstrap_weights(200, n_resamples=4000, seed=2)
    # Each count is Binomial(n, 1/n): mean 1, variance 1 - 1/n.
    assert np.abs(weights.mean(axis=0) - 1.0).max() < 0.08
    assert weights.var() == pytest.approx(1 - 1 / 200, rel=0.03)


def test_it_repeats_the_weights_for_a_seed_and_changes_them_for_another():
    first = bootstrap_weights(100, n_resamples=50, seed=7)
    np.testing.assert_array_equal(first, bootstrap_weights(100, n_resamples=50, seed=7))
    assert not np.array_equal(first, bootstrap_weights(100, n_resamples=50, seed=8))


def test_it_gives_every_item_the_count_of_its_cluster():
    clusters = np.array(["a", "b", "a", "c", "b", "b", "d"])
    weights = bootstrap_weights(7, n_resamples=200, seed=3, clusters=clusters)
    np.testing.assert_array_equal(weights[:, 0], weights[:, 2])
    np.testing.assert_array_equal(weights[:, 1], weights[:, 4])
    np.testing.assert_array_equal(weights[:, 1], weights[:, 5])
    # Four clusters are drawn per resample; the first item of each cluster carries its count.
    np.testing.assert_array_equal(weights[:, [0, 1, 3, 6]].sum(axis=1), 4)
    # Multinomial(4, 4 clusters) has 35 outcomes; 200 resamples should show most of them.
    assert len({tuple(row) for row in weights}) > 25


def test_it_rejects_a_cluster_array_of_the_wrong_length():
    with pytest.raises(ValueError, match="cluster"):
        bootstrap_weights(5, n_resamples=10, seed=1, clusters=np.zeros(4))


def test_it_takes_linear_percentiles_like_scipy():
    samples = np.arange(101, dtype=float)[:, None] * np.array([1.0, 2.0])
    low, high = percentile_interval(samples, 0.9)
    np.testing.assert_allclose(low, [5.0, 10.0])
    np.testing.assert_allclose(high, [95.0, 190.0])


def test_it_matches_scipy_bootstrap_for_accuracy():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, size=1000)
    correct = rng.random(1000) < 0.7
    ours = bootstrap_intervals(two_class_model(correct, labels), labels, metrics=["accuracy"], seed=5)["accuracy"]
    reference = stats.bootstrap(
        (correct.astype(float),),
        np.mean,
        n_resamples=2000,
        method="percentile",
        rng=np.random.default_rng(6),
    ).confidence_interval
    standard_error = accuracy_standard_error(correct)
    # Two independent sets of 2000 resamples: each end differs by about 0.1 SE (Monte Carlo).
    assert ours.value == pytest.approx(correct.mean())
    assert ours.ci_low == pytest.approx(reference.low, abs=0.35 * standard_error)
    assert ours.ci_high == pytest.approx(reference.high, abs=0.35 * standard_error)


def test_it_matches_scipy_bootstrap_for_a_non_decomposable_metric():
    rng = np.random.default_rng(8)
    n_items = 400
    labels = rng.integers(0, 3, size=n_items)
    logits = rng.normal(size=(n_items, 3))
    logits[np.arange(n_items), labels] += 1.0
    probabilities = softmax(logits)
    ours = bootstrap_intervals(probabilities, labels, metrics=["macro_f1"], seed=9, n_resamples=1000)["macro_f1"]
    reference = stats.bootstrap(
        (np.arange(n_items),),
        lambda index: macro_f1(probabilities[index], labels[index]),
        n_resamples=1000,
        method="percentile",
        vectorized=False,
        rng=np.random.default_rng(10),
    )
    spread, expected = reference.standard_error, reference.confidence_interval
    assert ours.ci_low == pytest.approx(expected.low, abs=0.4 * spread)
    assert ours.ci_high == pytest.approx(expected.high, abs=0.4 * spread)


def test_it_agrees_with_the_analytic_standard_error():
    rng = np.random.default_rng(11)
    correct = rng.random(2000) < 0.8
    weights = bootstrap_weights(2000, n_resamples=2000, seed=12)
    samples = weights @ correct.astype(np.float32) / 2000
    # The standard deviation of 2000 resamples is within about 2% of the truth.
    assert samples.std() == pytest.approx(accuracy_standard_error(correct), rel=0.06)


def test_it_computes_the_analytic_standard_error_by_hand():
    correct = np.array([1, 1, 1, 0], dtype=bool)
    assert accuracy_standard_error(correct) == pytest.approx(np.sqrt(0.75 * 0.25 / 4))


def test_it_reduces_the_clustered_standard_error_to_the_plain_one_for_singletons():
    correct = np.random.default_rng(13).random(300) < 0.6
    plain = accuracy_standard_error(correct)
    assert accuracy_standard_error(correct, np.arange(300)) == pytest.approx(plain, rel=1e-12)


def test_it_widens_the_standard_error_when_clusters_move_together():
    # 40 clusters of 5 items; each cluster is entirely right or entirely wrong, so there are
    # effectively 40 observations: SE = sqrt(p (1 - p) / 40).
    cluster_correct = np.arange(40) % 4 != 0
    correct = np.repeat(cluster_correct, 5)
    clusters = np.repeat(np.arange(40), 5)
    expected = np.sqrt(0.75 * 0.25 / 40)
    assert accuracy_standard_error(correct, clusters) == pytest.approx(expected)
    assert accuracy_standard_error(correct) == pytest.approx(np.sqrt(0.75 * 0.25 / 200))


def test_it_agrees_with_the_clustered_standard_error_under_the_cluster_bootstrap():
    rng = np.random.default_rng(14)
    sizes = rng.integers(1, 9, size=300)
    clusters = np.repeat(np.arange(300), sizes)
    correct = rng.random(clusters.shape[0]) < np.repeat(rng.beta(4, 1, size=300), sizes)
    weights = bootstrap_weights(correct.shape[0], n_resamples=2000, seed=15, clusters=clusters)
    samples = (weights @ correct.astype(np.float32)) / weights.sum(axis=1)
    clustered = accuracy_standard_error(correct, clusters)
    assert clustered > 1.2 * accuracy_standard_error(correct)
    assert samples.std() == pytest.approx(clustered, rel=0.08)


@pytest.mark.parametrize("successes, n", [(0, 10), (3, 10), (50, 100), (980, 1000), (17, 17)])
def test_it_matches_scipy_wilson_interval(successes, n):
    expected = stats.binomtest(successes, n).proportion_ci(0.95, method="wilson")
    low, high = wilson_interval(successes, n, 0.95)
    assert low == pytest.approx(expected.low, abs=1e-12)
    assert high == pytest.approx(expected.high, abs=1e-12)


def test_it_agrees_with_wilson_and_the_normal_interval():
    rng = np.random.default_rng(16)
    labels = rng.integers(0, 2, size=2000)
    correct = rng.random(2000) < 0.85
    ours = bootstrap_intervals(two_class_model(correct, labels), labels, metrics=["accuracy"], seed=17)["accuracy"]
    standard_error = accuracy_standard_error(correct)
    wilson_low, wilson_high = wilson_interval(int(correct.sum()), 2000)
    normal = accuracy_normal_interval(correct)
    for low, high in [(wilson_low, wilson_high), (normal.ci_low, normal.ci_high)]:
        assert ours.ci_low == pytest.approx(low, abs=0.25 * standard_error)
        assert ours.ci_high == pytest.approx(high, abs=0.25 * standard_error)


def covers(result, truth: float) -> bool:
    return result.metrics["accuracy"].ci_low <= truth <= result.metrics["accuracy"].ci_high


def coverage(n_simulations: int, seed: int, n_items: int = 400, truth: float = 0.8) -> float:
    """Share of simulated models whose 95% bootstrap interval covers their true accuracy.

    Each simulation is a model that gets each item right with probability ``truth``. One
    ``rank_leaderboard`` call scores 100 simulated models at once (each with its own data,
    sharing the resamples of that call), with B = 1000 to keep the test fast: the percentile
    interval's coverage does not depend on B beyond Monte-Carlo noise in its ends.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n_items)
    covered = 0
    for batch in range(n_simulations // 100):
        models = [two_class_model(rng.random(n_items) < truth, labels) for _ in range(100)]
        results = rank_leaderboard(
            models,
            labels,
            metrics=["accuracy"],
            primary="accuracy",
            seed=seed * 1000 + batch,
            n_resamples=1000,
        )
        covered += sum(covers(r, truth) for r in results)
    return covered / n_simulations


def test_it_covers_the_true_accuracy_in_about_95_percent_of_simulations():
    assert 0.93 <= coverage(1000, seed=18) <= 0.97


def test_it_covers_clustered_accuracy_only_with_the_cluster_bootstrap():
    # 150 clusters of 4 items whose difficulty is shared (intra-cluster correlation 0.2): the
    # item bootstrap treats 600 items as independent and is too narrow.
    rng = np.random.default_rng(19)
    clusters = np.repeat(np.arange(150), 4)
    labels = rng.integers(0, 2, size=600)
    truth = 0.8
    hits = {"cluster": 0, "item": 0}
    n_simulations = 600
    for batch in range(n_simulations // 100):
        models = [
            two_class_model(rng.random(600) < np.repeat(rng.beta(3.2, 0.8, size=150), 4), labels) for _ in range(100)
        ]
        for kind, cluster_argument in [("cluster", clusters), ("item", None)]:
            results = rank_leaderboard(
                models,
                labels,
                metrics=["accuracy"],
                primary="accuracy",
                seed=20 + batch,
                clusters=cluster_argument,
                n_resamples=1000,
            )
            hits[kind] += sum(covers(r, truth) for r in results)
    assert 0.92 <= hits["cluster"] / n_simulations <= 0.975
    assert hits["item"] / n_simulations < 0.9
