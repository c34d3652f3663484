"""The shipped baselines and corruption suite on ``glyphs``: it is learnable, drifts and degrades."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from catalog.baselines import train_baselines
from catalog.calibrate import torchscript_predictor
from catalog.glyphs import ERAS, build_from_secret
from evaluation.perturbed import PerturbedSuite, suite_root
from evaluation.spec import BenchmarkFolder

CHANCE = 1 / 8


@pytest.fixture(scope="module")
def glyphs(tmp_path_factory) -> tuple[BenchmarkFolder, dict[str, Path]]:
    """A site's glyphs benchmark and its baselines, trained on the dev split only."""
    out = tmp_path_factory.mktemp("glyphs")
    folder = build_from_secret(out / "glyphs", bytes(range(32)))
    return folder, {baseline.name: baseline.path for baseline in train_baselines(folder.path, out / "models")}


def hidden_accuracy(folder: BenchmarkFolder, model: Path) -> np.ndarray:
    test = folder.load_split("test")
    correct: np.ndarray = torchscript_predictor(model)(test.inputs) == test.labels
    return correct


def test_the_small_cnn_learns_glyphs_far_above_chance_and_beats_the_linear_model(glyphs):
    folder, models = glyphs
    cnn = hidden_accuracy(folder, models["Small CNN"]).mean()
    linear = hidden_accuracy(folder, models["Logistic regression"]).mean()
    assert cnn > 0.7 > 5 * CHANCE, cnn
    assert linear > 2 * CHANCE, linear
    # Far from saturated: the slices and eras have room to tell models apart.
    assert linear < cnn < 0.95


def test_the_cnn_trained_on_older_eras_does_worse_on_the_latest(glyphs):
    folder, models = glyphs
    correct = hidden_accuracy(folder, models["Small CNN"])
    eras = folder.load_split("test").metadata["era"]
    by_era = [correct[eras == era].mean() for era in ERAS]
    # 800 items per era: a standard error near 0.013, so a 0.05 gap is no accident.
    assert by_era[0] - by_era[2] > 0.05, by_era


def test_the_cnn_gets_worse_with_severity_on_the_stored_hidden_copies(glyphs):
    folder, models = glyphs
    predict = torchscript_predictor(models["Small CNN"])
    test = folder.load_split("test")
    # Every other hidden item (1,200) keeps the test quick and the means within about a point.
    labels = test.labels[::2]
    clean = float((predict(test.inputs[::2]) == labels).mean())
    suite = PerturbedSuite.ensure(suite_root(folder.path), folder, "test")
    assert len(suite.conditions) == 12 * 5
    accuracy: dict[str, dict[int, float]] = {}
    for condition in suite.conditions:
        score = float((predict(suite.load(condition)[::2]) == labels).mean())
        accuracy.setdefault(condition.name, {})[condition.severity] = score
    means = [float(np.mean([row[severity] for row in accuracy.values()])) for severity in range(1, 6)]
    # Averaged over the twelve corruptions accuracy falls at every step; severity 1 is mild
    # and severity 5 far below clean; every corruption costs more at 5 than at 1.
    assert all(later < earlier for earlier, later in pairwise(means)), means
    assert clean - means[0] < 0.06, (clean, means)
    assert means[4] < clean - 0.25, (clean, means)
    for name, row in accuracy.items():
        assert row[5] < row[1] - 0.1, (name, row)
