"""How hard each corruption of a shipped benchmark is for its non-linear baseline.

``python -m catalog calibrate SLUG`` builds the benchmark into a temporary folder, trains its
baselines on the dev split (as ``python -m catalog baselines`` does), and prints the
non-linear baseline's (the CNN's or the MLP's) dev accuracy, clean and under every corruption
of the spec at each severity, with the ``strength`` the spec declares. The per-benchmark
strengths in ``catalog/digits.py``, ``catalog/mnist.py``, ``catalog/seattle_weather.py`` and
``catalog/glyphs.py`` were chosen with it so that severity 1 costs the baseline a little and
severity 5 a lot; run it again after changing a strength or a baseline recipe.

The corrupted dev inputs come from the same seeds the stored hidden copies use
(``condition_seed`` with the split ``dev``). A benchmark generated from a site's secret
(``glyphs``) is calibrated on the draw of ``CALIBRATION_SECRET``, a fixed and public value:
the strengths describe the generator, not one site's draw, and the table is reproducible.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from evaluation.corruptions import Reference, corrupt
from evaluation.perturbed import condition_seed, conditions
from evaluation.spec import BenchmarkFolder

Predict = Callable[[np.ndarray], np.ndarray]
#: The secret a generated benchmark is calibrated with; no site uses it (sites make their own).
CALIBRATION_SECRET = bytes(32)


@dataclass(frozen=True)
class Row:
    """One corruption's dev accuracy at each declared severity."""

    name: str
    """The corruption as the spec names it."""
    strength: float
    """The spec's strength (1 when it declares none)."""
    accuracies: dict[int, float]
    """Dev accuracy of the baseline by severity."""


def corruption_accuracies(
    benchmark: BenchmarkFolder, predict: Predict, strengths: dict[str, float] | None = None
) -> tuple[float, list[Row]]:
    """Clean dev accuracy of ``predict`` and one ``Row`` per corruption of the spec.

    ``predict`` maps float32 inputs ``[N, *shape]`` to predicted labels ``[N]``; ``strengths``
    overrides the spec's strength of the named corruptions (to try a new calibration).
    """
    spec = benchmark.spec
    dev = benchmark.load_split("dev")
    reference = Reference.from_dev(spec, dev.inputs)
    declared = {perturbation.name: perturbation for perturbation in spec.perturbations}
    rows: dict[str, Row] = {}
    for condition in conditions(spec):
        perturbation = declared[condition.name]
        strength = (strengths or {}).get(condition.name, perturbation.strength or 1.0)
        rng = np.random.default_rng(condition_seed(benchmark.content_hash, "dev", condition))
        corrupted = corrupt(
            condition.name, dev.inputs, condition.severity, rng,
            reference=reference, strength=strength, features=perturbation.features,
        )  # fmt: skip
        row = rows.setdefault(condition.name, Row(condition.name, strength, {}))
        row.accuracies[condition.severity] = float((predict(corrupted) == dev.labels).mean())
    return float((predict(dev.inputs) == dev.labels).mean()), list(rows.values())


def torchscript_predictor(path: Path) -> Predict:
    """Predicted labels of a TorchScript model file (one of our own baselines)."""
    model = torch.jit.load(str(path))

    def predict(inputs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            logits = model(torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)))
        labels: np.ndarray = logits.argmax(dim=1).numpy()
        return labels

    return predict


def calibrate(slug: str, strengths: dict[str, float] | None = None) -> tuple[str, float, list[Row]]:
    """Build ``slug`` and train its baselines in a temporary folder; the non-linear baseline's
    name, its clean dev accuracy and its rows (see ``corruption_accuracies``)."""
    from catalog import build_catalog
    from catalog.baselines import train_baselines

    with tempfile.TemporaryDirectory(prefix="touchstone-calibrate-") as scratch:
        (benchmark,) = build_catalog(Path(scratch) / "catalog", only=slug, secret=CALIBRATION_SECRET)
        baseline = train_baselines(benchmark.path, Path(scratch) / "models")[-1]
        clean, rows = corruption_accuracies(benchmark, torchscript_predictor(baseline.path), strengths)
    return baseline.name, clean, rows


def format_table(baseline: str, clean: float, rows: list[Row]) -> str:
    """A plain-text table: one line per corruption, one column per severity, and their mean."""
    severities = sorted({severity for row in rows for severity in row.accuracies})
    lines = [
        f"{baseline}: clean dev accuracy {clean:.3f}",
        "\t".join(["corruption", "strength", *(f"s{severity}" for severity in severities)]),
    ]
    for row in rows:
        cells = [f"{row.accuracies[s]:.3f}" if s in row.accuracies else "" for s in severities]
        lines.append("\t".join([row.name, f"{row.strength:g}", *cells]))
    means = [np.mean([row.accuracies[s] for row in rows if s in row.accuracies]) for s in severities]
    lines.append("\t".join(["mean", "", *(f"{value:.3f}" for value in means)]))
    return "\n".join(lines)
