"""The joint item bootstrap and its bias-corrected intervals against scipy and the analytic standard error."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evaluation.metrics import ece, macro_f1, softmax
from evaluation.statistics import (
    bias_corrected_interval,
    bootstrap_intervals,
    bootstrap_weights,
    metric_samples,
    percentile_interval,
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


def test_it_takes_bias_corrected_quantiles_by_hand():
    # 1000 resamples 0.000, 0.001, ..., 0.999 and a point of 0.6: 600 lie below it and one on
    # it, so s = (600 + 601) / 2000 and z0 = Φ⁻¹(s).
    samples = np.arange(1000) / 1000
    z0 = stats.norm.ppf(1201 / 2000)
    levels = stats.norm.cdf([2 * z0 - stats.norm.ppf(0.975), 2 * z0 + stats.norm.ppf(0.975)])
    low, high = bias_corrected_interval(samples, 0.6)
    assert (float(low), float(high)) == pytest.approx(tuple(np.quantile(samples, levels)), abs=1e-12)


def test_it_equals_the_percentile_interval_when_the_point_splits_the_resamples_evenly():
    samples = np.random.default_rng(1).normal(size=(2001, 3))
    points = np.median(samples, axis=0)
    np.testing.assert_allclose(bias_corrected_interval(samples, points), percentile_interval(samples), atol=1e-12)


def test_it_moves_each_column_by_its_own_bias():
    rng = np.random.default_rng(2)
    samples = rng.normal(size=(1000, 4))
    points = np.array([-0.5, 0.0, 0.3, 1.0])
    low, high = bias_corrected_interval(samples, points)
    for e in range(4):
        one_low, one_high = bias_corrected_interval(samples[:, e], points[e])
        assert (low[e], high[e]) == (one_low, one_high)


def test_it_matches_scipy_bca_for_a_biased_statistic_without_acceleration():
    # |mean| of data symmetric about half a standard error above 0: the resamples of |mean|
    # sit above the point (median bias), and symmetric jackknife values make scipy's
    # acceleration 0, so scipy's BCa is BC.
    n_items = 400
    data = np.linspace(-1.0, 1.0, n_items)
    data += 0.5 * data.std() / np.sqrt(n_items)
    weights = bootstrap_weights(n_items, n_resamples=2000, seed=3)
    samples = np.abs(weights @ data / n_items)
    low, high = bias_corrected_interval(samples, abs(data.mean()))
    reference = stats.bootstrap(
        (data,),
        lambda x, axis: np.abs(x.mean(axis=axis)),
        n_resamples=2000,
        method="BCa",
        rng=np.random.default_rng(4),
    )
    spread, expected = reference.standard_error, reference.confidence_interval
    assert low == pytest.approx(expected.low, abs=0.2 * spread)
    assert high == pytest.approx(expected.high, abs=0.2 * spread)
    # The percentile interval is a whole standard error higher at the top: BC is what agrees.
    assert percentile_interval(samples)[1] > expected.high + spread


def test_it_keeps_the_expected_calibration_error_inside_its_interval():
    # A calibrated model: labels drawn from its own probabilities. ECE's resamples are biased
    # upward, here so far that the percentile interval lies entirely above the point.
    rng = np.random.default_rng(2)
    probabilities = softmax(rng.normal(size=(300, 10))).astype(np.float32)
    labels = (rng.random(300)[:, None] > np.cumsum(probabilities, axis=1)).sum(axis=1)
    point = ece(probabilities, labels)
    samples = metric_samples([probabilities], labels, "ece", bootstrap_weights(300, n_resamples=2000, seed=2))
    assert percentile_interval(samples[:, 0])[0] > point
    interval = bootstrap_intervals(probabilities, labels, metrics=["ece"], seed=2)["ece"]
    assert interval.value == pytest.approx(point)
    assert interval.ci_low <= interval.value <= interval.ci_high
    assert interval.ci_low < interval.ci_high


def test_it_widens_to_the_point_when_every_resample_lies_on_one_side():
    samples = np.linspace(0.2, 0.3, 500)
    low, high = bias_corrected_interval(samples, 0.1)
    assert low == 0.1 and 0.2 <= high <= 0.3
    low, high = bias_corrected_interval(samples, 0.4)
    assert high == 0.4 and 0.2 <= low <= 0.3


def test_it_matches_scipy_bootstrap_for_accuracy():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, size=1000)
    correct = rng.random(1000) < 0.7
    ours = bootstrap_intervals(two_class_model(correct, labels), labels, metrics=["accuracy"], seed=5)["accuracy"]
    # scipy's BCa; the acceleration of a mean of 0/1 outcomes at p = 0.7 and n = 1000 is
    # (1 - 2p) / (6 sqrt(n p (1 - p))) = -0.005, too small to move the ends visibly.
    reference = stats.bootstrap(
        (correct.astype(float),),
        np.mean,
        n_resamples=2000,
        method="BCa",
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
        method="BCa",
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
