"""The shipped corruption suite against the pinned baseline: severity makes things worse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from catalog import build_catalog
from catalog.__main__ import main
from catalog.baselines import train_baselines
from catalog.calibrate import corruption_accuracies, format_table, torchscript_predictor
from evaluation.perturbed import PerturbedSuite, suite_root
from evaluation.spec import BenchmarkFolder


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> tuple[BenchmarkFolder, Path]:
    """The shipped digits benchmark and its small CNN baseline, trained on the dev split."""
    out = tmp_path_factory.mktemp("digits")
    (folder,) = build_catalog(out / "catalog", only="digits")
    baselines = train_baselines(folder.path, out / "models")
    return folder, baselines[-1].path


def test_the_baseline_gets_worse_with_severity_on_the_stored_hidden_copies(digits):
    folder, model = digits
    predict = torchscript_predictor(model)
    test = folder.load_split("test")
    clean = float((predict(test.inputs) == test.labels).mean())
    suite = PerturbedSuite.ensure(suite_root(folder.path), folder, "test")
    assert len(suite.conditions) == 12 * 5
    accuracy: dict[int, list[float]] = {severity: [] for severity in range(1, 6)}
    for condition in suite.conditions:
        accuracy[condition.severity].append(float((predict(suite.load(condition)) == test.labels).mean()))
    means = [float(np.mean(accuracy[severity])) for severity in range(1, 6)]
    # Averaged over the twelve corruptions, accuracy never rises with severity; severity 1 is
    # mild and severity 5 far below clean.
    assert means == sorted(means, reverse=True), means
    assert clean - means[0] < 0.05, (clean, means)
    assert means[4] < clean - 0.3, (clean, means)
    # Each corruption on its own costs something by severity 5.
    per_corruption = np.array([accuracy[5]]).ravel()
    assert (per_corruption < clean - 0.1).all(), per_corruption


def test_calibration_reports_dev_accuracy_per_corruption_and_severity(digits):
    folder, model = digits
    clean, rows = corruption_accuracies(folder, torchscript_predictor(model))
    assert [row.name for row in rows][:3] == ["gaussian_noise", "shot_noise", "impulse_noise"]
    assert all(sorted(row.accuracies) == [1, 2, 3, 4, 5] for row in rows)
    assert rows[0].strength == folder.spec.perturbations[0].strength
    # A strength tried on the command line replaces the spec's for that corruption only.
    _, harder = corruption_accuracies(folder, torchscript_predictor(model), {"rotation": 3.0})
    by_name = {row.name: row for row in rows}
    harder_by_name = {row.name: row for row in harder}
    assert harder_by_name["rotation"].strength == 3.0
    assert harder_by_name["rotation"].accuracies[1] < by_name["rotation"].accuracies[1]
    assert harder_by_name["contrast"] == by_name["contrast"]
    table = format_table("Small CNN", clean, rows).splitlines()
    assert table[0] == f"Small CNN: clean dev accuracy {clean:.3f}"
    assert table[1].split("\t") == ["corruption", "strength", "s1", "s2", "s3", "s4", "s5"]
    assert len(table) == 2 + 12 + 1 and table[-1].startswith("mean\t")


def test_the_calibrate_command_refuses_a_malformed_strength(capsys):
    with pytest.raises(SystemExit):
        main(["calibrate", "digits", "--strength", "rotation=hard"])
    assert "NAME=VALUE" in capsys.readouterr().err


def test_the_calibrate_command_prints_the_table_for_a_benchmark(capsys):
    assert main(["calibrate", "seattle-weather", "--strength", "covariate_shift=2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("MLP: clean dev accuracy ")
    assert [line.split("\t")[:2] for line in lines[2:5]] == [
        ["feature_noise", "1"], ["missing_features", "0.7"], ["covariate_shift", "2"],
    ]  # fmt: skip
