"""Metrics against sklearn, scipy, plain re-implementations and hand-computed cases."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from scipy import special
from sklearn.metrics import accuracy_score, f1_score, log_loss

from evaluation.metrics import (
    METRICS,
    accuracy,
    brier,
    compute_metrics,
    ece,
    ece_equal_mass,
    macro_f1,
    nll,
    per_item_outcomes,
    softmax,
)


def random_case(seed: int, n_items: int = 300, n_classes: int = 4, skill: float = 1.0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, size=n_items)
    logits = rng.normal(size=(n_items, n_classes))
    logits[np.arange(n_items), labels] += skill
    return softmax(logits), labels


def probabilities_for(predictions, confidences, n_classes):
    """Rows whose argmax is ``predictions`` with that class at ``confidences``."""
    n_items = len(predictions)
    rest = (1.0 - np.asarray(confidences)) / (n_classes - 1)
    probabilities = np.repeat(rest[:, None], n_classes, axis=1)
    probabilities[np.arange(n_items), predictions] = confidences
    return probabilities


def test_it_matches_scipy_softmax():
    logits = np.random.default_rng(0).normal(size=(50, 7)) * 5
    np.testing.assert_allclose(softmax(logits), special.softmax(logits, axis=1), rtol=1e-12)


def test_it_keeps_softmax_finite_for_huge_logits():
    result = softmax(np.array([[1000.0, 1000.0, -1000.0]], dtype=np.float32))
    assert result.dtype == np.float64
    np.testing.assert_allclose(result, [[0.5, 0.5, 0.0]])


def test_it_computes_accuracy_on_a_hand_computed_case():
    probabilities = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3], [0.2, 0.8]])
    labels = np.array([0, 0, 0, 1])
    assert accuracy(probabilities, labels) == pytest.approx(0.75)


def test_it_matches_sklearn_accuracy():
    probabilities, labels = random_case(1)
    expected = accuracy_score(labels, probabilities.argmax(axis=1))
    assert accuracy(probabilities, labels) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("seed", range(5))
def test_it_matches_sklearn_macro_f1_when_every_class_is_present(seed):
    probabilities, labels = random_case(seed, n_classes=5)
    predictions = probabilities.argmax(axis=1)
    assert set(labels) == set(predictions) == set(range(5))
    expected = f1_score(labels, predictions, average="macro")
    assert macro_f1(probabilities, labels) == pytest.approx(expected, abs=1e-12)


def test_it_averages_macro_f1_over_classes_in_labels_or_predictions_like_sklearn():
    # Class 3 never occurs, class 2 is predicted but never true (F1 = 0), class 1 is true but
    # never predicted (F1 = 0).
    labels = np.array([0, 0, 1, 1, 0])
    predictions = np.array([0, 0, 0, 2, 0])
    probabilities = probabilities_for(predictions, np.full(5, 0.7), 4)
    # Class 0: TP = 3, predicted 4, true 3 -> 6/7; classes 1 and 2 -> 0; class 3 left out.
    assert macro_f1(probabilities, labels) == pytest.approx((6 / 7) / 3)
    expected = f1_score(labels, predictions, average="macro", zero_division=0)
    assert macro_f1(probabilities, labels) == pytest.approx(expected)


def test_it_matches_sklearn_log_loss():
    probabilities, labels = random_case(2)
    expected = log_loss(labels, probabilities, labels=range(4))
    assert nll(probabilities, labels) == pytest.approx(expected, rel=1e-12)


def test_it_clips_the_true_class_probability_at_one_in_a_trillion():
    probabilities = np.array([[1.0, 0.0], [0.5, 0.5]])
    labels = np.array([1, 0])
    assert nll(probabilities, labels) == pytest.approx((-np.log(1e-12) - np.log(0.5)) / 2)


def test_it_computes_the_brier_score_on_a_hand_computed_case():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    labels = np.array([0, 1])
    # (0.09 + 0.04 + 0.01) and (0.01 + 0.49 + 0.36), averaged.
    assert brier(probabilities, labels) == pytest.approx((0.14 + 0.86) / 2)


def test_it_matches_a_plain_brier_score():
    probabilities, labels = random_case(3)
    onehot = np.eye(4)[labels]
    expected = np.mean(np.sum((probabilities - onehot) ** 2, axis=1))
    assert brier(probabilities, labels) == pytest.approx(expected, rel=1e-12)


def test_it_computes_equal_width_ece_on_a_hand_computed_case():
    # Confidences 0.95, 0.95 (bin 14, one right: acc 0.5, conf 0.95), 0.5 and 0.52
    # (bin 7: (7/15, 8/15], both right: acc 1, conf 0.51).
    probabilities = probabilities_for([0, 1, 0, 1], [0.95, 0.95, 0.5, 0.52], 2)
    labels = np.array([0, 0, 0, 1])
    expected = 0.5 * abs(0.5 - 0.95) + 0.5 * abs(1.0 - 0.51)
    assert ece(probabilities, labels) == pytest.approx(expected)


def test_it_puts_a_confidence_on_a_bin_edge_into_the_lower_bin():
    # 0.6 = 9/15 sits on the edge between bins 8 and 9; bins are right-closed, so it joins 0.58
    # in bin 8, where the gaps +0.4 and -0.58 partly cancel.
    probabilities = probabilities_for([0, 0], [0.6, 0.58], 2)
    labels = np.array([0, 1])
    assert ece(probabilities, labels) == pytest.approx(abs(0.4 - 0.58) / 2)


def plain_ece(probabilities, labels, n_bins=15):
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    total = 0.0
    for low, high in pairwise(np.linspace(0, 1, n_bins + 1)):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return total


@pytest.mark.parametrize("seed", range(3))
def test_it_matches_a_plain_equal_width_ece(seed):
    probabilities, labels = random_case(seed, skill=2.0)
    assert ece(probabilities, labels) == pytest.approx(plain_ece(probabilities, labels), abs=1e-12)


def plain_equal_mass_ece(probabilities, labels, n_bins=15):
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    order = np.argsort(confidence, kind="stable")
    total = 0.0
    for chunk in np.array_split(order, n_bins):
        total += len(chunk) / len(order) * abs(correct[chunk].mean() - confidence[chunk].mean())
    return total


@pytest.mark.parametrize("n_items", [30, 150, 600])
def test_it_matches_a_plain_equal_mass_ece_when_bins_divide_evenly(n_items):
    probabilities, labels = random_case(4, n_items=n_items, skill=2.0)
    expected = plain_equal_mass_ece(probabilities, labels)
    assert ece_equal_mass(probabilities, labels) == pytest.approx(expected, abs=1e-12)


def test_it_computes_equal_mass_ece_on_a_hand_computed_case():
    # 30 items, so each of the 15 bins holds two consecutive confidences. Every bin holds one
    # right and one wrong answer, so its gap is |0.5 - mean confidence of the pair|.
    confidences = np.linspace(0.5, 0.99, 30)
    predictions = np.zeros(30, dtype=int)
    labels = np.tile([0, 1], 15)
    probabilities = probabilities_for(predictions, confidences, 2)
    pairs = confidences.reshape(15, 2).mean(axis=1)
    expected = np.mean(np.abs(0.5 - pairs))
    assert ece_equal_mass(probabilities, labels) == pytest.approx(expected)


@pytest.mark.parametrize("name", list(METRICS))
def test_it_treats_integer_weights_as_repeated_items(name):
    probabilities, labels = random_case(5, n_items=60)
    counts = np.random.default_rng(6).integers(0, 4, size=(5, 60))
    function = METRICS[name].function
    expected = [function(np.repeat(probabilities, c, axis=0), np.repeat(labels, c)) for c in counts]
    resampled = function(probabilities, labels, counts.astype(np.float32))
    assert resampled.shape == (5,)
    np.testing.assert_allclose(resampled, expected, rtol=1e-5, atol=1e-6)
    single = function(probabilities, labels, counts[0].astype(np.float64))
    assert single == pytest.approx(expected[0], rel=1e-9, abs=1e-12)


def test_it_reports_per_item_outcomes_with_their_types():
    probabilities = np.array([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    labels = np.array([1, 1, 1])
    outcomes = per_item_outcomes(probabilities, labels)
    np.testing.assert_array_equal(outcomes["prediction"], [1, 0, 0])
    assert outcomes["prediction"].dtype == np.int64
    np.testing.assert_allclose(outcomes["confidence"], [0.8, 0.6, 0.5])
    np.testing.assert_array_equal(outcomes["correct"], [True, False, False])
    assert outcomes["correct"].dtype == bool
    np.testing.assert_allclose(outcomes["nll"], -np.log([0.8, 0.4, 0.5]))
    np.testing.assert_allclose(outcomes["brier"], [0.08, 0.72, 0.5])
    assert outcomes["nll"].dtype == outcomes["brier"].dtype == np.float64


def test_it_registers_every_metric_with_its_direction():
    assert list(METRICS) == ["accuracy", "macro_f1", "nll", "brier", "ece", "ece_equal_mass"]
    higher = {name for name, metric in METRICS.items() if metric.higher_is_better}
    assert higher == {"accuracy", "macro_f1"}
    assert all(metric.name == name for name, metric in METRICS.items())


def test_it_makes_decomposable_metrics_the_mean_of_their_item_outcome():
    probabilities, labels = random_case(7)
    outcomes = per_item_outcomes(probabilities, labels)
    decomposable = {name for name, metric in METRICS.items() if metric.decomposable}
    assert decomposable == {"accuracy", "nll", "brier"}
    for name in decomposable:
        metric = METRICS[name]
        expected = outcomes[metric.item_outcome].mean()
        assert metric.function(probabilities, labels) == pytest.approx(expected)


def test_it_computes_the_named_metrics():
    probabilities = np.array([[0.9, 0.1], [0.4, 0.6]])
    labels = np.array([0, 0])
    result = compute_metrics(probabilities, labels, ["accuracy", "nll"])
    assert result == {"accuracy": 0.5, "nll": pytest.approx(-(np.log(0.9) + np.log(0.4)) / 2)}
    assert all(type(value) is float for value in result.values())


def test_it_names_an_unknown_metric():
    with pytest.raises(KeyError, match="top5"):
        compute_metrics(np.eye(2), np.array([0, 1]), ["top5"])


def test_it_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="labels"):
        accuracy(np.eye(3), np.array([0, 1]))
