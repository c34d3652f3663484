"""An interval survives the trip to the JSON the site stores and serves, and back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evaluation.metrics import softmax
from evaluation.statistics import Interval, bootstrap_intervals


def test_intervals_from_the_bootstrap_round_trip_through_json_unchanged():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, size=200)
    probabilities = softmax(rng.normal(size=(200, 3)) + 2 * np.eye(3)[labels])
    intervals = bootstrap_intervals(probabilities, labels, metrics=["accuracy", "ece"], seed=1, n_resamples=200)
    for interval in intervals.values():
        stored = json.loads(json.dumps(interval.to_dict(), allow_nan=False))
        assert set(stored) == {"value", "ci_low", "ci_high"}
        assert Interval.from_dict(stored) == interval


def test_reading_an_interval_refuses_a_record_that_lacks_a_bound():
    with pytest.raises(KeyError, match="ci_high"):
        Interval.from_dict({"value": 0.9, "ci_low": 0.8})


def test_an_interval_cannot_be_changed_once_made():
    interval = Interval(0.9, 0.8, 0.95)
    with pytest.raises(AttributeError):
        interval.value = 0.1  # type: ignore[misc]
